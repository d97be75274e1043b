package webhooks

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/heraldhq/herald/internal/hub"
)

// pool is the delivery workers: at most n requests at once. Only the loop
// uses it.
type pool struct {
	jobs    chan job    // never blocks: at most n are outstanding
	results chan result // never blocks a worker, for the same reason
	n, busy int
	wg      sync.WaitGroup
}

func (d *Dispatcher) startPool(ctx context.Context, n int) *pool {
	p := &pool{jobs: make(chan job, n), results: make(chan result, n), n: n}
	for range n {
		p.wg.Go(func() {
			for j := range p.jobs {
				p.results <- d.deliver(ctx, j)
			}
		})
	}
	return p
}

func (p *pool) free() int { return p.n - p.busy }

func (p *pool) send(j job) {
	p.jobs <- j
	p.busy++
}

// stop closes the pool and collects what is still in flight, passing each
// result to apply (nil: discard). The workers' context must be done, so
// the requests return promptly.
func (p *pool) stop(apply func(result)) {
	close(p.jobs)
	for ; p.busy > 0; p.busy-- {
		r := <-p.results
		if apply != nil {
			apply(r)
		}
	}
	p.wg.Wait()
}

// Run stores and delivers until ctx ends. Then it lets the workers return
// (in-flight requests are cancelled; their batches stay stored and are
// resent by the next run), stores every event still in the inbox, and
// closes the database. An error means the database failed; what was
// committed before it is still delivered after a restart.
//
// In cluster mode (Deps.Queue) see runShared instead.
func (d *Dispatcher) Run(ctx context.Context) error {
	if !d.started.CompareAndSwap(false, true) {
		return errors.New("webhooks: Run called twice")
	}
	if d.q != nil {
		return d.runShared(ctx)
	}
	defer d.closeDB()
	defer d.ib.stopped.Store(true)

	// Workers get their own cancel so the crash test hook can stop them too.
	wctx, cancelWorkers := context.WithCancel(ctx)
	defer cancelWorkers()
	p := d.startPool(wctx, d.cfg.Workers)

	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := d.cfg.Now()
		d.appCache = nil // look apps up afresh each iteration
		d.releaseDueLeaves(ctx, now)
		batch := d.schedule(now, p.free())
		if err := d.commit(); err != nil {
			d.log.Error("webhooks: database write failed", "err", err)
			cancelWorkers() // ctx is not done: cut in-flight requests short
			p.stop(nil)
			return err
		}
		for _, j := range batch { // stored: safe to send
			p.send(j)
		}
		d.warnDrops(now, "", "")
		d.fails.flush(false)
		timer.Reset(d.nextWake(now, p.free() > 0))

		select {
		case <-ctx.Done():
			return d.shutdown(p)
		case <-d.crash:
			cancelWorkers()
			p.stop(nil)
			return nil
		case e := <-d.ib.in:
			d.acceptBurst(ctx, e)
		case r := <-p.results:
			p.busy--
			d.finish(r, d.cfg.Now())
		case <-timer.C:
		}
	}
}

// acceptBurst takes e and whatever else is already waiting, up to one
// group commit's worth.
func (d *Dispatcher) acceptBurst(ctx context.Context, e hub.Event) {
	now := d.cfg.Now()
	d.accept(ctx, e, now, nil)
	for range maxTxEvents - 1 {
		select {
		case e := <-d.ib.in:
			d.accept(ctx, e, now, nil)
		default:
			return
		}
	}
}

// shutdown records the results of interrupted requests, stores the inbox
// (events the hub reported before the stop, e.g. the leaves of closing
// connections) and commits.
func (d *Dispatcher) shutdown(p *pool) error {
	p.stop(func(r result) { d.finish(r, d.cfg.Now()) })
	d.ib.stopped.Store(true)
	now := d.cfg.Now()
	d.appCache = nil
	// The apps lookup must still work although ctx is done.
	ctx := context.Background()
	for drained := false; !drained; {
		select {
		case e := <-d.ib.in:
			d.accept(ctx, e, now, nil)
		default:
			drained = true
		}
	}
	d.warnDrops(now.Add(dropWarnEvery), "", "") // say it before exiting
	d.fails.flush(true)
	if err := d.commit(); err != nil {
		d.log.Error("webhooks: final database write failed", "err", err)
		return err
	}
	return nil
}
