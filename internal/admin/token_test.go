package admin

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTokenFromEnv(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	if err := os.WriteFile(file, []byte("from-file-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		env     map[string]string
		want    string
		wantErr string
	}{
		{nil, "", ""},
		{map[string]string{EnvToken: "from-env-0123456789"}, "from-env-0123456789", ""},
		{map[string]string{EnvTokenFile: file}, "from-file-0123456789", ""},
		{map[string]string{EnvToken: "short"}, "", "at least 16"},
		{map[string]string{EnvToken: "from-env-0123456789", EnvTokenFile: file}, "", "not both"},
		{map[string]string{EnvTokenFile: filepath.Join(dir, "missing")}, "", "missing"},
		{map[string]string{EnvTokenFile: empty}, "", "empty"},
	}
	for _, c := range cases {
		got, err := TokenFromEnv(func(k string) (string, bool) { v, ok := c.env[k]; return v, ok })
		if got != c.want || (err == nil) != (c.wantErr == "") || (err != nil && !strings.Contains(err.Error(), c.wantErr)) {
			t.Errorf("env %v: got %q, %v; want %q, error with %q", c.env, got, err, c.want, c.wantErr)
		}
		if err != nil && strings.Contains(err.Error(), "0123456789") {
			t.Errorf("error shows the token: %v", err)
		}
	}
}
