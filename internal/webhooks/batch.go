package webhooks

import (
	"math/rand/v2"
	"time"
)

// endpointID names an endpoint in stored records. The index disambiguates
// two endpoints with one URL; the URL notices a reordered configuration
// after a restart (see resolve).
type endpointID struct {
	App   string
	Index int
	URL   string
}

type pendingEvent struct {
	seq    uint64
	timeMS int64
	json   []byte
	alone  bool   // goes in a request of its own (sentAlone)
	en     *entry // cluster mode: the queue entry it came from
}

// endpoint is the loop's view of one endpoint's queue.
type endpoint struct {
	pending  []pendingEvent // stored, not yet batched, in acceptance order
	firstAt  time.Time      // when pending[0] arrived; zero (after a reload) = due now
	batches  []*batch       // stored batches, oldest first; only [0] is ever sent
	inflight bool           // batches[0] is with a worker
}

// batch is one request: its body is fixed when it is created and re-sent
// byte for byte on every attempt.
type batch struct {
	seq      uint64
	ep       endpointID
	body     []byte
	count    int
	attempts int
	first    time.Time // creation = first attempt; the retry window counts from here
	next     time.Time // earliest next attempt
	lastErr  string

	// Cluster mode: the entries whose events it carries (acked once it is
	// delivered or given up) and the lease they were read under.
	entries []*entry
	lease   *lease
}

// headLen is how many of the oldest pending events the next request takes:
// at most max, and an event that travels alone only by itself. Requests
// still leave in acceptance order, so no channel's events are reordered.
func (ep *endpoint) headLen(max int) int {
	if ep.pending[0].alone {
		return 1
	}
	n := min(len(ep.pending), max)
	for i, p := range ep.pending[1:n] {
		if p.alone {
			return i + 1
		}
	}
	return n
}

// headDue reports whether the next request is complete before its window
// ends: full, or closed by an event that travels alone (waiting would add
// nothing to it).
func (ep *endpoint) headDue(max int) bool {
	n := ep.headLen(max)
	return n == max || n < len(ep.pending) || ep.pending[0].alone
}

func (d *Dispatcher) endpoint(id endpointID) *endpoint {
	ep, ok := d.endpoints[id]
	if !ok {
		ep = &endpoint{}
		d.endpoints[id] = ep
	}
	return ep
}

// schedule forms batches for endpoints whose window elapsed (or that are
// full) and picks attempts that are due, up to free workers. The jobs must
// only be handed out after the commit that stores their batches.
func (d *Dispatcher) schedule(now time.Time, free int) []job {
	var jobs []job
	for id, ep := range d.endpoints { // map order: no endpoint is always first
		if free == 0 {
			break
		}
		if ep.inflight {
			continue
		}
		if len(ep.batches) == 0 && len(ep.pending) > 0 &&
			(ep.headDue(d.cfg.BatchMaxEvents) || !now.Before(ep.firstAt.Add(d.cfg.BatchWindow))) {
			d.formBatch(id, ep, now)
		}
		if len(ep.batches) == 0 {
			if len(ep.pending) == 0 {
				delete(d.endpoints, id) // idle; recreated by the next event
			}
			continue
		}
		if b := ep.batches[0]; !now.Before(b.next) {
			ep.inflight = true
			free--
			jobs = append(jobs, job{ep: id, seq: b.seq, body: b.body, count: b.count})
		}
	}
	return jobs
}

// formBatch moves the oldest pending events into one batch record, in the
// same commit that deletes their event records.
func (d *Dispatcher) formBatch(id endpointID, ep *endpoint, now time.Time) {
	n := ep.headLen(d.cfg.BatchMaxEvents)
	events := make([][]byte, n)
	var entries []*entry
	for i, p := range ep.pending[:n] {
		events[i] = p.json
		d.del(bucketEvents, p.seq)
		if p.en != nil {
			entries = append(entries, p.en)
		}
	}
	d.seq++
	b := &batch{
		seq: d.seq, ep: id, count: n, first: now, next: now,
		body:    buildBody(ep.pending[0].timeMS, events),
		entries: entries,
	}
	if len(entries) > 0 {
		b.lease = entries[0].lease // one endpoint, one app, one lease
	}
	d.put(bucketBatches, b.seq, b)
	d.count(b.lease, 1-n)
	clear(ep.pending[:n])
	ep.pending = ep.pending[n:]
	if len(ep.pending) == 0 {
		ep.pending = nil // let the backing array go
	}
	ep.batches = append(ep.batches, b)
	// firstAt stays: the remaining events have waited long enough already.
}

// finish applies a delivery result to the endpoint's head batch.
func (d *Dispatcher) finish(r result, now time.Time) {
	ep := d.endpoints[r.ep]
	ep.inflight = false
	b := ep.batches[0]
	if b.lease != nil && b.lease.lost.Load() {
		// The app's lease was lost while this was out: the next holder
		// delivers its entries again; this result changes nothing.
		d.dropBatch(ep, b)
		return
	}
	if r.aborted {
		return // shutdown interrupted it: not an attempt; resent after restart (or by the next lease holder)
	}
	b.attempts++
	d.m.Requests.WithLabelValues(r.ep.App, r.outcome).Inc()
	d.showResult(r, b)
	if r.outcome == outcomeSuccess {
		d.m.Delivered.WithLabelValues(r.ep.App).Add(float64(b.count))
		d.dropBatch(ep, b)
		d.settleAll(b.entries)
		d.fails.succeeded(r.ep)
		return
	}
	b.lastErr = r.err
	f := failedAttempt{result: r, attempt: b.attempts, events: b.count}
	deadline := b.first.Add(d.cfg.RetryWindow)
	if r.permanent || !now.Before(deadline) {
		// Counted in the failure log's lines, not logged one by one: a
		// long outage drops every stored batch of the endpoint in a row.
		d.m.DeadBatches.WithLabelValues(r.ep.App, r.outcome).Inc()
		d.m.DeadEvents.WithLabelValues(r.ep.App, r.outcome).Add(float64(b.count))
		d.dropBatch(ep, b)
		d.settleAll(b.entries)
		f.dead, f.next = true, "dropped (retry window "+d.cfg.RetryWindow.String()+" over)"
		if r.permanent {
			f.next = "dropped (permanent failure)"
		}
		d.fails.failed(f)
		return
	}
	// The last attempt lands at the end of the window rather than beyond it.
	b.next = now.Add(d.backoff(b.attempts))
	if b.next.After(deadline) {
		b.next = deadline
	}
	d.put(bucketBatches, b.seq, b)
	d.m.Retries.WithLabelValues(r.ep.App).Inc()
	f.next = "retry in " + dur(b.next.Sub(now)).String()
	d.fails.failed(f)
}

func (d *Dispatcher) dropBatch(ep *endpoint, b *batch) {
	d.del(bucketBatches, b.seq)
	d.count(b.lease, -1)
	ep.batches[0] = nil
	ep.batches = ep.batches[1:]
}

// backoff is base·2^(attempts-1), capped, with ±20% jitter so endpoints that
// failed together do not retry in lockstep.
func (d *Dispatcher) backoff(attempts int) time.Duration {
	delay := d.cfg.backoffMax
	if attempts < 30 {
		delay = min(d.cfg.backoffBase<<(attempts-1), d.cfg.backoffMax)
	}
	return time.Duration(float64(delay) * (0.8 + 0.4*rand.Float64()))
}

// nextWake is when the loop must look again without any input: the first
// due leave, or (when a worker is free) the first batch window or retry.
func (d *Dispatcher) nextWake(now time.Time, free bool) time.Duration {
	var at time.Time
	consider := func(t time.Time) {
		if at.IsZero() || t.Before(at) {
			at = t
		}
	}
	if t, ok := d.leaves.next(); ok {
		consider(t)
	}
	if w, ok := d.fails.wait(); ok { // on the failure log's own clock
		consider(now.Add(w))
	}
	if d.sh != nil && !d.sh.paused && !d.sh.pollAt.IsZero() { // cluster mode: the next queue read
		consider(d.sh.pollAt)
	}
	if free {
		for _, ep := range d.endpoints {
			switch {
			case ep.inflight:
			case len(ep.batches) > 0:
				consider(ep.batches[0].next)
			case len(ep.pending) > 0 && ep.headDue(d.cfg.BatchMaxEvents):
				consider(now)
			case len(ep.pending) > 0:
				consider(ep.firstAt.Add(d.cfg.BatchWindow))
			}
		}
	}
	if at.IsZero() {
		return time.Hour
	}
	return max(at.Sub(now), 0)
}
