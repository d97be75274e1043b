package sqlstore

import (
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"modernc.org/sqlite"               // registers the "sqlite" database/sql driver
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/heraldhq/herald/internal/sqldsn"
)

// dialect is what differs between SQLite and PostgreSQL.
type dialect struct {
	name      string // "sqlite" or "postgres", for logs and errors
	driver    string // database/sql driver name
	source    string // the driver's data source name
	shown     string // the DSN as it may be printed: no password
	schema    []string
	snapshot  sql.TxOptions // a consistent read of the version and every app
	numbered  bool          // placeholders are $1, $2 ... instead of ?
	unique    func(error) bool
	maxConns  int
	lockTable string // statement serialising schema creation across nodes, or ""
}

func parseDSN(dsn string) (*dialect, error) {
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		return sqliteDialect(strings.TrimPrefix(dsn, "sqlite:"))
	case sqldsn.IsPostgres(dsn):
		return postgresDialect(dsn)
	default:
		return nil, fmt.Errorf("apps store: unsupported DSN %q: want sqlite:<path> or postgres://user:password@host:port/db", sqldsn.Redact(dsn))
	}
}

// schema is the DDL both databases share; they differ only in the types
// of apps.data and apps_version.version.
func schema(dataType, versionType string) []string {
	return []string{
		`CREATE TABLE IF NOT EXISTS apps (
			id      TEXT PRIMARY KEY,
			app_key TEXT NOT NULL UNIQUE,
			secret  TEXT NOT NULL,
			data    ` + dataType + ` NOT NULL
		)`,
		`CREATE TABLE IF NOT EXISTS apps_version (
			id      INTEGER PRIMARY KEY CHECK (id = 1),
			version ` + versionType + ` NOT NULL
		)`,
		`INSERT INTO apps_version (id, version) VALUES (1, 0) ON CONFLICT (id) DO NOTHING`,
	}
}

func sqliteDialect(path string) (*dialect, error) {
	// Readers use read-only transactions, which stay deferred.
	source, err := sqldsn.SQLiteSource(path)
	if err != nil {
		return nil, fmt.Errorf("apps store: %w", err)
	}
	return &dialect{
		name:     "sqlite",
		driver:   "sqlite",
		source:   source,
		shown:    "sqlite:" + path,
		schema:   schema("TEXT", "INTEGER"),
		snapshot: sql.TxOptions{ReadOnly: true},
		unique: func(err error) bool {
			var se *sqlite.Error
			return errors.As(err, &se) &&
				(se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
		},
		maxConns: 4,
	}, nil
}

func postgresDialect(dsn string) (*dialect, error) {
	if _, err := url.Parse(dsn); err != nil {
		return nil, fmt.Errorf("apps store: DSN %q is not a postgres:// URL", sqldsn.Redact(dsn))
	}
	return &dialect{
		name:     "postgres",
		driver:   "pgx",
		source:   dsn,
		shown:    sqldsn.Redact(dsn),
		schema:   schema("JSONB", "BIGINT"),
		snapshot: sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead},
		numbered: true,
		unique: func(err error) bool {
			var pe *pgconn.PgError
			return errors.As(err, &pe) && pe.Code == "23505" // unique_violation
		},
		maxConns: 8,
		// Two nodes starting at once would otherwise race in CREATE TABLE
		// IF NOT EXISTS and one would fail on the catalog's unique index.
		lockTable: `SELECT pg_advisory_xact_lock(7250412061)`,
	}, nil
}

// q rewrites ? placeholders for PostgreSQL. Queries here never contain a
// literal question mark.
func (d *dialect) q(query string) string {
	if !d.numbered {
		return query
	}
	return sqldsn.Numbered(query)
}
