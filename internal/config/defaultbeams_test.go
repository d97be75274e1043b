package config

import (
	"os"
	"path/filepath"
	"testing"
)

func TestEnsureDefaultBeams(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{DataDir: dir}
	if _, err := EnsureDefaultApp(&cfg, func(string) (string, bool) { return "", false }); err != nil {
		t.Fatal(err)
	}
	gen, err := EnsureDefaultBeams(&cfg)
	if err != nil || !gen {
		t.Fatalf("first start: generated %v, %v", gen, err)
	}
	in := cfg.Beams.Instances
	if len(in) != 1 || !ValidBeamsInstanceID(in[0].ID) || len(in[0].SecretKey) != 64 || !in[0].Generated ||
		in[0].StoredIn != filepath.Join(dir, DefaultBeamsFile) {
		t.Fatalf("instance = %+v", in)
	}
	if fi, err := os.Stat(in[0].StoredIn); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("stored file: %v %v", fi, err)
	}
	if in[0].ID[14] != '4' || 8 > hexVal(in[0].ID[19]) || hexVal(in[0].ID[19]) > 11 {
		t.Fatalf("%s is not a version 4 UUID", in[0].ID)
	}

	again := Config{DataDir: dir}
	EnsureDefaultApp(&again, func(string) (string, bool) { return "", false })
	if gen, err := EnsureDefaultBeams(&again); err != nil || gen || again.Beams.Instances[0].ID != in[0].ID ||
		again.Beams.Instances[0].SecretKey != in[0].SecretKey {
		t.Fatalf("second start: %v %v %+v", gen, err, again.Beams.Instances)
	}

	// A configuration of its own gets no generated instance.
	own := Config{DataDir: t.TempDir(), Apps: []App{{ID: "1", Key: "k", Secret: "s"}}}
	if gen, err := EnsureDefaultBeams(&own); err != nil || gen || len(own.Beams.Instances) != 0 {
		t.Fatalf("configured apps: %v %v %+v", gen, err, own.Beams.Instances)
	}
	withBeams := Config{DataDir: t.TempDir(), Beams: BeamsConfig{Instances: []BeamsInstance{{ID: "x"}}}}
	EnsureDefaultApp(&withBeams, func(string) (string, bool) { return "", false })
	if gen, _ := EnsureDefaultBeams(&withBeams); gen || len(withBeams.Beams.Instances) != 1 {
		t.Fatalf("configured instances: %+v", withBeams.Beams.Instances)
	}

	if err := os.WriteFile(in[0].StoredIn, []byte(`{"instance_id":"nope","secret_key":"s"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := Config{DataDir: dir}
	EnsureDefaultApp(&bad, func(string) (string, bool) { return "", false })
	if _, err := EnsureDefaultBeams(&bad); err == nil {
		t.Fatal("a damaged file was accepted")
	}
}

func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	}
	return -1
}
