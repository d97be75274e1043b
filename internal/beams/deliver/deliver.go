// Package deliver is the delivery pipeline of the Beams-compatible push
// service (spec beams.md 4.1): it takes publish jobs from the durable
// queue, reads their target devices page by page, builds each platform's
// message once per job, pushes through the instance's senders with bounded
// concurrency, classifies the answers, retries what may succeed later,
// deletes devices their push service calls gone and counts everything.
//
// Shape of a run:
//
//	Jobs job loops      Queue.Next → parse → prepare → for each page:
//	                    read devices → hand each to the workers → wait for
//	                    the page → Queue.Progress; at the end Queue.Done
//	Workers workers     one push each at a time, shared by every job
//	one retry loop      a min-heap of deliveries waiting for their retry,
//	                    handed back to the workers when due
//
// A job's devices are handled once per publish: the store returns each
// device once, in device id order, and the next page starts after the last
// device of the one before. Retries live in memory only: a job is done once
// its first pass over its devices ended, so a restart loses the deliveries
// still waiting for a retry (counted given_up) but never delivers a page
// twice unless the restart came before the page's Progress.
package deliver

import (
	"context"
	"errors"
	"fmt"
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
	Jobs int
	// Workers is how many push requests are in flight at once over all
	// jobs (default 128). The Web Push HTTP client should keep as many idle
	// connections per host, or connections to one push service churn.
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
	cfg     Config
	q       queue.Queue
	store   devices.Store
	reg     instance.Registry
	log     *slog.Logger
	m       *metrics.BeamsMetrics
	now     func() time.Time
	sendDur [numPlatforms]prometheus.Observer

	work    chan task // to the workers; bounded, so a job waits rather than queue a page
	retries *scheduler
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
	}
	for pl := range numPlatforms {
		p.sendDur[pl] = p.m.SendDuration.WithLabelValues(platformNames[pl])
	}
	p.retries = newScheduler(cfg.MaxRetries, p.m.RetriesPending)
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
	for range p.cfg.Jobs {
		g.Go(func() error { return p.jobLoop(gctx) })
	}
	err := g.Wait()
	// Retries still waiting, or handed back but not taken, are lost with
	// the process; page deliveries not taken are redone after a restart.
	dropped := p.retries.drain()
	for len(p.work) > 0 {
		if t := <-p.work; t.pg == nil {
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

// jobLoop takes jobs from the queue and delivers them, one at a time.
func (p *Pipeline) jobLoop(ctx context.Context) error {
	failures := 0
	for {
		j, err := p.q.Next(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, queue.ErrClosed):
			return fmt.Errorf("beams deliver: %w", err)
		case err != nil:
			failures++
			p.log.Warn("cannot read the publish queue", "err", err)
			if !sleep(ctx, p.backoffDelay(failures)) {
				return nil
			}
			continue
		}
		failures = 0
		p.m.Queue.Set(float64(p.q.Len()))
		p.deliver(ctx, j)
	}
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
