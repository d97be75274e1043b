package sqlstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/apps"
	"github.com/heraldhq/herald/internal/apps/appstest"
	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/internal/sqldsn"
)

const testPoll = 50 * time.Millisecond

func openT(t *testing.T, dsn string, opts Options) *Store {
	t.Helper()
	if opts.PollInterval == 0 {
		opts.PollInterval = testPoll
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Open(ctx, dsn, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func opener(dsn string) appstest.Opener {
	return func(t *testing.T) apps.Manager { return openT(t, dsn, Options{}) }
}

func TestSQLiteConformance(t *testing.T) {
	appstest.Run(t, func(t *testing.T) appstest.Opener {
		return opener("sqlite:" + filepath.Join(t.TempDir(), "apps.db"))
	}, 10*testPoll)
}

func TestPostgresConformance(t *testing.T) {
	pg := pgtest.Start(t)
	appstest.Run(t, func(t *testing.T) appstest.Opener { return opener(pg.NewDB(t)) }, 10*testPoll)
}

// events records OnChange calls.
type events struct {
	mu  sync.Mutex
	got []string
}

func (e *events) record(old, new *apps.App) {
	var s string
	switch {
	case old == nil:
		s = "create " + new.ID
	case new == nil:
		s = "delete " + old.ID
	default:
		s = fmt.Sprintf("update %s %s->%s", new.ID, old.Key, new.Key)
	}
	e.mu.Lock()
	e.got = append(e.got, s)
	e.mu.Unlock()
}

func (e *events) list() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.got...)
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: timed out", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestOnChange(t *testing.T) {
	ctx := context.Background()
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "apps.db")
	var local, remote events
	var a *Store
	a = openT(t, dsn, Options{OnChange: func(old, new *apps.App) {
		// Lookups from the callback see the change already.
		if new != nil {
			if got, err := a.ByID(ctx, new.ID); err != nil || got != new {
				t.Errorf("OnChange: ByID = %v, %v", got, err)
			}
		}
		local.record(old, new)
	}})
	if err := a.Create(ctx, appstest.NewApp("9", "pre")); err != nil {
		t.Fatal(err)
	}
	openT(t, dsn, Options{OnChange: remote.record}) // another node; app 9 exists at Open: no call

	steps := func(m apps.Manager) {
		if err := m.Create(ctx, appstest.NewApp("1", "k1")); err != nil {
			t.Fatal(err)
		}
		if err := m.Update(ctx, appstest.NewApp("1", "k2")); err != nil {
			t.Fatal(err)
		}
		if err := m.Delete(ctx, "9"); err != nil {
			t.Fatal(err)
		}
	}
	steps(a)
	want := []string{"create 9", "create 1", "update 1 k1->k2", "delete 9"}
	if got := local.list(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("local OnChange calls %q, want %q", got, want)
	}
	// The other node sees the net change at its next poll (changes between
	// two polls are folded into one).
	eventually(t, "remote OnChange", func() bool {
		got := remote.list()
		return len(got) == 2
	})
	got := strings.Join(remote.list(), ",")
	if !strings.Contains(got, "create 1") || !strings.Contains(got, "delete 9") {
		t.Fatalf("remote calls %q", got)
	}
	// Failed writes call nothing.
	if err := a.Delete(ctx, "9"); !errors.Is(err, apps.ErrNotFound) {
		t.Fatal(err)
	}
	if err := a.Create(ctx, appstest.NewApp("2", "k2")); !errors.Is(err, apps.ErrConflict) {
		t.Fatal(err)
	}
	time.Sleep(3 * testPoll)
	if n := len(local.list()); n != 4 {
		t.Fatalf("failed writes produced calls: %q", local.list())
	}
	// A poll does not echo this node's own changes back.
	if n := len(remote.list()); n != 2 {
		t.Fatalf("remote calls grew: %q", remote.list())
	}
}

// TestOnChangeReentrant: the callback may change apps through the Store.
func TestOnChangeReentrant(t *testing.T) {
	ctx := context.Background()
	var ev events
	var s *Store
	s = openT(t, "sqlite:"+filepath.Join(t.TempDir(), "apps.db"), Options{OnChange: func(old, new *apps.App) {
		ev.record(old, new)
		if new != nil && !new.Enabled {
			if err := s.Delete(ctx, new.ID); err != nil {
				t.Errorf("delete from OnChange: %v", err)
			}
		}
	}})
	a := appstest.NewApp("1", "k")
	if err := s.Create(ctx, a); err != nil {
		t.Fatal(err)
	}
	a.Enabled = false
	if err := s.Update(ctx, a); err != nil {
		t.Fatal(err)
	}
	eventually(t, "delete by the callback", func() bool { return len(ev.list()) == 3 })
	if got := strings.Join(ev.list(), ","); got != "create 1,update 1 k->k,delete 1" {
		t.Fatalf("calls %q", got)
	}
}

// TestCacheServesAfterClose shows lookups never touch the database.
func TestCacheServesAfterClose(t *testing.T) {
	ctx := context.Background()
	s := openT(t, "sqlite:"+filepath.Join(t.TempDir(), "apps.db"), Options{})
	if err := s.Create(ctx, appstest.NewApp("1", "k")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := s.ByKey(ctx, "k"); err != nil {
		t.Fatalf("ByKey after Close: %v", err)
	}
	if err := s.Create(ctx, appstest.NewApp("2", "k2")); err == nil {
		t.Fatal("write after Close succeeded")
	}
}

func TestSQLiteFileAndReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sub", "dir", "apps.db") // directories are created
	s := openT(t, "sqlite:"+path, Options{})
	if err := s.Create(ctx, appstest.FullApp("1", "k")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	var mode string
	s2 := openT(t, "sqlite:"+path, Options{})
	if err := s2.db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode %q, %v", mode, err)
	}
	var busy int
	if err := s2.db.QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&busy); err != nil || busy != sqldsn.SQLiteBusyTimeoutMS {
		t.Fatalf("busy_timeout %d, %v", busy, err)
	}
	if got, err := s2.ByKey(ctx, "k"); err != nil || got.Webhooks[0].Headers["X-Token"] != "t0k3n" {
		t.Fatalf("reopened: %+v, %v", got, err)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	notDir := filepath.Join(dir, "file")
	if err := os.WriteFile(notDir, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, bytes.Repeat([]byte("not a database "), 512), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ dsn, want, secret string }{
		{"", "unsupported DSN", ""},
		{"mysql://root:hunter2@db/herald", "unsupported DSN", "hunter2"},
		{"sqlite:", "want sqlite:<path", ""},
		{"sqlite:" + dir + "/x.db?mode=ro", "want sqlite:<path", ""},
		{"sqlite:" + notDir + "/apps.db", notDir, ""},
		{"sqlite:" + garbage, garbage, ""},
	}
	for _, c := range cases {
		s, err := Open(ctx, c.dsn, Options{})
		if err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", c.dsn)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("Open(%q) = %q, want it to mention %q", c.dsn, err, c.want)
		}
		if c.secret != "" && strings.Contains(err.Error(), c.secret) {
			t.Errorf("Open(%q) leaks the password: %q", c.dsn, err)
		}
	}
}

// TestPostgresUnreachableAtOpen needs no server: nothing listens on the port.
func TestPostgresUnreachableAtOpen(t *testing.T) {
	port := pgtest.FreePort(t)
	for _, dsn := range []string{
		fmt.Sprintf("postgres://herald:hunter2-pw@127.0.0.1:%d/herald?sslmode=disable", port),
		fmt.Sprintf("postgresql://herald@127.0.0.1:%d/herald?sslmode=disable&password=hunter2-pw", port),
	} {
		start := time.Now()
		s, err := Open(context.Background(), dsn, Options{QueryTimeout: 3 * time.Second})
		if err == nil {
			s.Close()
			t.Fatal("Open succeeded")
		}
		if d := time.Since(start); d > 4*time.Second {
			t.Errorf("Open took %v", d)
		}
		msg := err.Error()
		if strings.Contains(msg, "hunter2-pw") {
			t.Fatalf("error leaks the password: %s", msg)
		}
		if !strings.Contains(msg, "cannot reach") || !strings.Contains(msg, fmt.Sprintf("127.0.0.1:%d", port)) {
			t.Fatalf("error does not name the store: %s", msg)
		}
		t.Log(msg)
	}
}

// syncBuffer is a log sink safe to read while the poller writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestPostgresOutage: the database goes away after Open; lookups keep
// working from the cache, Healthy and the log report it, writes fail with a
// clear error, and everything recovers when the database is back.
func TestPostgresOutage(t *testing.T) {
	pg := pgtest.Start(t)
	ctx := context.Background()
	var logs syncBuffer
	dsn := strings.Replace(pg.NewDB(t), "not-checked", "hunter2-pw", 1)
	s := openT(t, dsn, Options{
		QueryTimeout: 2 * time.Second,
		Logger:       slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err := s.Create(ctx, appstest.FullApp("1", "k1")); err != nil {
		t.Fatal(err)
	}
	if err := s.Healthy(); err != nil {
		t.Fatal(err)
	}

	pg.Stop(t)
	eventually(t, "Healthy reports the outage", func() bool { return s.Healthy() != nil })
	herr := s.Healthy().Error()
	if !strings.Contains(herr, "serving cached apps") || strings.Contains(herr, "hunter2-pw") {
		t.Fatalf("Healthy = %q", herr)
	}
	if a, err := s.ByKey(ctx, "k1"); err != nil || a.ID != "1" {
		t.Fatalf("ByKey during outage: %v, %v", a, err)
	}
	if a, err := s.ByID(ctx, "1"); err != nil || a.Key != "k1" {
		t.Fatalf("ByID during outage: %v, %v", a, err)
	}
	if list, _ := s.List(ctx); len(list) != 1 {
		t.Fatal("List during outage")
	}
	werr := s.Create(ctx, appstest.NewApp("2", "k2"))
	if werr == nil || errors.Is(werr, apps.ErrConflict) || strings.Contains(werr.Error(), "hunter2-pw") {
		t.Fatalf("write during outage: %v", werr)
	}
	if _, err := s.ByID(ctx, "2"); !errors.Is(err, apps.ErrNotFound) {
		t.Fatal("failed write reached the cache")
	}
	eventually(t, "outage logged", func() bool { return strings.Contains(logs.String(), "apps store poll failed") })

	pg.Start(t)
	eventually(t, "Healthy recovers", func() bool { return s.Healthy() == nil })
	if err := s.Create(ctx, appstest.NewApp("2", "k2")); err != nil {
		t.Fatalf("write after recovery: %v", err)
	}
	eventually(t, "recovery logged", func() bool { return strings.Contains(logs.String(), "reachable again") })
	if l := logs.String(); strings.Contains(l, "hunter2-pw") || strings.Contains(l, "primary-secret") {
		t.Fatalf("log leaks a secret:\n%s", l)
	}
}
