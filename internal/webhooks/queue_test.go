package webhooks

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/hub"
)

// TestMaxQueueOverflow: with the store full, new events are dropped,
// counted, and warned about once (rate-limited), not once per event.
func TestMaxQueueOverflow(t *testing.T) {
	rcv := newReceiver(t, func(int, []byte) int { return http.StatusInternalServerError })
	cfg := fast(dbPath(t))
	cfg.MaxQueue = 10
	cfg.BatchMaxEvents = 1
	cfg.RetryWindow = time.Minute
	h := run(t, cfg, store(t, app("1", hook(rcv.URL))))
	const n = 30
	for i := range n {
		h.d.Observe(clientEvent("1", "private-c", i))
	}
	dropped := h.m.Dropped.WithLabelValues("1", "queue_full")
	waitFor(t, "every event accounted for", 5*time.Second, func() bool { return h.queued("1")+int(value(dropped)) == n })
	if q := h.queued("1"); q > cfg.MaxQueue {
		t.Errorf("%d stored, over max_queue %d", q, cfg.MaxQueue)
	}
	if value(dropped) < n-float64(cfg.MaxQueue) {
		t.Errorf("dropped = %v", value(dropped))
	}
	if got := value(h.m.Queue); got > float64(cfg.MaxQueue) {
		t.Errorf("queue gauge = %v", got)
	}
	logs := h.log.String()
	if c := strings.Count(logs, "webhook events dropped"); c != 1 {
		t.Errorf("%d drop warnings, want 1 (rate-limited):\n%s", c, logs)
	}
	if !strings.Contains(logs, "reason=queue_full") {
		t.Errorf("warning lacks the reason:\n%s", logs)
	}
}

// TestInboxFullDropsWithoutBlocking: Observe never blocks; when the writer
// is behind (here: not running yet) the overflow is counted and the loop
// warns once it runs.
func TestInboxFullDropsWithoutBlocking(t *testing.T) {
	rcv := newReceiver(t, nil)
	h := newDispatcher(t, fast(dbPath(t)), store(t, app("1", hook(rcv.URL))))
	h.d.ib.in = make(chan hub.Event, 4)
	start := time.Now()
	for i := range 10 {
		h.d.Observe(clientEvent("1", "private-c", i))
	}
	if el := time.Since(start); el > 100*time.Millisecond {
		t.Errorf("Observe took %v", el)
	}
	if got := value(h.m.Dropped.WithLabelValues("1", "inbox_full")); got != 6 {
		t.Errorf("inbox_full drops = %v, want 6", got)
	}
	h.start(t)
	waitFor(t, "the 4 accepted events", 5*time.Second, func() bool { return len(rcv.events(t)) == 4 })
	waitFor(t, "the warning", 5*time.Second, func() bool { return strings.Contains(h.log.String(), "dropped=6") })
}

// TestObserveAfterStop drops (and counts) instead of queueing forever.
func TestObserveAfterStop(t *testing.T) {
	h := run(t, fast(dbPath(t)), store(t, app("1", hook("http://127.0.0.1:1/"))))
	h.stop(t)
	h.d.Observe(occupied("1", "c"))
	if got := value(h.m.Dropped.WithLabelValues("1", "stopped")); got != 1 {
		t.Errorf("stopped drops = %v", got)
	}
}

func TestSecondOpenFailsInsteadOfHanging(t *testing.T) {
	path := dbPath(t)
	h := newDispatcher(t, fast(path), store(t))
	defer h.d.Close()
	start := time.Now()
	if _, err := New(fast(path), Deps{Apps: store(t)}); err == nil {
		t.Fatal("second New on a locked db succeeded")
	}
	if el := time.Since(start); el > 2*openTimeout {
		t.Errorf("took %v", el)
	}
}
