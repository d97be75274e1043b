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
// # Cluster mode
//
// Each node's feed sees what that node does (its connections, the
// publishes it received, the presence changes it decided); a bridge
// (internal/console/consoleredis) makes a viewer on any node see the
// app's events of every node, through these hooks:
//
//   - LocalApps and LocalChanges tell the bridge which apps this node's
//     viewers watch: it advertises them in Redis and listens to their
//     events from the other nodes.
//   - SetRemote is the set of apps other nodes' viewers watch, as the
//     bridge last polled it (every second by default): Watching is true for
//     those too, so a console opened on another node sees this node's
//     events after at most that delay.
//   - Emit hands an event of a remotely watched app to Deps.Forward, which
//     must not block (the bridge queues it, bounded, and drops when full).
//   - Inject shows an event received from another node to this node's
//     viewers only: it is never forwarded again, so events do not loop.
//
// A viewer's own node's events go to it directly, as on a single node.
// While no viewer exists anywhere in the cluster, Watching and Emit still
// return after one atomic load.
//
// The package also writes the audit line of a failed authorization
// (audit.go), which the console shows too.
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
	// Node is this node's id in cluster mode, set as Event.Node on the
	// events it emits so a viewer sees where each happened. Default "":
	// not set (one node).
	Node string
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
	// Forward, when set, takes the events of the apps SetRemote names
	// (watched on other nodes), detached and stamped like a viewer's. It
	// runs on the emitter's goroutine and must not block. Events given to
	// Inject are never forwarded.
	Forward func(appID string, e Event)
}

// Errors of Watch.
var (
	ErrTooManyViewers = errors.New("console: too many viewers; close another console first")
	ErrClosed         = errors.New("console: the server is shutting down")
)

// Feed fans events out to the viewers of each app. A nil *Feed is valid:
// it watches nothing and drops every event. Safe for concurrent use.
type Feed struct {
	cfg     Config
	m       *metrics.ConsoleMetrics
	now     func() time.Time
	forward func(appID string, e Event)

	// live is false while no viewer exists here and no app is watched
	// remotely: Watching and Emit then return after this one load. Set
	// under mu.
	live atomic.Bool
	// viewers counts this node's viewers (changed under mu).
	viewers atomic.Int32
	// apps maps an app id to its viewers. Copy-on-write: replaced (never
	// changed) under mu, read without a lock.
	apps atomic.Pointer[map[string][]*Viewer]
	// remote is the set of apps watched on other nodes (SetRemote);
	// replaced under mu, read without a lock. Never nil.
	remote atomic.Pointer[map[string]bool]
	// changed is poked (buffered 1) when the set of apps watched here
	// changes: LocalChanges.
	changed chan struct{}

	mu     sync.Mutex // a leaf: Watch, cancel, SetRemote and Close only
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
	f := &Feed{cfg: cfg, m: deps.Metrics, now: deps.Now, forward: deps.Forward, changed: make(chan struct{}, 1)}
	f.apps.Store(&map[string][]*Viewer{})
	f.remote.Store(&map[string]bool{})
	return f
}

// Watching reports whether a viewer, on this node or (cluster mode) on
// another, watches appID. Call sites build their Event only when it does.
func (f *Feed) Watching(appID string) bool {
	if f == nil || !f.live.Load() {
		return false
	}
	return len((*f.apps.Load())[appID]) > 0 || (*f.remote.Load())[appID]
}

// Emit shows e to the viewers of appID whose filter selects it, and hands
// it to Deps.Forward when another node watches appID. It never blocks: a
// viewer whose buffer is full misses e, counted. e.Time is set when zero,
// e.Node to Config.Node; Data and Detail are cut to a preview.
func (f *Feed) Emit(appID string, e Event) {
	if f == nil || !f.live.Load() {
		return
	}
	f.emit(appID, &e, true)
}

// Inject shows e, an event another node forwarded, to this node's viewers
// of appID whose filter selects it, as Emit does, but never forwards it.
func (f *Feed) Inject(appID string, e Event) {
	if f == nil || f.viewers.Load() == 0 {
		return
	}
	f.emit(appID, &e, false)
}

func (f *Feed) emit(appID string, e *Event, forward bool) {
	var out Event
	ready := false
	for _, v := range (*f.apps.Load())[appID] {
		if !v.filter.match(e) {
			continue
		}
		if !ready {
			out, ready = f.prepare(e), true
		}
		select {
		case v.ch <- out:
		default:
			v.dropped.Add(1)
			v.droppedCtr.Inc()
		}
	}
	if forward && f.forward != nil && (*f.remote.Load())[appID] {
		if !ready {
			out = f.prepare(e)
		}
		f.forward(appID, out)
	}
}

// prepare is e as a viewer gets it: detached, with its time and node.
func (f *Feed) prepare(e *Event) Event {
	out := e.detached()
	if out.Time.IsZero() {
		out.Time = f.now()
	}
	if out.Node == "" {
		out.Node = f.cfg.Node
	}
	return out
}

// SetRemote replaces the set of apps watched on other nodes (the bridge's
// last poll; nil or empty: none). The feed keeps watched as is: do not
// change it afterwards. Ignored once the feed is closed.
func (f *Feed) SetRemote(watched map[string]bool) {
	if f == nil {
		return
	}
	if watched == nil {
		watched = map[string]bool{}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	f.remote.Store(&watched)
	f.setLiveLocked()
}

// LocalApps lists the apps this node's viewers watch, in no order.
func (f *Feed) LocalApps() []string {
	if f == nil {
		return nil
	}
	apps := *f.apps.Load()
	list := make([]string, 0, len(apps))
	for id := range apps {
		list = append(list, id)
	}
	return list
}

// LocalChanges receives a value (coalesced) after the set of apps
// LocalApps lists may have changed. For one reader: the bridge.
func (f *Feed) LocalChanges() <-chan struct{} { return f.changed }

// setLiveLocked recomputes live.
func (f *Feed) setLiveLocked() {
	f.live.Store(f.viewers.Load() > 0 || len(*f.remote.Load()) > 0)
}

func (f *Feed) pokeLocked() {
	select {
	case f.changed <- struct{}{}:
	default:
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
	// droppedCtr is the app's series of Metrics.Dropped, looked up once:
	// drops come in floods, when a lookup per event costs most.
	droppedCtr prometheus.Counter
	gone       bool // removed from the feed; guarded by feed.mu
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
	v = &Viewer{feed: f, appID: appID, filter: filter, ch: make(chan Event, f.cfg.Buffer), done: make(chan struct{}),
		droppedCtr: f.m.Dropped.WithLabelValues(appID)}
	next := maps.Clone(old)
	list := old[appID]
	next[appID] = append(list[:len(list):len(list)], v) // a new array: readers may hold the old one
	f.apps.Store(&next)
	f.viewers.Add(1)
	f.setLiveLocked()
	if len(list) == 0 {
		f.pokeLocked()
	}
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
		f.pokeLocked()
	} else {
		next[v.appID] = list
	}
	f.apps.Store(&next)
	f.viewers.Add(-1)
	f.setLiveLocked()
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
	f.remote.Store(&map[string]bool{})
	f.viewers.Store(0)
	f.live.Store(false)
	f.pokeLocked()
}
