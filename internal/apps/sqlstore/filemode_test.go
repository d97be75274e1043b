package sqlstore

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/heraldhq/herald/internal/apps/appstest"
)

// TestSQLiteFilesPrivate: the app store holds secrets, so apps.db and the
// -wal and -shm files SQLite creates next to it are 0600 even under a
// permissive umask.
func TestSQLiteFilesPrivate(t *testing.T) {
	old := syscall.Umask(0o002)
	defer syscall.Umask(old)
	path := filepath.Join(t.TempDir(), "apps.db")
	s := openT(t, "sqlite:"+path, Options{})
	if err := s.Create(context.Background(), appstest.NewApp("1", "k")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p) // all three exist while the store is open (WAL mode)
		if err != nil {
			t.Fatal(err)
		}
		if m := fi.Mode().Perm(); m != 0o600 {
			t.Errorf("%s: mode %o, want 600", filepath.Base(p), m)
		}
	}
}
