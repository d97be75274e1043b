package stats

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func conns(n float64) map[[2]string]float64 { return map[[2]string]float64{{"connections", ""}: n} }

// TestMaxAppsEviction: past MaxApps the least recently active app goes; an
// app with nothing but zeros is not added at all.
func TestMaxAppsEviction(t *testing.T) {
	s := open(t, Config{MaxApps: 3}, hour0)
	at := hour0
	step := func(apps map[string]map[[2]string]float64) {
		at = at.Add(10 * time.Second)
		s.Record(sample(at, apps))
	}
	step(map[string]map[[2]string]float64{"a": conns(1), "b": conns(1), "c": conns(1), "idle": conns(0)})
	step(map[string]map[[2]string]float64{"a": conns(0), "b": conns(2), "c": conns(3)}) // a goes idle
	step(map[string]map[[2]string]float64{"a": conns(0), "b": conns(0), "c": conns(3)}) // then b
	if got := s.Apps(); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("apps %v", got)
	}
	step(map[string]map[[2]string]float64{"d": conns(5)})
	if got := s.Apps(); !slices.Equal(got, []string{"b", "c", "d"}) {
		t.Fatalf("after d: apps %v, want a evicted", got)
	}
	step(map[string]map[[2]string]float64{"e": conns(5)})
	if got := s.Apps(); !slices.Equal(got, []string{"c", "d", "e"}) {
		t.Fatalf("after e: apps %v, want b evicted", got)
	}
	if got := testutil.ToFloat64(s.m.AppsEvicted); got != 2 {
		t.Errorf("evicted %v, want 2", got)
	}
	if s.Series("a", "connections", "", Res10s) != nil {
		t.Error("an evicted app still has points")
	}

	s.clock.Set(at)
	snap := s.Current("e")
	if snap.Values.Get("connections", "") != 5 || !snap.Active.Equal(at) || !snap.Time.Equal(at.Truncate(10*time.Second)) {
		t.Errorf("Current(e) = %+v", snap)
	}
	// c, d and e busy in the same interval as newcomer f: f waits.
	step(map[string]map[[2]string]float64{"c": conns(1), "d": conns(1), "e": conns(1), "f": conns(1)})
	if got := s.Apps(); !slices.Equal(got, []string{"c", "d", "e"}) || testutil.ToFloat64(s.m.AppsRefused) != 1 {
		t.Fatalf("apps %v, refused %v: want f refused", got, testutil.ToFloat64(s.m.AppsRefused))
	}
	// Once one of them is idle, f takes its place.
	step(map[string]map[[2]string]float64{"c": conns(1), "d": conns(0), "e": conns(1), "f": conns(1)})
	if got := s.Apps(); !slices.Equal(got, []string{"c", "e", "f"}) {
		t.Fatalf("apps %v, want d replaced by f", got)
	}
}

// TestIdleAppsPruned: an app without activity for 30 days is dropped.
func TestIdleAppsPruned(t *testing.T) {
	s := open(t, Config{}, hour0)
	s.Record(sample(hour0.Add(5*time.Second), map[string]map[[2]string]float64{"a": conns(1), "b": conns(1)}))
	at := hour0
	for range 30*24 + 2 {
		at = at.Add(time.Hour)
		s.Record(sample(at, map[string]map[[2]string]float64{"a": conns(0), "b": conns(1)}))
	}
	if got := s.Apps(); !slices.Equal(got, []string{"b"}) {
		t.Errorf("apps %v, want a pruned", got)
	}
}

// TestMemoryBounded: the accounted size of an app never exceeds the
// documented worst case, the heap agrees with the accounting, and the
// number of apps stays at MaxApps however many show up.
func TestMemoryBounded(t *testing.T) {
	const worstPerApp = 390_000 // doc.go: ~385 KB
	every := func(x float64) map[[2]string]float64 {
		m := map[[2]string]float64{}
		for _, info := range catalog {
			m[[2]string{info.Name, info.Label}] = x
		}
		return m
	}
	const apps = 100
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s := open(t, Config{MaxApps: apps}, hour0)
	at := hour0
	for i := range apps + 50 {
		at = at.Add(10 * time.Second)
		// Non-integers: every column allocated at 8 bytes a slot.
		s.Record(sample(at, map[string]map[[2]string]float64{fmt.Sprint("app", i): every(0.5)}))
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if got := len(s.Apps()); got != apps {
		t.Fatalf("%d apps kept, want %d", got, apps)
	}
	s.mu.RLock()
	total := 0
	for _, a := range s.apps {
		b := a.bytes()
		total += b
		if b > worstPerApp {
			t.Errorf("an app holds %d bytes, more than %d", b, worstPerApp)
		}
	}
	s.mu.RUnlock()
	heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("%d apps: %d bytes accounted (%d per app), heap grew by %d", apps, total, total/apps, heap)
	if heap > int64(total)*12/10+1<<20 {
		t.Errorf("heap grew by %d, the accounting says %d", heap, total)
	}

	// Small integers (most apps): 2 bytes a slot.
	s2 := open(t, Config{}, hour0)
	s2.Record(sample(hour0, map[string]map[[2]string]float64{"a": every(3)}))
	if b := s2.apps["a"].bytes(); b > 100_000 {
		t.Errorf("app with small values: %d bytes", b)
	}
}

// TestConcurrentUse records (with evictions) while querying and saving;
// run with -race.
func TestConcurrentUse(t *testing.T) {
	s := open(t, Config{MaxApps: 20, Path: filepath.Join(t.TempDir(), "stats.db")}, hour0)
	defer s.Close()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		defer close(stop)
		at := hour0
		for i := range 2000 {
			at = at.Add(10 * time.Second)
			s.clock.Set(at)
			apps := map[string]map[[2]string]float64{"": conns(float64(i))}
			for j := range 5 {
				apps[fmt.Sprint("app", (i+j)%40)] = map[[2]string]float64{{"connections", ""}: 1, {"deliveries", ""}: float64(i)}
			}
			s.Record(sample(at, apps))
		}
	})
	for range 3 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				for _, app := range append(s.Apps(), "") {
					for res := range numRes {
						pts := s.Series(app, "deliveries", "", res)
						for j := 1; j < len(pts); j++ {
							if !pts[j].Time.After(pts[j-1].Time) {
								t.Errorf("points out of order")
								return
							}
						}
					}
					_ = s.Current(app)
				}
			}
		})
	}
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := s.save(); err != nil {
				t.Error(err)
				return
			}
		}
	})
	wg.Wait()
}

// TestRun samples real collectors on a short Interval, saves, and the file
// has it after Close.
func TestRun(t *testing.T) {
	reg, m, _ := collectors()
	m.InitApp("1")
	path := filepath.Join(t.TempDir(), "stats.db")
	s, err := Open(Config{Path: path, Interval: 20 * time.Millisecond, SaveInterval: 50 * time.Millisecond},
		Deps{Gatherer: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	waitFor := func(what string, cond func() bool) {
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatal(what + " never showed up")
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	newConns := func(st *Store) float64 {
		sum := 0.0
		for _, p := range st.Series("1", "new_connections", "", Res1m) {
			sum += p.Sum
		}
		return sum
	}
	// The gauge shows in the first sample after the baseline; what is
	// counted after that is in the following samples.
	m.Connections.WithLabelValues("1").Set(4)
	waitFor("the gauge", func() bool { return s.Current("1").Values.Get("connections", "") == 4 })
	m.ConnectionsTotal.WithLabelValues("1").Add(4)
	waitFor("the counter", func() bool { return newConns(s) == 4 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(Config{Path: path}, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if got := newConns(s2); got != 4 {
		t.Errorf("new connections after reopen: %v, want 4", got)
	}
	if got := s2.Apps(); !slices.Equal(got, []string{"1"}) {
		t.Errorf("apps %v", got)
	}
}

// TestRunPublish: with Deps.Publish, Run hands its samples over instead of
// recording them (the cluster seam).
func TestRunPublish(t *testing.T) {
	reg, m, _ := collectors()
	m.InitApp("1")
	got := make(chan *Sample, 100)
	s, err := Open(Config{Interval: 20 * time.Millisecond}, Deps{Gatherer: reg, Publish: func(smp *Sample) { got <- smp }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	m.Connections.WithLabelValues("1").Set(3)
	timeout := time.After(10 * time.Second)
	for seen := false; !seen; {
		select {
		case smp := <-got:
			seen = smp.Apps["1"] != nil && smp.Apps["1"].Get("connections", "") == 3 && smp.Server.Get("connections", "") == 3
		case <-timeout:
			t.Fatal("no sample published")
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if apps := s.Apps(); len(apps) != 0 {
		t.Errorf("Run recorded samples it published: apps %v", apps)
	}
}
