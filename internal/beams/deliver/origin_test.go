package deliver

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/beams/webpush"
)

var (
	noAnswer  = &webpush.Result{Outcome: webpush.Retry, Err: fmt.Errorf("i/o timeout")}
	answered  = &webpush.Result{Outcome: webpush.Delivered, Status: 201}
	answer5xx = &webpush.Result{Outcome: webpush.Retry, Status: 503}
	refused   = &webpush.Result{Outcome: webpush.Gone, Err: fmt.Errorf("refused address")} // no request made
)

func testGate(perOrigin int) *gate {
	cfg := Config{PerOrigin: perOrigin}
	cfg.setDefaults()
	return newGate(cfg)
}

// push passes one push through g at now with result r; it fails t unless
// the gate let it through as want.
func push(t *testing.T, g *gate, key string, now time.Time, r *webpush.Result, want verdict) left {
	t.Helper()
	v, _, _ := g.enter(task{origin: key}, now)
	if v != want {
		t.Fatalf("enter at %v: verdict %d, want %d", now, v, want)
	}
	return g.leave(g.lookup(key), r, v == probe, true, now)
}

// The breaker opens on the 5th push in a row without an answer, keeps
// pushes out for the cool-down, lets one probe through, doubles the
// cool-down while probes fail (up to the maximum) and closes on an answer.
func TestGateBreaker(t *testing.T) {
	g := testGate(32)
	const key = "https://push.example"
	now := time.Unix(1_700_000_000, 0)
	// Answers, even 503s, reset the count; refusals before any request do not count.
	for range 4 {
		push(t, g, key, now, noAnswer, pass)
	}
	push(t, g, key, now, answer5xx, pass)
	for range 4 {
		push(t, g, key, now, noAnswer, pass)
		push(t, g, key, now, refused, pass)
	}
	if open, _, _ := g.state(key); open {
		t.Fatal("open after 4 failures in a row")
	}
	if l := push(t, g, key, now, noAnswer, pass); !l.opened {
		t.Fatal("the 5th failure in a row did not open the breaker")
	}
	if v, until, _ := g.enter(task{origin: key}, now.Add(29*time.Second)); v != shut || !until.Equal(now.Add(30*time.Second)) {
		t.Fatalf("29s after opening: verdict %d until %v; want shut until +30s", v, until)
	}
	// Probes that fail double the cool-down: 30s, 60s, 120s, 240s, then 5m.
	at := now
	for _, cool := range []time.Duration{30, 60, 120, 240, 300, 300} {
		at = at.Add(cool * time.Second)
		v, _, _ := g.enter(task{origin: key}, at)
		if v != probe {
			t.Fatalf("%v after the last opening: verdict %d, want the probe", cool*time.Second, v)
		}
		if v2, _, _ := g.enter(task{origin: key}, at); v2 != shut {
			t.Fatalf("a second push while the probe is out: verdict %d, want shut", v2)
		}
		if l := g.leave(g.lookup(key), noAnswer, true, true, at); l.opened {
			t.Fatal("a failed probe reported as a new opening")
		}
	}
	// A probe refused before any request learnt nothing: the next push probes.
	at = at.Add(5 * time.Minute)
	push(t, g, key, at, refused, probe)
	push(t, g, key, at, answered, probe)
	if open, inflight, _ := g.state(key); open || inflight != 0 {
		t.Fatalf("after the probe's answer: open %v, %d in flight; want closed, 0", open, inflight)
	}
	push(t, g, key, at, answered, pass)
	// Closed again with the base cool-down.
	for range 5 {
		push(t, g, key, at, noAnswer, pass)
	}
	if v, until, _ := g.enter(task{origin: key}, at); v != shut || !until.Equal(at.Add(30*time.Second)) {
		t.Fatalf("reopened: verdict %d until %v; want shut for the base 30s", v, until)
	}
}

// A push in flight when the breaker opened and answered later closes it.
func TestGateLateAnswerCloses(t *testing.T) {
	g := testGate(32)
	const key = "https://push.example"
	now := time.Now()
	late, _, _ := g.enter(task{origin: key}, now)
	for range 5 {
		push(t, g, key, now, noAnswer, pass)
	}
	if open, _, _ := g.state(key); !open {
		t.Fatal("not open")
	}
	g.leave(g.lookup(key), answered, late == probe, true, now)
	if open, _, _ := g.state(key); open {
		t.Fatal("an answer did not close the breaker")
	}
}

// At the cap, pushes park and are handed over in order, one slot each;
// when the breaker opens, the parked ones are let go, in order.
func TestGateCapOrder(t *testing.T) {
	g := testGate(2)
	const key = "https://slow.example"
	now := time.Now()
	enter := func(dev string) verdict {
		v, _, _ := g.enter(task{origin: key, device: dev}, now)
		return v
	}
	if enter("a") != pass || enter("b") != pass {
		t.Fatal("the first two pushes did not pass")
	}
	for _, d := range []string{"c", "d", "e", "f"} {
		if v := enter(d); v != park {
			t.Fatalf("push %s at the cap: verdict %d, want park", d, v)
		}
	}
	// Another origin is not held up.
	if v, _, _ := g.enter(task{origin: "https://other.example"}, now); v != pass {
		t.Fatal("another origin's push parked")
	}
	var order []string
	for range 2 {
		l := g.leave(g.lookup(key), answered, false, true, now)
		if !l.hasNext {
			t.Fatal("no parked push handed over")
		}
		order = append(order, l.next.device)
		if _, inflight, _ := g.state(key); inflight != 2 {
			t.Fatalf("%d in flight after a hand-over, want 2", inflight)
		}
	}
	if !slices.Equal(order, []string{"c", "d"}) {
		t.Fatalf("handed over %v, want [c d]", order)
	}
	// Stopping: no hand-over; the parked stay for drain.
	if l := g.leave(g.lookup(key), nil, false, false, now); l.hasNext {
		t.Fatal("handed over while stopping")
	}
	var drained []string
	for _, d := range g.drain() {
		drained = append(drained, d.device)
	}
	if !slices.Equal(drained, []string{"e", "f"}) {
		t.Fatalf("drained %v, want [e f]", drained)
	}

	// Five failures in a row open the breaker: the pushes still parked
	// are let go, in order, and no slot is handed over.
	g = testGate(2)
	enter("a")
	enter("b")
	for _, d := range []string{"c", "d", "e", "f", "g", "h"} {
		enter(d)
	}
	var handed []string
	for range 4 {
		l := g.leave(g.lookup(key), noAnswer, false, true, now)
		handed = append(handed, l.next.device)
	}
	l := g.leave(g.lookup(key), noAnswer, false, true, now)
	if !l.opened || l.hasNext {
		t.Fatalf("5th failure: opened %v, hand-over %v; want opened, none", l.opened, l.hasNext)
	}
	var shut []string
	for _, s := range l.shut {
		shut = append(shut, s.device)
	}
	if !slices.Equal(handed, []string{"c", "d", "e", "f"}) || !slices.Equal(shut, []string{"g", "h"}) {
		t.Fatalf("handed over %v, let go %v; want [c d e f] and [g h]", handed, shut)
	}
	if !l.until.Equal(now.Add(DefaultBreakerCooldown)) {
		t.Fatalf("let go until %v, want the cool-down's end", l.until)
	}
	if open, inflight, parked := g.state(key); !open || inflight != 1 || parked != 0 {
		t.Fatalf("open %v, %d in flight, %d parked; want open, 1, 0", open, inflight, parked)
	}
}

// The origins tracked stay bounded; one with a push in flight is kept.
func TestGateForgets(t *testing.T) {
	cfg := Config{Workers: 2, Origins: 8}
	cfg.setDefaults()
	g := newGate(cfg)
	now := time.Now()
	busy := "https://busy.example"
	g.enter(task{origin: busy}, now)
	for i := range 100 {
		key := fmt.Sprintf("https://h%d.example", i)
		now = now.Add(time.Millisecond)
		push(t, g, key, now, noAnswer, pass)
	}
	g.mu.Lock()
	n, kept := len(g.m), g.m[busy] != nil
	g.mu.Unlock()
	if n > 8 || !kept {
		t.Fatalf("%d origins tracked (max 8), the busy one kept: %v", n, kept)
	}
	if l := g.leave(g.lookup(busy), answered, false, true, now); l.hasNext {
		t.Fatal("unexpected hand-over")
	}
}

func TestOriginOf(t *testing.T) {
	for in, want := range map[string]string{
		"https://fcm.googleapis.com/fcm/send/abc":         "https://fcm.googleapis.com",
		"https://FCM.GoogleAPIs.com:443/fcm/send/abc":     "https://fcm.googleapis.com",
		"https://u:p@push.example:8443/x?y#z":             "https://push.example:8443",
		"https://push.example?q":                          "https://push.example",
		"http://127.0.0.1:80/push/1":                      "http://127.0.0.1",
		"http://127.0.0.1:8080/push/1":                    "http://127.0.0.1:8080",
		"https://[::1]:443/p":                             "https://[::1]",
		"https://updates.push.services.mozilla.com/wpush": "https://updates.push.services.mozilla.com",
		"not a url": "not a url",
	} {
		if got := originOf(in); got != want {
			t.Errorf("originOf(%q) = %q, want %q", in, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { originOf("https://fcm.googleapis.com/fcm/send/abc") }); n != 0 {
		t.Errorf("originOf allocates %v times for a plain endpoint", n)
	}
}

// The waiting list keeps its order across wrap-arounds and growth.
func TestFIFO(t *testing.T) {
	var q fifo
	next, want := 0, 0
	for round := range 50 {
		for range round * 7 % 150 {
			q.push(task{attempts: next})
			next++
		}
		for range round * 5 % 130 {
			if q.n == 0 {
				break
			}
			if got := q.pop().attempts; got != want {
				t.Fatalf("popped %d, want %d", got, want)
			}
			want++
		}
	}
	for i, tk := range q.take() {
		if tk.attempts != want+i {
			t.Fatalf("took %d at %d, want %d", tk.attempts, i, want+i)
		}
	}
	if q.n != 0 {
		t.Fatal("not empty after take")
	}
}

// lookup returns the gate's state of key (nil: none).
func (g *gate) lookup(key string) *origin {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.m[key]
}

// state reports an origin's breaker, pushes in flight and parked.
func (g *gate) state(key string) (open bool, inflight, parked int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if o := g.m[key]; o != nil {
		return o.open, o.inflight, o.waiting.n
	}
	return false, 0, 0
}
