// Package pgtest starts throw-away PostgreSQL servers for tests, from
// Debian's server binaries (installed by scripts/install-deps.sh): its own
// data directory, a free 127.0.0.1 port, sockets in its temp dir, trust
// authentication for the superuser "herald". A test is skipped when the
// binaries are missing. The SQL stores' tests share it.
package pgtest

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

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver NewDB uses
)

// Server is one PostgreSQL server, stopped in the test's Cleanup.
type Server struct {
	bin  string // directory of initdb, pg_ctl
	dir  string // temp dir: data/, log, sockets
	port int
	as   []string // command prefix running as the postgres user when root
	dbs  atomic.Int64
}

// Start starts a server for tb and stops it in tb.Cleanup. It skips tb
// when the server binaries are missing.
func Start(tb testing.TB) *Server {
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
	// Not tb.TempDir: its parents are private to the current user, and the
	// server runs as "postgres" when we are root.
	dir, err := os.MkdirTemp("", "herald-pg-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	s := &Server{bin: bin, dir: dir}
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
		p, err := exec.LookPath("runuser")
		if err != nil {
			tb.Skip("running as root without runuser to drop to the postgres user")
		}
		s.as = []string{p, "-u", "postgres", "--"}
	}
	if out, err := s.run("initdb", "-D", s.data(), "-U", "herald", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"); err != nil {
		tb.Fatalf("initdb: %v\n%s", err, out)
	}
	s.port = FreePort(tb)
	s.Start(tb)
	tb.Cleanup(func() { s.Stop(tb) })
	return s
}

func (s *Server) data() string { return filepath.Join(s.dir, "data") }

func (s *Server) run(tool string, args ...string) ([]byte, error) {
	argv := append(append(append([]string{}, s.as...), filepath.Join(s.bin, tool)), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	return cmd.CombinedOutput()
}

// Start starts the server again after Stop (same port, same data).
func (s *Server) Start(tb testing.TB) {
	tb.Helper()
	opts := fmt.Sprintf("-p %d -h 127.0.0.1 -k %s -c fsync=off -c full_page_writes=off -c max_connections=200", s.port, s.dir)
	if out, err := s.run("pg_ctl", "-D", s.data(), "-l", filepath.Join(s.dir, "log"), "-w", "-t", "30", "-o", opts, "start"); err != nil {
		log, _ := os.ReadFile(filepath.Join(s.dir, "log"))
		tb.Fatalf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
}

// Stop stops the server at once (an outage, for tests that need one).
func (s *Server) Stop(tb testing.TB) {
	tb.Helper()
	if out, err := s.run("pg_ctl", "-D", s.data(), "-m", "immediate", "-w", "stop"); err != nil && !strings.Contains(string(out), "not running") {
		tb.Logf("pg_ctl stop: %v\n%s", err, out)
	}
}

// DSN is the connection string of database db.
func (s *Server) DSN(db string) string {
	return fmt.Sprintf("postgres://herald:not-checked@127.0.0.1:%d/%s?sslmode=disable", s.port, db)
}

// NewDB creates an empty database and returns its DSN.
func (s *Server) NewDB(tb testing.TB) string {
	tb.Helper()
	return s.create(tb, "")
}

// NewICUDB is NewDB with ICU's en-US as the default collation when the
// server has ICU (as a deployment with a non-C locale would), so a query
// ordering by the locale instead of bytes shows; otherwise the server's
// default ("C").
func (s *Server) NewICUDB(tb testing.TB) string {
	tb.Helper()
	return s.create(tb, " TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C'")
}

func (s *Server) create(tb testing.TB, options string) string {
	admin, err := sql.Open("pgx", s.DSN("postgres"))
	if err != nil {
		tb.Fatal(err)
	}
	defer admin.Close()
	name := fmt.Sprintf("herald_%d", s.dbs.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if options != "" {
		if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name+options); err == nil {
			return s.DSN(name)
		} else if s.dbs.Load() == 1 {
			tb.Logf("no ICU en-US database (%v): using the server's default collation", err)
		}
	}
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("create database: %v", err)
	}
	return s.DSN(name)
}

// FreePort is a 127.0.0.1 port nothing listens on (at the time of the
// call): for a server's port, or for a database that is not there.
func FreePort(tb testing.TB) int {
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
