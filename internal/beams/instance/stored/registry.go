package stored

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/internal/beams/instance"
)

// Source reads stored records (sqldevices.Store is one). Safe for
// concurrent use.
type Source interface {
	// GetInstance returns the record id, or an error matching ErrNotFound.
	GetInstance(ctx context.Context, id string) (*Record, error)
	// ListInstances returns every record (at most MaxInstances).
	ListInstances(ctx context.Context) ([]*Record, error)
}

// BuildFunc turns a record into an Instance with its senders (the server's
// buildInstance for stored records). It is called once per version of a
// record, not per request.
type BuildFunc func(ctx context.Context, rec *Record) (*instance.Instance, error)

// Config tunes a Registry. Every zero value means the documented default.
type Config struct {
	// Refresh is how long a stored instance, or the absence of one, is
	// served from memory before its record is read again: a rotation,
	// update or deletion made by the CLI or another node takes effect
	// within it. Default 2s.
	Refresh time.Duration
	// MaxAbsent bounds how many ids without an instance are remembered
	// (requests for unknown instances read the store at most once per
	// Refresh each); beyond it they are not remembered. Default 10000.
	MaxAbsent int
}

// Defaults of Config.
const (
	DefaultRefresh   = 2 * time.Second
	DefaultMaxAbsent = 10_000
)

// MaxIDLen is the longest id Get looks up: the length of a UUID, the only
// form a record's id can have. Ids are chosen by callers (they come from
// request paths); a longer one is not found without reading the store or
// being remembered, so the absent set holds at most MaxAbsent ids of this
// size whoever calls Get.
const MaxIDLen = 36

// Deps are what a Registry serves from.
type Deps struct {
	// Config are the config file's instances: served first and as they
	// are. A stored record with one of their ids (in any case) is ignored.
	Config []*instance.Instance
	// Store holds the stored records; nil: only Config is served.
	Store Source
	// Build builds a stored record; required with Store.
	Build  BuildFunc
	Logger *slog.Logger     // nil: discard
	Now    func() time.Time // nil: time.Now; when a read goes stale
}

// Registry is an instance.Registry over the config file's instances and
// the stored ones. A stored instance is built once per version of its
// record and kept, so its senders keep their token caches; its record is
// read again at most every Refresh, by one caller at a time (others are
// served the instance already built meanwhile).
type Registry struct {
	cfg       Config
	static    map[string]*instance.Instance
	configIDs map[string]bool // lower-cased ids of static
	store     Source
	build     BuildFunc
	log       *slog.Logger
	now       func() time.Time

	// mu guards the maps below; it is taken while an entry's mu is held
	// (lock order: entry.mu, then Registry.mu) and held only briefly.
	mu        sync.Mutex
	entries   map[string]*entry    // ids known to have, or being read for, an instance
	absent    map[string]time.Time // ids found without a record, and when
	lastSweep time.Time
}

var _ instance.Registry = (*Registry)(nil)

// entry is one stored id's cached instance.
type entry struct {
	mu    sync.Mutex // held while the store is read for this id
	state atomic.Pointer[state]
}

// state is what a read of the store found. Immutable once stored.
type state struct {
	in      *instance.Instance // nil: no record, or it did not build
	err     error              // the build error of this version
	stamp   stamp              // the record built (or that failed to build)
	checked time.Time
}

// stamp identifies a version of a record: a record deleted and created
// again starts at version 1, but with another CreatedAt.
type stamp struct {
	version int64
	created int64 // µs
}

func (s *state) result() (*instance.Instance, error) {
	switch {
	case s.in != nil:
		return s.in, nil
	case s.err != nil:
		return nil, s.err
	}
	return nil, instance.ErrNotFound
}

// NewRegistry returns a Registry serving d.Config, then d.Store's records.
func NewRegistry(cfg Config, d Deps) *Registry {
	if cfg.Refresh <= 0 {
		cfg.Refresh = DefaultRefresh
	}
	if cfg.MaxAbsent <= 0 {
		cfg.MaxAbsent = DefaultMaxAbsent
	}
	r := &Registry{
		cfg:       cfg,
		static:    make(map[string]*instance.Instance, len(d.Config)),
		configIDs: make(map[string]bool, len(d.Config)),
		store:     d.Store,
		build:     d.Build,
		log:       d.Logger,
		now:       d.Now,
		entries:   map[string]*entry{},
		absent:    map[string]time.Time{},
	}
	for _, in := range d.Config {
		r.static[in.ID] = in
		r.configIDs[strings.ToLower(in.ID)] = true
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	r.log = r.log.With("component", "beams-instances")
	if r.now == nil {
		r.now = time.Now
	}
	if r.store != nil && r.build == nil {
		// A wiring mistake, not a runtime condition: fail on first use
		// with a clear error rather than a nil call.
		r.build = func(context.Context, *Record) (*instance.Instance, error) {
			return nil, errors.New("stored beams instances: no build function")
		}
	}
	return r
}

// Get implements instance.Registry: a config instance, else the stored
// one, else instance.ErrNotFound. A store that cannot be read is an error,
// unless an instance of this id was built before: that one is served
// until the store answers again. An id longer than MaxIDLen is not found.
func (r *Registry) Get(ctx context.Context, id string) (*instance.Instance, error) {
	if len(id) > MaxIDLen {
		return nil, instance.ErrNotFound
	}
	if in, ok := r.static[id]; ok {
		return in, nil
	}
	if r.store == nil || r.configIDs[strings.ToLower(id)] {
		return nil, instance.ErrNotFound
	}
	now := r.now()
	r.mu.Lock()
	e := r.entries[id]
	if e == nil {
		if at, ok := r.absent[id]; ok && now.Sub(at) < r.cfg.Refresh {
			r.mu.Unlock()
			return nil, instance.ErrNotFound
		}
		e = &entry{}
		r.entries[id] = e
	}
	r.mu.Unlock()

	if st := e.state.Load(); st != nil && r.fresh(st, now) {
		return st.result()
	}
	if !e.mu.TryLock() {
		// Another caller is reading this id's record: serve the instance
		// built before rather than queue behind a slow store.
		if st := e.state.Load(); st != nil && st.in != nil {
			return st.in, nil
		}
		e.mu.Lock()
	}
	defer e.mu.Unlock()
	st := e.state.Load()
	if st != nil && r.fresh(st, r.now()) {
		return st.result()
	}
	next, err := r.read(ctx, id, st)
	if err != nil {
		if st == nil {
			r.drop(id, e) // nothing learnt: keep no entry (ids are caller-chosen)
		}
		return nil, err
	}
	e.state.Store(next)
	if next.in == nil && next.err == nil {
		r.forget(id, e, next.checked)
	}
	return next.result()
}

func (r *Registry) fresh(st *state, now time.Time) bool {
	return now.Sub(st.checked) < r.cfg.Refresh
}

// read reads id's record and returns the state it leads to, reusing
// prev's instance when the record has not changed.
func (r *Registry) read(ctx context.Context, id string, prev *state) (*state, error) {
	rec, err := r.store.GetInstance(ctx, id)
	now := r.now()
	switch {
	case errors.Is(err, ErrNotFound):
		if prev != nil && prev.in != nil {
			r.log.Info("stored beams instance deleted", "instance_id", id)
		}
		return &state{checked: now}, nil
	case err != nil:
		if prev != nil && prev.in != nil {
			r.log.Warn("cannot read stored beams instance; serving the one read before", "instance_id", id, "err", err)
			return &state{in: prev.in, stamp: prev.stamp, checked: now}, nil
		}
		return nil, fmt.Errorf("beams instance %s: %w", id, err)
	}
	st := stamp{version: rec.Version, created: rec.CreatedAt.UnixMicro()}
	if prev != nil && prev.in != nil && prev.stamp == st {
		return &state{in: prev.in, stamp: st, checked: now}, nil
	}
	in, err := r.build(ctx, rec)
	if err == nil && in.ID != id {
		err = fmt.Errorf("built instance has id %q", in.ID)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, err // the caller gave up; the next one retries
		}
		// Not served: a newer version that does not build must not let
		// the older one (say, a key rotated out at once) keep working.
		// Logged once per version; retried after Refresh (the cause may
		// be the database).
		if prev == nil || prev.err == nil || prev.stamp != st {
			r.log.Error("stored beams instance does not build", "instance_id", id, "version", rec.Version, "err", err)
		}
		return &state{err: fmt.Errorf("beams instance %s: %w", id, err), stamp: st, checked: now}, nil
	}
	if prev != nil && prev.in != nil {
		r.log.Info("stored beams instance changed", "instance_id", id, "version", rec.Version)
	}
	return &state{in: in, stamp: st, checked: now}, nil
}

// drop removes e, an entry without a state, from entries.
func (r *Registry) drop(id string, e *entry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.entries[id] == e {
		delete(r.entries, id)
	}
}

// forget moves an id without a record from entries to the bounded absent
// set.
func (r *Registry) forget(id string, e *entry, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.entries[id] == e {
		delete(r.entries, id)
	}
	if len(r.absent) >= r.cfg.MaxAbsent && at.Sub(r.lastSweep) >= r.cfg.Refresh {
		r.lastSweep = at
		for k, t := range r.absent {
			if at.Sub(t) >= r.cfg.Refresh {
				delete(r.absent, k)
			}
		}
	}
	if len(r.absent) < r.cfg.MaxAbsent {
		r.absent[id] = at
	}
}

// Shadowed returns the ids of stored records that a config instance hides
// (compared in any case), logging a warning for each: such a record is
// never served. The server calls it once at start.
func (r *Registry) Shadowed(ctx context.Context) ([]string, error) {
	if r.store == nil || len(r.configIDs) == 0 {
		return nil, nil
	}
	list, err := r.store.ListInstances(ctx)
	if err != nil {
		return nil, fmt.Errorf("list stored beams instances: %w", err)
	}
	var ids []string
	for _, rec := range list {
		if r.configIDs[strings.ToLower(rec.ID)] {
			ids = append(ids, rec.ID)
			r.log.Warn("stored beams instance ignored: the config file has an instance with this id", "instance_id", rec.ID)
		}
	}
	return ids, nil
}
