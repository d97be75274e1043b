package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEnsureEmbeddedAdmin(t *testing.T) {
	noEnv := func(string) (string, bool) { return "", false }
	dir := t.TempDir()
	cfg := Config{DataDir: dir}
	if _, err := EnsureDefaultApp(&cfg, noEnv); err != nil {
		t.Fatal(err)
	}
	file, err := EnsureEmbeddedAdmin(&cfg, noEnv)
	if err != nil || file != filepath.Join(dir, AdminTokenFile) || cfg.AdminListen != EmbeddedAdminListen || !cfg.AdminListenDefaulted {
		t.Fatalf("embedded default: %q %v %q %v", file, err, cfg.AdminListen, cfg.AdminListenDefaulted)
	}
	data, err := os.ReadFile(file)
	if tok := strings.TrimSpace(string(data)); err != nil || len(tok) != 64 {
		t.Fatalf("token file %q: %v", data, err)
	}
	if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %v", fi.Mode())
	}
	again := Config{DataDir: dir}
	if _, err := EnsureDefaultApp(&again, noEnv); err != nil {
		t.Fatal(err)
	}
	if f2, err := EnsureEmbeddedAdmin(&again, noEnv); err != nil || f2 != file {
		t.Fatalf("second start: %q %v", f2, err)
	}
	if d2, _ := os.ReadFile(file); string(d2) != string(data) {
		t.Fatal("the token changed on the second start")
	}

	// An explicit address and an env token are kept.
	own := Config{DataDir: t.TempDir(), AdminListen: "127.0.0.1:7777"}
	if _, err := EnsureDefaultApp(&own, noEnv); err != nil {
		t.Fatal(err)
	}
	env := func(k string) (string, bool) { return "x", k == "HERALD_ADMIN_TOKEN" }
	if f, err := EnsureEmbeddedAdmin(&own, env); err != nil || f != "" || own.AdminListen != "127.0.0.1:7777" {
		t.Fatalf("explicit settings: %q %v %q", f, err, own.AdminListen)
	}
	// Configured apps: nothing changes.
	conf := Config{DataDir: t.TempDir(), Apps: []App{{ID: "1", Key: "k", Secret: "s"}}}
	if f, _ := EnsureEmbeddedAdmin(&conf, noEnv); f != "" || conf.AdminListen != "" {
		t.Fatalf("configured apps: %q %q", f, conf.AdminListen)
	}
}
