package webhooks

import (
	"net/http"
	"testing"
	"time"
)

// BenchmarkObservePersist measures accepted (committed to bbolt, fsync
// included) events per second: b.N client events observed, timed until the
// last one is committed. The receiver answers 503 and retries are slow, so
// delivery does not compete with the writer.
func BenchmarkObservePersist(b *testing.B) {
	rcv := newReceiver(b, func(int, []byte) int { return http.StatusServiceUnavailable })
	cfg := fast(dbPath(b))
	cfg.MaxQueue = 10_000_000
	cfg.BatchWindow = time.Hour // events stay event records: the pure write path
	cfg.backoffBase = time.Hour
	h := run(b, cfg, store(b, app("1", hook(rcv.URL))))
	ev := clientEvent("1", "private-c", 1)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		for len(h.d.ib.in) > inboxSize/2 { // stay under the inbox bound: measure the writer, not drops
			time.Sleep(50 * time.Microsecond)
		}
		h.d.Observe(ev)
	}
	deadline := time.Now().Add(time.Minute)
	for h.queued("1") < b.N {
		if time.Now().After(deadline) || value(h.m.Dropped.WithLabelValues("1", "inbox_full")) > 0 {
			b.Fatalf("%d of %d committed", h.queued("1"), b.N)
		}
		time.Sleep(100 * time.Microsecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}

// BenchmarkObserve is the hub-side cost: one non-blocking channel send.
func BenchmarkObserve(b *testing.B) {
	h := newDispatcher(b, fast(dbPath(b)), store(b, app("1", hook("http://127.0.0.1:1/"))))
	defer h.d.Close()
	ev := clientEvent("1", "private-c", 1)
	b.ReportAllocs()
	for b.Loop() {
		h.d.Observe(ev)
		select {
		case <-h.d.ib.in:
		default:
		}
	}
}
