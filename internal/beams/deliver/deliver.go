// Package deliver is the delivery pipeline of the Beams-compatible push
// service (spec beams.md 4.1): it takes publish jobs from the durable
// queue, reads their target devices page by page, builds each platform's
// message once per job, pushes through the instance's senders with bounded
// concurrency, classifies the answers, retries what may succeed later,
// deletes devices their push service calls gone and counts everything.
//
// Shape of a run:
//
//	one fetch loop      Queue.Next → a buffer of at most JobBuffer jobs
//	Jobs job loops      the next job the fair share allows → parse →
//	                    prepare → for each page: read devices → hand each
//	                    to the workers → wait for the page →
//	                    Queue.Progress; at the end Queue.Done
//	Workers workers     one push each at a time, shared by every job,
//	                    through the gate of the push's origin
//	one retry loop      a min-heap of deliveries waiting for their retry,
//	                    handed back to the workers when due
//
// A job's devices are handled once per publish: the store returns each
// device once, in device id order, and the next page starts after the last
// device of the one before. A job is done once its first pass over its
// devices ended, so a restart never delivers a page twice unless it came
// before the page's Progress.
//
// Known limit: retries wait in memory only. A restart (or Run's end) drops
// every delivery still waiting for a retry, counted given_up; they are
// not redone, as their job is done already.
//
// A device the push service calls gone is deleted only if it still has
// the token the push went to (Store.DeleteIfToken): between the page read,
// or a retry's wait of up to RetryWindow, and the answer, the device may
// have refreshed its token or registered anew, and then it stays.
//
// Registration is unauthenticated, so anyone can point devices of a
// public interest at a host that never answers, and one tenant's publishes
// must not hold the shared workers and job slots. Three defences:
//
//   - Per-origin circuit breaker. The origin of a push is its web
//     endpoint's scheme://host[:port], or an instance's FCM, or an
//     instance's APNs. BreakerFailures (5) pushes in a row without an
//     answer (network error or timeout: Result.Status 0) open it for
//     BreakerCooldown (30s); then one push probes it: an answer closes it,
//     no answer opens it again for twice as long, up to BreakerCooldownMax
//     (5m). Any answer, also from a push already in flight, closes it.
//     Pushes to an open origin are not made and take no worker for a
//     network call: they wait for a retry due after the cool-down (counted
//     breaker_open), or are given up past the RetryWindow (given_up).
//     At most Origins (10,000) origins are tracked.
//   - Per-origin cap. At most PerOrigin (32) pushes are in flight to one
//     origin. A worker whose push finds its origin full parks it on the
//     origin's waiting list and takes other work; the worker ending a push
//     to that origin hands its slot to the first parked push and makes it
//     next. No worker waits for an origin, and an origin's pushes start in
//     the order they came, so nothing is lost or reordered per device.
//   - Fair job slots. A free job slot goes to the first buffered job whose
//     instance holds fewer than half the Jobs slots (at least one); only
//     when every buffered job's instance holds its half, to the first
//     buffered job. An instance alone with work uses every slot; while
//     another instance's job waits (within the JobBuffer jobs fetched
//     ahead), none takes more than half. Otherwise the queue's order holds.
//     Nothing is taken from a running job, so a newcomer waits for one
//     job's end at most; jobs further back than JobBuffer are not seen.
package deliver

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/heraldhq/herald/internal/beams/devices"
	"github.com/heraldhq/herald/internal/beams/instance"
	"github.com/heraldhq/herald/internal/beams/queue"
	"github.com/heraldhq/herald/internal/metrics"
)

// Config bounds the pipeline. Every zero value means the default given.
type Config struct {
	// Jobs is how many publishes are delivered at once (default 4), so a
	// publish to 100,000 devices does not hold up a small one behind it.
	// While another instance's job waits, an instance takes no more than
	// half of them (at least one).
	Jobs int
	// Workers is how many push requests are in flight at once over all
	// jobs (default 128). The Web Push HTTP client should keep PerOrigin
	// idle connections per host, or connections to one push service churn.
	Workers int
	// PageSize is how many devices are read from the store at once
	// (default 1000; at most devices.MaxPageSize). A job holds one page.
	PageSize int
	// RetryWindow: a device's delivery is given up when its next attempt
	// would come later than this after its first (default 15m).
	RetryWindow time.Duration
	// BackoffBase and BackoffMax shape the delay before a retry: a random
	// delay up to BackoffBase·2^(attempts-1), capped at BackoffMax (full
	// jitter), and never less than the push service's Retry-After
	// (defaults 1s and 5m). They also space the retries of a failing
	// device-store or instance read.
	BackoffBase, BackoffMax time.Duration
	// MaxRetries is how many deliveries may wait for a retry at once
	// (default 100,000); a delivery that would be one more is given up.
	MaxRetries int

	// PerOrigin is how many pushes may be in flight to one push service
	// at once (default 32), so a slow one, or an attacker's host behind
	// registered endpoints, cannot hold every worker. A web push service
	// is the endpoint's origin (scheme://host[:port]); each instance's FCM
	// and each instance's APNs count as one. Raise it with Workers when
	// most devices share one push service (Chrome's is fcm.googleapis.com).
	PerOrigin int
	// BreakerFailures is how many pushes in a row to one origin may get no
	// answer (a network error or timeout) before its breaker opens and its
	// pushes wait for a retry without being made (default 5).
	BreakerFailures int
	// BreakerCooldown is how long an open breaker stays open before one
	// push probes the origin (default 30s); each probe without an answer
	// doubles it, up to BreakerCooldownMax (default 5m).
	BreakerCooldown, BreakerCooldownMax time.Duration
	// Origins bounds the origins whose cap and breaker are tracked
	// (default 10,000; at least 2·Workers). Above it the idle ones are
	// forgotten, closed breakers first, then the least recently used.
	Origins int
	// JobBuffer is how many jobs may be taken from the queue ahead of a
	// free job slot (default 16): the jobs fair sharing of the slots can
	// see. In cluster mode they are this node's until it ends them.
	JobBuffer int
}

// Defaults of Config.
const (
	DefaultJobs        = 4
	DefaultWorkers     = 128
	DefaultPageSize    = 1000
	DefaultRetryWindow = 15 * time.Minute
	DefaultBackoffBase = time.Second
	DefaultBackoffMax  = 5 * time.Minute
	DefaultMaxRetries  = 100_000

	DefaultPerOrigin          = 32
	DefaultBreakerFailures    = 5
	DefaultBreakerCooldown    = 30 * time.Second
	DefaultBreakerCooldownMax = 5 * time.Minute
	DefaultOrigins            = 10_000
	DefaultJobBuffer          = 16
)

func (c *Config) setDefaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.Jobs, DefaultJobs)
	def(&c.Workers, DefaultWorkers)
	def(&c.PageSize, DefaultPageSize)
	c.PageSize = devices.PageSize(c.PageSize)
	def(&c.MaxRetries, DefaultMaxRetries)
	defDur(&c.RetryWindow, DefaultRetryWindow)
	defDur(&c.BackoffBase, DefaultBackoffBase)
	defDur(&c.BackoffMax, DefaultBackoffMax)
	c.BackoffMax = max(c.BackoffMax, c.BackoffBase)
	def(&c.PerOrigin, DefaultPerOrigin)
	def(&c.BreakerFailures, DefaultBreakerFailures)
	defDur(&c.BreakerCooldown, DefaultBreakerCooldown)
	defDur(&c.BreakerCooldownMax, DefaultBreakerCooldownMax)
	c.BreakerCooldownMax = max(c.BreakerCooldownMax, c.BreakerCooldown)
	def(&c.Origins, DefaultOrigins)
	// Origins with pushes in flight are never forgotten: room for them all.
	c.Origins = max(c.Origins, 2*c.Workers)
	def(&c.JobBuffer, DefaultJobBuffer)
}

// Deps are what the pipeline works with. Queue, Devices and Instances are
// required.
type Deps struct {
	Queue     queue.Queue
	Devices   devices.Store
	Instances instance.Registry
	Logger    *slog.Logger          // nil: discard
	Metrics   *metrics.BeamsMetrics // nil: collectors on a private registry
	Now       func() time.Time      // nil: time.Now; judges retry windows and publish latency
}

// Pipeline delivers queued publishes. Build it with New; Run it once.
type Pipeline struct {
	cfg      Config
	q        queue.Queue
	store    devices.Store
	reg      instance.Registry
	log      *slog.Logger
	m        *metrics.BeamsMetrics
	now      func() time.Time
	ownClock bool // Deps.Now set: push durations need time.Now's readings
	sendDur  [numPlatforms]prometheus.Observer

	work    chan task // to the workers; bounded, so a job waits rather than queue a page
	retries *scheduler
	gate    *gate
	slots   *slots
	loud    throttle // lines a whole instance's devices could each cause
	started atomic.Bool
}

// New builds a pipeline; nothing runs before Run.
func New(cfg Config, deps Deps) *Pipeline {
	cfg.setDefaults()
	p := &Pipeline{
		cfg:   cfg,
		q:     deps.Queue,
		store: deps.Devices,
		reg:   deps.Instances,
		log:   deps.Logger,
		m:     deps.Metrics,
		now:   deps.Now,
		work:  make(chan task, cfg.Workers),
		loud:  throttle{every: time.Minute},
	}
	if p.log == nil {
		p.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	p.log = p.log.With("component", "beams-deliver")
	if p.m == nil {
		p.m = metrics.NewBeams(prometheus.NewRegistry())
	}
	if p.now == nil {
		p.now = time.Now
	} else {
		p.ownClock = true
	}
	for pl := range numPlatforms {
		p.sendDur[pl] = p.m.SendDuration.WithLabelValues(platformNames[pl])
	}
	p.retries = newScheduler(cfg.MaxRetries, p.m.RetriesPending)
	p.gate = newGate(cfg)
	p.slots = newSlots(cfg.Jobs, cfg.JobBuffer)
	return p
}

// Run delivers until ctx ends, then cancels the pushes in flight and
// returns once every goroutine it started has ended; it returns nil. Jobs
// not done stay queued, with the cursor of their last finished page.
// Deliveries waiting for a retry are dropped (counted given_up). An error
// means the queue was closed under it.
func (p *Pipeline) Run(ctx context.Context) error {
	if !p.started.CompareAndSwap(false, true) {
		return errors.New("beams deliver: Run called twice")
	}
	g, gctx := errgroup.WithContext(ctx)
	for range p.cfg.Workers {
		g.Go(func() error {
			p.worker(gctx)
			return nil
		})
	}
	g.Go(func() error {
		p.retries.run(gctx, p.work, p.now)
		return nil
	})
	g.Go(func() error { return p.fetch(gctx) })
	for range p.cfg.Jobs {
		g.Go(func() error {
			p.jobLoop(gctx)
			return nil
		})
	}
	err := g.Wait()
	// Retries still waiting, handed back but not taken, or parked at
	// their origin, are lost with the process; page deliveries not made
	// are redone after a restart, as are the jobs buffered, not started.
	dropped := p.retries.drain()
	for len(p.work) > 0 {
		if t := <-p.work; t.pg == nil {
			dropped = append(dropped, t)
		}
	}
	for _, t := range p.gate.drain() {
		if t.pg == nil {
			dropped = append(dropped, t)
		}
	}
	for _, t := range dropped {
		p.count(t.m, t.platform, outGivenUp)
	}
	if len(dropped) > 0 {
		p.log.Info("deliveries waiting for a retry dropped at shutdown", "count", len(dropped))
	}
	return err
}

// sleep waits d or until ctx ends; false when ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
