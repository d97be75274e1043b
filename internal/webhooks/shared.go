package webhooks

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
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

// leaseOf is the lease en was read under (nil: single-node mode).
func (en *entry) leaseOf() *lease {
	if en == nil {
		return nil
	}
	return en.lease
}

// settle drops one reference to en (nil: single-node mode). The last one
// acks it, unless the lease it was read under is gone: the next holder
// reads and delivers it again.
func (d *Dispatcher) settle(en *entry) {
	if en == nil {
		return
	}
	if en.refs--; en.refs > 0 || en.lease.lost.Load() {
		return
	}
	d.sh.acks[en.lease] = append(d.sh.acks[en.lease], en.id)
	d.sh.unsent++
}

// count adds delta to the records in memory, and in cluster mode to those
// of the lease l they were read under (nil: single-node mode).
func (d *Dispatcher) count(l *lease, delta int) {
	d.stored += delta
	if l != nil {
		l.stored += delta
	}
}

func (d *Dispatcher) settleAll(ens []*entry) {
	for _, en := range ens {
		d.settle(en)
	}
}

// lease is this node's hold on one app's queue, as the last successful
// ClaimHooks said. A lost lease is never reused (a regained app gets a new
// one, and so does an app whose lease ClaimHooks reports fresh), so a
// read, a request or an ack still out under the old one is recognised.
type lease struct {
	app string
	// lost is set once, by the loop, when the lease goes; the acker reads
	// it too, to drop the lease's acks unsent.
	lost     atomic.Bool
	cursor   string // id of the last entry read; "" = from the oldest unacked
	reading  bool   // a ReadHooks is out
	nextRead time.Time
	caughtUp time.Time // when the last read that came back short was issued
	stored   int       // records in memory read under this lease (see count)
	reserved int       // records the read out may bring (readRoom)
	full     bool      // its last read was refused for want of room (readRoom)
	// sending counts the acker's AckHooks calls under way for the app,
	// under any of its leases (one counter per app, shared). A new lease
	// reads nothing until it is zero once: see requestReads.
	sending *atomic.Int32
	started bool // it passed that wait
	// Due leaves held back until caughtUp passes their due time: the join
	// that cancels one may still be unread (see holdBack).
	waiting []leaveEntry
}

type readReq struct {
	lease   *lease // identifies the request; the readers never touch it
	app     string
	after   string
	n       int
	reserve int // records reserved for what it brings
	at      time.Time
}

type readRes struct {
	readReq
	hooks []broker.Hook
	err   error
}

type claimRes struct {
	apps, fresh []string
	err         error
}

// shared is the loop's cluster-mode state and its channels to the I/O
// goroutines.
type shared struct {
	leases   map[string]*lease        // the apps this node delivers
	sending  map[string]*atomic.Int32 // by app: lease.sending, kept while the app is held or an ack is under way
	acks     map[*lease][]string      // ids not yet handed to the acker
	unsent   int                      // ids in acks
	reserved int                      // records the reads out may still bring
	pollAt   time.Time                // when requestReads has work; zero: none scheduled
	paused   bool                     // the last ClaimHooks failed: read and send nothing new
	stalled  bool                     // too many acks wait: read nothing (ackStalled)
	errs     *queueErrors

	// ackWaiting is how many ids the loop handed to the acker that are
	// neither acked nor dropped yet: the loop adds, the acker subtracts.
	ackWaiting atomic.Int64

	reads    chan readReq // to the readers; the loop never blocks on it
	readDone chan readRes
	claims   chan claimRes
	ackIn    chan map[*lease][]string // to the acker; closed at shutdown
}

func newShared(cfg Config, log *slog.Logger) *shared {
	return &shared{
		leases:  map[string]*lease{},
		sending: map[string]*atomic.Int32{},
		acks:    map[*lease][]string{},
		errs:    &queueErrors{log: log, now: cfg.Now},
		reads:   make(chan readReq, readQueue),
		// Unbuffered: a claim's result is taken by the loop before the
		// next ClaimHooks starts, so a lost lease is forgotten by then.
		claims:   make(chan claimRes),
		readDone: make(chan readRes),
		ackIn:    make(chan map[*lease][]string),
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
	defer d.ib.stopped.Store(true)
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

		var ackOut chan<- map[*lease][]string // nil (never ready) when there is nothing to ack
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
			sh.ackWaiting.Add(int64(sh.unsent))
			sh.acks, sh.unsent = map[*lease][]string{}, 0
		case <-timer.C:
		}
	}
}

func (d *Dispatcher) shutdownShared(p *pool, io, tail *sync.WaitGroup) {
	d.ib.stopped.Store(true)
	p.stop(func(r result) { d.finish(r, d.cfg.Now()) })
	io.Wait() // ctx is done: the claimer and the readers return promptly
	if len(d.sh.acks) > 0 {
		d.sh.ackWaiting.Add(int64(d.sh.unsent))
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
	d.m.QueuesHeld.WithLabelValues().Set(0)
	d.warnDrops(d.cfg.Now().Add(dropWarnEvery), "", "")
	d.fails.flush(true)
	d.countQueued()
}

// applyClaim makes the held apps those of c: a new lease reads from the
// oldest unacked entry; a lost one is forgotten (dropLease), and so is one
// c reports fresh (the lease lapsed since the last claim, so another node
// may have delivered and acked entries this one still remembers: a leave
// whose rejoin it never saw, say).
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
	for _, app := range c.apps {
		held[app] = true
	}
	gained, lost, retaken := 0, 0, 0
	for _, app := range c.fresh {
		if l := sh.leases[app]; l != nil && held[app] {
			d.dropLease(l)
			d.newLease(app)
			retaken++
		}
	}
	for app, l := range sh.leases {
		if !held[app] {
			d.dropLease(l)
			lost++
		}
	}
	for app := range held {
		if sh.leases[app] == nil {
			d.newLease(app)
			gained++
		}
	}
	for app, n := range sh.sending {
		if sh.leases[app] == nil && n.Load() == 0 {
			delete(sh.sending, app) // no ack under way can start for it: its leases are lost
		}
	}
	if gained+lost+retaken > 0 {
		d.log.Info("webhook queues claimed", "gained", gained, "lost", lost, "retaken", retaken, "held", len(sh.leases))
	}
	d.m.QueuesHeld.WithLabelValues().Set(float64(len(sh.leases)))
	sh.wake(now)
}

// newLease starts delivering app's queue, from the oldest unacked entry.
func (d *Dispatcher) newLease(app string) {
	n := d.sh.sending[app]
	if n == nil {
		n = &atomic.Int32{}
		d.sh.sending[app] = n
	}
	d.sh.leases[app] = &lease{app: app, sending: n}
}

// dropLease forgets what l's app has in memory: pending events, batches
// not in flight, delayed leaves. Its entries stay unacked for the next
// holder; a request in flight finishes but its result is ignored (finish).
func (d *Dispatcher) dropLease(l *lease) {
	l.lost.Store(true)
	delete(d.sh.leases, l.app)
	if ids := d.sh.acks[l]; len(ids) > 0 {
		d.m.AcksDropped.WithLabelValues(l.app, "lease_lost").Add(float64(len(ids)))
		d.sh.unsent -= len(ids)
		delete(d.sh.acks, l)
	}
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

// readRoom is how many entries of l's app may be read now. MaxQueue bounds
// the records in memory, counting what the reads out may bring: an entry
// becomes at most one record per endpoint of its app. Each app may hold
// only its share of MaxQueue (appShare), so an app whose endpoint fails,
// its batches kept for RetryWindow, stops its own reading and not the
// others'. Cluster mode stops reading instead of dropping: the entries
// wait in the shared queue. reserve is what to set aside for the read.
func (d *Dispatcher) readRoom(ctx context.Context, l *lease) (n, reserve int) {
	room := min(d.cfg.MaxQueue-d.stored-d.sh.reserved, d.appShare()-l.stored-l.reserved)
	if room <= 0 {
		return 0, 0
	}
	fan := 1
	if a, err := d.lookupApp(ctx, l.app); err == nil {
		fan = max(len(a.Webhooks), 1)
	}
	// At least one entry, or an app with more endpoints than room could
	// never read: over the bound by fewer records than it has endpoints.
	n = max(min(readPage, room/fan), 1)
	return n, n * fan
}

// appShare is the most records one app may hold: MaxQueue split among the
// held apps, but not under min(readPage, MaxQueue/8), so with many apps
// each still reads whole pages; reading stops for every app only once
// several of them fill their share (their failing endpoints keep them).
func (d *Dispatcher) appShare() int {
	q := d.cfg.MaxQueue
	return max(q/max(len(d.sh.leases), 1), min(readPage, q/8), 1)
}

// requestReads asks the readers for the next page of every held app whose
// poll is due and that has no read out.
func (d *Dispatcher) requestReads(ctx context.Context, now time.Time) {
	sh := d.sh
	if sh.paused || sh.pollAt.IsZero() || now.Before(sh.pollAt) {
		return
	}
	sh.pollAt = time.Time{}
	stalled := d.ackStalled()
	for _, l := range sh.leases {
		if l.reading {
			continue
		}
		if now.Before(l.nextRead) {
			sh.wake(l.nextRead)
			continue
		}
		if !l.started {
			// An ack of an earlier lease of the app, sent before that lease
			// was lost, could land after this one's first read and hide
			// an entry it did not read yet (a join, from its leave): read
			// once none is under way. The acker marks a call under way
			// before it checks the lease, the loop marks a lease lost
			// before it looks here: one of them sees the other.
			if l.sending.Load() > 0 {
				sh.wake(now.Add(d.cfg.PollEvery))
				continue
			}
			l.started = true
		}
		n, reserve := 0, 0
		if !stalled {
			n, reserve = d.readRoom(ctx, l)
		}
		if l.full = n <= 0; l.full {
			// Nothing is read, so nothing can catch up: its held-back
			// leaves go by their time alone, or they could fill its
			// share for good.
			d.releaseWaiting(ctx, l, now, now)
			sh.wake(now.Add(d.cfg.PollEvery))
			continue
		}
		select {
		case sh.reads <- readReq{lease: l, app: l.app, after: l.cursor, n: n, reserve: reserve, at: now}:
			l.reading = true
			l.reserved += reserve
			sh.reserved += reserve
		default: // the readers are behind
			sh.wake(now.Add(d.cfg.PollEvery))
		}
	}
}

// ackStalled reports whether reading waits for the acks: while AckHooks
// fails the delivered entries' acks pile up, so past Config.maxAcks
// nothing more is read (and delivered) until they fall to half of it.
// Dropping them instead would leave delivered entries in the queue, sent
// again by the next holder long after, out of order with what followed.
func (d *Dispatcher) ackStalled() bool {
	sh := d.sh
	waiting := sh.unsent + int(sh.ackWaiting.Load())
	switch {
	case !sh.stalled && waiting >= d.cfg.maxAcks:
		sh.stalled = true
		d.log.Warn("webhook queue reads paused: acks are not getting through", "waiting", waiting)
	case sh.stalled && waiting <= d.cfg.maxAcks/2:
		sh.stalled = false
		d.log.Info("webhook queue reads resumed", "waiting", waiting)
	}
	return sh.stalled
}

// applyRead turns a page of entries into events through accept, as the
// hub's events are in single-node mode.
func (d *Dispatcher) applyRead(ctx context.Context, r readRes) {
	sh := d.sh
	l := r.lease
	sh.reserved -= r.reserve
	l.reserved -= r.reserve
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
	if len(r.hooks) > 0 {
		d.m.QueueEntriesRead.WithLabelValues(l.app).Add(float64(len(r.hooks)))
	}
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
// join that cancels it may be in the next page. While the app's reading is
// stopped for want of room nothing is held back.
func (d *Dispatcher) holdBack(le leaveEntry) bool {
	l := le.rec.en.lease
	if l.full || !l.caughtUp.Before(le.rec.due) {
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
