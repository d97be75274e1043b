package webhooks

import (
	"fmt"
	"testing"
	"time"
)

// TestBatching: events arriving within the window share requests of at most
// BatchMaxEvents, in order; time_ms is the first event's time.
func TestBatching(t *testing.T) {
	rcv := newReceiver(t, nil)
	cfg := fast(dbPath(t))
	cfg.BatchWindow = 300 * time.Millisecond
	cfg.BatchMaxEvents = 5
	h := run(t, cfg, store(t, app("1", hook(rcv.URL))))
	for i := range 12 {
		h.d.Observe(clientEvent("1", "private-c", i))
	}
	waitFor(t, "12 events", 5*time.Second, func() bool { return len(rcv.events(t)) == 12 })
	var sizes []int
	n := 0
	for _, r := range rcv.ok() {
		p := r.payload(t)
		sizes = append(sizes, len(p.Events))
		if want := t0 + int64(seqOf(t, p.Events[0])); p.TimeMS != want {
			t.Errorf("time_ms = %d, want first event's %d", p.TimeMS, want)
		}
		for _, e := range p.Events {
			if got := seqOf(t, e); got != n {
				t.Fatalf("event %d out of order: got %d", n, got)
			}
			n++
		}
		checkSigned(t, r)
	}
	if fmt.Sprint(sizes) != "[5 5 2]" {
		t.Errorf("request sizes %v, want [5 5 2]", sizes)
	}
}

// TestOrderPerChannel: many events over several channels arrive exactly
// once each and in per-channel order, across many batches.
func TestOrderPerChannel(t *testing.T) {
	rcv := newReceiver(t, nil)
	cfg := fast(dbPath(t))
	cfg.BatchMaxEvents = 37
	h := run(t, cfg, store(t, app("1", hook(rcv.URL, "client_event"))))
	const n = 3000
	for i := range n {
		h.d.Observe(clientEvent("1", fmt.Sprintf("private-%d", i%7), i))
		if i%500 == 0 {
			// Let the inbox drain now and then: this test is about order,
			// not about overflowing the inbox.
			waitFor(t, "accept", 5*time.Second, func() bool { return h.queued("1") == i+1 })
		}
	}
	waitFor(t, "all events", 20*time.Second, func() bool { return len(rcv.events(t)) >= n })
	last := map[string]int{}
	seen := map[int]bool{}
	for _, e := range rcv.events(t) {
		ch, s := e["channel"].(string), seqOf(t, e)
		if prev, ok := last[ch]; ok && s <= prev {
			t.Fatalf("%s: %d after %d", ch, s, prev)
		}
		last[ch] = s
		if seen[s] {
			t.Fatalf("event %d twice", s)
		}
		seen[s] = true
	}
	if len(seen) != n {
		t.Fatalf("%d of %d events", len(seen), n)
	}
	if len(rcv.ok()) < n/37 {
		t.Errorf("%d requests for %d events: not batched", len(rcv.ok()), n)
	}
}
