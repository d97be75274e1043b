package webhooks

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/hub"
)

// Cluster mode, the goroutines that talk to the shared queue: the claimer,
// the readers, the acker and the writer. Each call is bounded by
// queueTimeout; none holds loop state: they exchange values with the loop
// (shared.go) over channels.

// claimLoop renews and takes hook leases every ClaimEvery, the first time
// at once.
func (d *Dispatcher) claimLoop(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cctx, cancel := context.WithTimeout(ctx, queueTimeout)
		apps, fresh, err := d.q.ClaimHooks(cctx, d.candidates(cctx))
		cancel()
		select {
		case d.sh.claims <- claimRes{apps: apps, fresh: fresh, err: err}:
		case <-ctx.Done():
			return
		}
		t.Reset(d.cfg.ClaimEvery)
	}
}

// readLoop serves the loop's read requests; the loop has at most one out
// per app, so an app's pages come back in order.
func (d *Dispatcher) readLoop(ctx context.Context) {
	for {
		var req readReq
		select {
		case <-ctx.Done():
			return
		case req = <-d.sh.reads:
		}
		cctx, cancel := context.WithTimeout(ctx, queueTimeout)
		hooks, err := d.q.ReadHooks(cctx, req.app, req.after, req.n)
		cancel()
		select {
		case d.sh.readDone <- readRes{readReq: req, hooks: hooks, err: err}:
		case <-ctx.Done():
			return
		}
	}
}

// ackLoop removes delivered entries from the queue. A failed ack is kept
// and tried again after ClaimEvery (new acks meanwhile only join it): an
// entry left in the queue would be delivered again by the next lease
// holder. The acks of a lease the loop has lost are dropped unsent: the
// next holder may be reading the queue, and an ack landing between two of
// its reads could hide a join from it. The acks waiting are counted in
// ackWaiting: past Config.maxAcks the loop stops reading (ackStalled),
// which bounds them. When the loop closes ackIn it flushes once more,
// within flushTimeout.
func (d *Dispatcher) ackLoop() {
	pending := map[*lease][]string{}
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	backingOff := false
	for {
		select {
		case <-d.crash:
			return
		case m, ok := <-d.sh.ackIn:
			if !ok {
				if n := d.flushAcks(pending, flushTimeout); n > 0 {
					d.log.Warn("webhook entries delivered but not acked at shutdown; the next lease holder sends them again", "entries", n)
				}
				return
			}
			for l, ids := range m {
				pending[l] = append(pending[l], ids...)
			}
			if backingOff {
				continue
			}
		case <-retry.C:
			backingOff = false
		}
		if d.flushAcks(pending, queueTimeout) > 0 {
			backingOff = true
			retry.Reset(d.cfg.ClaimEvery)
		}
	}
}

// flushAcks acks pending within timeout, removing what succeeded and
// dropping the acks of lost leases, and returns how many ids are left.
func (d *Dispatcher) flushAcks(pending map[*lease][]string, timeout time.Duration) int {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	left := 0
	for l, ids := range pending {
		l.sending.Add(1) // before the check: see requestReads
		if l.lost.Load() {
			l.sending.Add(-1)
			d.m.AcksDropped.WithLabelValues(l.app, "lease_lost").Add(float64(len(ids)))
			d.sh.ackWaiting.Add(-int64(len(ids)))
			delete(pending, l)
			continue
		}
		for len(ids) > 0 && ctx.Err() == nil {
			n := min(len(ids), maxAckIDs)
			if err := d.q.AckHooks(ctx, l.app, ids[:n]); err != nil {
				d.sh.errs.failed("ack", err)
				break
			}
			d.sh.errs.ok()
			d.sh.ackWaiting.Add(-int64(n))
			ids = ids[n:]
		}
		l.sending.Add(-1)
		if len(ids) == 0 {
			delete(pending, l)
		} else {
			pending[l] = ids
			left += len(ids)
		}
	}
	return left
}

// releaseLeases gives up this node's hook leases at a clean stop, so
// another node takes them at its next claim instead of after the lease
// time.
func (d *Dispatcher) releaseLeases() {
	ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
	defer cancel()
	if _, _, err := d.q.ClaimHooks(ctx, nil); err != nil {
		d.log.Warn("webhook queue leases not released; other nodes take them when they expire", "err", err)
	}
}

// writeLoop appends the hub's events to the shared queue in the order
// Observe took them. While the queue is down it retries the oldest with a
// growing pause; once the inbox is full Observe drops the newest (counted,
// warned about by the loop), as in single-node mode.
func (d *Dispatcher) writeLoop(ctx context.Context) {
	for {
		select {
		case <-d.crash:
			return
		case <-ctx.Done():
			d.flushWrites(nil)
			return
		case e := <-d.ib.in:
			if !d.addHook(ctx, e) {
				d.flushWrites(&e)
				return
			}
		}
	}
}

// addHook appends e, retrying while the queue is unavailable. False when
// ctx ended (or the crash hook fired) before it succeeded.
func (d *Dispatcher) addHook(ctx context.Context, e hub.Event) bool {
	wait := d.cfg.PollEvery
	var t *time.Timer
	for {
		cctx, cancel := context.WithTimeout(ctx, queueTimeout)
		err := d.q.AddHook(cctx, hookOf(e))
		cancel()
		switch {
		case err == nil:
			d.sh.errs.ok()
			return true
		case ctx.Err() != nil:
			return false
		case !retryable(err):
			d.m.Dropped.WithLabelValues(e.AppID, "queue_error").Inc()
			d.sh.errs.failed("add", err)
			return true
		}
		d.sh.errs.failed("add", err)
		if t == nil {
			t = time.NewTimer(wait)
			defer t.Stop()
		} else {
			t.Reset(wait)
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return false
		case <-d.crash:
			return false
		}
		wait = min(2*wait, addRetryMax)
	}
}

// retryable: the queue is down or slow, not refusing this entry.
func retryable(err error) bool {
	return errors.Is(err, broker.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded)
}

// flushWrites appends what the inbox still holds at the stop (the leaves
// of closing connections, say), first first, within flushTimeout. After a
// failure the rest is dropped and counted, so the order stays that of
// Observe.
func (d *Dispatcher) flushWrites(first *hub.Event) {
	d.ib.stopped.Store(true) // Observe drops from now on: the inbox only shrinks
	select {
	case <-d.crash:
		return
	default:
	}
	ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
	defer cancel()
	lost := 0
	var lastErr error
	add := func(e hub.Event) {
		if lost == 0 {
			if lastErr = d.q.AddHook(ctx, hookOf(e)); lastErr == nil {
				return
			}
		}
		lost++
		d.m.Dropped.WithLabelValues(e.AppID, "stopped").Inc()
	}
	if first != nil {
		add(*first)
	}
drain:
	for {
		select {
		case e := <-d.ib.in:
			add(e)
		default:
			break drain
		}
	}
	if lost > 0 {
		d.log.Warn("webhook events not queued at shutdown", "dropped", lost, "err", lastErr)
	}
}

// queueErrors logs the shared queue's failures without a line per call:
// one at once, then at most one per dropWarnEvery with how many failed
// meanwhile, and one when a call succeeds again. The loop and the I/O
// goroutines share it.
type queueErrors struct {
	log     *slog.Logger
	now     func() time.Time
	failing atomic.Bool // a failure was logged and no success since; ok's fast path

	mu   sync.Mutex
	last time.Time // of the last line
	n    int       // failures since the last line
}

func (q *queueErrors) failed(op string, err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.n++
	now := q.now()
	if !q.last.IsZero() && now.Sub(q.last) < dropWarnEvery {
		return
	}
	q.log.Warn("webhook queue unavailable; retrying", "op", op, "failures", q.n, "err", err)
	q.last, q.n = now, 0
	q.failing.Store(true)
}

func (q *queueErrors) ok() {
	if !q.failing.Load() {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.failing.Load() {
		return
	}
	q.failing.Store(false)
	q.log.Info("webhook queue available again", "unlogged_failures", q.n)
	q.last, q.n = q.now(), 0
}
