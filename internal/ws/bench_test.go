package ws

import (
	"testing"

	"github.com/lesismal/nbio"

	"github.com/heraldhq/herald/internal/protocol"
)

// BenchmarkEnqueue10k is what a publisher pays per event for 10,000 poller
// connections: one frame appended to each pending buffer and each session
// queued on its flusher. The flushers' writes are not part of it (the
// flusher is drained without syscalls between iterations).
func BenchmarkEnqueue10k(b *testing.B) {
	const n = 10_000
	srv := &Server{cfg: Config{}}
	srv.cfg.setDefaults()
	srv.pendingMax = maxPending
	f := newFlusher()
	sessions := make([]*session, n)
	for i := range sessions {
		sessions[i] = &session{srv: srv, raw: &nbio.Conn{}, flusher: f}
	}
	frame := protocol.EncodeEvent("price", "ticker", `{"symbol":"HRLD","price":101.25,"ts":1764340000000}`)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for _, ss := range sessions {
			if err := ss.Queue(frame); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		f.mu.Lock()
		f.queue = f.queue[:0]
		f.mu.Unlock()
		for _, ss := range sessions {
			buf := ss.out
			ss.out, ss.queued = nil, false
			*buf = (*buf)[:0]
			outBufPool.Put(buf)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/subscriber")
}
