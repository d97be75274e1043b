// Package console is the debug console's live feed: for one app, what its
// connections, channels, REST publishes, webhooks and failed authorizations
// do, streamed to the dashboard (SSE) while someone watches.
//
// It costs nothing while no one watches: the hub, the WebSocket edge, the
// REST API and the webhook dispatcher ask Feed.Watching (one atomic load
// when no viewer exists at all; a lock-free map read when viewers watch
// other apps) before they build an Event. A viewer's buffer is bounded;
// Emit never blocks: a full viewer misses the event, which is counted (per
// viewer, and in herald_console_events_dropped_total), so a slow browser
// never slows delivery.
//
// The feed is node-local: in cluster mode a viewer sees what this node
// does (its connections, the publishes it received, the presence changes
// it decided). The package also writes the audit line of a failed
// authorization (audit.go), which the console shows too.
package console

import (
	"errors"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/internal/metrics"
)

// Config bounds the feed. Zero values mean the documented default.
type Config struct {
	MaxViewersPerApp int           // default 8: viewers of one app at once
	MaxViewers       int           // default 64: viewers at once, all apps together
	Buffer           int           // default 256: events waiting per viewer before they are dropped
	Heartbeat        time.Duration // default 15s: SSE comment line sent while nothing happens
	// WriteTimeout bounds one write to an SSE client (default 10s); a
	// client that takes no bytes for that long is disconnected.
	WriteTimeout time.Duration
}

func (c *Config) setDefaults() {
	if c.MaxViewersPerApp <= 0 {
		c.MaxViewersPerApp = 8
	}
	if c.MaxViewers <= 0 {
		c.MaxViewers = 64
	}
	if c.Buffer <= 0 {
		c.Buffer = 256
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = 15 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
}

// Deps are the feed's collaborators.
type Deps struct {
	Metrics *metrics.ConsoleMetrics // nil: a private registry
	Now     func() time.Time        // default time.Now
}

// Errors of Watch.
var (
	ErrTooManyViewers = errors.New("console: too many viewers; close another console first")
	ErrClosed         = errors.New("console: the server is shutting down")
)

// Feed fans events out to the viewers of each app. A nil *Feed is valid:
// it watches nothing and drops every event. Safe for concurrent use.
type Feed struct {
	cfg Config
	m   *metrics.ConsoleMetrics
	now func() time.Time

	// viewers counts every viewer: while it is 0, Watching and Emit return
	// after this one load.
	viewers atomic.Int32
	// apps maps an app id to its viewers. Copy-on-write: replaced (never
	// changed) under mu, read without a lock.
	apps atomic.Pointer[map[string][]*Viewer]

	mu     sync.Mutex // a leaf: Watch, cancel and Close only
	closed bool
}

// New builds a feed.
func New(cfg Config, deps Deps) *Feed {
	cfg.setDefaults()
	if deps.Metrics == nil {
		deps.Metrics = metrics.NewConsole(prometheus.NewRegistry())
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	f := &Feed{cfg: cfg, m: deps.Metrics, now: deps.Now}
	f.apps.Store(&map[string][]*Viewer{})
	return f
}

// Watching reports whether a viewer watches appID. Call sites build their
// Event only when it does.
func (f *Feed) Watching(appID string) bool {
	if f == nil || f.viewers.Load() == 0 {
		return false
	}
	return len((*f.apps.Load())[appID]) > 0
}

// Emit shows e to the viewers of appID whose filter selects it. It never
// blocks: a viewer whose buffer is full misses e, counted. e.Time is set
// when zero; Data and Detail are cut to a preview.
func (f *Feed) Emit(appID string, e Event) {
	if f == nil || f.viewers.Load() == 0 {
		return
	}
	f.emit(appID, &e)
}

func (f *Feed) emit(appID string, e *Event) {
	var out Event
	ready := false
	for _, v := range (*f.apps.Load())[appID] {
		if !v.filter.match(e) {
			continue
		}
		if !ready {
			out, ready = e.detached(), true
			if out.Time.IsZero() {
				out.Time = f.now()
			}
		}
		select {
		case v.ch <- out:
		default:
			v.dropped.Add(1)
			f.m.Dropped.WithLabelValues(appID).Inc()
		}
	}
}

// Viewer is one console watching one app.
type Viewer struct {
	feed    *Feed
	appID   string
	filter  Filter
	ch      chan Event
	done    chan struct{}
	dropped atomic.Uint64
	gone    bool // removed from the feed; guarded by feed.mu
}

// Events delivers the viewer's events. It is never closed: select on Done
// as well.
func (v *Viewer) Events() <-chan Event { return v.ch }

// Done is closed when the viewer is cancelled or the feed closes.
func (v *Viewer) Done() <-chan struct{} { return v.done }

// Dropped is how many events this viewer missed because its buffer was full.
func (v *Viewer) Dropped() uint64 { return v.dropped.Load() }

// Filter is what the viewer watches.
func (v *Viewer) Filter() Filter { return v.filter }

// Watch starts a viewer of appID; cancel stops it (more than once is
// fine). It fails with ErrTooManyViewers past Config.MaxViewersPerApp or
// Config.MaxViewers, and with ErrClosed once the feed is closed.
func (f *Feed) Watch(appID string, filter Filter) (v *Viewer, cancel func(), err error) {
	if f == nil {
		return nil, func() {}, ErrClosed
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, func() {}, ErrClosed
	}
	old := *f.apps.Load()
	if int(f.viewers.Load()) >= f.cfg.MaxViewers || len(old[appID]) >= f.cfg.MaxViewersPerApp {
		return nil, func() {}, ErrTooManyViewers
	}
	v = &Viewer{feed: f, appID: appID, filter: filter, ch: make(chan Event, f.cfg.Buffer), done: make(chan struct{})}
	next := maps.Clone(old)
	list := old[appID]
	next[appID] = append(list[:len(list):len(list)], v) // a new array: readers may hold the old one
	f.apps.Store(&next)
	f.viewers.Add(1)
	return v, func() { f.remove(v) }, nil
}

func (f *Feed) remove(v *Viewer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if v.gone {
		return
	}
	v.gone = true
	close(v.done)
	old := *f.apps.Load()
	next := maps.Clone(old)
	list := make([]*Viewer, 0, len(old[v.appID]))
	for _, o := range old[v.appID] {
		if o != v {
			list = append(list, o)
		}
	}
	if len(list) == 0 {
		delete(next, v.appID)
	} else {
		next[v.appID] = list
	}
	f.apps.Store(&next)
	f.viewers.Add(-1)
}

// Close ends every viewer (their SSE streams return) and refuses new ones:
// call it before shutting the listener down, whose Shutdown would otherwise
// wait for the streams.
func (f *Feed) Close() {
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	f.closed = true
	for _, list := range *f.apps.Load() {
		for _, v := range list {
			v.gone = true
			close(v.done)
		}
	}
	f.apps.Store(&map[string][]*Viewer{})
	f.viewers.Store(0)
}
