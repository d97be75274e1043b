package stats

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"

	"github.com/heraldhq/herald/internal/metrics"
)

// busyRegistry is the server's registry with 1,000 apps, each with the
// series a busy app has (webhooks included, with their latency histogram).
func busyRegistry(apps int) (*prometheus.Registry, *metrics.Metrics, *metrics.WebhookMetrics, []string) {
	reg, m, w := collectors()
	ids := make([]string, apps)
	for i := range ids {
		id := fmt.Sprint(100000 + i)
		ids[i] = id
		m.InitApp(id)
		m.Connections.WithLabelValues(id).Set(float64(i))
		m.ConnectionsTotal.WithLabelValues(id).Add(float64(i))
		m.MessagesSent.WithLabelValues(id).Add(1000)
		m.APIAppRequests.WithLabelValues(id, "2xx").Inc()
		m.APIAppRequests.WithLabelValues(id, "4xx").Inc()
		m.AuthFailures.WithLabelValues(id, metrics.AuthChannelSignature).Inc()
		m.SecretUses.WithLabelValues(id, "channel", "primary").Inc()
		w.Requests.WithLabelValues(id, "success").Inc()
		w.Delivered.WithLabelValues(id).Inc()
		w.Events.WithLabelValues(id, "queued").Inc()
		w.RequestDuration.WithLabelValues(id).Observe(0.1)
	}
	for _, code := range []string{"200", "400", "401", "404", "413", "429", "503"} {
		m.APIRequests.WithLabelValues("events", code).Inc()
	}
	return reg, m, w, ids
}

// BenchmarkSamplingPass1000Apps is what Run does every 10 s with 1,000
// busy apps: gather the registry, turn it into a Sample, record it. The
// sub-benchmarks split the cost.
func BenchmarkSamplingPass1000Apps(b *testing.B) {
	reg, m, w, ids := busyRegistry(1000)
	direct := Gatherer(m, w)
	s := open(b, Config{MaxApps: 1000}, hour0)
	sm := newSampler()
	sm.pass(gather(b, direct), hour0)
	at := hour0
	touch := func(i int) { // some activity between passes
		for j := 0; j < len(ids); j += 3 {
			m.MessagesSent.WithLabelValues(ids[j]).Add(float64(i % 7))
		}
	}

	b.Run("registry-gather", func(b *testing.B) {
		for b.Loop() {
			gather(b, reg)
		}
	})
	b.Run("gather", func(b *testing.B) {
		for b.Loop() {
			gather(b, direct)
		}
	})
	fams := gather(b, direct)
	b.Run("pass", func(b *testing.B) {
		for b.Loop() {
			sm.pass(fams, at)
		}
	})
	b.Run("record", func(b *testing.B) {
		smp := sm.pass(fams, at)
		for b.Loop() {
			at = at.Add(10 * time.Second)
			smp.Time = at
			s.Record(smp)
		}
	})
	b.Run("total", func(b *testing.B) {
		i := 0
		for b.Loop() {
			b.StopTimer()
			touch(i)
			i++
			at = at.Add(10 * time.Second)
			b.StartTimer()
			s.Record(sm.pass(gather(b, direct), at))
		}
	})
}

// BenchmarkSave1000Apps is one periodic save (a minute of samples) with
// 1,000 busy apps.
func BenchmarkSave1000Apps(b *testing.B) {
	_, m, w, ids := busyRegistry(1000)
	reg := Gatherer(m, w)
	s := open(b, Config{MaxApps: 1000, Path: filepath.Join(b.TempDir(), "stats.db")}, hour0)
	defer s.Close()
	sm := newSampler()
	sm.pass(gather(b, reg), hour0)
	at := hour0
	minute := func() {
		for range 6 {
			for _, id := range ids {
				m.MessagesSent.WithLabelValues(id).Add(float64(len(id)))
			}
			at = at.Add(10 * time.Second)
			s.clock.Set(at)
			s.Record(sm.pass(gather(b, reg), at))
		}
	}
	minute()
	if err := s.save(); err != nil { // the first save writes everything
		b.Fatal(err)
	}
	written := 0
	for b.Loop() {
		b.StopTimer()
		minute()
		written += encodedSince(s.Store)
		b.StartTimer()
		if err := s.save(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(written)/float64(b.N), "record-bytes/save")
	var size int64
	_ = s.db.View(func(tx *bolt.Tx) error { size = tx.Size(); return nil })
	b.ReportMetric(float64(size), "file-bytes")
}

// encodedSince is the size of the records the next save writes.
func encodedSince(s *Store) int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	now := s.now()
	n := 0
	for _, a := range s.apps {
		w := collect("x", a, now)
		for res := range numRes {
			for j := range w.keys[res] {
				n += len(w.keys[res][j]) + len(w.vals[res][j])
			}
		}
	}
	return n
}
