package webhooks

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"

	"github.com/heraldhq/herald/internal/apps"
	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/console"
	"github.com/heraldhq/herald/internal/hub"
	"github.com/heraldhq/herald/internal/metrics"
)

// Dispatcher receives hub events and delivers them as webhooks.
type Dispatcher struct {
	cfg    Config
	apps   apps.Store
	log    *slog.Logger
	m      *metrics.WebhookMetrics
	client *http.Client
	feed   *console.Feed // the debug console; nil: none

	ib *Inbox // between the hub (Observe) and the loop

	started   atomic.Bool
	closeOnce sync.Once
	db        *bolt.DB // nil in cluster mode

	// Cluster mode (nil q: single-node mode).
	q          broker.HookQueue
	candidates func(context.Context) []string
	sh         *shared

	// Owned by the Run loop (and by New before Run starts).
	seq       uint64
	stored    int // records in the db: events + leaves + batches
	ops       []op
	endpoints map[endpointID]*endpoint
	fails     *failureLog
	leaves    leaves
	misses    cacheMisses
	lastWarn  time.Time // of the rate-limited "dropped" warning
	loopDrops int       // events the loop dropped since the last warning
	appCache  map[string]*apps.App
	queued    map[string]int // per app, stored in the commit under way

	crash chan struct{} // test hook: stop like a crash, without the final flush
}

var _ hub.Observer = (*Dispatcher)(nil)

// New opens (or creates) the database at cfg.Path and reloads what a
// previous run left pending. Run must be called to deliver anything; it
// closes the database when it returns (Close does when Run is never called).
// With Deps.Queue there is no database: see "Cluster mode" in the package
// doc.
func New(cfg Config, deps Deps) (*Dispatcher, error) {
	if deps.Apps == nil {
		return nil, errors.New("webhooks: Deps.Apps is required")
	}
	if deps.Queue != nil && deps.Candidates == nil {
		return nil, errors.New("webhooks: Deps.Candidates is required with Deps.Queue")
	}
	cfg = cfg.withDefaults()
	d := &Dispatcher{
		cfg:       cfg,
		apps:      deps.Apps,
		log:       deps.Logger,
		m:         deps.Metrics,
		client:    deps.Client,
		feed:      deps.Console,
		endpoints: map[endpointID]*endpoint{},
		queued:    map[string]int{},
		crash:     make(chan struct{}),
	}
	if d.log == nil {
		d.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	d.log = d.log.With("component", "webhooks")
	d.fails = newFailureLog(cfg.FailureLogEvery, d.log, cfg.logClock, d.stillStored)
	if d.m == nil {
		d.m = metrics.NewWebhooks(prometheus.NewRegistry())
	}
	d.ib = deps.Inbox
	if d.ib == nil {
		d.ib = NewInbox(d.m)
	}
	if d.client == nil {
		d.client = NewClient(cfg.Timeout)
	} else {
		d.client = noRedirects(d.client)
	}
	if deps.Queue != nil {
		d.q, d.candidates = deps.Queue, deps.Candidates
		d.sh = newShared(cfg, d.log)
		return d, nil
	}
	db, err := openDB(cfg.Path)
	if err != nil {
		return nil, err
	}
	d.db = db
	if err := d.load(); err != nil {
		db.Close()
		return nil, err
	}
	if d.stored > 0 {
		d.log.Info("webhooks: resuming stored deliveries", "records", d.stored)
	}
	return d, nil
}

// Observe queues e in the Dispatcher's inbox (see Inbox.Observe).
func (d *Dispatcher) Observe(e hub.Event) { d.ib.Observe(e) }

// Close releases the database when Run was never started (an aborted
// start-up); after Run it does nothing. In cluster mode there is no
// database: it only makes Observe drop.
func (d *Dispatcher) Close() error {
	if d.started.Load() {
		return nil
	}
	d.ib.stopped.Store(true)
	return d.closeDB()
}

func (d *Dispatcher) closeDB() error {
	var err error
	d.closeOnce.Do(func() {
		if d.db != nil {
			err = d.db.Close()
		}
	})
	return err
}

// dropped counts an event the loop could not store and warns at most once
// per dropWarnEvery, with how many were lost since the last warning.
func (d *Dispatcher) dropped(appID, reason string, now time.Time) {
	d.m.Dropped.WithLabelValues(appID, reason).Inc()
	d.loopDrops++
	d.warnDrops(now, appID, reason)
}

func (d *Dispatcher) warnDrops(now time.Time, appID, reason string) {
	if now.Sub(d.lastWarn) < dropWarnEvery {
		return
	}
	n := d.loopDrops + int(d.ib.out.Swap(0))
	if n == 0 {
		return
	}
	if reason == "" {
		reason = "inbox_full"
	}
	d.lastWarn, d.loopDrops = now, 0
	d.log.Warn("webhook events dropped", "dropped", n, "reason", reason, "app_id", appID,
		"stored", d.stored, "max_queue", d.cfg.MaxQueue)
}

// lookupApp caches lookups for one loop iteration: the store may be remote,
// and a burst of events of one app needs one lookup.
func (d *Dispatcher) lookupApp(ctx context.Context, id string) (*apps.App, error) {
	if a, ok := d.appCache[id]; ok {
		return a, nil
	}
	a, err := d.apps.ByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if d.appCache == nil {
		d.appCache = map[string]*apps.App{}
	}
	d.appCache[id] = a
	return a, nil
}

// stillStored is what ep has waiting: batches (the head one retrying) and
// events not yet batched.
func (d *Dispatcher) stillStored(ep endpointID) (batches, events int) {
	if e, ok := d.endpoints[ep]; ok {
		return len(e.batches), len(e.pending)
	}
	return 0, 0
}
