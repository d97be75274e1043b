// Package sqldevices keeps Beams devices in SQL: the app store's database,
// an embedded SQLite file or PostgreSQL shared by every node.
//
// Every write is one statement or one short transaction; every read is one
// statement returning a bounded page (or, for more than 100 interests, a few
// such statements merged). Nothing is cached, so every node sees every
// change at once.
//
// Schema (created when missing; key columns compare bytewise):
//
//	beams_device(id PRIMARY KEY, instance_id, platform, token, endpoint, p256dh, auth,
//	             bundle_id, user_id NULL, metadata NULL (JSON text),
//	             created_at, last_seen_at (µs since the epoch))
//	             UNIQUE (instance_id, platform, token)
//	             INDEX (instance_id, user_id, id) WHERE user_id IS NOT NULL
//	beams_device_interest(device_id REFERENCES beams_device ON DELETE CASCADE,
//	             instance_id, interest) PRIMARY KEY (device_id, interest)
//	             INDEX (instance_id, interest, device_id)
package sqldevices

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/heraldhq/herald/internal/beams/devices"
	"github.com/heraldhq/herald/internal/sqldsn"
)

var _ devices.Store = (*Store)(nil)

// Options tunes a Store. Every zero value means the documented default.
type Options struct {
	// QueryTimeout bounds each method call (its statements or transaction)
	// and the first contact in Open. Default 5s.
	QueryTimeout time.Duration
}

const defaultQueryTimeout = 5 * time.Second

// Store is a devices.Store over SQL. Safe for concurrent use, and for use
// by several processes on one database.
type Store struct {
	d   *dialect
	dsn string  // as given, only to scrub its password from errors
	db  *sql.DB // reads (and writes in PostgreSQL)
	// w runs writes. In SQLite a pool of one connection: writers queue
	// here, in order and bounded by their context, instead of polling for
	// the database lock, where a steady stream of writers can starve one
	// past the busy timeout.
	w       *sql.DB
	timeout time.Duration

	stmtMu sync.Mutex
	stmts  map[int]*sql.Stmt // prepared ByInterests statements by members; nil once closed
}

// Open connects to dsn — "sqlite:<path>" (the file and its directory are
// created when missing) or "postgres://user:password@host:port/db", the
// forms the app store takes — and creates the device tables if missing. An
// unreachable database is an error naming the DSN without its password.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	d, err := parseDSN(dsn)
	if err != nil {
		return nil, err
	}
	if opts.QueryTimeout <= 0 {
		opts.QueryTimeout = defaultQueryTimeout
	}
	db, err := sql.Open(d.driver, d.source)
	if err != nil {
		return nil, fmt.Errorf("beams devices %s: %w", d.shown, sqldsn.Scrub(err, dsn))
	}
	db.SetMaxOpenConns(d.maxConns)
	db.SetMaxIdleConns(d.maxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	w := db
	if d.oneWriter {
		if w, err = sql.Open(d.driver, d.source); err != nil {
			db.Close()
			return nil, fmt.Errorf("beams devices %s: %w", d.shown, sqldsn.Scrub(err, dsn))
		}
		w.SetMaxOpenConns(1)
		w.SetMaxIdleConns(1)
		w.SetConnMaxIdleTime(5 * time.Minute)
	}
	s := &Store{d: d, dsn: dsn, db: db, w: w, timeout: opts.QueryTimeout, stmts: map[int]*sql.Stmt{}}
	fail := func(format string, err error) (*Store, error) {
		s.closeDBs()
		return nil, fmt.Errorf(format, d.shown, sqldsn.Scrub(err, dsn))
	}

	octx, cancel := context.WithTimeout(ctx, opts.QueryTimeout)
	defer cancel()
	if err := db.PingContext(octx); err != nil {
		return fail("beams devices: cannot reach %s: %w", err)
	}
	if err := s.inTx(octx, func(tx *sql.Tx) error {
		if d.lockTable != "" {
			if _, err := tx.ExecContext(octx, d.lockTable); err != nil {
				return err
			}
		}
		for _, stmt := range d.schema {
			if _, err := tx.ExecContext(octx, stmt); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return fail("beams devices %s: create schema: %w", err)
	}
	return s, nil
}

// Close closes the database. Safe to call more than once.
func (s *Store) Close() error {
	s.stmtMu.Lock()
	for _, st := range s.stmts {
		st.Close()
	}
	s.stmts = nil
	s.stmtMu.Unlock()
	return s.closeDBs()
}

func (s *Store) closeDBs() error {
	err := s.db.Close()
	if s.w != s.db {
		err = errors.Join(err, s.w.Close())
	}
	return err
}

// bound returns ctx limited by the query timeout.
func (s *Store) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.timeout)
}

// inTx runs fn in a transaction (a write transaction from its start in
// SQLite) and commits when fn returns nil.
func (s *Store) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// wrap turns an error into one fit to return: the store's own errors as
// they are, database errors with the operation and DSN named and the
// password scrubbed.
func (s *Store) wrap(op string, err error) error {
	if err == nil || errors.Is(err, devices.ErrNotFound) || errors.Is(err, devices.ErrInvalid) ||
		errors.Is(err, devices.ErrTooManyInterests) || errors.Is(err, devices.ErrOtherUser) ||
		errors.Is(err, devices.ErrUserFull) {
		return err
	}
	return fmt.Errorf("beams devices %s: %s: %w", s.d.shown, op, sqldsn.Scrub(err, s.dsn))
}

func notFound(id string) error { return fmt.Errorf("%w: %q", devices.ErrNotFound, id) }

func invalid(what string) error { return fmt.Errorf("%w: %s", devices.ErrInvalid, what) }

// lockDevice checks that the instance has device id and, in PostgreSQL,
// locks its row until the transaction ends, serialising the changes to one
// device's interests, user and token. It returns the device's platform and
// user ("" none).
func (s *Store) lockDevice(ctx context.Context, tx *sql.Tx, instance, id string) (devices.Platform, string, error) {
	var p string
	var user sql.NullString
	err := tx.QueryRowContext(ctx, s.d.q(`SELECT platform, user_id FROM beams_device WHERE id = ? AND instance_id = ?`+s.d.forUpdate),
		id, instance).Scan(&p, &user)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", notFound(id)
	}
	return devices.Platform(p), user.String, err
}

// exists reports whether the instance has device id.
func (s *Store) exists(ctx context.Context, instance, id string) error {
	var one int
	err := s.db.QueryRowContext(ctx, s.d.q(`SELECT 1 FROM beams_device WHERE id = ? AND instance_id = ?`), id, instance).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return notFound(id)
	}
	return err
}

// Cursors are the last key of the page before, base64url: opaque to
// callers, safe in a query string.

func encodeCursor(last string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(last))
}

func decodeCursor(c string) (string, error) {
	if c == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) == 0 {
		return "", invalid("malformed cursor")
	}
	return string(b), nil
}

// deviceCols are the columns scanDevice reads, in its order.
const deviceCols = `id, instance_id, platform, token, endpoint, p256dh, auth, bundle_id, user_id, metadata, created_at, last_seen_at`

// deviceColsOf is deviceCols qualified by the alias d.
const deviceColsOf = `d.id, d.instance_id, d.platform, d.token, d.endpoint, d.p256dh, d.auth, d.bundle_id, d.user_id, d.metadata, d.created_at, d.last_seen_at`

type scanner interface{ Scan(dest ...any) error }

func scanDevice(r scanner) (devices.Device, error) {
	var (
		d              devices.Device
		p              string
		user, md       sql.NullString
		created, lastS int64
	)
	if err := r.Scan(&d.ID, &d.Instance, &p, &d.Token, &d.Endpoint, &d.P256dh, &d.Auth, &d.BundleID,
		&user, &md, &created, &lastS); err != nil {
		return devices.Device{}, err
	}
	d.Platform = devices.Platform(p)
	d.UserID = user.String
	if md.Valid {
		d.Metadata = json.RawMessage(md.String)
	}
	d.CreatedAt, d.LastSeenAt = time.UnixMicro(created).UTC(), time.UnixMicro(lastS).UTC()
	return d, nil
}

// metadata checks md and returns its column value: NULL for none.
func metadata(md json.RawMessage) (sql.NullString, error) {
	if len(md) == 0 {
		return sql.NullString{}, nil
	}
	if !json.Valid(md) {
		return sql.NullString{}, invalid("metadata is not JSON")
	}
	return sql.NullString{String: string(md), Valid: true}, nil
}

// text reports whether both databases can store s as text: valid UTF-8
// without NUL (PostgreSQL refuses either).
func text(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// key checks a name the caller supplies (instance, token, interest, user):
// non-empty text.
func key(what, s string) error {
	if s == "" || !text(s) {
		return invalid("empty or not UTF-8 text: " + what)
	}
	return nil
}

// target checks the instance and device id of a call on one device. No
// device has an id that is not text, so such an id is not found.
func target(instance, id string) error {
	if err := key("instance", instance); err != nil {
		return err
	}
	if !text(id) {
		return notFound(id)
	}
	return nil
}
