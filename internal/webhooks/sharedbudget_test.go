package webhooks

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestSharedFailingAppKeepsOthersFlowing: one app's endpoint fails, its
// batches kept for the retry window; it holds only its share of MaxQueue,
// so another app's webhooks keep arriving at once.
func TestSharedFailingAppKeepsOthersFlowing(t *testing.T) {
	bad := newReceiver(t, func(int, []byte) int { return http.StatusServiceUnavailable })
	good := newReceiver(t, nil)
	s := store(t, app("1", hook(bad.URL)), keyed(app("2", hook(good.URL)), "key-2"))
	q := newFakeQueue(time.Hour)
	addEvents(q, "1", "private-c", 0, 300)
	cfg := fastShared()
	cfg.MaxQueue = 40
	cfg.BatchMaxEvents = 5
	cfg.RetryWindow = time.Minute
	h := runShared(t, cfg, s, q.node("a"))
	waitFor(t, "app 1 fails with what it holds", 5*time.Second, func() bool {
		return len(bad.requests()) >= 3 && value(h.m.Queue) >= 15
	})

	const n = 30
	addEvents(q, "2", "private-c", 0, n)
	waitFor(t, "app 2's events", 2*time.Second, func() bool { got, _ := distinct(t, good); return got == n })
	checkOrder(t, good)
	if got := value(h.m.Queue); got > float64(cfg.MaxQueue) {
		t.Errorf("queue gauge %v over max_queue %d", got, cfg.MaxQueue)
	}
	if got, share := q.maxOutstandingOf("1"), cfg.MaxQueue/2+cfg.BatchMaxEvents; got > share {
		t.Errorf("app 1 had %d entries read and unacked, over its share", got)
	}
	if got := value(h.m.QueuesHeld.WithLabelValues()); got != 2 {
		t.Errorf("queues held = %v, want 2", got)
	}
	if got := value(h.m.QueueEntriesRead.WithLabelValues("2")); got != n {
		t.Errorf("entries read of app 2 = %v, want %d", got, n)
	}
}

// TestSharedMaxQueueCountsEndpoints: an entry becomes one record per
// endpoint; with every endpoint failing the records in memory stay within
// MaxQueue.
func TestSharedMaxQueueCountsEndpoints(t *testing.T) {
	var down atomic.Bool
	down.Store(true)
	r1, r2, r3 := failingReceiver(t, &down), failingReceiver(t, &down), failingReceiver(t, &down)
	s := store(t, app("1", hook(r1.URL), hook(r2.URL), hook(r3.URL)))
	q := newFakeQueue(time.Hour)
	const n = 60
	addEvents(q, "1", "private-c", 0, n)
	cfg := fastShared()
	cfg.MaxQueue = 30
	cfg.BatchMaxEvents = 1
	h := runShared(t, cfg, s, q.node("a"))
	most := 0.0
	waitFor(t, "failed attempts", 5*time.Second, func() bool {
		most = max(most, value(h.m.Queue))
		return len(r1.requests()) >= 5 && len(r3.requests()) >= 5
	})
	for range 20 {
		most = max(most, value(h.m.Queue))
		time.Sleep(cfg.PollEvery)
	}
	if most > float64(cfg.MaxQueue) {
		t.Errorf("%v records in memory, over max_queue %d", most, cfg.MaxQueue)
	}
	down.Store(false)
	for _, r := range []*receiver{r1, r2, r3} {
		waitFor(t, "every event", 10*time.Second, func() bool { got, _ := distinct(t, r); return got == n })
		checkOrder(t, r)
	}
	waitFor(t, "every entry acked", 5*time.Second, func() bool { return q.len() == 0 })
}

// TestSharedAckBacklogPausesReading: while acks fail, reading stops once
// too many wait (instead of delivering on and dropping them, which would
// leave delivered entries behind for the next holder); when acks get
// through again everything is delivered once and acked.
func TestSharedAckBacklogPausesReading(t *testing.T) {
	rcv := newReceiver(t, nil)
	s := store(t, app("1", hook(rcv.URL)))
	q := newFakeQueue(time.Hour)
	const n = 60
	addEvents(q, "1", "private-c", 0, n)
	cfg := fastShared()
	cfg.MaxQueue = 10
	cfg.BatchMaxEvents = 1 // records are entries: at most MaxQueue in memory
	cfg.maxAcks = 5
	q.failAcks("a", true)
	h := runShared(t, cfg, s, q.node("a"))
	waitFor(t, "the pause", 5*time.Second, func() bool { return strings.Contains(h.log.String(), "webhook queue reads paused") })
	claims := q.claimCount("a")
	waitFor(t, "more claims", 5*time.Second, func() bool { return q.claimCount("a") >= claims+10 })
	if got, _ := distinct(t, rcv); got > cfg.maxAcks+cfg.MaxQueue {
		t.Fatalf("%d events delivered while acks failed, bound %d", got, cfg.maxAcks+cfg.MaxQueue)
	}
	q.failAcks("a", false)
	waitFor(t, "every event", 5*time.Second, func() bool { got, _ := distinct(t, rcv); return got == n })
	waitFor(t, "every entry acked", 5*time.Second, func() bool { return q.len() == 0 })
	if _, dup := distinct(t, rcv); dup != 0 {
		t.Errorf("%d duplicates", dup)
	}
	checkOrder(t, rcv)
	if logs := h.log.String(); !strings.Contains(logs, "webhook queue reads resumed") {
		t.Errorf("no resume line:\n%s", logs)
	}
}
