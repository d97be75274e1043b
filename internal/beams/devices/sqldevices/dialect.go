package sqldevices

import (
	"fmt"
	"net/url"
	"strings"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	_ "modernc.org/sqlite"             // registers the "sqlite" database/sql driver

	"github.com/heraldhq/herald/internal/sqldsn"
)

// The DSN handling below follows internal/apps/sqlstore (same forms, same
// SQLite settings, same password hygiene): the device tables live in the app
// store's database, opened through a second pool.

// dialect is what differs between SQLite and PostgreSQL.
type dialect struct {
	name      string // "sqlite" or "postgres", for errors
	driver    string // database/sql driver name
	source    string // the driver's data source name
	shown     string // the DSN as it may be printed: no password
	schema    []string
	numbered  bool   // placeholders are $1, $2 ... instead of ?
	forUpdate string // suffix locking a selected row until commit, or ""
	// lockUser, when set, serialises the transactions changing one
	// user's devices (arg: instance and user); SQLite needs none, its
	// writers are serialised by the database lock.
	lockUser  string
	lockTable string // statement serialising schema creation across nodes, or ""
	keySet    string // subquery: the strings of a JSON array parameter, as rows
	maxConns  int
	oneWriter bool // writes go through a pool of one connection
}

func parseDSN(dsn string) (*dialect, error) {
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		return sqliteDialect(strings.TrimPrefix(dsn, "sqlite:"))
	case sqldsn.IsPostgres(dsn):
		return postgresDialect(dsn)
	default:
		return nil, fmt.Errorf("beams devices: unsupported DSN %q: want sqlite:<path> or postgres://user:password@host:port/db", sqldsn.Redact(dsn))
	}
}

// schema is the DDL both databases share. key is the type of the columns
// compared and ordered in paged reads: byte order in both databases (SQLite's
// default BINARY collation; "C" in PostgreSQL, whatever the database's
// locale), so cursors and the merge of several queries agree with Go's
// string order. Times are microseconds since the Unix epoch.
func schema(key, withoutRowID string) []string {
	return []string{
		`CREATE TABLE IF NOT EXISTS beams_device (
			id           ` + key + ` PRIMARY KEY,
			instance_id  ` + key + ` NOT NULL,
			platform     TEXT NOT NULL,
			token        ` + key + ` NOT NULL,
			endpoint     TEXT NOT NULL DEFAULT '',
			p256dh       TEXT NOT NULL DEFAULT '',
			auth         TEXT NOT NULL DEFAULT '',
			bundle_id    TEXT NOT NULL DEFAULT '',
			user_id      ` + key + `,
			metadata     TEXT,
			created_at   BIGINT NOT NULL,
			last_seen_at BIGINT NOT NULL,
			UNIQUE (instance_id, platform, token)
		)`,
		// Most devices have no user: the partial index holds only the others.
		`CREATE INDEX IF NOT EXISTS beams_device_by_user
			ON beams_device (instance_id, user_id, id) WHERE user_id IS NOT NULL`,
		`CREATE TABLE IF NOT EXISTS beams_device_interest (
			device_id   ` + key + ` NOT NULL REFERENCES beams_device (id) ON DELETE CASCADE,
			instance_id ` + key + ` NOT NULL,
			interest    ` + key + ` NOT NULL,
			PRIMARY KEY (device_id, interest)
		)` + withoutRowID,
		`CREATE INDEX IF NOT EXISTS beams_device_interest_by_interest
			ON beams_device_interest (instance_id, interest, device_id)`,
		// Keys an instance needs on every node and across restarts (its
		// VAPID key: browsers bind their subscriptions to it).
		`CREATE TABLE IF NOT EXISTS beams_instance_key (
			instance_id ` + key + ` NOT NULL,
			kind        ` + key + ` NOT NULL,
			secret      TEXT NOT NULL,
			created_at  BIGINT NOT NULL,
			PRIMARY KEY (instance_id, kind)
		)`,
		// Instances managed with `herald beams` and the admin API (those
		// of the config file are not here). data is the record as JSON
		// (instances.go); version grows by one with every change, so
		// readers can tell a changed record from the one they built.
		`CREATE TABLE IF NOT EXISTS beams_instance (
			id         ` + key + ` PRIMARY KEY,
			data       TEXT NOT NULL,
			version    BIGINT NOT NULL,
			created_at BIGINT NOT NULL,
			updated_at BIGINT NOT NULL
		)`,
	}
}

func sqliteDialect(path string) (*dialect, error) {
	// foreign_keys: deleting a device deletes its interests (ON DELETE
	// CASCADE), which SQLite enforces only when each connection asks.
	// synchronous(NORMAL): in WAL mode it never corrupts the database; a
	// power cut may lose the last commits, and a lost registration or
	// interest change is redone by the SDK. It spares an fsync per
	// registration. Reads here are single statements, outside transactions.
	source, err := sqldsn.SQLiteSource(path, "foreign_keys(1)", "synchronous(NORMAL)")
	if err != nil {
		return nil, fmt.Errorf("beams devices: %w", err)
	}
	return &dialect{
		name:      "sqlite",
		driver:    "sqlite",
		source:    source,
		shown:     "sqlite:" + path,
		schema:    schema("TEXT", " WITHOUT ROWID"),
		keySet:    `SELECT value FROM json_each(?)`,
		maxConns:  4,
		oneWriter: true,
	}, nil
}

func postgresDialect(dsn string) (*dialect, error) {
	if _, err := url.Parse(dsn); err != nil {
		return nil, fmt.Errorf("beams devices: DSN %q is not a postgres:// URL", sqldsn.Redact(dsn))
	}
	return &dialect{
		name:      "postgres",
		driver:    "pgx",
		source:    dsn,
		shown:     sqldsn.Redact(dsn),
		schema:    schema(`TEXT COLLATE "C"`, ""),
		numbered:  true,
		forUpdate: " FOR UPDATE",
		// Without it two devices joining one user at once could both pass
		// the per-user cap. A hash collision only serialises two users.
		lockUser: `SELECT pg_advisory_xact_lock(hashtextextended(?, 0))`,
		// Two nodes starting at once would otherwise race in CREATE TABLE
		// IF NOT EXISTS and one would fail on the catalog's unique index.
		lockTable: `SELECT pg_advisory_xact_lock(7250412062)`,
		keySet:    `SELECT jsonb_array_elements_text(CAST(? AS jsonb))`,
		maxConns:  8,
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
