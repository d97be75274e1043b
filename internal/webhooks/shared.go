package webhooks

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/hub"
)

// Cluster mode, the loop's side: leases, reads, reference counts and acks.
// The calls to the shared queue run on the goroutines of sharedio.go; the
// loop only exchanges values with them over bounded channels.

// entry is one queue entry being delivered. Whatever keeps its event (a
// delayed leave, an endpoint's pending event, a batch) holds a reference;
// when the last one is dropped nothing more will be sent for it (delivered,
// given up, debounced, de-duplicated, unrouted, unknown app) and it is
// acked.
type entry struct {
	id    string
	lease *lease // the app's lease it was read under
	refs  int
}

func (en *entry) hold() {
	if en != nil {
		en.refs++
	}
}

// settle drops one reference to en (nil: single-node mode). The last one
// acks it, unless the lease it was read under is gone: the next holder
// reads and delivers it again.
func (d *Dispatcher) settle(en *entry) {
	if en == nil {
		return
	}
	if en.refs--; en.refs > 0 || !en.lease.active {
		return
	}
	d.sh.acks[en.lease.app] = append(d.sh.acks[en.lease.app], en.id)
}

func (d *Dispatcher) settleAll(ens []*entry) {
	for _, en := range ens {
		d.settle(en)
	}
}

// lease is this node's hold on one app's queue, as the last successful
// ClaimHooks said. A lost lease is never reused (a regained app gets a new
// one), so a read or request still out under the old one is recognised.
type lease struct {
	app      string
	active   bool   // false once lost
	cursor   string // id of the last entry read; "" = from the oldest unacked
	reading  bool   // a ReadHooks is out
	nextRead time.Time
	caughtUp time.Time // when the last read that came back short was issued
	// Due leaves held back until caughtUp passes their due time: the join
	// that cancels one may still be unread (see holdBack).
	waiting []leaveEntry
}

type readReq struct {
	lease *lease // identifies the request; the readers never touch it
	app   string
	after string
	n     int
	at    time.Time
}

type readRes struct {
	readReq
	hooks []broker.Hook
	err   error
}

type claimRes struct {
	apps []string
	err  error
}

// shared is the loop's cluster-mode state and its channels to the I/O
// goroutines.
type shared struct {
	leases   map[string]*lease   // the apps this node delivers
	acks     map[string][]string // by app: ids not yet handed to the acker
	reserved int                 // entries the reads out may still bring
	pollAt   time.Time           // when requestReads has work; zero: none scheduled
	paused   bool                // the last ClaimHooks failed: read and send nothing new
	full     bool                // reading stopped at MaxQueue
	errs     *queueErrors

	reads    chan readReq // to the readers; the loop never blocks on it
	readDone chan readRes
	claims   chan claimRes
	ackIn    chan map[string][]string // to the acker; closed at shutdown
}

func newShared(cfg Config, log *slog.Logger) *shared {
	return &shared{
		leases: map[string]*lease{},
		acks:   map[string][]string{},
		errs:   &queueErrors{log: log, now: cfg.Now},
		reads:  make(chan readReq, readQueue),
		// Unbuffered: a claim's result is taken by the loop before the
		// next ClaimHooks starts, so a lost lease is forgotten by then.
		claims:   make(chan claimRes),
		readDone: make(chan readRes),
		ackIn:    make(chan map[string][]string),
	}
}

func (sh *shared) wake(t time.Time) {
	if sh.pollAt.IsZero() || t.Before(sh.pollAt) {
		sh.pollAt = t
	}
}

// runShared is Run in cluster mode. The loop is the same as in single-node
// mode, fed by queue reads instead of the inbox and with no database:
// the queue entries stay in the shared queue until acked. The claimer and
// the readers stop with ctx; the writer and the acker flush for up to
// flushTimeout more. Finished requests are acked, cancelled ones are not
// (the next lease holder delivers them), then the leases are released so
// another node takes them at once.
func (d *Dispatcher) runShared(ctx context.Context) error {
	defer d.stopped.Store(true)
	sh := d.sh
	wctx, cancelWorkers := context.WithCancel(ctx)
	defer cancelWorkers()
	p := d.startPool(wctx, d.cfg.Workers)
	ioctx, cancelIO := context.WithCancel(ctx) // the crash hook cuts it too
	defer cancelIO()
	var io, tail sync.WaitGroup
	io.Go(func() { d.claimLoop(ioctx) })
	for range readers {
		io.Go(func() { d.readLoop(ioctx) })
	}
	tail.Go(func() { d.writeLoop(ctx) })
	tail.Go(d.ackLoop)

	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := d.cfg.Now()
		d.appCache = nil
		d.releaseDueLeaves(ctx, now)
		if !sh.paused {
			for _, j := range d.schedule(now, p.free()) {
				p.send(j)
			}
		}
		d.requestReads(ctx, now)
		d.countQueued()
		d.warnDrops(now, "", "")
		d.fails.flush(false)
		timer.Reset(d.nextWake(now, p.free() > 0 && !sh.paused))

		var ackOut chan<- map[string][]string // nil (never ready) when there is nothing to ack
		if len(sh.acks) > 0 {
			ackOut = sh.ackIn
		}
		select {
		case <-ctx.Done():
			d.shutdownShared(p, &io, &tail)
			return nil
		case <-d.crash:
			cancelWorkers()
			p.stop(nil)
			cancelIO()
			io.Wait()
			tail.Wait() // both return at once on the crash hook
			return nil
		case r := <-p.results:
			p.busy--
			d.finish(r, d.cfg.Now())
		case c := <-sh.claims:
			d.applyClaim(c, d.cfg.Now())
		case r := <-sh.readDone:
			d.applyRead(ctx, r)
		case ackOut <- sh.acks:
			sh.acks = map[string][]string{}
		case <-timer.C:
		}
	}
}

func (d *Dispatcher) shutdownShared(p *pool, io, tail *sync.WaitGroup) {
	d.stopped.Store(true)
	p.stop(func(r result) { d.finish(r, d.cfg.Now()) })
	io.Wait() // ctx is done: the claimer and the readers return promptly
	if len(d.sh.acks) > 0 {
		select {
		case d.sh.ackIn <- d.sh.acks:
		case <-d.crash: // the acker is gone
		}
	}
	close(d.sh.ackIn)
	tail.Wait()
	if len(d.sh.leases) > 0 || d.sh.paused {
		d.releaseLeases()
	}
	d.warnDrops(d.cfg.Now().Add(dropWarnEvery), "", "")
	d.fails.flush(true)
	d.countQueued()
}

// applyClaim makes the held apps those of c: a new lease reads from the
// oldest unacked entry; a lost one is forgotten (dropLease).
func (d *Dispatcher) applyClaim(c claimRes, now time.Time) {
	sh := d.sh
	if c.err != nil {
		// The broker cannot say which leases still hold: nothing new is
		// read or sent until a claim succeeds; the state is kept.
		sh.errs.failed("claim", c.err)
		sh.paused = true
		return
	}
	sh.errs.ok()
	sh.paused = false
	held := make(map[string]bool, len(c.apps))
	gained, lost := 0, 0
	for _, app := range c.apps {
		held[app] = true
		if sh.leases[app] == nil {
			sh.leases[app] = &lease{app: app, active: true}
			gained++
		}
	}
	for app, l := range sh.leases {
		if !held[app] {
			d.dropLease(l)
			lost++
		}
	}
	if gained+lost > 0 {
		d.log.Info("webhook queues claimed", "gained", gained, "lost", lost, "held", len(sh.leases))
	}
	sh.wake(now)
}

// dropLease forgets what l's app has in memory: pending events, batches
// not in flight, delayed leaves. Its entries stay unacked for the next
// holder; a request in flight finishes but its result is ignored (finish).
func (d *Dispatcher) dropLease(l *lease) {
	l.active = false
	delete(d.sh.leases, l.app)
	for id, ep := range d.endpoints {
		if id.App != l.app {
			continue
		}
		keep := 0
		if ep.inflight {
			keep = 1
		}
		d.stored -= len(ep.pending) + len(ep.batches) - keep
		clear(ep.pending)
		ep.pending = nil
		clear(ep.batches[keep:])
		ep.batches = ep.batches[:keep]
		if !ep.inflight {
			delete(d.endpoints, id)
		}
	}
	d.stored -= d.leaves.dropApp(l.app)
	l.waiting = nil
	// A regained lease reads the unacked entries again: a cache_miss
	// already seen must not count as its own duplicate.
	d.misses.dropApp(l.app)
}

// readRoom is how many entries may be read now: MaxQueue bounds what is in
// memory, counting what the reads out may bring. Cluster mode stops
// reading instead of dropping: the entries wait in the shared queue.
func (d *Dispatcher) readRoom() int {
	return min(readPage, d.cfg.MaxQueue-d.stored-d.sh.reserved)
}

// requestReads asks the readers for the next page of every held app whose
// poll is due and that has no read out.
func (d *Dispatcher) requestReads(ctx context.Context, now time.Time) {
	sh := d.sh
	if sh.paused || sh.pollAt.IsZero() || now.Before(sh.pollAt) {
		return
	}
	sh.pollAt, sh.full = time.Time{}, false
	for _, l := range sh.leases {
		if l.reading {
			continue
		}
		if now.Before(l.nextRead) {
			sh.wake(l.nextRead)
			continue
		}
		n := d.readRoom()
		if n <= 0 {
			sh.full = true
			sh.wake(now.Add(d.cfg.PollEvery))
			break
		}
		select {
		case sh.reads <- readReq{lease: l, app: l.app, after: l.cursor, n: n, at: now}:
			l.reading = true
			sh.reserved += n
		default: // the readers are behind
			sh.wake(now.Add(d.cfg.PollEvery))
		}
	}
	if sh.full {
		// Nothing is read, so nothing can catch up: held-back leaves go
		// by their time alone, or they could fill MaxQueue for good.
		for _, l := range sh.leases {
			d.releaseWaiting(ctx, l, now, now)
		}
	}
}

// applyRead turns a page of entries into events through accept, as the
// hub's events are in single-node mode.
func (d *Dispatcher) applyRead(ctx context.Context, r readRes) {
	sh := d.sh
	sh.reserved -= r.n
	l := r.lease
	if sh.leases[l.app] != l {
		return // lost since: a new lease reads afresh
	}
	l.reading = false
	now := d.cfg.Now()
	if r.err != nil {
		sh.errs.failed("read", r.err)
		l.nextRead = now.Add(d.cfg.PollEvery)
		sh.wake(l.nextRead)
		return
	}
	sh.errs.ok()
	for _, h := range r.hooks {
		l.cursor = h.ID
		en := &entry{id: h.ID, lease: l, refs: 1} // the reading's reference, dropped below
		e := eventOf(h)
		e.AppID = l.app
		d.accept(ctx, e, now, en)
		d.settle(en)
	}
	if len(r.hooks) >= r.n {
		l.nextRead = now // a full page: more is waiting
	} else {
		l.nextRead = now.Add(d.cfg.PollEvery)
		l.caughtUp = r.at
		d.releaseWaiting(ctx, l, l.caughtUp, now)
	}
	sh.wake(l.nextRead)
}

// holdBack keeps a due leave until its app's queue has been read past its
// due time: reading a backlog (a new lease holder, a queue outage), the
// join that cancels it may be in the next page. While reading is stopped
// at MaxQueue nothing is held back.
func (d *Dispatcher) holdBack(le leaveEntry) bool {
	l := le.rec.en.lease
	if d.sh.full || !l.caughtUp.Before(le.rec.due) {
		return false
	}
	d.leaves.keep(le)
	l.waiting = append(l.waiting, le)
	return true
}

// releaseWaiting sends l's held-back leaves due by cutoff.
func (d *Dispatcher) releaseWaiting(ctx context.Context, l *lease, cutoff, now time.Time) {
	kept := l.waiting[:0]
	for _, le := range l.waiting {
		switch {
		case !d.leaves.live(le): // a join cancelled it
		case le.rec.due.After(cutoff):
			kept = append(kept, le)
		default:
			d.leaves.forget(le)
			d.releaseLeave(ctx, le, now)
		}
	}
	clear(l.waiting[len(kept):])
	l.waiting = kept
}

// hookOf and eventOf convert between the hub's events and queue entries;
// the kinds are the same strings.
func hookOf(e hub.Event) broker.Hook {
	return broker.Hook{
		App: e.AppID, Kind: string(e.Kind), Channel: e.Channel, TimeMS: e.TimeMS,
		UserID: e.UserID, Event: e.Event, Data: e.Data, HasData: e.HasData, SocketID: e.SocketID,
		SubscriptionCount: e.SubscriptionCount,
	}
}

func eventOf(h broker.Hook) hub.Event {
	return hub.Event{
		Kind: hub.EventKind(h.Kind), AppID: h.App, Channel: h.Channel, TimeMS: h.TimeMS,
		UserID: h.UserID, Event: h.Event, Data: h.Data, HasData: h.HasData, SocketID: h.SocketID,
		SubscriptionCount: h.SubscriptionCount,
	}
}
