package sqldevices

// A minimal copy of internal/apps/sqlstore/pg_test.go: a throw-away
// PostgreSQL server from Debian's binaries, or a skip when they are absent.

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// pgServer is a throwaway PostgreSQL started from Debian's server binaries:
// its own data directory, a free 127.0.0.1 port, sockets in its temp dir,
// trust authentication for the superuser "herald".
type pgServer struct {
	bin  string // directory of initdb, pg_ctl
	dir  string // temp dir: data/, log, sockets
	port int
	as   []string // command prefix running as the postgres user when root
	dbs  atomic.Int64
}

// startPostgres starts a server for tb and stops it in tb.Cleanup. It skips
// tb when the server binaries are missing.
func startPostgres(tb testing.TB) *pgServer {
	tb.Helper()
	initdbs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(initdbs) == 0 {
		tb.Skip("PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin/initdb, pg_ctl): " +
			"run scripts/install-deps.sh (installs Debian's postgresql package) to run the PostgreSQL tests")
	}
	bin := filepath.Dir(newestVersion(initdbs))
	if _, err := os.Stat(filepath.Join(bin, "pg_ctl")); err != nil {
		tb.Skipf("PostgreSQL pg_ctl missing next to %s", bin)
	}
	// Not t.TempDir: its parents are private to the current user, and the
	// server runs as "postgres" when we are root.
	dir, err := os.MkdirTemp("", "herald-pg-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	s := &pgServer{bin: bin, dir: dir}
	if os.Geteuid() == 0 {
		// initdb refuses to run as root.
		u, err := user.Lookup("postgres")
		if err != nil {
			tb.Skipf("running as root and there is no postgres user to run the server as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			tb.Fatal(err)
		}
		if p, err := exec.LookPath("runuser"); err == nil {
			s.as = []string{p, "-u", "postgres", "--"}
		} else {
			tb.Skip("running as root without runuser to drop to the postgres user")
		}
	}
	if out, err := s.run("initdb", "-D", s.data(), "-U", "herald", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"); err != nil {
		tb.Fatalf("initdb: %v\n%s", err, out)
	}
	s.port = freePort(tb)
	opts := fmt.Sprintf("-p %d -h 127.0.0.1 -k %s -c fsync=off -c full_page_writes=off -c max_connections=200", s.port, s.dir)
	if out, err := s.run("pg_ctl", "-D", s.data(), "-l", filepath.Join(s.dir, "log"), "-w", "-t", "30", "-o", opts, "start"); err != nil {
		log, _ := os.ReadFile(filepath.Join(s.dir, "log"))
		tb.Fatalf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
	tb.Cleanup(func() {
		if out, err := s.run("pg_ctl", "-D", s.data(), "-m", "immediate", "-w", "stop"); err != nil && !strings.Contains(string(out), "not running") {
			tb.Logf("pg_ctl stop: %v\n%s", err, out)
		}
	})
	return s
}

func (s *pgServer) data() string { return filepath.Join(s.dir, "data") }

func (s *pgServer) run(tool string, args ...string) ([]byte, error) {
	argv := append(append(append([]string{}, s.as...), filepath.Join(s.bin, tool)), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	return cmd.CombinedOutput()
}

func (s *pgServer) dsn(db string) string {
	return fmt.Sprintf("postgres://herald:not-checked@127.0.0.1:%d/%s?sslmode=disable", s.port, db)
}

// newDB creates an empty database and returns its DSN. The database's
// default collation is ICU's en-US when the server has ICU (as a deployment
// with a non-C locale would), so a query ordering by the locale instead of
// bytes shows; otherwise the server's default ("C").
func (s *pgServer) newDB(tb testing.TB) string {
	tb.Helper()
	admin, err := sql.Open("pgx", s.dsn("postgres"))
	if err != nil {
		tb.Fatal(err)
	}
	defer admin.Close()
	name := fmt.Sprintf("herald_%d", s.dbs.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name+" TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C'"); err == nil {
		return s.dsn(name)
	} else if s.dbs.Load() == 1 {
		tb.Logf("no ICU en-US database (%v): using the server's default collation", err)
	}
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("create database: %v", err)
	}
	return s.dsn(name)
}

func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// newestVersion picks the initdb of the highest major version.
func newestVersion(paths []string) string {
	best, bestV := paths[0], -1.0
	for _, p := range paths {
		v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(filepath.Dir(p))), 64)
		if v > bestV {
			best, bestV = p, v
		}
	}
	return best
}
