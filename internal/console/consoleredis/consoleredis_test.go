package consoleredis_test

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

	"github.com/heraldhq/herald/internal/console"
	"github.com/heraldhq/herald/internal/console/consoleredis"
	"github.com/heraldhq/herald/internal/metrics"
	"github.com/heraldhq/herald/internal/redistest"
	"github.com/heraldhq/herald/internal/testlog"
)

const (
	poll = 50 * time.Millisecond
	ttl  = 300 * time.Millisecond
	wait = 10 * time.Second // bound of every wait
)

// node is one cluster node's console: its feed and its bridge, running.
type node struct {
	name   string
	feed   *console.Feed
	bridge *consoleredis.Bridge
	m      *metrics.ConsoleClusterMetrics
	logs   *testlog.Buffer
}

func newNode(t *testing.T, c rueidis.Client, prefix, name string, cfg consoleredis.Config) *node {
	t.Helper()
	n := &node{name: name, m: metrics.NewConsoleCluster(prometheus.NewRegistry()), logs: &testlog.Buffer{}}
	cfg.Prefix, cfg.Node = prefix, name
	if cfg.PollEvery == 0 {
		cfg.PollEvery, cfg.TTL = poll, ttl
	}
	b, err := consoleredis.New(cfg, consoleredis.Deps{Client: c, Metrics: n.m,
		Logger: slog.New(slog.NewTextHandler(n.logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	n.bridge = b
	n.feed = console.New(console.Config{Node: name}, console.Deps{Forward: b.Forward})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx, n.feed) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(wait):
			t.Errorf("node %s: Run did not return", name)
		}
		n.feed.Close()
	})
	return n
}

func (n *node) watch(t *testing.T, app string, f console.Filter) (*console.Viewer, func()) {
	t.Helper()
	v, cancel, err := n.feed.Watch(app, f)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cancel)
	return v, cancel
}

// eventually polls cond until it holds, failing after wait.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(wait); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", wait, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// next is v's next event, failing after wait.
func next(t *testing.T, v *console.Viewer) console.Event {
	t.Helper()
	select {
	case e := <-v.Events():
		return e
	case <-time.After(wait):
		t.Fatalf("no event after %s", wait)
		return console.Event{}
	}
}

// collect is what v gets within d.
func collect(v *console.Viewer, d time.Duration) []console.Event {
	var out []console.Event
	timer := time.After(d)
	for {
		select {
		case e := <-v.Events():
			out = append(out, e)
		case <-timer:
			return out
		}
	}
}

// drain empties v's buffer.
func drain(v *console.Viewer) {
	for {
		select {
		case <-v.Events():
		default:
			return
		}
	}
}

// emitUntilSeen emits e on from until v gets an event of e's socket id
// (the viewer's node subscribes asynchronously: earlier ones are lost).
func emitUntilSeen(t *testing.T, from *node, app string, e console.Event, v *console.Viewer) console.Event {
	t.Helper()
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		from.feed.Emit(app, e)
		for _, got := range collect(v, 50*time.Millisecond) {
			if got.SocketID == e.SocketID {
				return got
			}
		}
	}
	t.Fatalf("node %s's event never reached the viewer", from.name)
	return console.Event{}
}

func TestTwoNodes(t *testing.T) {
	srv := redistest.Start(t)
	testTwoNodes(t, redistest.NewClient(t, srv.URL()))
}

// TestTwoNodesRedisCluster: the app's topic lives on its slot.
func TestTwoNodesRedisCluster(t *testing.T) {
	cl := redistest.StartCluster(t, 3)
	testTwoNodes(t, redistest.NewClient(t, cl.URL()))
}

func testTwoNodes(t *testing.T, c rueidis.Client) {
	prefix := redistest.NewPrefix()
	a := newNode(t, c, prefix, "a", consoleredis.Config{})
	b := newNode(t, c, prefix, "b", consoleredis.Config{})

	if b.feed.Watching("1") {
		t.Fatal("node b watches app 1 before any viewer")
	}
	va, _ := a.watch(t, "1", console.Filter{})
	eventually(t, "node b learns that node a watches app 1", func() bool { return b.feed.Watching("1") })
	if b.feed.Watching("2") {
		t.Fatal("node b watches app 2, which nobody watches")
	}

	got := emitUntilSeen(t, b, "1", console.Event{Type: console.ConnectionOpened, SocketID: "2.1"}, va)
	if got.Node != "b" || got.Type != console.ConnectionOpened || got.Time.IsZero() {
		t.Fatalf("viewer on a got %+v, want node b's connection_opened", got)
	}

	// Node b watches app 1 too: node a forwards its own events, and must
	// not show them twice when they come back from Redis.
	vb, _ := b.watch(t, "1", console.Filter{Types: console.TypesOf(console.Subscribed)})
	eventually(t, "node a learns that node b watches app 1", func() bool {
		return testutil.ToFloat64(a.m.RemoteApps) == 1
	})
	emitUntilSeen(t, a, "1", console.Event{Type: console.Subscribed, SocketID: "1.1", Channel: "c"}, vb)

	// Exactly once, in isolation: one more Emit on a.
	received := testutil.ToFloat64(a.m.Received)
	a.feed.Emit("1", console.Event{Type: console.Subscribed, SocketID: "1.2", Channel: "c"})
	e := next(t, vb)
	for e.SocketID == "1.1" { // a late copy of emitUntilSeen's repeats
		e = next(t, vb)
	}
	if e.SocketID != "1.2" || e.Node != "a" {
		t.Fatalf("viewer on b got %+v", e)
	}
	n := 0
	for _, e := range collect(va, 300*time.Millisecond) {
		if e.SocketID == "1.2" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("viewer on a got its own node's event %d times, want 1", n)
	}
	if got := testutil.ToFloat64(a.m.Received); got != received {
		t.Fatalf("node a received %v events: its own echo must be skipped", got-received)
	}
	if testutil.ToFloat64(a.m.Forwarded) == 0 || testutil.ToFloat64(b.m.Forwarded) == 0 {
		t.Fatal("forwarded counters did not move")
	}
}

func TestNoForwardingAfterViewerLeaves(t *testing.T) {
	srv := redistest.Start(t)
	c := redistest.NewClient(t, srv.URL())
	prefix := redistest.NewPrefix()
	// a's advertisement lives a minute: only its withdrawal, not its
	// expiry, can make b forget the viewer within the test's wait.
	a := newNode(t, c, prefix, "a", consoleredis.Config{PollEvery: poll, TTL: time.Minute})
	b := newNode(t, c, prefix, "b", consoleredis.Config{})

	va, cancel := a.watch(t, "1", console.Filter{})
	eventually(t, "node b learns that node a watches app 1", func() bool { return b.feed.Watching("1") })
	emitUntilSeen(t, b, "1", console.Event{Type: console.ConnectionOpened, SocketID: "2.1"}, va)

	cancel()
	eventually(t, "node b forgets the viewer of app 1", func() bool { return !b.feed.Watching("1") })
	before := testutil.ToFloat64(b.m.Forwarded)
	for range 10 {
		b.feed.Emit("1", console.Event{Type: console.ConnectionOpened, SocketID: "2.2"})
	}
	time.Sleep(3 * poll)
	if got := testutil.ToFloat64(b.m.Forwarded); got != before {
		t.Fatalf("node b forwarded %v events after the viewer left", got-before)
	}
}

// TestAdvertisementExpires: a node that stops without withdrawing (killed)
// is forgotten after TTL.
func TestAdvertisementExpires(t *testing.T) {
	srv := redistest.Start(t)
	c := redistest.NewClient(t, srv.URL())
	prefix := redistest.NewPrefix()
	b := newNode(t, c, prefix, "b", consoleredis.Config{})
	// A node "ghost" advertised app 1 and died: its member's deadline is
	// in the past 2 s later (long enough for b's poll to see it first,
	// even on a loaded machine).
	deadline := time.Now().Add(2 * time.Second).UnixMilli()
	if err := c.Do(context.Background(), c.B().Zadd().Key(prefix+":console:watch").ScoreMember().
		ScoreMember(float64(deadline), "ghost:1").Build()).Error(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "node b sees ghost's viewer", func() bool { return b.feed.Watching("1") })
	eventually(t, "node b forgets ghost's viewer", func() bool { return !b.feed.Watching("1") })
}

func TestRedisDown(t *testing.T) {
	srv := redistest.Start(t)
	c := redistest.NewClient(t, srv.URL())
	prefix := redistest.NewPrefix()
	a := newNode(t, c, prefix, "a", consoleredis.Config{CommandTimeout: 200 * time.Millisecond})
	b := newNode(t, c, prefix, "b", consoleredis.Config{CommandTimeout: 200 * time.Millisecond})
	va, _ := a.watch(t, "1", console.Filter{})
	eventually(t, "node b learns that node a watches app 1", func() bool { return b.feed.Watching("1") })
	emitUntilSeen(t, b, "1", console.Event{Type: console.ConnectionOpened, SocketID: "2.1"}, va)

	srv.Kill()
	// Nothing blocks: b keeps emitting (forwarding into a dead Redis) and
	// a's viewer keeps getting a's events.
	start := time.Now()
	for i := range 5000 {
		b.feed.Emit("1", console.Event{Type: console.ConnectionOpened, SocketID: "2.2"})
		a.feed.Emit("1", console.Event{Type: console.Subscribed, SocketID: fmt.Sprint("1.", i)})
		if i%100 == 0 {
			drain(va)
		}
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("10000 emits took %s with Redis down", d)
	}
	a.feed.Emit("1", console.Event{Type: console.Subscribed, SocketID: "1.last"})
	found := false
	for _, e := range collect(va, 100*time.Millisecond) {
		found = found || e.SocketID == "1.last"
	}
	if !found {
		t.Fatal("local viewer lost its own node's events with Redis down")
	}
	eventually(t, "node b stops forwarding after TTL without a poll", func() bool { return !b.feed.Watching("1") })
	eventually(t, "failures logged", func() bool { return strings.Contains(b.logs.String(), "Redis call failed") })
	if n := strings.Count(b.logs.String(), "op=poll"); n != 1 {
		t.Fatalf("poll failure logged %d times, want once per streak:\n%s", n, b.logs.String())
	}
	if testutil.ToFloat64(b.m.Errors.WithLabelValues(metrics.ConsolePoll)) == 0 {
		t.Fatal("poll errors not counted")
	}
}

func TestQueueFullDrops(t *testing.T) {
	srv := redistest.Start(t)
	c := redistest.NewClient(t, srv.URL())
	m := metrics.NewConsoleCluster(prometheus.NewRegistry())
	b, err := consoleredis.New(consoleredis.Config{Node: "a", QueueLen: 4}, consoleredis.Deps{Client: c, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	// Not running: nothing drains the queue.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 10 {
			b.Forward("1", console.Event{Type: console.Subscribed})
		}
	}()
	select {
	case <-done:
	case <-time.After(wait):
		t.Fatal("Forward blocked on a full queue")
	}
	if got := testutil.ToFloat64(m.Dropped.WithLabelValues(metrics.ConsoleQueueFull)); got != 6 {
		t.Fatalf("dropped %v, want 6", got)
	}
}

func TestMalformedMessages(t *testing.T) {
	srv := redistest.Start(t)
	c := redistest.NewClient(t, srv.URL())
	prefix := redistest.NewPrefix()
	a := newNode(t, c, prefix, "a", consoleredis.Config{})
	va, _ := a.watch(t, "1", console.Filter{})
	topic := prefix + ":{1}:console"
	eventually(t, "node a subscribes", func() bool {
		n, err := c.Do(context.Background(), c.B().PubsubShardnumsub().Channel(topic).Build()).ToArray()
		if err != nil || len(n) != 2 {
			return false
		}
		k, _ := n[1].AsInt64()
		return k == 1
	})
	for _, msg := range []string{"garbage", `[{"type":"nope","node":"x"}]`, `[{"type":"subscribed"}]`,
		`[{"type":"subscribed","node":"x","data":"` + strings.Repeat("y", 2000) + `"}]`} {
		if err := c.Do(context.Background(), c.B().Spublish().Channel(topic).Message(msg).Build()).Error(); err != nil {
			t.Fatal(err)
		}
	}
	e := next(t, va) // the last one: from node x, its data cut to a preview
	if e.Node != "x" || len(e.Data) > console.MaxPreview+len("…") {
		t.Fatalf("got %+v", e)
	}
	if got := testutil.ToFloat64(a.m.Dropped.WithLabelValues(metrics.ConsoleMalformed)); got != 3 {
		t.Fatalf("malformed %v, want 3", got)
	}
}
