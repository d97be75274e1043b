package deliver

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/internal/beams/devices"
	"github.com/heraldhq/herald/internal/beams/instance"
	"github.com/heraldhq/herald/internal/beams/queue"
	"github.com/heraldhq/herald/internal/beams/webpush"
	"github.com/heraldhq/herald/internal/metrics"
)

// synthStore is a device store of n web devices on every interest, made
// up page by page as they are read: it holds none, so what a delivery
// holds in memory is the pipeline's alone. Its cursor is the last index.
type synthStore struct {
	devices.Store // other methods are not called
	n             int
	pad           string
}

func newSynthStore(n int) *synthStore {
	return &synthStore{n: n, pad: strings.Repeat("x", 150)}
}

func (s *synthStore) ByInterests(_ context.Context, instance string, _ []string, cursor string, limit int) ([]devices.Device, string, error) {
	from := 0
	if cursor != "" {
		i, err := strconv.Atoi(cursor)
		if err != nil {
			return nil, "", fmt.Errorf("%w: cursor %q", devices.ErrInvalid, cursor)
		}
		from = i + 1
	}
	to := min(from+limit, s.n)
	list := make([]devices.Device, 0, to-from)
	for i := from; i < to; i++ {
		// Sizes of a real subscription: token ~400 bytes, endpoint ~200.
		id := fmt.Sprintf("web-%08d", i)
		list = append(list, devices.Device{
			ID: id, Instance: instance, Platform: devices.Web,
			Token:    "eyJlbmRwb2ludCI6" + s.pad + s.pad + id,
			Endpoint: "https://fcm.googleapis.com/fcm/send/" + s.pad + id,
			P256dh:   "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM",
			Auth:     "tBHItJI5svbpez7KI4CCXg",
		})
	}
	next := ""
	if to < s.n {
		next = strconv.Itoa(to - 1)
	}
	return list, next, nil
}

func jobFor(id, body string) queue.Job {
	return queue.Job{PublishID: id, Instance: instID, Body: json.RawMessage(body), Accepted: time.Now()}
}

// instantWeb answers every push at once.
type instantWeb struct{ n atomic.Int64 }

func (w *instantWeb) Send(context.Context, webpush.Subscription, webpush.Message) webpush.Result {
	w.n.Add(1)
	return webpush.Result{Outcome: webpush.Delivered, Status: 201}
}

// deliverSynth delivers one publish to the synthetic store's devices and
// returns the peak HeapInuse seen during it, sampled every millisecond.
func deliverSynth(tb testing.TB, n int, publishes int) (peak uint64, elapsed time.Duration) {
	tb.Helper()
	q := newFakeQueue()
	web := &instantWeb{}
	key, err := webpush.NewVAPIDKey()
	if err != nil {
		tb.Fatal(err)
	}
	inst := &instance.Instance{ID: instID, VAPID: key, Web: web}
	_, stop := startPipeline(tb, Config{}, Deps{
		Queue: q, Devices: newSynthStore(n), Instances: instance.NewStatic(inst),
		Metrics: metrics.NewBeams(prometheus.NewRegistry()),
	})
	defer stop()

	done := make(chan struct{})
	sampled := make(chan uint64)
	go func() {
		var ms runtime.MemStats
		var top uint64
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			runtime.ReadMemStats(&ms)
			top = max(top, ms.HeapInuse)
			select {
			case <-done:
				sampled <- top
				return
			case <-tick.C:
			}
		}
	}()
	start := time.Now()
	for i := range publishes {
		id := fmt.Sprintf("pubid-synth-%d", i)
		q.Enqueue(context.Background(), jobFor(id, webBody))
		q.waitDone(tb, id)
	}
	elapsed = time.Since(start)
	close(done)
	peak = <-sampled
	if got := web.n.Load(); got != int64(n*publishes) {
		tb.Fatalf("%d pushes, want %d", got, n*publishes)
	}
	return peak, elapsed
}

// Delivering to an interest of 100,000 devices holds a page or two per
// job, not the interest: the heap stays far below what the devices would
// take (about 100 MB here).
func TestMemoryFlat100k(t *testing.T) {
	if testing.Short() {
		t.Skip("100,000 deliveries")
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	peak, elapsed := deliverSynth(t, 100_000, 1)
	t.Logf("100,000 devices in %v: HeapInuse %.1f MB before, peak %.1f MB during delivery",
		elapsed.Round(time.Millisecond), float64(base)/1e6, float64(peak)/1e6)
	if peak > base+40<<20 {
		t.Fatalf("HeapInuse peaked at %.1f MB (%.1f MB before): memory grows with the interest", float64(peak)/1e6, float64(base)/1e6)
	}
}

// BenchmarkDeliverInstant100k is the pipeline alone: an interest of
// 100,000 devices made up by the store, pushes answered at once.
func BenchmarkDeliverInstant100k(b *testing.B) {
	const n = 100_000
	var peak uint64
	var total time.Duration
	for b.Loop() {
		p, d := deliverSynth(b, n, 1)
		peak, total = max(peak, p), total+d
	}
	b.ReportMetric(float64(n*b.N)/total.Seconds(), "deliveries/s")
	b.ReportMetric(float64(peak)/1e6, "peak-heap-MB")
}
