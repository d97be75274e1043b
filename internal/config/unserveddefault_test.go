package config

import (
	"os"
	"path/filepath"
	"testing"
)

// With apps in the app store the default app is not served: nothing is
// written, but the configuration still holds a generated app (so it counts
// as the embedded default), from default-app.json when there is one.
func TestEnsureUnservedDefaultApp(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{DataDir: dir}
	if err := EnsureUnservedDefaultApp(&cfg, nil); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Apps) != 1 || !cfg.Apps[0].Generated || cfg.Apps[0].StoredIn != "" || cfg.Apps[0].Secret == "" {
		t.Fatalf("apps %+v", cfg.Apps)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("wrote %v", entries)
	}
	if tok, err := EnsureEmbeddedAdmin(&cfg, nil); err != nil || tok == "" {
		t.Fatalf("not the embedded default: token file %q, %v", tok, err)
	}

	saved := Config{DataDir: dir}
	if _, err := EnsureDefaultApp(&saved, nil); err != nil {
		t.Fatal(err)
	}
	again := Config{DataDir: dir}
	if err := EnsureUnservedDefaultApp(&again, nil); err != nil {
		t.Fatal(err)
	}
	if a, s := again.Apps[0], saved.Apps[0]; a.ID != s.ID || a.Key != s.Key || a.Secret != s.Secret || a.StoredIn != filepath.Join(dir, DefaultAppFile) {
		t.Fatalf("got %+v, want the stored %+v", again.Apps[0], saved.Apps[0])
	}

	env := Config{DataDir: t.TempDir()}
	if err := EnsureUnservedDefaultApp(&env, envMap(map[string]string{EnvAppID: "1", EnvAppKey: "k", EnvAppSecret: "s"})); err != nil {
		t.Fatal(err)
	}
	if len(env.Apps) != 1 || env.Apps[0].Generated { // configured through the environment: served
		t.Fatalf("apps %+v", env.Apps)
	}
}
