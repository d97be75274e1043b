package config

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// Fuzz targets for the configuration the server reads from outside: the
// YAML file, the HERALD_* environment and durations in both.

// FuzzDecodeYAML: any file decodes without a panic, every problem names
// the file, Validate and ApplyDefaults cope with whatever was decoded, and
// a file that decodes cleanly is reproduced by writing it back.
func FuzzDecodeYAML(f *testing.F) {
	f.Add([]byte(issueYAML))
	if b, err := os.ReadFile("../../examples/chat/herald.yaml"); err == nil {
		f.Add(b)
	}
	for _, s := range []string{
		"", "---\n", "host: [1, 2]\n", "prot: 1\n", "port: 99999999999999999999\n", "a: b\n---\nc: d\n",
		"pong_timeout: 30\nshutdown_timeout: 1m30s\ncache_ttl: -5\nsignin_timeout: {}\n",
		"apps:\n  - id: a\n    key: k\n    secret: s\n    previous_secrets:\n      - secret: old\n        expires_at: 2026-01-01T00:00:00+01:00\n",
		"apps:\n  - id: a\n    api_rate_limit: .nan\n    allowed_origins: ['*', 'https://*.example.com']\n",
		"webhooks:\n  leave_delay: 3s\n  batch_max_events: 5000\n  workers: -1\n",
		"metrics:\n  enabled: null\nlog: {format: json, level: warn}\ntls: {cert_file: '', key_file: ''}\n",
		"redis:\n  url: rediss://u:p%40ss@redis.internal:6380/2\n  prefix: herald\nnode_id: web-1\n",
		"redis: redis://:pw@h\n", "redis: {url: 'redis://:12/pw@h', prefix: '{x}'}\nnode_id: 'a b'\n",
		"x: &a [*a]\n", "a: &a {b: *a}\n", "apps: &x\n  - *x\n", "\xff\xfe", "host: \"\\x00\"\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var cfg Config
		errs := decodeYAML("herald.yaml", data, &cfg)
		for _, err := range errs {
			if !strings.HasPrefix(err.Error(), "herald.yaml") {
				t.Fatalf("problem %q does not name the file", err)
			}
		}
		// Validate reads the TLS files; fuzzed paths could name a FIFO.
		check := cfg
		check.TLS = TLSConfig{}
		for _, p := range Problems(check.Validate()) {
			var fe *FieldError
			if !errors.As(p, &fe) || fe.Path == "" {
				t.Fatalf("problem %T %v is not a *FieldError", p, p)
			}
		}
		once := marshalConfig(t, withDefaults(cfg))
		if twice := marshalConfig(t, withDefaults(withDefaults(cfg))); once != twice {
			t.Fatalf("ApplyDefaults is not idempotent:\n%s\n---\n%s", once, twice)
		}
		if len(errs) > 0 {
			return
		}
		out := marshalConfig(t, cfg)
		var again Config
		if errs := decodeYAML("again.yaml", []byte(out), &again); len(errs) > 0 {
			t.Fatalf("written config does not decode: %v\n%s", errs, out)
		}
		if back := marshalConfig(t, again); back != out {
			t.Fatalf("config changed by a write and read:\n%s\n---\n%s", out, back)
		}
	})
}

func withDefaults(c Config) Config {
	c.Apps = append([]App(nil), c.Apps...) // ApplyDefaults writes through the slice
	c.ApplyDefaults()
	return c
}

func marshalConfig(t *testing.T, c Config) string {
	t.Helper()
	b, err := yaml.Marshal(c)
	if err != nil {
		t.Fatalf("marshal %+v: %v", c, err)
	}
	return string(b)
}

// FuzzParseDuration: an accepted duration prints as a Go duration that
// parses back to itself, a plain integer means seconds, and YAML reads a
// scalar exactly as ParseDuration does.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"30s", "30", " 45 ", "0", "1m30s", "250ms", "-5", "", "abc", "1.5", "30 s",
		"99999999999999", "9223372036", "-9223372036", "9223372037", "2562047h47m16.854775807s",
		"-2562047h47m16.854775808s", "1.5h", ".5s", "+3", "0x10", "1_000", "1e3s", "3µs"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		var node Duration
		yerr := node.UnmarshalYAML(&yaml.Node{Kind: yaml.ScalarNode, Value: s, Line: 1})
		if (err == nil) != (yerr == nil) || node != d {
			t.Fatalf("ParseDuration(%q) = %v, %v; YAML gives %v, %v", s, d, err, node, yerr)
		}
		if err != nil {
			return
		}
		again, err := ParseDuration(d.String())
		if err != nil || again != d {
			t.Fatalf("ParseDuration(%q) = %v, which prints as %q and parses as %v, %v", s, d, d.String(), again, err)
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64); err == nil && d.D() != time.Duration(n)*time.Second {
			t.Fatalf("ParseDuration(%q) = %v, want %d seconds", s, d, n)
		}
	})
}

// FuzzLoadEnv: each HERALD_* variable is accepted exactly when its text
// parses, and then sets its field; a bad one is reported by name.
func FuzzLoadEnv(f *testing.F) {
	f.Add("127.0.0.1", "6001", "120", "30s", "10", "true")
	f.Add("", " 80 ", "-1", "1m", "0", "FALSE")
	f.Add("::1", "x", "1.5", "30 s", "", "yes")
	f.Add("h", "99999999999999999999", "0x10", "-9223372036", "9223372037", "1")
	f.Fuzz(func(t *testing.T, host, port, activity, pong, shutdown, metricsOn string) {
		env := map[string]string{EnvHost: host, EnvPort: port, EnvActivityTimeout: activity,
			EnvPongTimeout: pong, EnvShutdownTimeout: shutdown, EnvMetricsEnabled: metricsOn}
		cfg, err := Load("", envMap(env), Overrides{})
		problems := Problems(err)
		has := func(name string) bool {
			for _, p := range problems {
				if strings.HasPrefix(p.Error(), name+":") {
					return true
				}
			}
			return false
		}
		for _, v := range []struct {
			name, val string
			ok        bool
			set       func() bool
		}{
			{EnvPort, port, true, func() bool { n, _ := strconv.Atoi(strings.TrimSpace(port)); return cfg.Port == n }},
			{EnvActivityTimeout, activity, true, func() bool { n, _ := ParseSeconds(activity); return cfg.ActivityTimeout == n }},
			{EnvPongTimeout, pong, true, func() bool { d, _ := ParseDuration(pong); return cfg.PongTimeout == d }},
			{EnvShutdownTimeout, shutdown, true, func() bool { d, _ := ParseDuration(shutdown); return cfg.ShutdownTimeout == d }},
			{EnvMetricsEnabled, metricsOn, true, func() bool {
				b, _ := strconv.ParseBool(strings.TrimSpace(metricsOn))
				return cfg.Metrics.Enabled != nil && *cfg.Metrics.Enabled == b
			}},
		} {
			if v.val == "" {
				continue // set-but-empty counts as unset
			}
			var valid bool
			switch v.name {
			case EnvPort:
				_, e := strconv.Atoi(strings.TrimSpace(v.val))
				valid = e == nil
			case EnvActivityTimeout:
				_, e := ParseSeconds(v.val)
				valid = e == nil
			case EnvPongTimeout, EnvShutdownTimeout:
				_, e := ParseDuration(v.val)
				valid = e == nil
			case EnvMetricsEnabled:
				_, e := strconv.ParseBool(strings.TrimSpace(v.val))
				valid = e == nil
			}
			if has(v.name) == valid {
				t.Fatalf("%s=%q: reported %v, valid %v (%v)", v.name, v.val, has(v.name), valid, err)
			}
			if valid && !v.set() {
				t.Fatalf("%s=%q not applied: %+v", v.name, v.val, cfg)
			}
		}
		if cfg.Host != host {
			t.Fatalf("HERALD_HOST=%q gave host %q", host, cfg.Host)
		}
	})
}

// FuzzReadDefaultApp: the generated default-app.json in the data
// directory is read back on every start (and may have been edited): it
// gives three non-empty credentials or an error naming the file.
func FuzzReadDefaultApp(f *testing.F) {
	for _, s := range []string{
		`{"id":"1234567","key":"0123456789abcdef0123","secret":"0123456789abcdef0123456789abcdef"}`,
		`{"id":"1","key":"k"}`, `{"id":1,"key":"k","secret":"s"}`, `{"ID":"1","KEY":"k","Secret":"s","x":null}`,
		`{}`, `null`, `[]`, ``, `{"id":"1","key":"k","secret":"s"} trailing`,
	} {
		f.Add([]byte(s))
	}
	path := filepath.Join(f.TempDir(), DefaultAppFile)
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := readDefaultApp(path)
		if err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		if s.ID == "" || s.Key == "" || s.Secret == "" {
			t.Fatalf("read %+v from %q", s, data)
		}
	})
}
