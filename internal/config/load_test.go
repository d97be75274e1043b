package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func envMap(m map[string]string) LookupFunc {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const issueYAML = `host: 127.0.0.1
port: 6001
apps:
  - id: app-id
    key: app-key
    secret: app-secret
    enable_client_messages: true
    require_signin: false
    max_connections: 0
    max_presence_members: 100
    max_event_payload_kb: 10
    webhooks:
      - url: http://127.0.0.1:6099/webhook
        event_types: [channel_occupied, channel_vacated, member_added, member_removed, client_event]
`

func TestLoadIssueYAML(t *testing.T) {
	cfg, err := Load(writeFile(t, "h.yaml", issueYAML), nil, Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Host: "127.0.0.1",
		Port: 6001,
		Apps: []App{{
			ID: "app-id", Key: "app-key", Secret: "app-secret",
			EnableClientMessages: true,
			MaxPresenceMembers:   100,
			MaxEventPayloadKB:    10,
			Webhooks: []Webhook{{
				URL:        "http://127.0.0.1:6099/webhook",
				EventTypes: []string{"channel_occupied", "channel_vacated", "member_added", "member_removed", "client_event"},
			}},
		}},
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("got  %+v\nwant %+v", cfg, want)
	}
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("issue YAML does not validate: %v", err)
	}
}

// TestLoadPrecedence checks file < env < flags for every layered field.
func TestLoadPrecedence(t *testing.T) {
	s := func(v string) *string { return &v }
	i := func(v int) *int { return &v }
	secs := func(v Seconds) *Seconds { return &v }
	type layer struct {
		yaml string
		env  string
		over Overrides
		want any
	}
	fields := []struct {
		name   string
		envVar string
		get    func(Config) any
		file   layer // yaml line; want is the value from the file
		env    layer // env value; want is the value from env
		flag   *layer
	}{
		{"host", EnvHost, func(c Config) any { return c.Host },
			layer{yaml: "host: 10.0.0.1", want: "10.0.0.1"}, layer{env: "10.0.0.2", want: "10.0.0.2"},
			&layer{over: Overrides{Host: s("10.0.0.3")}, want: "10.0.0.3"}},
		{"port", EnvPort, func(c Config) any { return c.Port },
			layer{yaml: "port: 7001", want: 7001}, layer{env: "7002", want: 7002},
			&layer{over: Overrides{Port: i(7003)}, want: 7003}},
		{"data_dir", EnvDataDir, func(c Config) any { return c.DataDir },
			layer{yaml: "data_dir: /f", want: "/f"}, layer{env: "/e", want: "/e"},
			&layer{over: Overrides{DataDir: s("/o")}, want: "/o"}},
		{"path_prefix", EnvPathPrefix, func(c Config) any { return c.PathPrefix },
			layer{yaml: "path_prefix: /f", want: "/f"}, layer{env: "/e", want: "/e"},
			&layer{over: Overrides{PathPrefix: s("/o")}, want: "/o"}},
		{"admin_listen", EnvAdminListen, func(c Config) any { return c.AdminListen },
			layer{yaml: "admin_listen: 127.0.0.1:6060", want: "127.0.0.1:6060"}, layer{env: "127.0.0.1:6061", want: "127.0.0.1:6061"},
			&layer{over: Overrides{AdminListen: s("[::1]:6062")}, want: "[::1]:6062"}},
		{"log.format", EnvLogFormat, func(c Config) any { return c.Log.Format },
			layer{yaml: "log: {format: json}", want: "json"}, layer{env: "text", want: "text"},
			&layer{over: Overrides{LogFormat: s("json")}, want: "json"}},
		{"log.level", EnvLogLevel, func(c Config) any { return c.Log.Level },
			layer{yaml: "log: {level: debug}", want: "debug"}, layer{env: "warn", want: "warn"},
			&layer{over: Overrides{LogLevel: s("error")}, want: "error"}},
		{"tls.cert_file", EnvTLSCertFile, func(c Config) any { return c.TLS.CertFile },
			layer{yaml: "tls: {cert_file: f.pem}", want: "f.pem"}, layer{env: "e.pem", want: "e.pem"},
			&layer{over: Overrides{TLSCertFile: s("o.pem")}, want: "o.pem"}},
		{"tls.key_file", EnvTLSKeyFile, func(c Config) any { return c.TLS.KeyFile },
			layer{yaml: "tls: {key_file: f.key}", want: "f.key"}, layer{env: "e.key", want: "e.key"},
			&layer{over: Overrides{TLSKeyFile: s("o.key")}, want: "o.key"}},
		{"activity_timeout", EnvActivityTimeout, func(c Config) any { return c.ActivityTimeout },
			layer{yaml: "activity_timeout: 60", want: Seconds(60)}, layer{env: "90", want: Seconds(90)},
			&layer{over: Overrides{ActivityTimeout: secs(30)}, want: Seconds(30)}},
		{"pong_timeout", EnvPongTimeout, func(c Config) any { return c.PongTimeout },
			layer{yaml: "pong_timeout: 5s", want: Duration(5 * time.Second)}, layer{env: "7", want: Duration(7 * time.Second)}, nil},
		{"shutdown_timeout", EnvShutdownTimeout, func(c Config) any { return c.ShutdownTimeout },
			layer{yaml: "shutdown_timeout: 3", want: Duration(3 * time.Second)}, layer{env: "1m", want: Duration(time.Minute)}, nil},
		{"metrics.enabled", EnvMetricsEnabled, func(c Config) any { return c.Metrics.MetricsEnabled() },
			layer{yaml: "metrics: {enabled: false}", want: false}, layer{env: "true", want: true}, nil},
		// No flags for these: a password on the command line shows in ps(1).
		{"redis.url", EnvRedisURL, func(c Config) any { return c.Redis.URL },
			layer{yaml: "redis: {url: 'redis://:f@10.0.0.1:6379/0'}", want: "redis://:f@10.0.0.1:6379/0"},
			layer{env: "rediss://u:e@10.0.0.2:6380/1", want: "rediss://u:e@10.0.0.2:6380/1"}, nil},
		{"redis.prefix", EnvRedisPrefix, func(c Config) any { return c.Redis.Prefix },
			layer{yaml: "redis: {prefix: from-file}", want: "from-file"}, layer{env: "from-env", want: "from-env"}, nil},
		{"node_id", EnvNodeID, func(c Config) any { return c.NodeID },
			layer{yaml: "node_id: web-1", want: "web-1"}, layer{env: "web-2", want: "web-2"}, nil},
	}
	for _, f := range fields {
		t.Run(f.name, func(t *testing.T) {
			file := writeFile(t, "c.yaml", f.file.yaml+"\n")
			check := func(step string, file string, env map[string]string, over Overrides, want any) {
				t.Helper()
				cfg, err := Load(file, envMap(env), over)
				if err != nil {
					t.Fatalf("%s: %v", step, err)
				}
				if got := f.get(cfg); got != want {
					t.Errorf("%s: got %v, want %v", step, got, want)
				}
			}
			check("file", file, nil, Overrides{}, f.file.want)
			check("env beats file", file, map[string]string{f.envVar: f.env.env}, Overrides{}, f.env.want)
			check("empty env is unset", file, map[string]string{f.envVar: ""}, Overrides{}, f.file.want)
			if f.flag != nil {
				check("flag beats env", file, map[string]string{f.envVar: f.env.env}, f.flag.over, f.flag.want)
				check("flag beats file", file, nil, f.flag.over, f.flag.want)
				check("flag alone", "", nil, f.flag.over, f.flag.want)
			}
		})
	}
}

func TestLoadConfigFileFromEnv(t *testing.T) {
	fromEnv := writeFile(t, "env.yaml", "host: env.example\n")
	fromFlag := writeFile(t, "flag.yaml", "host: flag.example\n")
	env := envMap(map[string]string{EnvConfig: fromEnv})

	cfg, err := Load("", env, Overrides{})
	if err != nil || cfg.Host != "env.example" {
		t.Fatalf("HERALD_CONFIG: host %q, err %v", cfg.Host, err)
	}
	cfg, err = Load(fromFlag, env, Overrides{})
	if err != nil || cfg.Host != "flag.example" {
		t.Fatalf("--config beats HERALD_CONFIG: host %q, err %v", cfg.Host, err)
	}
	cfg, err = Load("", nil, Overrides{})
	if err != nil || !reflect.DeepEqual(cfg, Config{}) {
		t.Fatalf("no file: %+v, %v", cfg, err)
	}
}

func TestLoadUnknownKeys(t *testing.T) {
	yml := `host: 127.0.0.1
prot: 6001
log: {formt: json}
apps:
  - id: a
    key: k
    secret: s
    max_conections: 5
    webhooks:
      - url: http://x/
        event_type: [client_event]
`
	cfg, err := Load(writeFile(t, "typo.yaml", yml), nil, Overrides{})
	problems := Problems(err)
	want := []string{
		`typo.yaml:2: unknown key "prot" at top level — did you mean "port"?`,
		`typo.yaml:3: unknown key "formt" in log — did you mean "format"?`,
		`typo.yaml:8: unknown key "max_conections" in apps[0] — did you mean "max_connections"?`,
		`typo.yaml:11: unknown key "event_type" in apps[0].webhooks[0] — did you mean "event_types"?`,
	}
	if len(problems) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(problems), len(want), err)
	}
	for i, w := range want {
		if !strings.HasSuffix(problems[i].Error(), w) {
			t.Errorf("problem %d = %q, want suffix %q", i, problems[i], w)
		}
	}
	// The rest of the file was still decoded, so Validate can run on it.
	if cfg.Host != "127.0.0.1" || len(cfg.Apps) != 1 || cfg.Apps[0].Key != "k" {
		t.Errorf("partial config not returned: %+v", cfg)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string // "" with noFile: no file
		noFile  bool
		env     map[string]string
		want    []string
		wantCfg func(Config) bool
	}{
		{name: "missing file", noFile: true, want: []string{"config file:", "no such file"}},
		{name: "syntax error", yaml: "host: [\n", want: []string{"c.yaml:"}},
		{name: "two documents", yaml: "host: a\n---\nport: 1\n", want: []string{"more than one YAML document"}},
		{name: "wrong type", yaml: "port: abc\n", want: []string{`c.yaml:1: port: "abc" is not a number`}},
		{name: "bad duration", yaml: "pong_timeout: soon\n", want: []string{`c.yaml:1: pong_timeout: "soon" is not a duration like "30s", "5m", "90d" or a number of seconds`}},
		{name: "bad env port", yaml: "port: 1\n", env: map[string]string{EnvPort: "x"}, want: []string{`HERALD_PORT: "x" is not an integer`},
			wantCfg: func(c Config) bool { return c.Port == 1 }},
		{name: "bad env timeout", env: map[string]string{EnvActivityTimeout: "2.5s"}, want: []string{"HERALD_ACTIVITY_TIMEOUT", "whole number of seconds"}},
		{name: "bad env duration", env: map[string]string{EnvPongTimeout: "x"}, want: []string{"HERALD_PONG_TIMEOUT"}},
		{name: "bad env bool", env: map[string]string{EnvMetricsEnabled: "maybe"}, want: []string{"HERALD_METRICS_ENABLED"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := ""
			if tt.noFile {
				file = filepath.Join(t.TempDir(), "nope.yaml")
			} else if tt.yaml != "" {
				file = writeFile(t, "c.yaml", tt.yaml)
			}
			cfg, err := Load(file, envMap(tt.env), Overrides{})
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if tt.wantCfg != nil && !tt.wantCfg(cfg) {
				t.Errorf("unexpected config %+v", cfg)
			}
		})
	}
}

func TestLoadEmptyFile(t *testing.T) {
	for _, content := range []string{"", "# only a comment\n"} {
		cfg, err := Load(writeFile(t, "e.yaml", content), nil, Overrides{})
		if err != nil || !reflect.DeepEqual(cfg, Config{}) {
			t.Errorf("%q: %+v, %v", content, cfg, err)
		}
	}
}

func TestProblemsFlattens(t *testing.T) {
	a, b, c := errors.New("a"), errors.New("b"), errors.New("c")
	got := Problems(errors.Join(errors.Join(a, b), nil, c))
	if len(got) != 3 || got[0] != a || got[1] != b || got[2] != c {
		t.Fatalf("got %v", got)
	}
	if Problems(nil) != nil {
		t.Fatal("nil error has problems")
	}
}

// The environment completes the redis section of a file key by key.
func TestLoadRedisEnvOverridesOneKey(t *testing.T) {
	file := writeFile(t, "c.yaml", "redis:\n  url: redis://10.0.0.1:6379/0\n  prefix: from-file\nnode_id: web-1\n")
	cfg, err := Load(file, envMap(map[string]string{EnvRedisURL: "redis://:pw@10.0.0.2:6379/3"}), Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	want := RedisConfig{URL: "redis://:pw@10.0.0.2:6379/3", Prefix: "from-file"}
	if cfg.Redis != want || cfg.NodeID != "web-1" {
		t.Fatalf("got %#v node %q", cfg.Redis, cfg.NodeID)
	}
	cfg, err = Load("", envMap(map[string]string{EnvRedisURL: "redis://127.0.0.1:6379/0", EnvNodeID: "web-3"}), Overrides{})
	if err != nil || !cfg.Redis.Enabled() || cfg.Redis.Prefix != "" || cfg.NodeID != "web-3" {
		t.Fatalf("env only: %+v node %q, %v", cfg.Redis, cfg.NodeID, err)
	}
}
