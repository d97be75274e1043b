package sqldsn

import (
	"errors"
	"strings"
	"testing"
)

func TestNumbered(t *testing.T) {
	if got := Numbered("SELECT a FROM t WHERE b = ? AND c IN (?, ?)"); got != "SELECT a FROM t WHERE b = $1 AND c IN ($2, $3)" {
		t.Fatal(got)
	}
}

func TestRedactAndScrub(t *testing.T) {
	for dsn, want := range map[string]string{
		"postgres://u:s3cret@db:5432/herald":        "postgres://u:xxxxx@db:5432/herald",
		"postgres://u@db/herald?password=s3cret":    "postgres://u@db/herald?password=xxxxx",
		"sqlite:/var/lib/herald/apps.db":            "sqlite:/var/lib/herald/apps.db",
		"host=db user=u password=s3cret@x dbname=h": "<unparsable DSN>",
	} {
		if got := Redact(dsn); got != want || strings.Contains(got, "s3cret") {
			t.Errorf("Redact(%q) = %q, want %q", dsn, got, want)
		}
	}
	err := Scrub(errors.New("auth failed for s3cret"), "postgres://u:s3cret@db/h")
	if strings.Contains(err.Error(), "s3cret") {
		t.Fatal(err)
	}
	plain := errors.New("connection refused")
	if Scrub(plain, "postgres://u:s3cret@db/h") != plain {
		t.Fatal("an error without the password must stay as it is")
	}
}

func TestSQLiteSourceAndKind(t *testing.T) {
	dir := t.TempDir() + "/a/b"
	src, err := SQLiteSource(dir+"/x.db", "foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{dir + "/x.db?", "busy_timeout%285000%29", "journal_mode%28WAL%29", "foreign_keys%281%29", "_txlock=immediate"} {
		if !strings.Contains(src, want) {
			t.Errorf("source %q lacks %q", src, want)
		}
	}
	for _, bad := range []string{"", "x.db?mode=ro", "file:x.db", ":memory:", "a#b"} {
		if _, err := SQLiteSource(bad); err == nil {
			t.Errorf("SQLiteSource(%q) accepted", bad)
		}
	}
	for dsn, pg := range map[string]bool{"postgres://u@h/db": true, "postgresql://h/db": true, "sqlite:/x.db": false, "mysql://h": false} {
		if IsPostgres(dsn) != pg {
			t.Errorf("IsPostgres(%q) = %v", dsn, !pg)
		}
	}
}
