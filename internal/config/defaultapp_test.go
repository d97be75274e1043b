package config

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sync"
	"testing"
)

var (
	reID     = regexp.MustCompile(`^[1-9][0-9]{6}$`)
	reKey    = regexp.MustCompile(`^[0-9a-f]{20}$`)
	reSecret = regexp.MustCompile(`^[0-9a-f]{20,}$`)
)

func TestEnsureDefaultAppGeneratesAndReuses(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "nested")
	cfg := Config{DataDir: dir}
	gen, err := EnsureDefaultApp(&cfg, nil)
	if err != nil || !gen {
		t.Fatalf("first call: generated=%v err=%v", gen, err)
	}
	if len(cfg.Apps) != 1 {
		t.Fatalf("apps = %d", len(cfg.Apps))
	}
	a := cfg.Apps[0]
	if !reID.MatchString(a.ID) || !reKey.MatchString(a.Key) || !reSecret.MatchString(a.Secret) {
		t.Errorf("credentials not Pusher-shaped: %+v", a)
	}
	path := filepath.Join(dir, DefaultAppFile)
	if !a.Generated || a.StoredIn != path {
		t.Errorf("Generated=%v StoredIn=%q, want true, %q", a.Generated, a.StoredIn, path)
	}

	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if m := st.Mode().Perm(); m != 0o600 {
		t.Errorf("file mode %o, want 600", m)
	}
	dst, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if m := dst.Mode().Perm(); m != 0o700 {
		t.Errorf("dir mode %o, want 700", m)
	}
	var stored storedApp
	data, _ := os.ReadFile(path)
	if err := json.Unmarshal(data, &stored); err != nil || stored != (storedApp{a.ID, a.Key, a.Secret}) {
		t.Errorf("stored %s, %v", data, err)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, ".default-app-*")); len(leftovers) != 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}

	// Second start: same credentials, nothing generated.
	cfg2 := Config{DataDir: dir}
	gen, err = EnsureDefaultApp(&cfg2, nil)
	if err != nil || gen {
		t.Fatalf("second call: generated=%v err=%v", gen, err)
	}
	if !reflect.DeepEqual(cfg2.Apps[0], a) {
		t.Errorf("second call %+v, want %+v", cfg2.Apps[0], a)
	}
}

func TestEnsureDefaultAppNoopWithApps(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{DataDir: dir, Apps: []App{{ID: "1", Key: "k", Secret: "s"}}}
	gen, err := EnsureDefaultApp(&cfg, envMap(map[string]string{EnvAppID: "9"}))
	if err != nil || gen || len(cfg.Apps) != 1 || cfg.Apps[0].ID != "1" {
		t.Fatalf("gen=%v err=%v apps=%+v", gen, err, cfg.Apps)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("files written: %v", entries)
	}
}

func TestEnsureDefaultAppEnv(t *testing.T) {
	t.Run("all three set: nothing stored", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "d")
		cfg := Config{DataDir: dir}
		env := envMap(map[string]string{EnvAppID: "42", EnvAppKey: "key", EnvAppSecret: "secret"})
		gen, err := EnsureDefaultApp(&cfg, env)
		if err != nil || gen {
			t.Fatalf("gen=%v err=%v", gen, err)
		}
		want := App{ID: "42", Key: "key", Secret: "secret"}
		if len(cfg.Apps) != 1 || !reflect.DeepEqual(cfg.Apps[0], want) {
			t.Errorf("apps %+v, want %+v", cfg.Apps, want)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("data dir created: %v", err)
		}
	})
	t.Run("each part overrides the stored one", func(t *testing.T) {
		dir := t.TempDir()
		base := Config{DataDir: dir}
		if _, err := EnsureDefaultApp(&base, nil); err != nil {
			t.Fatal(err)
		}
		stored := base.Apps[0]
		for _, tt := range []struct {
			name string
			env  map[string]string
			want func(App) App
		}{
			{"id", map[string]string{EnvAppID: "7"}, func(a App) App { a.ID = "7"; return a }},
			{"key", map[string]string{EnvAppKey: "kk"}, func(a App) App { a.Key = "kk"; return a }},
			{"secret", map[string]string{EnvAppSecret: "ss"}, func(a App) App { a.Secret = "ss"; return a }},
			{"empty is unset", map[string]string{EnvAppSecret: ""}, func(a App) App { return a }},
		} {
			cfg := Config{DataDir: dir}
			gen, err := EnsureDefaultApp(&cfg, envMap(tt.env))
			if err != nil || gen {
				t.Fatalf("%s: gen=%v err=%v", tt.name, gen, err)
			}
			if want := tt.want(stored); !reflect.DeepEqual(cfg.Apps[0], want) {
				t.Errorf("%s: got %+v, want %+v", tt.name, cfg.Apps[0], want)
			}
		}
	})
}

func TestEnsureDefaultAppDefaultDataDir(t *testing.T) {
	t.Chdir(t.TempDir())
	var cfg Config
	if _, err := EnsureDefaultApp(&cfg, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(DefaultDataDir, DefaultAppFile)); err != nil {
		t.Fatal(err)
	}
}

func TestEnsureDefaultAppCorruptFile(t *testing.T) {
	for name, content := range map[string]string{
		"not json":      "{",
		"missing field": `{"id":"1","key":"k"}`,
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, DefaultAppFile), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg := Config{DataDir: dir}
		if _, err := EnsureDefaultApp(&cfg, nil); err == nil {
			t.Errorf("%s: no error", name)
		}
		if data, _ := os.ReadFile(filepath.Join(dir, DefaultAppFile)); string(data) != content {
			t.Errorf("%s: file overwritten", name)
		}
	}
}

func TestEnsureDefaultAppUnwritableDir(t *testing.T) {
	file := writeFile(t, "f", "x")
	cfg := Config{DataDir: filepath.Join(file, "sub")} // parent is a regular file
	if _, err := EnsureDefaultApp(&cfg, nil); err == nil {
		t.Fatal("no error")
	}
}

func TestEnsureDefaultAppConcurrentStarts(t *testing.T) {
	dir := t.TempDir()
	const n = 8
	got := make([]App, n)
	var generated int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			cfg := Config{DataDir: dir}
			gen, err := EnsureDefaultApp(&cfg, nil)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			if gen {
				generated++
			}
			mu.Unlock()
			got[i] = cfg.Apps[0]
		})
	}
	wg.Wait()
	if generated != 1 {
		t.Errorf("generated by %d callers, want 1", generated)
	}
	for i := range got {
		if !reflect.DeepEqual(got[i], got[0]) {
			t.Fatalf("caller %d got %+v, caller 0 got %+v", i, got[i], got[0])
		}
	}
}

func TestStoredDefaultApp(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if _, err := StoredDefaultApp(dir, nil); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("no file: err %v, want fs.ErrNotExist", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("StoredDefaultApp created %s (%v)", dir, err)
	}
	env := func(m map[string]string) LookupFunc {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	all := env(map[string]string{EnvAppID: "9", EnvAppKey: "k9", EnvAppSecret: "s9"})
	if a, err := StoredDefaultApp(dir, all); err != nil || a.ID != "9" || a.Key != "k9" || a.Secret != "s9" || a.StoredIn != "" {
		t.Errorf("all from env: %+v, %v", a, err)
	}

	cfg := Config{DataDir: dir}
	if _, err := EnsureDefaultApp(&cfg, nil); err != nil {
		t.Fatal(err)
	}
	want := cfg.Apps[0]
	got, err := StoredDefaultApp(dir, nil)
	if err != nil || got.ID != want.ID || got.Key != want.Key || got.Secret != want.Secret || got.StoredIn != want.StoredIn {
		t.Errorf("StoredDefaultApp = %+v, %v; serve runs %+v", got, err, want)
	}
	got, err = StoredDefaultApp(dir, env(map[string]string{EnvAppSecret: "from-env"}))
	if err != nil || got.ID != want.ID || got.Key != want.Key || got.Secret != "from-env" {
		t.Errorf("secret from env: %+v, %v", got, err)
	}
	if err := os.WriteFile(want.StoredIn, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := StoredDefaultApp(dir, nil); err == nil || errors.Is(err, fs.ErrNotExist) {
		t.Errorf("malformed file: err %v", err)
	}
}
