package sqldevices

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/beams/devices"
	"github.com/heraldhq/herald/internal/beams/devices/devicestest"
	"github.com/heraldhq/herald/internal/pgtest"
)

func openT(tb testing.TB, dsn string) *Store {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Open(ctx, dsn, Options{QueryTimeout: 30 * time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func sqliteDSN(tb testing.TB) string {
	return "sqlite:" + filepath.Join(tb.TempDir(), "sub", "apps.db")
}

func TestSQLiteConformance(t *testing.T) {
	devicestest.Run(t, func(t *testing.T) devices.Store { return openT(t, sqliteDSN(t)) })
}

func TestPostgresConformance(t *testing.T) {
	pg := pgtest.Start(t)
	devicestest.Run(t, func(t *testing.T) devices.Store { return openT(t, pg.NewICUDB(t)) })
}

func TestParseDSN(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		dsn, name, bad string
	}{
		{dsn: "sqlite:" + filepath.Join(dir, "a.db"), name: "sqlite"},
		{dsn: "postgres://u:p@h:5432/db", name: "postgres"},
		{dsn: "postgresql://u@h/db?sslmode=disable", name: "postgres"},
		{dsn: "sqlite:", bad: "want sqlite:<path"},
		{dsn: "sqlite::memory:", bad: "want sqlite:<path"},
		{dsn: "sqlite:file:x.db", bad: "want sqlite:<path"},
		{dsn: "sqlite:" + filepath.Join(dir, "a.db") + "?_pragma=x", bad: "want sqlite:<path"},
		{dsn: "mysql://u:secret@h/db", bad: "unsupported DSN"},
		{dsn: filepath.Join(dir, "a.db"), bad: "unsupported DSN"},
	} {
		d, err := parseDSN(tc.dsn)
		if tc.bad != "" {
			if err == nil || !strings.Contains(err.Error(), tc.bad) {
				t.Errorf("parseDSN(%q) = %v, want an error with %q", tc.dsn, err, tc.bad)
			}
			if err != nil && strings.Contains(err.Error(), "secret") {
				t.Errorf("parseDSN(%q) error shows the password: %v", tc.dsn, err)
			}
			continue
		}
		if err != nil || d.name != tc.name {
			t.Errorf("parseDSN(%q) = %v, %v; want %s", tc.dsn, d, err, tc.name)
		}
	}
}

func TestUnreachablePostgresHidesPassword(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	port := pgtest.FreePort(t) // closed again: nothing listens
	dsn := "postgres://herald:hunter2-secret@127.0.0.1:" + itoa(port) + "/db?sslmode=disable&connect_timeout=2"
	_, err := Open(ctx, dsn, Options{})
	if err == nil {
		t.Fatal("Open of a closed port succeeded")
	}
	if strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "cannot reach") {
		t.Fatalf("error %q: want 'cannot reach' and no password", err)
	}
}

// TestReopenAndShare: the schema survives reopening, and two stores on one
// SQLite file (two processes, or the app store's pool beside this one)
// see each other's writes.
func TestReopenAndShare(t *testing.T) {
	dsn := sqliteDSN(t)
	ctx := t.Context()
	a := openT(t, dsn)
	d, _, _, err := a.Register(ctx, devices.Device{Instance: "i", Platform: devices.FCM, Token: "t"})
	if err != nil {
		t.Fatal(err)
	}
	b := openT(t, dsn)
	if err := b.AddInterest(ctx, "i", d.ID, "news"); err != nil {
		t.Fatal(err)
	}
	list, _, err := a.ByInterests(ctx, "i", []string{"news"}, "", 10)
	if err != nil || len(list) != 1 || list[0].ID != d.ID {
		t.Fatalf("a sees %v, %v", list, err)
	}
	a.Close()
	if err := a.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := a.Get(ctx, "i", d.ID); err == nil {
		t.Fatal("Get after Close succeeded")
	}
	c := openT(t, dsn)
	if err := c.Delete(ctx, "i", d.ID); err != nil {
		t.Fatal(err)
	}
	// The cascade ran on c's connection: the interest row is gone.
	var n int
	if err := c.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM beams_device_interest`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d interest rows after Delete, %v", n, err)
	}
}

// TestSQLitePlans checks that the delivery and listing reads use their
// indexes: a full scan would make every page cost the whole table.
func TestSQLitePlans(t *testing.T) {
	s := openT(t, sqliteDSN(t))
	ctx := t.Context()
	for _, tc := range []struct {
		name, query string
		args        []any
		want        []string
	}{
		{"by interest", byInterest, []any{"i", "x", "", 10}, []string{"beams_device_interest_by_interest"}},
		{"interests of a device", `SELECT i.interest FROM beams_device d
			LEFT JOIN beams_device_interest i ON i.device_id = d.id AND i.interest > ?
			WHERE d.id = ? AND d.instance_id = ? ORDER BY i.interest LIMIT ?`, []any{"", "d", "i", 10}, nil},
		{"page of one interest", byInterestsQuery(1), []any{"i", "x", "", 10, 10}, []string{"beams_device_interest_by_interest"}},
		{"page of three interests", byInterestsQuery(3), []any{"i", "x", "", 10, "i", "y", "", 10, "i", "z", "", 10, 10},
			[]string{"beams_device_interest_by_interest"}},
		{"page of two users", byUsersQuery(s.d.keySet), []any{"i", `["u","v"]`, "", 10}, []string{"beams_device_by_user"}},
		{"delete user", `DELETE FROM beams_device WHERE instance_id = ? AND user_id = ?`, []any{"i", "u"}, []string{"beams_device_by_user"}},
	} {
		rows, err := s.db.QueryContext(ctx, "EXPLAIN QUERY PLAN "+tc.query, tc.args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		all := strings.Join(plan, "\n")
		t.Logf("%s:\n%s", tc.name, all)
		for _, line := range plan {
			// Scans of the bounded subqueries (k0, m...) are fine; of a
			// table, not.
			switch strings.Fields(line + " -")[1] {
			case "beams_device", "beams_device_interest", "d", "i":
				if strings.HasPrefix(line, "SCAN ") {
					t.Errorf("%s: full scan: %s", tc.name, line)
				}
			}
		}
		for _, w := range tc.want {
			if !strings.Contains(all, w) {
				t.Errorf("%s: plan does not use %s:\n%s", tc.name, w, all)
			}
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
