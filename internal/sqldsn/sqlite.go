package sqldsn

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// IsPostgres reports whether dsn names a PostgreSQL database: the only
// kind several nodes can share (an SQLite file is each node's own).
func IsPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// SQLiteBusyTimeoutMS is how long an SQLite write waits for another
// connection's (or process's) write lock before failing.
const SQLiteBusyTimeoutMS = 5000

// SQLiteSource checks the path of a "sqlite:<path>" DSN, creates its
// directory and returns the driver's data source: WAL, the busy timeout,
// writers taking the lock at BEGIN (so the busy timeout applies instead of
// a lock upgrade failing at once), plus the stores' own pragmas. A missing
// database file is created empty with mode 0600 whatever the umask: it
// holds app secrets, and SQLite gives its -wal and -shm files the mode of
// the database file.
func SQLiteSource(path string, pragmas ...string) (string, error) {
	if path == "" || strings.ContainsAny(path, "?#") || strings.HasPrefix(path, "file:") || path == ":memory:" {
		return "", fmt.Errorf("DSN %q: want sqlite:<path to a database file> (no '?', '#' or file: URI)", "sqlite:"+path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return "", fmt.Errorf("sqlite:%s: %w", path, err)
	}
	if err := createPrivate(path); err != nil {
		return "", fmt.Errorf("sqlite:%s: %w", path, err)
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+strconv.Itoa(SQLiteBusyTimeoutMS)+")")
	q.Add("_pragma", "journal_mode(WAL)")
	for _, p := range pragmas {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	return path + "?" + q.Encode(), nil
}

// createPrivate creates path empty with mode 0600 unless it exists (an
// empty file is an empty SQLite database). An existing file keeps its mode.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := f.Chmod(0o600); err != nil { // exactly 0600, whatever the umask took off
		f.Close()
		return err
	}
	return f.Close()
}
