package config

import (
	"strings"
	"testing"
	"time"
)

// Every problem in a file names its key and line, in place of yaml.v3's
// "cannot unmarshal !!str `sixty` into int".
func TestLoadNamesTheKey(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string // each a problem, after "c.yaml:"
	}{
		{"not a number", "port: sixty\n", []string{`1: port: "sixty" is not a number`}},
		{"quoted number", "port: \"6001\"\n", []string{`1: port: "6001" is quoted: write it without quotes to make it a number`}},
		{"fraction for a whole number", "apps:\n  - id: a\n    max_presence_members: 1.5\n",
			[]string{`3: apps[0].max_presence_members: "1.5" is not a whole number`}},
		{"too large", "limits:\n  max_frame_kb: 99999999999999999999\n", []string{`2: limits.max_frame_kb: "99999999999999999999" is out of range`}},
		{"list for a number", "limits: {max_frame_kb: [1]}\n", []string{`1: limits.max_frame_kb: a list is not a number`}},
		{"not a bool", "metrics:\n  enabled: maybe\n", []string{`2: metrics.enabled: "maybe" is not true or false`}},
		{"not a float", "apps:\n  - api_rate_limit: fast\n", []string{`2: apps[0].api_rate_limit: "fast" is not a number`}},
		{"section for a string", "host: {a: 1}\n", []string{`1: host: a section is not a string`}},
		{"not a list", "apps: x\n", []string{`1: apps: "x" is not a list`}},
		{"not a map", "apps:\n  - webhooks:\n      - headers: [a]\n", []string{`3: apps[0].webhooks[0].headers: a list is not a map of names to values`}},
		{"value for a section", "log: text\n", []string{`1: log must be a section with format and level keys, not a single value`}},
		{"list for a section", "limits: [1]\n", []string{`1: limits must be a section with max_frame_kb, max_channel_name_len, … keys, not a list`}},
		{"not a time", "apps:\n  - previous_secrets:\n      - expires_at: tomorrow\n",
			[]string{`3: apps[0].previous_secrets[0].expires_at: "tomorrow" is not a time like 2026-01-31T00:00:00Z`}},
		{"not a duration", "webhooks:\n  timeout: soon\n", []string{`2: webhooks.timeout: "soon" is not a duration like "30s", "5m", "90d" or a number of seconds`}},
		{"list for a duration", "pong_timeout: [1]\n", []string{`1: pong_timeout: a list is not a duration like "30s", "5m", "90d" or a number of seconds`}},
		{"fraction of a second", "activity_timeout: 2.5s\n", []string{`1: activity_timeout: "2.5s" is not a whole number of seconds`}},
		{"several, in file order", "port: x\nlog: {level: 3}\nlimits:\n  max_frame_kb: 1.5\n  max_user_id_len: y\n", []string{
			`1: port: "x" is not a number`,
			`4: limits.max_frame_kb: "1.5" is not a whole number`,
			`5: limits.max_user_id_len: "y" is not a number`,
		}},
		{"alias", "limits: &l {max_frame_kb: z}\nwebhooks: *l\n", []string{
			`1: limits.max_frame_kb: "z" is not a number`,
			`1: unknown key "max_frame_kb" in webhooks — did you mean "limits.max_frame_kb"?`,
		}},
		// A long value is cut; the value of a section given as one value is
		// never shown (it may be a Redis URL with its password).
		{"long value", "port: " + strings.Repeat("x", 50) + "\n", []string{`1: port: "` + strings.Repeat("x", 40) + `…" is not a number`}},
		{"redis as a URL", "redis: redis://:hunter2@h:6379\n", []string{`1: redis must be a section with url and prefix keys, not a single value`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(writeFile(t, "c.yaml", tt.yaml), nil, Overrides{})
			checkProblems(t, err, tt.want)
		})
	}
}

// Unknown keys are reported with the nearest known one.
func TestLoadUnknownKeySuggestions(t *testing.T) {
	tests := []struct{ yaml, want string }{
		{"webhook: {}\n", `1: unknown key "webhook" at top level — did you mean "webhooks"?`},
		{"logs: {}\n", `1: unknown key "logs" at top level — did you mean "log"?`},
		{"limits:\n  maxConnections: 5\n", `2: unknown key "maxConnections" in limits — did you mean "max_connections"?`},
		{"limits:\n  max-frame-kb: 5\n", `2: unknown key "max-frame-kb" in limits — did you mean "max_frame_kb"?`},
		{"limits:\n  max_frame: 5\n", `2: unknown key "max_frame" in limits — did you mean "max_frame_kb"?`},
		{"apps:\n  - id: a\n    secrets: s\n", `3: unknown key "secrets" in apps[0] — did you mean "secret"?`},
		{"apps:\n  - webhooks:\n      - filter: {channel_prefix: x}\n",
			`3: unknown key "channel_prefix" in apps[0].webhooks[0].filter`},
		{"max_connections: 5\n", `1: unknown key "max_connections" at top level — did you mean "limits.max_connections" or "apps[].max_connections"?`},
		{"timeout: 5s\n", `1: unknown key "timeout" at top level — did you mean "webhooks.timeout"?`},
		{"zzz: 1\n", `1: unknown key "zzz" at top level`},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			_, err := Load(writeFile(t, "c.yaml", tt.yaml), nil, Overrides{})
			checkProblems(t, err, []string{tt.want})
		})
	}
}

// What loads cleanly still does, with the values it should have.
func TestLoadAcceptedForms(t *testing.T) {
	yml := `activity_timeout: 2m
pong_timeout: 45
webhooks:
  retry_window: 1d12h
limits:
  max_frame_kb: 1e3
  max_user_id_len: 64.0
defaults: &app {key: k, secret: s, max_presence_members: 7}
`
	_, err := Load(writeFile(t, "c.yaml", yml), nil, Overrides{})
	checkProblems(t, err, []string{`8: unknown key "defaults" at top level`})

	yml = `activity_timeout: 2m
pong_timeout: 45
webhooks:
  retry_window: 1d12h
limits:
  max_frame_kb: 1e3
  max_user_id_len: 64.0
apps:
  - &app {id: a, key: k, secret: s, max_presence_members: 7}
  - <<: *app
    id: b
    key: k2
`
	cfg, err := Load(writeFile(t, "c.yaml", yml), nil, Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ActivityTimeout != 120 || cfg.PongTimeout.D() != 45*time.Second || cfg.Webhooks.RetryWindow.D() != 36*time.Hour ||
		cfg.Limits.MaxFrameKB != 1000 || cfg.Limits.MaxUserIDLen != 64 || len(cfg.Apps) != 2 || cfg.Apps[1].MaxPresenceMembers != 7 {
		t.Errorf("got %+v", cfg)
	}
}

func checkProblems(t *testing.T, err error, want []string) {
	t.Helper()
	problems := Problems(err)
	if len(problems) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(problems), len(want), err)
	}
	for i, p := range problems {
		_, got, _ := strings.Cut(p.Error(), "c.yaml:")
		if got != want[i] {
			t.Errorf("problem %d:\ngot  %s\nwant %s", i, got, want[i])
		}
	}
}

func TestLevenshtein(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{{"", "", 0}, {"", "ab", 2}, {"webhook", "webhooks", 1}, {"prot", "port", 2}, {"kitten", "sitting", 3}} {
		if got := levenshtein(tt.a, tt.b); got != tt.want {
			t.Errorf("levenshtein(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

// A bad time stops yaml.v3 at once; the rest of the file is still read.
func TestLoadBadTimeKeepsTheRest(t *testing.T) {
	yml := "apps:\n  - id: a\n    previous_secrets:\n      - {secret: old, expires_at: tomorrow}\n    key: k\nport: 7001\n"
	cfg, err := Load(writeFile(t, "c.yaml", yml), nil, Overrides{})
	checkProblems(t, err, []string{`4: apps[0].previous_secrets[0].expires_at: "tomorrow" is not a time like 2026-01-31T00:00:00Z`})
	if len(cfg.Apps) != 1 || cfg.Apps[0].ID != "a" || cfg.Apps[0].Key != "k" || cfg.Port != 7001 {
		t.Errorf("the rest of the file was not read: %+v", cfg)
	}
}
