package config

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestRedisFromYAML(t *testing.T) {
	var c Config
	errs := decodeYAML("t.yaml", []byte(`redis:
  url: rediss://herald:s3cret@redis.internal:6380/2
  prefix: chat-prod
node_id: web-1
`), &c)
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	want := RedisConfig{URL: "rediss://herald:s3cret@redis.internal:6380/2", Prefix: "chat-prod"}
	if c.Redis != want || c.NodeID != "web-1" || !c.Redis.Enabled() {
		t.Fatalf("got %+v node %q", c.Redis, c.NodeID)
	}
	c.ApplyDefaults()
	if c.Redis != want || c.NodeID != "web-1" {
		t.Fatalf("defaults changed set values: %+v node %q", c.Redis, c.NodeID)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

// No redis section, or an empty URL: one node, as before cluster mode.
func TestRedisDisabled(t *testing.T) {
	for _, yml := range []string{"", "redis: {}\n", "redis:\n  url: \"\"\n  prefix: other\n", "redis:\n"} {
		var c Config
		if errs := decodeYAML("t.yaml", []byte(yml), &c); len(errs) != 0 {
			t.Fatalf("%q: %v", yml, errs)
		}
		c.ApplyDefaults()
		if c.Redis.Enabled() || c.Redis.Redacted() != "" || c.Redis.String() != "off" {
			t.Errorf("%q: enabled %+v", yml, c.Redis)
		}
		if c.Redis.Prefix == "" || c.NodeID != "" {
			t.Errorf("%q: prefix %q node %q", yml, c.Redis.Prefix, c.NodeID)
		}
		if err := c.Validate(); err != nil {
			t.Errorf("%q: %v", yml, err)
		}
	}
}

func TestRedisDefaultPrefix(t *testing.T) {
	c := Config{Redis: RedisConfig{URL: "redis://127.0.0.1:6379/0"}}
	c.ApplyDefaults()
	if c.Redis.Prefix != DefaultRedisPrefix || DefaultRedisPrefix != "herald" {
		t.Fatalf("prefix %q", c.Redis.Prefix)
	}
}

func TestRedisRedacted(t *testing.T) {
	tests := []struct{ url, want string }{
		{"", ""},
		{"redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"},
		{"redis://127.0.0.1:6379/0?client_name=web-1", "redis://127.0.0.1:6379/0?client_name=web-1"},
		{"redis://:secret@redis.internal:6379/0", "redis://:***@redis.internal:6379/0"},
		{"redis://herald:secret@redis.internal:6379/0", "redis://herald:***@redis.internal:6379/0"},
		{"rediss://secret@redis.internal", "rediss://***@redis.internal"}, // a lone user name may be a password
		{"redis://herald:se%40cret@[::1]:6379", "redis://herald:***@[::1]:6379"},
		{"redis://:se@cret@redis.internal:6379", "redis://:***@redis.internal:6379"},
		{"unix://:secret@/run/redis/redis.sock?db=1", "unix://:***@/run/redis/redis.sock?db=1"},
		// Unencoded '/', '?', '#' or '%' in the password: hide up to the last '@'.
		{"redis://:12/secret@redis.internal:6379/0", "redis://***@redis.internal:6379/0"},
		{"redis://:12?secret@redis.internal", "redis://***@redis.internal"},
		{"redis://:12#secret@redis.internal", "redis://***@redis.internal"},
		{"redis://:se%zzcret@redis.internal", "redis://***@redis.internal"},
		{"redis://u:sec/ret@redis.internal", "redis://***@redis.internal"},
		{"redis:secret@redis.internal", "***@redis.internal"},
		{"redis://[::1", "redis://[::1"},
		// A password in the query (redis-py's ?password=) is not read, but hidden.
		{"redis://redis.internal:6379/0?password=secret&db=1", "redis://redis.internal:6379/0?password=***&db=1"},
		{"redis://u:secret@redis.internal?pass%77ord=secret", "redis://u:***@redis.internal?pass%77ord=***"},
		{"redis://[::1?password=secret", "redis://[::1?***"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			r := RedisConfig{URL: tt.url, Prefix: "herald"}
			if got := r.Redacted(); got != tt.want {
				t.Errorf("Redacted() = %q, want %q", got, tt.want)
			}
			if tt.want != "" && r.String() != tt.want+" prefix herald" {
				t.Errorf("String() = %q", r.String())
			}
		})
	}
}

// The password shows nowhere: not in %v or %+v of the whole Config, nor in
// a structured log, nor in any Validate message.
func TestRedisPasswordNeverPrinted(t *testing.T) {
	const pw = "hunter2-topsecret"
	c := Config{Redis: RedisConfig{URL: "redis://herald:" + pw + "@redis.internal:6379/0", Prefix: "herald"}}
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("start", "redis", c.Redis)
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("start", "redis", c.Redis)
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%v", &c), logged.String()} {
		if strings.Contains(s, pw) {
			t.Errorf("password printed: %s", s)
		}
		if !strings.Contains(s, "redis://herald:***@redis.internal:6379/0") {
			t.Errorf("redacted URL missing: %s", s)
		}
	}
	for _, u := range []string{
		"redis://herald:" + pw + "@:6379/0",               // no host
		"redis://herald:" + pw + "@redis.internal:0/0",    // bad port
		"redis://herald:" + pw + "@redis.internal/x",      // bad db
		"redis://herald:" + pw + "@bad_host!/0",           // bad host
		"http://herald:" + pw + "@redis.internal",         // bad scheme
		"redis://herald:" + pw + "%zz@redis.internal",     // bad escape
		"redis://herald:12/" + pw + "@redis.internal/0",   // unencoded '/'
		"redis://herald:12?" + pw + "@redis.internal",     // unencoded '?'
		"redis://herald:12#" + pw + "@redis.internal",     // unencoded '#'
		"redis://herald:" + pw + "@redis.internal#frag",   // fragment
		"unix://herald:" + pw + "@localhost/redis.sock",   // host in unix://
		"redis:herald:" + pw + "@redis.internal",          // no slashes
		"redis://herald:" + pw + "@redis.internal/0/1?x=", // bad path
		"redis://redis.internal/0?password=" + pw,         // password as a query parameter
		"redis://redis.internal:0/0?password=" + pw,       // … with another problem
		"redis://[::1?password=" + pw,                     // … in a URL that does not parse
	} {
		c := Config{Redis: RedisConfig{URL: u}}
		err := c.Validate()
		if err == nil {
			t.Errorf("%s: no problem", c.Redis.Redacted())
			continue
		}
		if strings.Contains(err.Error(), pw) {
			t.Errorf("password in problem: %v", err)
		}
	}
}

func TestValidateRedisURL(t *testing.T) {
	tests := []struct {
		url  string
		want string // "" = valid
	}{
		{"redis://127.0.0.1:6379/0", ""},
		{"redis://localhost", ""},
		{"redis://redis.internal:6379", ""},
		{"redis://redis.internal:6379/", ""},
		{"REDIS://redis.internal", ""},
		{"redis://[::1]:6379/15", ""},
		{"redis://:secret@10.0.0.5:6379/0", ""},
		{"rediss://herald:p%40ss@redis.example.com:6380/2", ""},
		{"redis://redis.internal:6379/0?dial_timeout=5s&addr=10.0.0.6:6379", ""},
		{"redis://redis.internal?db=3", ""},
		{"unix:///run/redis/redis.sock", ""},
		{"unix://:secret@/run/redis/redis.sock?db=1", ""},

		{"redis://[::1", `"redis://[::1" is not a URL: missing ']' in host`},
		{"redis://:se%zz@h", "redis://***@h is not a URL (percent-encode"},
		{"http://redis.internal:6379", "http://redis.internal:6379 must start with redis://, rediss:// (TLS) or unix://"},
		{"valkey://redis.internal:6379", "must start with redis://"},
		{"redis.internal:6379", "redis.internal:6379 must start with redis://"},
		{"redis:redis.internal", "must start with redis://"},
		{"//redis.internal:6379", "must start with redis://"},
		{"redis://", "redis:// has no host (redis://host:6379/0)"},
		{"redis:///0", "redis:///0 has no host"},
		{"rediss://:pw@:6380", "rediss://:***@:6380 has no host (rediss://host:6379/0)"},
		{"redis://bad_host!:6379", `"bad_host!" is not an IP address or host name`},
		{"redis://redis.internal:0", `port "0" is not a number in 1-65535`},
		{"redis://redis.internal:65536", `port "65536" is not a number in 1-65535`},
		{"redis://redis.internal/abc", `invalid database number: "abc"`},
		{"redis://redis.internal/-1", `database number "-1" is not a non-negative integer`},
		{"redis://redis.internal/0/1", "invalid URL path: /0/1"},
		{"redis://redis.internal?db=x", `invalid database number: "x"`},
		{"redis://redis.internal?db=-3", `database number "-3" is not a non-negative integer`},
		{"redis://redis.internal?dial_timeout=5", `invalid dial timeout: "5"`},
		{"rediss://redis.internal?skip_verify=maybe", `invalid skip verify: "maybe"`},
		{"redis://redis.internal?pool_size=4", `redis://redis.internal?pool_size=***: query parameter "pool_size" is not supported (only addr, db,`},
		{"redis://redis.internal:6379/0?password=s3cret&db=1", `redis://redis.internal:6379/0?password=***&db=1: query parameter "password" is not supported`},
		{"unix://?db=-2", `database number "-2"`},
		{"redis://redis.internal#x", "must not have a #fragment"},
		{"redis://:12/pw@redis.internal", "redis://***@redis.internal: '@' after the host; percent-encode '@' in a password as %40"},
		{"unix://localhost/run/redis.sock", "unix:// takes a socket path, not a host"},
		{"unix://", "unix:// names no socket path"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			c := Config{Redis: RedisConfig{URL: tt.url}}
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "redis.url: ") {
				t.Fatalf("got %v, want redis.url: ...%q", err, tt.want)
			}
			for _, p := range Problems(err) {
				var fe *FieldError
				if !errors.As(p, &fe) || fe.Path != "redis.url" {
					t.Errorf("problem %T %v", p, p)
				}
			}
		})
	}
}

func TestValidateRedisPrefix(t *testing.T) {
	tests := []struct {
		prefix string
		want   string // "" = valid
	}{
		{"", ""}, // default
		{"herald", ""},
		{"chat:prod", ""},
		{"a.b-c_d/1", ""},
		{strings.Repeat("p", 64), ""},
		{strings.Repeat("p", 65), "must be at most 64 characters (got 65)"},
		{"my prefix", `"my prefix" must not contain white space`},
		{" ", "must not contain white space"},
		{"a\tb", "must not contain white space"},
		{"a\x00b", "control characters"},
		{"herald{1}", `"herald{1}" must not contain '{' or '}' (Redis Cluster hash-tag characters)`},
		{"}", "must not contain '{' or '}'"},
	}
	for _, tt := range tests {
		t.Run(tt.prefix, func(t *testing.T) {
			c := Config{Redis: RedisConfig{URL: "redis://127.0.0.1:6379/0", Prefix: tt.prefix}}
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "redis.prefix: ") {
				t.Fatalf("got %v, want redis.prefix: ...%q", err, tt.want)
			}
			if n := len(Problems(err)); n != 1 {
				t.Errorf("got %d problems, want 1: %v", n, err)
			}
		})
	}
}

func TestValidateNodeID(t *testing.T) {
	tests := []struct {
		id   string
		want bool
	}{
		{"", true}, // generated at start
		{"web-1", true},
		{"eu-west-1.web_2", true},
		{"NODE.9", true},
		{strings.Repeat("n", 64), true},
		{strings.Repeat("n", 65), false},
		{"web 1", false},
		{"web/1", false},
		{"web:1", false},
		{"{web}", false},
		{"nöde", false},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			c := Config{NodeID: tt.id}
			err := c.Validate()
			if tt.want {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), "node_id: ") || !strings.Contains(err.Error(), "at most 64 characters of A-Z, a-z, 0-9") {
				t.Fatalf("got %v", err)
			}
		})
	}
}

// Every problem of the section is reported, with the rest of the config's.
func TestValidateRedisAllAtOnce(t *testing.T) {
	c := validConfig()
	c.Port = -1
	c.Redis = RedisConfig{URL: "redis://:pw@redis.internal:99999/x", Prefix: "a b"}
	c.NodeID = "web 1"
	c.ApplyDefaults()
	want := []string{
		"port:",
		"redis.url: redis://:***@redis.internal:99999/x: port",
		"redis.url: redis://:***@redis.internal:99999/x: invalid database number",
		"redis.prefix:",
		"node_id:",
	}
	problems := Problems(c.Validate())
	if len(problems) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(problems), len(want), errors.Join(problems...))
	}
	for i, w := range want {
		if !strings.HasPrefix(problems[i].Error(), w) {
			t.Errorf("problem %d = %q, want prefix %q", i, problems[i], w)
		}
	}
}

func TestNewNodeID(t *testing.T) {
	a, b := NewNodeID(), NewNodeID()
	if !ValidNodeID(a) || !ValidNodeID(b) || a == b {
		t.Fatalf("NewNodeID() = %q, %q", a, b)
	}
	const suffix = "0123456789ab"
	tests := []struct{ host, want string }{
		{"web-1", "web-1-" + suffix},
		{"ip-10-0-0-5.eu-west-1.compute.internal", "ip-10-0-0-5.eu-west-1.compute.internal-" + suffix},
		{"", "herald-" + suffix},
		{"---", "herald-" + suffix},
		{"höst name", "h-st-name-" + suffix},
		{strings.Repeat("h", 100), strings.Repeat("h", 51) + "-" + suffix},
		{strings.Repeat("h", 50) + ".x", strings.Repeat("h", 50) + "-" + suffix}, // cut, then trimmed
	}
	for _, tt := range tests {
		got := nodeIDFrom(tt.host, suffix)
		if got != tt.want || !ValidNodeID(got) {
			t.Errorf("nodeIDFrom(%q) = %q (valid %v), want %q", tt.host, got, ValidNodeID(got), tt.want)
		}
	}
}

// A redis section written as a single value (a natural slip:
// `redis: redis://:pw@host`) is reported without echoing the value.
func TestLoadRedisSectionNotAMapping(t *testing.T) {
	for _, yml := range []string{"redis: redis://:pw@h:6379\n", "redis: \":pw@h\"\n", "redis: [a]\n"} {
		_, err := Load(writeFile(t, "c.yaml", yml), nil, Overrides{})
		if err == nil || !strings.Contains(err.Error(), "c.yaml:1: redis must be a section with url and prefix keys") || strings.Contains(err.Error(), "pw") {
			t.Errorf("%q: %v", yml, err)
		}
	}
	_, err := Load(writeFile(t, "c.yaml", "redis:\n  uri: redis://h\n"), nil, Overrides{})
	if err == nil || !strings.HasSuffix(err.Error(), `c.yaml:2: unknown key "uri" in redis — did you mean "url"?`) {
		t.Errorf("unknown key: %v", err)
	}
}

// FuzzRedisURLRedaction: a password written into the URL as a user might,
// without percent-encoding, never shows in Redacted or in a Validate
// problem. The password ends with a marker so a leak of its tail is seen.
func FuzzRedisURLRedaction(f *testing.F) {
	for _, s := range [][3]string{
		{"", "pw", "redis.internal:6379/0"}, {"herald", "p@ss", "h"}, {"u", "12/x", "h:6379/0"},
		{"u", "1?x", "h"}, {"u", "1#x", "h"}, {"u", "%zz", "h"}, {"a:b", "c", "[::1]:1/2?db=3"},
		{"", "", "h/x@y"}, {"u", "p", "h#@"}, {"", "/", "unix.sock"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	const marker = "Zq9"
	f.Fuzz(func(t *testing.T, user, pass, rest string) {
		if strings.Contains(user+rest, marker) || strings.Contains(user+rest, "%") {
			t.Skip() // the marker could then come from elsewhere
		}
		for _, scheme := range []string{"redis://", "rediss://", "unix://", ""} {
			r := RedisConfig{URL: scheme + user + ":" + pass + marker + "@" + rest}
			if got := r.Redacted(); strings.Contains(got, marker) {
				t.Fatalf("Redacted(%q) = %q", r.URL, got)
			}
			c := Config{Redis: r}
			for _, p := range Problems(c.Validate()) {
				if strings.Contains(p.Error(), marker) {
					t.Fatalf("URL %q: problem %q", r.URL, p)
				}
			}
		}
	})
}
