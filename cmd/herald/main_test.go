package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/server"
)

type result struct {
	code           int
	stdout, stderr string
	ran            bool
	cfg            config.Config // what serve handed to server.Run
	opts           server.Options
}

// cli runs herald in-process with env and a fake server.Run returning runErr.
func cli(t *testing.T, env map[string]string, runErr error, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	var r result
	d := deps{
		env: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		run: func(ctx context.Context, cfg config.Config, opts server.Options) error {
			r.ran, r.cfg, r.opts = true, cfg, opts
			return runErr
		},
		stdout: &out,
		stderr: &errOut,
	}
	r.code = execute(context.Background(), args, d)
	r.stdout, r.stderr = out.String(), errOut.String()
	return r
}

func write(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const goodYAML = `host: 127.0.0.1
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

const badYAML = `host: 127.0.0.1
prot: 6001
port: 99999
log: {level: loud}
apps:
  - id: a
    key: k
    secret: ""
    webhooks:
      - url: ftp://example.com/hook
        event_types: [channel_occupied, channel_exploded]
  - id: a
    key: k2
    secret: s
    max_event_payload_kb: -1
`

var badProblems = []string{
	`bad.yaml:2: unknown key "prot" at top level`,
	"port: 99999 is out of range",
	`log.level: "loud" is not one of`,
	"apps[0].secret: must not be empty",
	"apps[0].webhooks[0].url: must be http or https",
	`apps[0].webhooks[0].event_types[1]: unknown event type "channel_exploded"`,
	`apps[1].id: "a" duplicates apps[0].id`,
	"apps[1].max_event_payload_kb: must not be negative",
}

func TestCheckConfigBad(t *testing.T) {
	r := cli(t, nil, nil, "check-config", "--config", write(t, "bad.yaml", badYAML))
	if r.code != exitFailure {
		t.Errorf("exit %d, want %d", r.code, exitFailure)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != len(badProblems) {
		t.Fatalf("got %d lines, want %d:\n%s", len(lines), len(badProblems), r.stdout)
	}
	for i, want := range badProblems {
		if !strings.Contains(lines[i], want) {
			t.Errorf("line %d = %q, want %q", i, lines[i], want)
		}
	}
	if !strings.Contains(r.stderr, "8 problems") || strings.Contains(r.stdout, "config OK") {
		t.Errorf("stderr %q", r.stderr)
	}
}

func TestCheckConfigGood(t *testing.T) {
	r := cli(t, nil, nil, "check-config", "--config", write(t, "good.yaml", goodYAML))
	if r.code != exitOK || r.stdout != "single node (in memory)\nconfig OK\n" || r.stderr != "" {
		t.Fatalf("exit %d\nstdout %q\nstderr %q", r.code, r.stdout, r.stderr)
	}
	if r.ran {
		t.Error("check-config started the server")
	}
}

func TestCheckConfigEnvAndUsage(t *testing.T) {
	good := write(t, "good.yaml", goodYAML)
	// HERALD_CONFIG names the file; a bad env value is a problem too.
	r := cli(t, map[string]string{config.EnvConfig: good, config.EnvPort: "x"}, nil, "check-config")
	if r.code != exitFailure || !strings.Contains(r.stdout, "HERALD_PORT") {
		t.Errorf("env problem: exit %d stdout %q", r.code, r.stdout)
	}
	r = cli(t, nil, nil, "check-config")
	if r.code != exitUsage || !strings.Contains(r.stderr, "--config") {
		t.Errorf("no file: exit %d stderr %q", r.code, r.stderr)
	}
	dir := t.TempDir()
	r = cli(t, map[string]string{config.EnvDataDir: dir}, nil, "check-config", "--config", write(t, "empty.yaml", ""))
	if r.code != exitOK || !strings.Contains(r.stdout, "no apps configured") {
		t.Errorf("no apps: exit %d stdout %q", r.code, r.stdout)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Error("check-config wrote to the data dir")
	}
}

// check-config says whether the server would run in cluster mode, and
// never prints the Redis password, not even in a problem.
func TestCheckConfigClusterMode(t *testing.T) {
	const pw = "hunter2-topsecret"
	tests := []struct {
		name string
		yaml string
		env  map[string]string
		code int
		want string // a whole line of stdout
	}{
		{name: "file", yaml: goodYAML + "redis:\n  url: redis://:" + pw + "@10.0.0.5:6379/0\n", code: exitOK,
			want: "cluster mode: redis://:***@10.0.0.5:6379/0 prefix herald"},
		{name: "file with prefix and node", yaml: goodYAML + "redis: {url: 'rediss://herald:" + pw + "@redis.internal:6380/2', prefix: chat}\nnode_id: web-1\n",
			code: exitOK, want: "cluster mode: rediss://herald:***@redis.internal:6380/2 prefix chat node web-1"},
		{name: "env", yaml: goodYAML, env: map[string]string{config.EnvRedisURL: "redis://:" + pw + "@10.0.0.6:6379/1", config.EnvRedisPrefix: "env-prefix"},
			code: exitOK, want: "cluster mode: redis://:***@10.0.0.6:6379/1 prefix env-prefix"},
		{name: "empty url", yaml: goodYAML + "redis: {url: '', prefix: x}\n", code: exitOK, want: "single node (in memory)"},
		{name: "bad url", yaml: goodYAML + "redis:\n  url: redis://:" + pw + "@:6379/0\n", code: exitFailure,
			want: "redis.url: redis://:***@:6379/0 has no host (redis://host:6379/0)"},
		{name: "unencoded password", yaml: goodYAML, env: map[string]string{config.EnvRedisURL: "redis://:12/" + pw + "@10.0.0.5"},
			code: exitFailure, want: "redis.url: redis://***@10.0.0.5: '@' after the host; percent-encode '@' in a password as %40"},
		{name: "yaml slip", yaml: goodYAML + "redis: redis://:" + pw + "@10.0.0.5:6379\n", code: exitFailure,
			want: "redis must be a section with url and prefix keys, not a single value"},
		{name: "bad prefix and node", yaml: goodYAML + "redis: {url: 'redis://10.0.0.5', prefix: '{x}'}\nnode_id: web 1\n", code: exitFailure,
			want: `node_id: "web 1" must be at most 64 characters of A-Z, a-z, 0-9, '.', '_' and '-'`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := cli(t, tt.env, nil, "check-config", "--config", write(t, "c.yaml", tt.yaml))
			if r.code != tt.code {
				t.Errorf("exit %d, want %d\nstdout %q\nstderr %q", r.code, tt.code, r.stdout, r.stderr)
			}
			lines := strings.Split(r.stdout, "\n")
			if !slices.ContainsFunc(lines, func(l string) bool { return strings.HasSuffix(l, tt.want) }) {
				t.Errorf("stdout lacks %q:\n%s", tt.want, r.stdout)
			}
			if strings.Contains(r.stdout+r.stderr, pw) {
				t.Errorf("password printed:\n%s%s", r.stdout, r.stderr)
			}
		})
	}
}

// serve hands the redis section and node id to the server with defaults
// applied, and refuses a bad URL without printing its password.
func TestServeClusterConfig(t *testing.T) {
	file := write(t, "c.yaml", goodYAML)
	env := map[string]string{config.EnvRedisURL: "redis://:pw-123456@10.0.0.5:6379/0", config.EnvNodeID: "web-1"}
	r := cli(t, env, nil, "serve", "--config", file)
	want := config.RedisConfig{URL: "redis://:pw-123456@10.0.0.5:6379/0", Prefix: config.DefaultRedisPrefix}
	if r.code != exitOK || r.cfg.Redis != want || r.cfg.NodeID != "web-1" || !r.cfg.Redis.Enabled() {
		t.Fatalf("exit %d redis %v node %q stderr %q", r.code, r.cfg.Redis, r.cfg.NodeID, r.stderr)
	}
	r = cli(t, nil, nil, "serve", "--config", file)
	if r.code != exitOK || r.cfg.Redis.Enabled() || r.cfg.NodeID != "" {
		t.Fatalf("no redis: exit %d redis %v node %q", r.code, r.cfg.Redis, r.cfg.NodeID)
	}
	env[config.EnvRedisURL] = "redis://:pw-123456@10.0.0.5:6379/x"
	r = cli(t, env, nil, "serve", "--config", file)
	if r.code != exitUsage || r.ran || !strings.Contains(r.stderr, `redis.url: redis://:***@10.0.0.5:6379/x: invalid database number: "x"`) ||
		strings.Contains(r.stderr, "pw-123456") {
		t.Fatalf("bad url: exit %d ran %v stderr %q", r.code, r.ran, r.stderr)
	}
}

func TestServeFlagsBeatEnvBeatFile(t *testing.T) {
	file := write(t, "c.yaml", goodYAML+`data_dir: /from-file
path_prefix: /file
log: {format: json, level: debug}
activity_timeout: 60
`)
	env := map[string]string{
		config.EnvPort:            "7002",
		config.EnvDataDir:         "/from-env",
		config.EnvLogLevel:        "warn",
		config.EnvActivityTimeout: "90",
	}
	r := cli(t, env, nil, "serve", "--config", file, "--port", "7003", "--log-level", "error", "--host", "127.0.0.3")
	if r.code != exitOK || !r.ran {
		t.Fatalf("exit %d ran %v stderr %q", r.code, r.ran, r.stderr)
	}
	c := r.cfg
	got := []any{c.Host, c.Port, c.DataDir, c.PathPrefix, c.Log.Format, c.Log.Level, c.ActivityTimeout}
	want := []any{"127.0.0.3", 7003, "/from-env", "/file", "json", "error", config.Seconds(90)}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	// Defaults were applied before Run.
	if c.PongTimeout != config.DefaultPongTimeout || c.Apps[0].Enabled == nil || c.Limits.MaxFrameKB != config.DefaultMaxFrameKB {
		t.Errorf("defaults not applied: %+v", c)
	}
	if r.opts.Version == "" || r.opts.Stdout == nil || r.opts.Stderr == nil {
		t.Errorf("options %+v", r.opts)
	}
}

func TestServeAdminListen(t *testing.T) {
	file := write(t, "c.yaml", goodYAML+"admin_listen: 127.0.0.1:6060\n")
	r := cli(t, nil, nil, "serve", "--config", file)
	if r.code != exitOK || r.cfg.AdminListen != "127.0.0.1:6060" {
		t.Fatalf("file: exit %d admin_listen %q stderr %q", r.code, r.cfg.AdminListen, r.stderr)
	}
	env := map[string]string{config.EnvAdminListen: "127.0.0.1:6061"}
	r = cli(t, env, nil, "serve", "--config", file)
	if r.code != exitOK || r.cfg.AdminListen != "127.0.0.1:6061" {
		t.Fatalf("env: exit %d admin_listen %q stderr %q", r.code, r.cfg.AdminListen, r.stderr)
	}
	r = cli(t, env, nil, "serve", "--config", file, "--admin-listen", "127.0.0.1:6062")
	if r.code != exitOK || r.cfg.AdminListen != "127.0.0.1:6062" {
		t.Fatalf("flag: exit %d admin_listen %q stderr %q", r.code, r.cfg.AdminListen, r.stderr)
	}
	r = cli(t, nil, nil, "serve", "--config", file, "--admin-listen", "6060")
	if r.code != exitUsage || r.ran || !strings.Contains(r.stderr, `admin_listen: "6060" is not host:port`) {
		t.Fatalf("bad value: exit %d ran %v stderr %q", r.code, r.ran, r.stderr)
	}
}

func TestServeDefaultApp(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	r := cli(t, nil, nil, "serve", "--data-dir", dir)
	if r.code != exitOK || len(r.cfg.Apps) != 1 || !r.cfg.Apps[0].Generated {
		t.Fatalf("exit %d apps %+v stderr %q", r.code, r.cfg.Apps, r.stderr)
	}
	first := r.cfg.Apps[0]
	if _, err := os.Stat(filepath.Join(dir, config.DefaultAppFile)); err != nil {
		t.Fatal(err)
	}
	r = cli(t, map[string]string{config.EnvDataDir: dir}, nil, "serve")
	if r.code != exitOK || len(r.cfg.Apps) != 1 {
		t.Fatalf("second start: exit %d apps %+v stderr %q", r.code, r.cfg.Apps, r.stderr)
	}
	if !reflect.DeepEqual(r.cfg.Apps[0], first) {
		t.Errorf("second start %+v, first %+v", r.cfg.Apps[0], first)
	}
}

// The LoadConfig handed to the server (run on SIGHUP) re-reads the file as
// serve read it at start.
func TestServeReloadLoadsConfig(t *testing.T) {
	file := write(t, "c.yaml", goodYAML)
	r := cli(t, nil, nil, "serve", "--config", file, "--port", "7004")
	if r.code != exitOK || r.opts.Reload == nil || r.opts.LoadConfig == nil {
		t.Fatalf("exit %d reload %v stderr %q", r.code, r.opts.Reload, r.stderr)
	}
	c, err := r.opts.LoadConfig()
	if err != nil || !reflect.DeepEqual(c, r.cfg) {
		t.Fatalf("unchanged file: err %v\ngot  %+v\nwant %+v", err, c, r.cfg)
	}
	more := goodYAML + "  - {id: app-2, key: key-2, secret: secret-2}\n"
	if err := os.WriteFile(file, []byte(more), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err = r.opts.LoadConfig()
	if err != nil || len(c.Apps) != 2 || c.Apps[1].ID != "app-2" || c.Port != 7004 || c.Apps[1].Enabled == nil {
		t.Fatalf("added app: err %v apps %+v port %d", err, c.Apps, c.Port)
	}
	if err := os.WriteFile(file, []byte(badYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	// Every problem but the port, which the --port flag still overrides.
	if _, err := r.opts.LoadConfig(); err == nil || len(config.Problems(err)) != len(badProblems)-1 || strings.Contains(err.Error(), "port: 99999") {
		t.Errorf("bad file: err %v", err)
	}
}

func TestServeInvalidConfig(t *testing.T) {
	r := cli(t, nil, nil, "serve", "--config", write(t, "bad.yaml", badYAML), "--log-format", "xml")
	if r.code != exitUsage || r.ran {
		t.Fatalf("exit %d ran %v", r.code, r.ran)
	}
	if !strings.Contains(r.stderr, "invalid configuration (9 problems)") || !strings.Contains(r.stderr, "log.format") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	for _, p := range badProblems {
		if !strings.Contains(r.stderr, p) {
			t.Errorf("stderr lacks %q", p)
		}
	}
}

func TestServeRunError(t *testing.T) {
	r := cli(t, nil, errors.New("listen tcp: address in use"), "serve", "--config", write(t, "good.yaml", goodYAML))
	if r.code != exitFailure || !strings.Contains(r.stderr, "herald: listen tcp: address in use") {
		t.Fatalf("exit %d stderr %q", r.code, r.stderr)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"serve", "--port", "abc"},
		{"serve", "--no-such-flag"},
		{"serve", "extra-arg"},
		{"bogus"},
	} {
		r := cli(t, nil, nil, args...)
		if r.code != exitUsage || r.ran || r.stderr == "" {
			t.Errorf("%v: exit %d ran %v stderr %q", args, r.code, r.ran, r.stderr)
		}
	}
}

func TestVersion(t *testing.T) {
	old := version
	t.Cleanup(func() { version = old })
	version = "v9.8.7"
	r := cli(t, nil, nil, "version")
	if r.code != exitOK || !strings.HasPrefix(r.stdout, "herald v9.8.7 go") {
		t.Fatalf("exit %d stdout %q", r.code, r.stdout)
	}
	r = cli(t, nil, nil, "serve", "--config", write(t, "good.yaml", goodYAML))
	if r.opts.Version != "v9.8.7" {
		t.Errorf("server got version %q", r.opts.Version)
	}
}
