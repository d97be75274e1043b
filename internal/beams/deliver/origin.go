package deliver

import (
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/heraldhq/herald/internal/beams/webpush"
)

// gate guards the push services, one origin at a time: it caps the pushes
// in flight to an origin (Config.PerOrigin) and runs its circuit breaker.
// Safe for concurrent use; its lock is a leaf, never held across a push.
//
// A push that finds its origin at the cap is parked on the origin's
// waiting list (FIFO) and the worker goes back to the other work; the
// worker ending a push to that origin hands its slot to the first parked
// push and makes it next. So no worker waits for an origin, and an
// origin's pushes start in the order they reached the gate. Waiting lists
// hold only pushes already taken from the pipeline's work (at most the
// jobs' pages in flight and the retries due), and are never longer than
// that. Invariant: an origin has parked pushes only while it is closed and
// at its cap, so one of the pushes in flight always hands over (once the
// pipeline stops, none does: drain collects them).
//
// The breaker: Config.BreakerFailures consecutive pushes that got no
// answer (a network error or timeout: Result.Status 0 and Retry) open it;
// pushes to an open origin are not made (their parked ones are let go at
// once) until the cool-down ends, then one push is let through as a probe.
// Any answer closes the breaker; a probe without one opens it again for
// twice the cool-down, up to Config.BreakerCooldownMax.
type gate struct {
	perOrigin   int
	failures    int
	cooldown    time.Duration
	cooldownMax time.Duration
	max         int // origins tracked; above it idle ones are forgotten

	mu sync.Mutex
	m  map[string]*origin
}

// origin is the state of one push-service origin.
type origin struct {
	inflight int
	waiting  fifo      // parked pushes
	last     time.Time // last use, to forget the oldest first

	fails    int  // consecutive pushes without an answer
	open     bool // the breaker
	probing  bool // a probe is in flight
	until    time.Time
	cooldown time.Duration // of the current or next opening
}

// verdict is what the gate lets a push do.
type verdict uint8

const (
	pass  verdict = iota // push; a slot is taken
	probe                // push as the open breaker's probe; a slot is taken
	park                 // parked: the gate hands it back later
	shut                 // the breaker is open: do not push before until
)

func newGate(cfg Config) *gate {
	return &gate{
		perOrigin:   cfg.PerOrigin,
		failures:    cfg.BreakerFailures,
		cooldown:    cfg.BreakerCooldown,
		cooldownMax: cfg.BreakerCooldownMax,
		max:         cfg.Origins,
		m:           map[string]*origin{},
	}
}

// enter asks to push t at now. On park the gate keeps t; on shut until is
// when the breaker lets a probe through. On pass and probe o is t's
// origin, for leave: kept while a push to it is in flight.
func (g *gate) enter(t task, now time.Time) (v verdict, until time.Time, o *origin) {
	g.mu.Lock()
	defer g.mu.Unlock()
	o = g.m[t.origin]
	if o == nil {
		if len(g.m) >= g.max {
			g.forgetLocked()
		}
		o = &origin{cooldown: g.cooldown}
		g.m[strings.Clone(t.origin)] = o // not pinning the endpoint it was cut from
	}
	o.last = now
	if o.open {
		if o.probing || now.Before(o.until) || o.inflight >= g.perOrigin {
			if !o.until.After(now) { // a probe outlived the cool-down: keep the rest away another one
				o.until = now.Add(o.cooldown)
			}
			return shut, o.until, nil
		}
		o.probing = true
		o.until = now.Add(o.cooldown)
		o.inflight++
		return probe, time.Time{}, o
	}
	if o.inflight >= g.perOrigin {
		o.waiting.push(t)
		return park, time.Time{}, nil
	}
	o.inflight++
	return pass, time.Time{}, o
}

// left is what ending a push gives back to its worker.
type left struct {
	next    task // the parked push the slot went to: the worker's to push now
	hasNext bool
	opened  bool      // this push opened the breaker (not a failed probe)
	shut    []task    // parked pushes let go because the breaker is open
	until   time.Time // when the open breaker lets a probe through
}

// leave ends a push to o that enter let through (wasProbe: as the
// probe). r is its result, nil when it was cancelled (nothing learnt).
// handOver false keeps the slot from the parked pushes (the pipeline is
// stopping: they stay parked for drain). A push handed over goes to o too.
func (g *gate) leave(o *origin, r *webpush.Result, wasProbe, handOver bool, now time.Time) left {
	answered := r != nil && r.Status != 0
	failed := r != nil && r.Status == 0 && r.Outcome == webpush.Retry
	g.mu.Lock()
	defer g.mu.Unlock()
	var out left
	if wasProbe {
		o.probing = false
	}
	switch {
	case answered:
		o.fails = 0
		o.open = false
		o.cooldown = g.cooldown
	case failed && wasProbe && o.open:
		o.cooldown = min(2*o.cooldown, g.cooldownMax)
		o.until = now.Add(o.cooldown)
	case failed && !o.open:
		o.fails++
		if o.fails >= g.failures {
			o.open = true
			o.cooldown = g.cooldown
			o.until = now.Add(o.cooldown)
			out.opened = true
		}
	case wasProbe && o.open: // the probe learnt nothing (refused before sending): probe again
		o.until = now
	}
	if o.open && o.waiting.n > 0 {
		out.shut = o.waiting.take()
		out.until = o.until
	}
	if handOver && o.waiting.n > 0 {
		out.next, out.hasNext = o.waiting.pop(), true // the slot goes with it
		return out
	}
	o.inflight--
	if o.inflight == 0 {
		o.waiting.shrink()
	}
	return out
}

// forgetLocked drops idle origins (no push in flight or parked), closed
// ones first, then the least recently used, down to three quarters of max:
// a flood of origins costs one sort per quarter of max new ones. An
// attacker with that many origins makes open breakers be forgotten; the
// per-origin cap still holds.
func (g *gate) forgetLocked() {
	type idle struct {
		key  string
		open bool
		last time.Time
	}
	var list []idle
	for k, o := range g.m {
		if o.inflight == 0 && o.waiting.n == 0 {
			list = append(list, idle{k, o.open, o.last})
		}
	}
	slices.SortFunc(list, func(a, b idle) int {
		if a.open != b.open {
			if a.open {
				return 1
			}
			return -1
		}
		return a.last.Compare(b.last)
	})
	for _, it := range list {
		if len(g.m) <= g.max*3/4 {
			return
		}
		delete(g.m, it.key)
	}
}

// drain empties the waiting lists (after the workers ended) and returns
// what waited.
func (g *gate) drain() []task {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []task
	for _, o := range g.m {
		out = append(out, o.waiting.take()...)
	}
	return out
}

// originOf is the gate's key of a web endpoint: its origin, scheme://
// host[:port], lower-cased, without user info or the scheme's default
// port, so spellings of one host share a key. Not a parse: an endpoint
// the sender will refuse gets some key all the same.
func originOf(endpoint string) string {
	i := strings.Index(endpoint, "://")
	if i < 0 {
		return endpoint
	}
	host := endpoint[i+3:]
	if j := strings.IndexAny(host, "/?#"); j >= 0 {
		host = host[:j]
	}
	o := endpoint[:i+3+len(host)]
	if at := strings.LastIndexByte(host, '@'); at >= 0 {
		o = endpoint[:i+3] + host[at+1:]
	}
	o = strings.ToLower(o) // no copy when it is already
	switch {
	case strings.HasPrefix(o, "https://"):
		o = strings.TrimSuffix(o, ":443")
	case strings.HasPrefix(o, "http://"):
		o = strings.TrimSuffix(o, ":80")
	}
	return o
}

// fifo is a ring of tasks that grows by doubling.
type fifo struct {
	buf  []task
	head int // index of the oldest
	n    int
}

func (q *fifo) push(t task) {
	if q.n == len(q.buf) {
		buf := make([]task, max(2*len(q.buf), 64))
		k := copy(buf, q.buf[q.head:])
		copy(buf[k:], q.buf[:q.head])
		q.buf, q.head = buf, 0
	}
	q.buf[(q.head+q.n)%len(q.buf)] = t
	q.n++
}

func (q *fifo) pop() task {
	t := q.buf[q.head]
	q.buf[q.head] = task{} // let its message go
	q.head = (q.head + 1) % len(q.buf)
	q.n--
	return t
}

// take removes and returns every task, oldest first.
func (q *fifo) take() []task {
	out := make([]task, 0, q.n)
	for q.n > 0 {
		out = append(out, q.pop())
	}
	return out
}

// shrink gives back a ring a burst made large, once it is empty.
func (q *fifo) shrink() {
	if q.n == 0 && len(q.buf) > 4096 {
		*q = fifo{}
	}
}
