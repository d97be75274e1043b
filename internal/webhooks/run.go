package webhooks

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/heraldhq/herald/internal/hub"
)

// Run stores and delivers until ctx ends. Then it lets the workers return
// (in-flight requests are cancelled; their batches stay stored and are
// resent by the next run), stores every event still in the inbox, and
// closes the database. An error means the database failed; what was
// committed before it is still delivered after a restart.
func (d *Dispatcher) Run(ctx context.Context) error {
	if !d.started.CompareAndSwap(false, true) {
		return errors.New("webhooks: Run called twice")
	}
	defer d.closeDB()
	defer d.stopped.Store(true)

	// Workers get their own cancel so the crash test hook can stop them too.
	wctx, cancelWorkers := context.WithCancel(ctx)
	defer cancelWorkers()
	workers := d.cfg.Workers
	jobs := make(chan job, workers)       // never blocks: at most `workers` are outstanding
	results := make(chan result, workers) // never blocks a worker, for the same reason
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for j := range jobs {
				results <- d.deliver(wctx, j)
			}
		})
	}
	busy := 0
	// stopWorkers closes the pool and collects what is still in flight;
	// wctx is done (ctx ended or cancelWorkers ran), so the requests return
	// promptly.
	stopWorkers := func(apply bool) {
		close(jobs)
		for ; busy > 0; busy-- {
			r := <-results
			if apply {
				d.finish(r, d.cfg.Now())
			}
		}
		wg.Wait()
	}

	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := d.cfg.Now()
		d.appCache = nil // look apps up afresh each iteration
		d.releaseDueLeaves(ctx, now)
		batch := d.schedule(now, workers-busy)
		if err := d.commit(); err != nil {
			d.log.Error("webhooks: database write failed", "err", err)
			cancelWorkers() // ctx is not done: cut in-flight requests short
			stopWorkers(false)
			return err
		}
		for _, j := range batch { // stored: safe to send
			jobs <- j
			busy++
		}
		d.warnDrops(now, "", "")
		d.fails.flush(false)
		timer.Reset(d.nextWake(now, busy < workers))

		select {
		case <-ctx.Done():
			return d.shutdown(stopWorkers)
		case <-d.crash:
			cancelWorkers()
			stopWorkers(false)
			return nil
		case e := <-d.in:
			d.acceptBurst(ctx, e)
		case r := <-results:
			busy--
			d.finish(r, d.cfg.Now())
		case <-timer.C:
		}
	}
}

// acceptBurst takes e and whatever else is already waiting, up to one
// group commit's worth.
func (d *Dispatcher) acceptBurst(ctx context.Context, e hub.Event) {
	now := d.cfg.Now()
	d.accept(ctx, e, now)
	for range maxTxEvents - 1 {
		select {
		case e := <-d.in:
			d.accept(ctx, e, now)
		default:
			return
		}
	}
}

// shutdown records the results of interrupted requests, stores the inbox
// (events the hub reported before the stop, e.g. the leaves of closing
// connections) and commits.
func (d *Dispatcher) shutdown(stopWorkers func(bool)) error {
	stopWorkers(true)
	d.stopped.Store(true)
	now := d.cfg.Now()
	d.appCache = nil
	// The apps lookup must still work although ctx is done.
	ctx := context.Background()
	for drained := false; !drained; {
		select {
		case e := <-d.in:
			d.accept(ctx, e, now)
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
