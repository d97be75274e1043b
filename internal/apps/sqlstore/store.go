// Package sqlstore keeps apps in SQL: an embedded SQLite file (pure Go, so
// the binary stays static) or PostgreSQL shared by every node.
//
// Lookups never query: each Store holds every app in memory. Every change
// bumps a one-row counter (apps_version) in the same transaction, and a
// background poll re-reads the counter and reloads all apps when it moved —
// that is how a node sees changes made through another node. When the
// database becomes unreachable the Store keeps serving its cache and reports
// the failure through Healthy and the log.
//
// Schema (created when missing):
//
//	apps(id TEXT PRIMARY KEY, app_key TEXT NOT NULL UNIQUE, secret TEXT NOT NULL,
//	     data JSON text (SQLite) / JSONB (PostgreSQL): every other App field, see record)
//	apps_version(id INTEGER PRIMARY KEY CHECK (id = 1), version BIGINT NOT NULL)
package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/heraldhq/herald/internal/apps"
	"github.com/heraldhq/herald/internal/sqldsn"
)

var _ apps.Manager = (*Store)(nil)

// Options tunes a Store. Every zero value means the documented default.
type Options struct {
	// PollInterval is how often the change counter is read; it bounds how
	// long a change made through another node takes to show here.
	// Default 2s.
	PollInterval time.Duration
	// QueryTimeout bounds one poll, one write and the first contact in Open.
	// Default 5s.
	QueryTimeout time.Duration
	// Logger receives reachability changes and reload failures. Default:
	// discard. Secrets and passwords are never logged.
	Logger *slog.Logger
	// OnChange, when set, is called after the cache changed, for each app
	// created (old nil), updated, or deleted (new nil), whether the change
	// was made through this Store or noticed by the poll. Calls are made one
	// at a time, in the order the cache changed; a change made through this
	// Store may return before its call runs when another call is in
	// progress. OnChange may call any Store method. Not called for the apps
	// loaded by Open.
	OnChange func(old, new *apps.App)
}

const (
	defaultPollInterval = 2 * time.Second
	defaultQueryTimeout = 5 * time.Second
)

// Store is an apps.Manager over SQL with an in-memory cache. Safe for
// concurrent use.
type Store struct {
	d        *dialect
	dsn      string // as given, only to scrub its password from errors
	db       *sql.DB
	opts     Options
	log      *slog.Logger
	onChange func(old, new *apps.App)

	// writeMu makes this Store's writes commit and reach the cache in the
	// same order (see applyLocal). Lock order: writeMu, then mu.
	writeMu sync.Mutex

	mu       sync.RWMutex
	byID     map[string]*apps.App
	byKey    map[string]*apps.App
	complete int64 // the cache holds exactly the database at this version
	seen     int64 // the newest version any part of the cache reflects
	pending  []change
	health   error

	notifyMu sync.Mutex // held by whoever is delivering pending changes

	ctx       context.Context // cancelled by Close; bounds polls
	cancel    context.CancelFunc
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

type change struct{ old, new *apps.App }

// Open connects to dsn — "sqlite:<path>" (the file and its directory are
// created when missing) or "postgres://user:password@host:port/db" —
// creates the schema if missing, loads every app and starts the poll. An
// unreachable database is an error naming the DSN without its password.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	d, err := parseDSN(dsn)
	if err != nil {
		return nil, err
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = defaultPollInterval
	}
	if opts.QueryTimeout <= 0 {
		opts.QueryTimeout = defaultQueryTimeout
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	db, err := sql.Open(d.driver, d.source)
	if err != nil {
		return nil, fmt.Errorf("apps store %s: %w", d.shown, sqldsn.Scrub(err, dsn))
	}
	db.SetMaxOpenConns(d.maxConns)
	db.SetMaxIdleConns(d.maxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)

	s := &Store{
		d: d, dsn: dsn, db: db, opts: opts, onChange: opts.OnChange,
		log:   log.With("component", "apps.sqlstore", "store", d.name),
		byID:  map[string]*apps.App{},
		byKey: map[string]*apps.App{},
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	octx, cancel := context.WithTimeout(ctx, opts.QueryTimeout)
	defer cancel()
	if err := db.PingContext(octx); err != nil {
		db.Close()
		return nil, fmt.Errorf("apps store: cannot reach %s: %w", d.shown, sqldsn.Scrub(err, dsn))
	}
	if err := s.createSchema(octx); err != nil {
		db.Close()
		return nil, fmt.Errorf("apps store %s: create schema: %w", d.shown, sqldsn.Scrub(err, dsn))
	}
	v, list, err := s.load(octx)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("apps store %s: load apps: %w", d.shown, sqldsn.Scrub(err, dsn))
	}
	for _, a := range list {
		s.byID[a.ID], s.byKey[a.Key] = a, a
	}
	s.complete, s.seen = v, v

	s.ctx, s.cancel = context.WithCancel(context.Background())
	go s.pollLoop()
	s.log.Info("apps store opened", "dsn", d.shown, "apps", len(list), "poll_interval", opts.PollInterval)
	return s, nil
}

func (s *Store) createSchema(ctx context.Context) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if s.d.lockTable != "" {
		if _, err := tx.ExecContext(ctx, s.d.lockTable); err != nil {
			return err
		}
	}
	for _, stmt := range s.d.schema {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// Close stops the poll and closes the database. Lookups keep answering
// from the cache; writes fail. Safe to call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		s.cancel()
		<-s.done
		s.closeErr = s.db.Close()
	})
	return s.closeErr
}

// Healthy returns nil while the last poll reached the database, else the
// error that poll met (the cache keeps serving meanwhile).
func (s *Store) Healthy() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.health
}

// ByKey returns the cached app with key; it never queries the database.
func (s *Store) ByKey(_ context.Context, key string) (*apps.App, error) {
	s.mu.RLock()
	a, ok := s.byKey[key]
	s.mu.RUnlock()
	if !ok {
		return nil, apps.ErrNotFound
	}
	return a, nil
}

// ByID returns the cached app with id; it never queries the database.
func (s *Store) ByID(_ context.Context, id string) (*apps.App, error) {
	s.mu.RLock()
	a, ok := s.byID[id]
	s.mu.RUnlock()
	if !ok {
		return nil, apps.ErrNotFound
	}
	return a, nil
}

// List returns every cached app, ordered by id.
func (s *Store) List(context.Context) ([]*apps.App, error) {
	s.mu.RLock()
	out := make([]*apps.App, 0, len(s.byID))
	for _, a := range s.byID {
		out = append(out, a)
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b *apps.App) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// applyLocal puts a change this Store committed at version v into the
// cache and queues its OnChange call; the caller delivers it after
// releasing writeMu. Writes hold writeMu, so local changes arrive in commit order; a v
// not above seen means a reload at least as new already holds the change
// (and maybe newer ones from other nodes), so it is skipped.
func (s *Store) applyLocal(v int64, id string, next *apps.App) {
	s.mu.Lock()
	if v <= s.seen {
		s.mu.Unlock()
		return
	}
	old := s.byID[id]
	if old != nil {
		delete(s.byKey, old.Key)
		delete(s.byID, id)
	}
	if next != nil {
		s.byID[id], s.byKey[next.Key] = next, next
	}
	if s.complete == s.seen && v == s.complete+1 {
		s.complete = v // nothing from another node in between
	}
	s.seen = v
	s.pending = append(s.pending, change{old, next})
	s.mu.Unlock()
}

// applySnapshot replaces the cache with every app at version v unless the
// cache is already at v or holds a newer local change (the next poll reads
// again), and queues OnChange calls for the differences.
func (s *Store) applySnapshot(v int64, list []*apps.App) {
	s.mu.Lock()
	if v <= s.complete || v < s.seen {
		s.mu.Unlock()
		return
	}
	byID := make(map[string]*apps.App, len(list))
	byKey := make(map[string]*apps.App, len(list))
	for _, next := range list {
		old, had := s.byID[next.ID]
		switch {
		case !had:
			s.pending = append(s.pending, change{nil, next})
		case reflect.DeepEqual(old, next):
			next = old // unchanged apps keep their pointer: no churn for holders
		default:
			s.pending = append(s.pending, change{old, next})
		}
		byID[next.ID], byKey[next.Key] = next, next
	}
	for id, old := range s.byID {
		if _, ok := byID[id]; !ok {
			s.pending = append(s.pending, change{old, nil})
		}
	}
	s.byID, s.byKey = byID, byKey
	s.complete, s.seen = v, v
	s.mu.Unlock()
	s.deliver()
}

// deliver calls OnChange for queued changes, in order, one call at a time.
// Whoever holds notifyMu drains the queue; others leave their changes to
// it, so an OnChange that changes apps through the Store cannot deadlock.
func (s *Store) deliver() {
	if s.onChange == nil {
		s.mu.Lock()
		s.pending = nil
		s.mu.Unlock()
		return
	}
	for {
		if !s.notifyMu.TryLock() {
			return
		}
		for {
			s.mu.Lock()
			batch := s.pending
			s.pending = nil
			s.mu.Unlock()
			if len(batch) == 0 {
				break
			}
			for _, c := range batch {
				s.onChange(c.old, c.new)
			}
		}
		s.notifyMu.Unlock()
		// A change queued after the last drain but before Unlock found the
		// lock taken; deliver it now.
		s.mu.RLock()
		more := len(s.pending) > 0
		s.mu.RUnlock()
		if !more {
			return
		}
	}
}

// wrap turns a database error into one fit to return: the operation and
// DSN named, the password scrubbed.
func (s *Store) wrap(op string, err error) error {
	if err == nil || errors.Is(err, apps.ErrNotFound) || errors.Is(err, apps.ErrConflict) || errors.Is(err, apps.ErrInvalid) {
		return err
	}
	return fmt.Errorf("apps store %s: %s: %w", s.d.shown, op, sqldsn.Scrub(err, s.dsn))
}
