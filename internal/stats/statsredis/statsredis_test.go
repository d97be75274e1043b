package statsredis_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/rueidis"

	"github.com/heraldhq/herald/internal/metrics"
	"github.com/heraldhq/herald/internal/redistest"
	"github.com/heraldhq/herald/internal/stats"
	"github.com/heraldhq/herald/internal/stats/statsredis"
	"github.com/heraldhq/herald/internal/testlog"
)

const iv = 10 * time.Second

// t0 is an interval boundary.
var t0 = time.Unix(1_700_000_000-1_700_000_000%86400, 0)

// mid is the middle of the k-th interval after t0: where the stores sample
// and Run ticks.
func mid(k int) time.Time { return t0.Add(time.Duration(k)*iv + iv/2) }

// node is one cluster node's half: its aggregator and its store.
type node struct {
	agg   *statsredis.Aggregator
	store *stats.Store
	logs  *testlog.Buffer
	m     *metrics.StatsClusterMetrics
}

func newNode(t testing.TB, c rueidis.Client, prefix, name string, now func() time.Time) *node {
	t.Helper()
	n := &node{logs: &testlog.Buffer{}, m: metrics.NewStatsCluster(prometheus.NewRegistry())}
	log := slog.New(slog.NewTextHandler(n.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var err error
	n.agg, err = statsredis.New(statsredis.Config{Prefix: prefix, Node: name, Interval: iv, CommandTimeout: 500 * time.Millisecond},
		statsredis.Deps{Client: c, Logger: log, Metrics: n.m, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	n.store, err = stats.Open(stats.Config{}, stats.Deps{Publish: n.agg.Publish, Logger: log, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		n.store.Close()
		if t.Failed() {
			t.Logf("log of %s:\n%s", name, n.logs.String())
		}
	})
	return n
}

// publish publishes and writes a sample of interval k: conns connections
// and, per app, that many API messages.
func (n *node) publish(t testing.TB, k int, conns float64, msgs map[string]float64) {
	t.Helper()
	smp := &stats.Sample{Time: mid(k), Apps: map[string]*stats.Values{}}
	smp.Server.Set("connections", "", conns)
	for id, x := range msgs {
		v := new(stats.Values)
		v.Set("api_messages", "", x)
		smp.Apps[id] = v
		smp.Server.Add(v)
	}
	n.agg.Publish(smp)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n.agg.Flush(ctx)
}

// tick runs the aggregation Run does at the middle of interval k.
func (n *node) tick(k int) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n.agg.Aggregate(ctx, n.store, mid(k))
}

// points is what the store holds of app's series (app "" is the server),
// as interval number -> value (a gauge's latest, a counter's sum).
func (n *node) points(app, series string) map[int]float64 {
	out := map[int]float64{}
	for _, p := range n.store.Series(app, series, "", stats.Res10s) {
		k := int(p.Time.Sub(t0) / iv)
		if series == "connections" {
			out[k] = p.Last
		} else {
			out[k] = p.Sum
		}
	}
	return out
}

func wantPoints(t *testing.T, n *node, who, app, series string, want map[int]float64) {
	t.Helper()
	got := n.points(app, series)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s: %s of %q: %v, want %v", who, series, app, got, want)
	}
}

func fixed(t time.Time) func() time.Time { return func() time.Time { return t } }

// TestTwoNodesRecordTheSum: two nodes publish their samples of the same
// intervals; each records, in its own store, the sum over both, for the
// server (connections add up) and per app (an app on one node only too).
func TestTwoNodesRecordTheSum(t *testing.T) {
	c := redistest.NewClient(t, redistest.Start(t).URL())
	prefix, now := redistest.NewPrefix(), fixed(mid(10))
	a, b := newNode(t, c, prefix, "node-a", now), newNode(t, c, prefix, "node-b", now)
	for k := range 3 {
		a.publish(t, k, 10+float64(k), map[string]float64{"1": 5, "2": 1})
		b.publish(t, k, 20, map[string]float64{"1": 7})
		a.tick(k + 1)
		b.tick(k + 1)
	}
	for _, n := range []struct {
		name string
		*node
	}{{"a", a}, {"b", b}} {
		wantPoints(t, n.node, n.name, "", "connections", map[int]float64{0: 30, 1: 31, 2: 32})
		wantPoints(t, n.node, n.name, "", "api_messages", map[int]float64{0: 13, 1: 13, 2: 13})
		wantPoints(t, n.node, n.name, "1", "api_messages", map[int]float64{0: 12, 1: 12, 2: 12})
		wantPoints(t, n.node, n.name, "2", "api_messages", map[int]float64{0: 1, 1: 1, 2: 1})
		if got := testutil.ToFloat64(n.m.Intervals); got != 3 {
			t.Errorf("%s: %v intervals counted, want 3", n.name, got)
		}
		if got := testutil.ToFloat64(n.m.Nodes); got != 2 {
			t.Errorf("%s: nodes gauge %v, want 2", n.name, got)
		}
	}
	// The interval's hash expires.
	ctx := context.Background()
	if ttl, err := c.Do(ctx, c.B().Pttl().Key(a.agg.Key(mid(0))).Build()).AsInt64(); err != nil || ttl <= 0 || ttl > 2*60*1000 {
		t.Errorf("PTTL of the interval's hash: %d %v", ttl, err)
	}
}

// TestSameIntervalMerged: two samples of one interval from one node (a
// sampling tick delayed past the middle of the next interval) add up, as
// a single node's rings add them, whether or not the first was written.
func TestSameIntervalMerged(t *testing.T) {
	c := redistest.NewClient(t, redistest.Start(t).URL())
	prefix, now := redistest.NewPrefix(), fixed(mid(10))
	a, b := newNode(t, c, prefix, "node-a", now), newNode(t, c, prefix, "node-b", now)
	a.publish(t, 0, 10, map[string]float64{"1": 5}) // written
	a.publish(t, 0, 11, map[string]float64{"1": 2}) // merged into the written one
	smp := &stats.Sample{Time: mid(1).Add(-iv / 4), Apps: map[string]*stats.Values{"1": {}}}
	smp.Apps["1"].Set("api_messages", "", 3)
	a.agg.Publish(smp)                             // pending...
	a.publish(t, 1, 0, map[string]float64{"1": 4}) // ...and merged before the write
	b.tick(1)
	b.tick(2)
	wantPoints(t, b, "b", "1", "api_messages", map[int]float64{0: 7, 1: 7})
	// A gauge takes the later sample's value, as in a single node's rings.
	wantPoints(t, b, "b", "", "connections", map[int]float64{0: 11, 1: 0})
}

// TestNodeMissing: an interval one node did not publish holds the other's
// values only; a sample written after a node read the interval is missed
// by that node (and read by one that reads later); an interval nobody
// published is a gap.
func TestNodeMissing(t *testing.T) {
	c := redistest.NewClient(t, redistest.Start(t).URL())
	prefix, now := redistest.NewPrefix(), fixed(mid(10))
	a, b := newNode(t, c, prefix, "node-a", now), newNode(t, c, prefix, "node-b", now)

	a.publish(t, 0, 1, nil)
	b.publish(t, 0, 2, nil)
	a.tick(1)
	b.tick(1)

	a.publish(t, 1, 1, nil) // b is down for interval 1
	a.tick(2)
	b.tick(2)

	a.publish(t, 2, 1, nil)
	a.tick(3)               // a reads interval 2 before b's sample arrives...
	b.publish(t, 2, 2, nil) // ...which b writes late
	b.tick(3)

	a.tick(4) // nobody published interval 3
	b.tick(4)

	a.publish(t, 4, 1, nil)
	b.publish(t, 4, 2, nil)
	a.tick(5)
	b.tick(5)
	a.tick(5) // twice: recorded once

	wantPoints(t, a, "a", "", "connections", map[int]float64{0: 3, 1: 1, 2: 1, 4: 3})
	wantPoints(t, b, "b", "", "connections", map[int]float64{0: 3, 1: 1, 2: 3, 4: 3})
}

// TestRecordedOnce: a tick that comes early, twice or late records every
// interval once (a counter recorded twice would double), in order; a tick
// later than maxCatchUp intervals leaves the older ones out.
func TestRecordedOnce(t *testing.T) {
	c := redistest.NewClient(t, redistest.Start(t).URL())
	a := newNode(t, c, redistest.NewPrefix(), "node-a", fixed(mid(30)))
	for k := range 20 {
		a.publish(t, k, 1, map[string]float64{"1": float64(k + 1)})
	}
	a.tick(1)
	a.agg.Aggregate(context.Background(), a.store, mid(1).Add(4*time.Second))  // same interval, later
	a.agg.Aggregate(context.Background(), a.store, mid(2).Add(-4*time.Second)) // the next one, early
	a.tick(4)                                                                  // late: 1 and 2 are read too
	a.tick(20)                                                                 // very late: 14 to 19 only
	want := map[int]float64{0: 1, 1: 2, 2: 3, 3: 4}
	for k := 14; k <= 19; k++ {
		want[k] = float64(k + 1)
	}
	wantPoints(t, a, "a", "1", "api_messages", want)
	if got := testutil.ToFloat64(a.m.Intervals); got != 10 {
		t.Errorf("%v intervals counted, want 10", got)
	}
}

// TestRedisDown: with Redis gone nothing panics or blocks, the intervals
// are gaps, the failure is logged once per streak and counted; once Redis
// is back (empty) the next intervals are recorded again.
func TestRedisDown(t *testing.T) {
	rdb := redistest.Start(t)
	c := redistest.NewClient(t, rdb.URL())
	a := newNode(t, c, redistest.NewPrefix(), "node-a", fixed(mid(30)))
	a.publish(t, 0, 1, nil)
	a.tick(1)

	rdb.Kill()
	for k := 1; k <= 3; k++ {
		start := time.Now()
		a.publish(t, k, 5, nil)
		a.tick(k + 1)
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("a publish and a read took %v with Redis down", d)
		}
	}
	logs := a.logs.String()
	if n := strings.Count(logs, "Redis call failed"); n != 2 { // one per operation
		t.Errorf("%d failure logs for 3 failing intervals, want 2 (once per streak and operation):\n%s", n, logs)
	}
	if got := testutil.ToFloat64(a.m.Errors.WithLabelValues("publish")); got != 3 {
		t.Errorf("%v publish errors, want 3", got)
	}
	if got := testutil.ToFloat64(a.m.Errors.WithLabelValues("read")); got != 3 {
		t.Errorf("%v read errors, want 3", got)
	}

	rdb.Restart()
	deadline := time.Now().Add(10 * time.Second)
	for k := 4; len(a.points("", "connections")) < 2; k++ { // rueidis reconnects on its own
		if time.Now().After(deadline) {
			t.Fatalf("nothing recorded within 10s of Redis coming back: %v", a.points("", "connections"))
		}
		a.publish(t, k, 7, nil)
		a.tick(k + 1)
		time.Sleep(50 * time.Millisecond)
	}
	got := a.points("", "connections")
	for k, v := range got {
		if k != 0 && (k < 4 || v != 7) {
			t.Fatalf("after the outage: %v, want interval 0 and then 7 from interval 4 on", got)
		}
	}
	if !strings.Contains(a.logs.String(), "Redis calls work again") {
		t.Errorf("no recovery log:\n%s", a.logs.String())
	}
}

// TestRedisHung: Publish never waits for Redis, and a write or read to a
// Redis that does not answer gives up within the command timeout.
func TestRedisHung(t *testing.T) {
	rdb := redistest.Start(t)
	c := redistest.NewClient(t, rdb.URL())
	a := newNode(t, c, redistest.NewPrefix(), "node-a", fixed(mid(30)))
	a.publish(t, 0, 1, nil) // connected
	rdb.Pause()
	defer rdb.Resume()
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.publish(t, 1, 1, nil)
		a.tick(2)
	}()
	start := time.Now()
	for k := range 100 { // meanwhile: never blocks, keeps a bounded backlog
		smp := &stats.Sample{Time: mid(2 + k)}
		a.agg.Publish(smp)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("100 publishes took %v with Redis hung", d)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a write and a read to a hung Redis did not give up within 5s")
	}
}

// TestBadSamplesSkipped: garbage in an interval's hash, and a sample of
// another interval, are skipped, counted and logged (once); the good
// samples are summed.
func TestBadSamplesSkipped(t *testing.T) {
	c := redistest.NewClient(t, redistest.Start(t).URL())
	prefix := redistest.NewPrefix()
	a := newNode(t, c, prefix, "node-a", fixed(mid(30)))
	a.publish(t, 0, 1, nil)
	ctx := context.Background()
	other, _ := (&stats.Sample{Time: mid(5)}).MarshalBinary()
	key := a.agg.Key(mid(0))
	if err := c.Do(ctx, c.B().Hset().Key(key).FieldValue().FieldValue("evil", "garbage").FieldValue("late", string(other)).Build()).Error(); err != nil {
		t.Fatal(err)
	}
	a.tick(1)
	wantPoints(t, a, "a", "", "connections", map[int]float64{0: 1})
	if got := testutil.ToFloat64(a.m.BadSamples); got != 2 {
		t.Errorf("%v bad samples counted, want 2", got)
	}
	if got := testutil.ToFloat64(a.m.Nodes); got != 1 {
		t.Errorf("nodes gauge %v, want 1", got)
	}
	logs := a.logs.String()
	if n := strings.Count(logs, "could not be read"); n != 1 || !strings.Contains(logs, "from_node=evil") {
		t.Errorf("want one log naming the first bad node (rate-limited):\n%s", logs)
	}
}

func TestNewRefuses(t *testing.T) {
	if _, err := statsredis.New(statsredis.Config{}, statsredis.Deps{Client: redistest.NewClient(t, redistest.Start(t).URL())}); err == nil {
		t.Error("no node id: built")
	}
	if _, err := statsredis.New(statsredis.Config{Node: "a"}, statsredis.Deps{}); err == nil {
		t.Error("no client: built")
	}
}

// TestRunTwoNodes: two stores sampling real collectors every 200 ms, each
// publishing through its aggregator's Run: both record the cluster's
// connections (3 + 4).
func TestRunTwoNodes(t *testing.T) {
	c := redistest.NewClient(t, redistest.Start(t).URL())
	prefix := redistest.NewPrefix()
	const fast = 200 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	var stores, recording []*stats.Store
	var done []chan error
	// Node 2 has no dashboard: it publishes only (Run with a nil Recorder),
	// and still counts in the others' sums.
	for i, conns := range []float64{3, 4, 5} {
		reg := prometheus.NewRegistry()
		g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "herald_connections", Help: "h"}, []string{"app_id"})
		reg.MustRegister(g)
		g.WithLabelValues("1").Set(conns)
		logs := &testlog.Buffer{}
		log := slog.New(slog.NewTextHandler(logs, nil))
		agg, err := statsredis.New(statsredis.Config{Prefix: prefix, Node: fmt.Sprint("node-", i), Interval: fast}, statsredis.Deps{Client: c, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		st, err := stats.Open(stats.Config{Interval: fast}, stats.Deps{Gatherer: reg, Publish: agg.Publish, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		stores = append(stores, st)
		var rec statsredis.Recorder
		if i < 2 {
			rec = st
			recording = append(recording, st)
		}
		for _, run := range []func() error{
			func() error { return agg.Run(ctx, rec) },
			func() error { return st.Run(ctx) },
		} {
			ch := make(chan error, 1)
			done = append(done, ch)
			go func() { ch <- run() }()
		}
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("log of node %d:\n%s", i, logs.String())
			}
		})
	}
	defer func() {
		cancel()
		for _, ch := range done {
			select {
			case <-ch:
			case <-time.After(5 * time.Second):
				t.Error("Run did not return within 5s of the end")
			}
		}
		for _, st := range stores {
			st.Close()
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for _, st := range recording {
		for st.Current("").Values.Get("connections", "") != 12 || st.Current("1").Values.Get("connections", "") != 12 {
			if time.Now().After(deadline) {
				t.Fatalf("connections %v (server) %v (app), want 12: the sum of the three nodes",
					st.Current("").Values.Get("connections", ""), st.Current("1").Values.Get("connections", ""))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// TestOnRedisCluster: the intervals' hashes spread over a Redis Cluster's
// shards; writes and reads of several intervals in one call still work.
func TestOnRedisCluster(t *testing.T) {
	c := redistest.NewClient(t, redistest.StartCluster(t, 3).URL())
	prefix, now := redistest.NewPrefix(), fixed(mid(30))
	a, b := newNode(t, c, prefix, "node-a", now), newNode(t, c, prefix, "node-b", now)
	for k := range 6 {
		a.publish(t, k, 1, nil)
		b.publish(t, k, 2, nil)
	}
	a.tick(1)
	a.tick(6) // reads 1 to 5 in one call
	wantPoints(t, a, "a", "", "connections", map[int]float64{0: 3, 1: 3, 2: 3, 3: 3, 4: 3, 5: 3})
}
