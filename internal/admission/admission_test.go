package admission

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func value(c prometheus.Counter) float64 {
	var m dto.Metric
	_ = c.Write(&m)
	return m.GetCounter().GetValue()
}

func newGate(t *testing.T, cfg Config) (*Gate, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	g := New(cfg, slog.New(slog.NewTextHandler(&buf, nil)), prometheus.NewRegistry())
	return g, &buf
}

func TestMaxConnections(t *testing.T) {
	g, _ := newGate(t, Config{MaxConnections: 3})
	for i := range 3 {
		if ok, reason := g.Connection(); !ok {
			t.Fatalf("connection %d refused: %s", i, reason)
		}
	}
	if ok, reason := g.Connection(); ok || reason != ReasonMaxConnections {
		t.Fatalf("4th connection: %v %q, want refused for max_connections", ok, reason)
	}
	if g.Open() != 3 {
		t.Fatalf("open %d after a refusal, want 3", g.Open())
	}
	g.Closed()
	if ok, _ := g.Connection(); !ok {
		t.Fatal("refused after one closed")
	}
	if v := value(g.m.refused.WithLabelValues("connection", ReasonMaxConnections)); v != 1 {
		t.Fatalf("refusals counted %v, want 1", v)
	}
	var nilGate *Gate
	if ok, _ := nilGate.Connection(); !ok {
		t.Fatal("a nil gate admits everything")
	}
	if ok, _ := nilGate.Publish(); !ok {
		t.Fatal("a nil gate admits everything")
	}
}

// TestMemoryHysteresis: refusing starts at 90% of the limit and stops
// under 80%, with one log line at each change.
func TestMemoryHysteresis(t *testing.T) {
	g, logs := newGate(t, Config{MaxMemoryBytes: 1000})
	var used uint64
	g.sample = func() uint64 { return used }
	now := time.Now()
	step := func(u uint64) {
		used = u
		now = now.Add(time.Second)
		g.step(now)
	}
	step(500)
	if ok, _ := g.Publish(); !ok {
		t.Fatal("refused at 50%")
	}
	step(950)
	if ok, reason := g.Publish(); ok || reason != ReasonMemory {
		t.Fatalf("publish at 95%%: %v %q, want refused", ok, reason)
	}
	if ok, reason := g.Connection(); ok || reason != ReasonMemory {
		t.Fatalf("connection at 95%%: %v %q, want refused", ok, reason)
	}
	step(850) // between the marks: still refusing
	if ok, _ := g.Publish(); ok {
		t.Fatal("accepting at 85% after refusing: want hysteresis down to 80%")
	}
	step(700)
	if ok, _ := g.Publish(); !ok {
		t.Fatal("still refusing at 70%")
	}
	if ok, _ := g.Connection(); !ok {
		t.Fatal("connection refused at 70%")
	}
	out := logs.String()
	if strings.Count(out, "memory near the limit") != 1 || strings.Count(out, "memory back under the limit") != 1 {
		t.Fatalf("want one line when refusing starts and one when it stops:\n%s", out)
	}
	if v := value(g.m.refused.WithLabelValues("publish", ReasonMemory)); v != 2 {
		t.Fatalf("publish refusals %v, want 2", v)
	}
}

// TestFreeAfterDrop: memory is returned to the OS once after the
// connection count has fallen to half its peak and stayed there, not on
// small drops, and not more often than FreeEvery.
func TestFreeAfterDrop(t *testing.T) {
	g, logs := newGate(t, Config{FreeMinDrop: 1000, FreeEvery: time.Minute})
	now := time.Now()
	step := func(conns int64, d time.Duration) {
		g.conns.Store(conns)
		now = now.Add(d)
		g.step(now)
	}
	frees := func() float64 { return value(g.m.frees) }
	step(20_000, time.Second)
	step(15_000, time.Second) // a quarter gone: not yet
	step(15_000, 5*time.Second)
	if frees() != 0 {
		t.Fatal("memory returned after a small drop")
	}
	step(500, time.Second) // the drop is seen
	if frees() != 0 {
		t.Fatal("memory returned before the drop settled")
	}
	step(500, 3*time.Second)
	if frees() != 1 {
		t.Fatalf("returns %v after the drop settled, want 1", frees())
	}
	if !strings.Contains(logs.String(), "returned memory to the OS") {
		t.Fatalf("no report:\n%s", logs.String())
	}
	step(5000, time.Second)
	step(100, time.Second)
	step(100, 3*time.Second)
	if frees() != 1 {
		t.Fatal("returned again within FreeEvery")
	}
	step(100, time.Minute)
	if frees() != 2 {
		t.Fatalf("returns %v after FreeEvery, want 2", frees())
	}
}
