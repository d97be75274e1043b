package webhooks

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/internal/apps"
	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/hub"
	"github.com/heraldhq/herald/internal/metrics"
)

const testLease = 200 * time.Millisecond // the fake queue's lease time

// fastShared is fast() for cluster mode: no database, quick claims and polls.
func fastShared() Config {
	c := fast("")
	c.ClaimEvery = 20 * time.Millisecond
	c.PollEvery = 5 * time.Millisecond
	return c
}

// withHooks is what the app store answers to Candidates.
func withHooks(s *apps.Static) func(context.Context) []string {
	return func(context.Context) []string {
		var ids []string
		for _, a := range s.All() {
			if len(a.Webhooks) > 0 {
				ids = append(ids, a.ID)
			}
		}
		return ids
	}
}

// newSharedDispatcher builds a cluster-mode Dispatcher on q without
// running it; candidates nil means the store's apps with webhooks.
func newSharedDispatcher(t testing.TB, cfg Config, s *apps.Static, q broker.HookQueue, candidates func(context.Context) []string) *harness {
	t.Helper()
	h := &harness{m: metrics.NewWebhooks(prometheus.NewRegistry()), log: &logBuffer{}}
	logger := slog.New(slog.NewTextHandler(h.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if candidates == nil {
		candidates = withHooks(s)
	}
	d, err := New(cfg, Deps{Apps: s, Logger: logger, Metrics: h.m, Queue: q, Candidates: candidates})
	if err != nil {
		t.Fatal(err)
	}
	h.d = d
	return h
}

func runShared(t testing.TB, cfg Config, s *apps.Static, q broker.HookQueue) *harness {
	t.Helper()
	return newSharedDispatcher(t, cfg, s, q, nil).start(t)
}

// addEvents queues client events n in [from, to) of app on ch, as other
// nodes would.
func addEvents(q *fakeQueue, app, ch string, from, to int) {
	for i := from; i < to; i++ {
		q.add(hookOf(clientEvent(app, ch, i)))
	}
}

func nowMS() int64 { return time.Now().UnixMilli() }

// keyed gives a the key k: a store refuses two apps with one key.
func keyed(a apps.App, k string) apps.App {
	a.Key = k
	return a
}

func TestHookKindsAreHubKinds(t *testing.T) {
	pairs := map[hub.EventKind]string{
		hub.ChannelOccupied: broker.HookOccupied, hub.ChannelVacated: broker.HookVacated,
		hub.MemberAdded: broker.HookMemberAdded, hub.MemberRemoved: broker.HookMemberRemoved,
		hub.ClientEvent: broker.HookClientEvent, hub.CacheMiss: broker.HookCacheMiss,
		hub.SubscriptionCount: broker.HookSubscriptionCount,
	}
	for k, h := range pairs {
		if string(k) != h {
			t.Errorf("hub %q vs broker %q", k, h)
		}
	}
	e := clientEvent("1", "presence-c", 7)
	e.UserID, e.SubscriptionCount = "u", 3
	if got := eventOf(hookOf(e)); got != e {
		t.Errorf("round trip: %+v, want %+v", got, e)
	}
}

func TestSharedNeedsCandidates(t *testing.T) {
	if _, err := New(fastShared(), Deps{Apps: store(t), Queue: newFakeQueue(testLease).node("a")}); err == nil {
		t.Fatal("New accepted a Queue without Candidates")
	}
}

// TestSharedDeliversQueue: entries queued by other nodes (several pages of
// them) are delivered in order, batched, signed as in single-node mode,
// and every one is acked.
func TestSharedDeliversQueue(t *testing.T) {
	rcv := newReceiver(t, nil)
	s := store(t, app("1", hook(rcv.URL)))
	q := newFakeQueue(testLease)
	const n = 3*readPage + 17
	addEvents(q, "1", "private-c", 0, n)
	cfg := fastShared()
	cfg.BatchMaxEvents = 20
	h := runShared(t, cfg, s, q.node("a"))

	waitFor(t, "every event", 10*time.Second, func() bool { got, _ := distinct(t, rcv); return got == n })
	waitFor(t, "every entry acked", 5*time.Second, func() bool { return q.len() == 0 })
	if _, dup := distinct(t, rcv); dup != 0 {
		t.Errorf("%d duplicates", dup)
	}
	checkOrder(t, rcv)
	reqs := rcv.ok()
	if len(reqs) >= n/2 {
		t.Errorf("%d requests for %d events: not batched", len(reqs), n)
	}
	for _, r := range reqs {
		checkSigned(t, r)
		if k := len(r.payload(t).Events); k > cfg.BatchMaxEvents {
			t.Errorf("a request of %d events, over %d", k, cfg.BatchMaxEvents)
		}
	}
	if got := value(h.m.Delivered.WithLabelValues("1")); got != n {
		t.Errorf("delivered metric = %v", got)
	}
	if got := h.queued("1"); got != n {
		t.Errorf("queued metric = %v", got)
	}
}

// TestSharedLeaveRejoinDebounced: a leave and the rejoin within the delay
// send nothing and are both acked; a later leave (the sentinel) is sent.
func TestSharedLeaveRejoinDebounced(t *testing.T) {
	rcv := newReceiver(t, nil)
	s := store(t, app("1", hook(rcv.URL)))
	q := newFakeQueue(testLease)
	now := nowMS()
	leave := q.add(hookOf(hub.Event{Kind: hub.ChannelVacated, AppID: "1", Channel: "c", TimeMS: now}))
	join := q.add(hookOf(hub.Event{Kind: hub.ChannelOccupied, AppID: "1", Channel: "c", TimeMS: now + 10}))
	q.add(hookOf(hub.Event{Kind: hub.ChannelVacated, AppID: "1", Channel: "sentinel", TimeMS: now + 20}))
	h := runShared(t, fastShared(), s, q.node("a"))

	waitFor(t, "the rejoin's entries acked", 5*time.Second, func() bool { return !q.has(leave) && !q.has(join) })
	waitFor(t, "sentinel", 5*time.Second, func() bool { return len(rcv.events(t)) == 1 })
	if got := fmt.Sprint(names(rcv.events(t))); got != "[channel_vacated@sentinel]" {
		t.Fatalf("events = %s", got)
	}
	waitFor(t, "sentinel acked", 5*time.Second, func() bool { return q.len() == 0 })
	if got := value(h.m.Events.WithLabelValues("1", "debounced")); got != 2 {
		t.Errorf("debounced = %v, want 2", got)
	}
}

// TestSharedBacklogRejoinAcrossPages: reading an old backlog, a leave that
// ends one page and its rejoin that starts the next still cancel each
// other (the due leave waits until the queue is read past its time), and
// a rejoin that came after the delay does not cancel its leave.
func TestSharedBacklogRejoinAcrossPages(t *testing.T) {
	rcv := newReceiver(t, nil)
	s := store(t, app("1", hook(rcv.URL)))
	q := newFakeQueue(testLease)
	old := nowMS() - 60_000
	cfg := fastShared()
	cfg.LeaveDelay = 300 * time.Millisecond
	for range readPage - 1 {
		q.add(hookOf(hub.Event{Kind: hub.ClientEvent, AppID: "1", Channel: "private-c", Event: "client-x", TimeMS: old}))
	}
	q.add(hookOf(hub.Event{Kind: hub.ChannelVacated, AppID: "1", Channel: "c", TimeMS: old}))        // last of page 1
	q.add(hookOf(hub.Event{Kind: hub.ChannelOccupied, AppID: "1", Channel: "c", TimeMS: old + 100})) // first of page 2
	q.add(hookOf(hub.Event{Kind: hub.ChannelVacated, AppID: "1", Channel: "late", TimeMS: old}))
	q.add(hookOf(hub.Event{Kind: hub.ChannelOccupied, AppID: "1", Channel: "late", TimeMS: old + 1000})) // after the delay
	runShared(t, cfg, s, q.node("a"))

	waitFor(t, "every entry acked", 10*time.Second, func() bool { return q.len() == 0 })
	var rest []string
	clients := 0
	for _, e := range names(rcv.events(t)) {
		if e == "client_event@private-c" {
			clients++
			continue
		}
		rest = append(rest, e)
	}
	if clients != readPage-1 {
		t.Errorf("%d client events, want %d", clients, readPage-1)
	}
	if got := fmt.Sprint(rest); got != "[channel_occupied@late channel_vacated@late]" &&
		got != "[channel_vacated@late channel_occupied@late]" {
		t.Errorf("transitions = %s, want only late's vacated and occupied", got)
	}
}

// TestSharedLeaveDelayFromTimeMS: the delay counts from when the leave
// happened, not from when it was read: an old leave goes at once, a fresh
// one not before its time plus the delay.
func TestSharedLeaveDelayFromTimeMS(t *testing.T) {
	rcv := newReceiver(t, nil)
	s := store(t, app("1", hook(rcv.URL)))
	q := newFakeQueue(testLease)
	cfg := fastShared()
	cfg.LeaveDelay = 400 * time.Millisecond
	fresh := nowMS()
	q.add(hookOf(hub.Event{Kind: hub.ChannelVacated, AppID: "1", Channel: "old", TimeMS: fresh - 10_000}))
	q.add(hookOf(hub.Event{Kind: hub.ChannelVacated, AppID: "1", Channel: "fresh", TimeMS: fresh}))
	runShared(t, cfg, s, q.node("a"))

	waitFor(t, "both leaves", 5*time.Second, func() bool { return len(rcv.events(t)) == 2 })
	reqs := rcv.ok()
	if got := fmt.Sprint(names(rcv.events(t))); got != "[channel_vacated@old channel_vacated@fresh]" {
		t.Fatalf("events = %s", got)
	}
	last := reqs[len(reqs)-1]
	if due := time.UnixMilli(fresh).Add(cfg.LeaveDelay); last.At.Before(due) {
		t.Errorf("fresh leave sent %v before its due time", due.Sub(last.At))
	}
	if got := last.payload(t).TimeMS; got != fresh {
		t.Errorf("time_ms = %d, want the leave's %d", got, fresh)
	}
	waitFor(t, "acked", 5*time.Second, func() bool { return q.len() == 0 })
}

// TestSharedAckOnlyAfterSuccess: while the endpoint fails nothing is acked;
// once it recovers every event arrives once and every entry is acked.
func TestSharedAckOnlyAfterSuccess(t *testing.T) {
	var down atomic.Bool
	down.Store(true)
	rcv := failingReceiver(t, &down)
	s := store(t, app("1", hook(rcv.URL)))
	q := newFakeQueue(testLease)
	const n = 30
	addEvents(q, "1", "private-c", 0, n)
	cfg := fastShared()
	cfg.BatchMaxEvents = 10
	h := runShared(t, cfg, s, q.node("a"))

	waitFor(t, "failed attempts", 5*time.Second, func() bool { return len(rcv.requests()) >= 4 })
	if got := q.len(); got != n {
		t.Fatalf("%d of %d entries left while the endpoint fails: acked before delivery", got, n)
	}
	if got := q.ackCount("a"); got != 0 {
		t.Fatalf("%d acks before any delivery", got)
	}
	down.Store(false)
	waitFor(t, "every event", 5*time.Second, func() bool { got, _ := distinct(t, rcv); return got == n })
	waitFor(t, "every entry acked", 5*time.Second, func() bool { return q.len() == 0 })
	if _, dup := distinct(t, rcv); dup != 0 {
		t.Errorf("%d duplicates", dup)
	}
	checkOrder(t, rcv)
	if got := value(h.m.Requests.WithLabelValues("1", "http_status")); got < 4 {
		t.Errorf("failed requests metric = %v", got)
	}
}

// TestSharedAcksWhatWillNotBeSent: entries nothing will be sent for are
// acked too: unrouted, of an unknown app, a duplicate cache_miss, and a
// batch given up (permanent failure).
func TestSharedAcksWhatWillNotBeSent(t *testing.T) {
	rcv := newReceiver(t, nil)
	s := store(t,
		app("1", hook(rcv.URL)),
		keyed(app("2", hook(rcv.URL, "channel_occupied")), "key-2"),
		keyed(app("3", hook("ftp://invalid.example/")), "key-3"),
	)
	q := newFakeQueue(testLease)
	now := nowMS()
	q.add(hookOf(hub.Event{Kind: hub.CacheMiss, AppID: "1", Channel: "cache-a", TimeMS: now}))
	q.add(hookOf(hub.Event{Kind: hub.CacheMiss, AppID: "1", Channel: "cache-a", TimeMS: now + 1}))
	q.add(hookOf(clientEvent("2", "private-c", 1)))
	q.add(hookOf(clientEvent("ghost", "private-c", 2)))
	q.add(hookOf(clientEvent("3", "private-c", 3)))
	cands := func(context.Context) []string { return []string{"1", "2", "3", "ghost"} }
	h := newSharedDispatcher(t, fastShared(), s, q.node("a"), cands).start(t)

	waitFor(t, "every entry acked", 5*time.Second, func() bool { return q.len() == 0 })
	if got := fmt.Sprint(names(rcv.events(t))); got != "[cache_miss@cache-a]" {
		t.Errorf("events = %s", got)
	}
	for _, c := range []struct {
		what string
		m    prometheus.Metric
	}{
		{"deduplicated", h.m.Events.WithLabelValues("1", "deduplicated")},
		{"unrouted", h.m.Events.WithLabelValues("2", "unrouted")},
		{"app_not_found", h.m.Dropped.WithLabelValues("ghost", "app_not_found")},
		{"dead invalid_url", h.m.DeadBatches.WithLabelValues("3", "invalid_url")},
	} {
		if got := value(c.m); got != 1 {
			t.Errorf("%s = %v, want 1", c.what, got)
		}
	}
}

// TestSharedTwoNodes: two dispatchers on one queue deliver every app's
// events exactly once; when the one holding an app stops, the other takes
// it over at once (the lease is released) and delivers what follows.
func TestSharedTwoNodes(t *testing.T) {
	const nApps, n = 4, 50
	var rcvs []*receiver
	var list []apps.App
	for i := range nApps {
		r := newReceiver(t, nil)
		rcvs = append(rcvs, r)
		list = append(list, keyed(app(fmt.Sprint(i), hook(r.URL)), fmt.Sprint("key-", i)))
	}
	s := store(t, list...)
	q := newFakeQueue(time.Hour) // a takeover can only come from a release
	for i := range nApps {
		addEvents(q, fmt.Sprint(i), "private-c", 0, n)
	}
	nodes := map[string]*harness{
		"a": runShared(t, fastShared(), s, q.node("a")),
		"b": runShared(t, fastShared(), s, q.node("b")),
	}
	for i, r := range rcvs {
		waitFor(t, fmt.Sprint("app ", i), 10*time.Second, func() bool { got, _ := distinct(t, r); return got == n })
	}
	waitFor(t, "every entry acked", 5*time.Second, func() bool { return q.len() == 0 })
	for i, r := range rcvs {
		if _, dup := distinct(t, r); dup != 0 {
			t.Errorf("app %d: %d duplicates", i, dup)
		}
		checkOrder(t, r)
	}

	holder := q.owner("0")
	other := map[string]string{"a": "b", "b": "a"}[holder]
	if holder == "" {
		t.Fatal("nobody holds app 0")
	}
	nodes[holder].stop(t)
	if got := q.owner("0"); got == holder {
		t.Fatalf("%s still holds app 0 after its stop", holder)
	}
	addEvents(q, "0", "private-c", n, 2*n)
	waitFor(t, "app 0 after the takeover", 5*time.Second, func() bool { got, _ := distinct(t, rcvs[0]); return got == 2*n })
	waitFor(t, "acked", 5*time.Second, func() bool { return q.len() == 0 })
	if got := q.owner("0"); got != other {
		t.Errorf("app 0 held by %q, want %q", got, other)
	}
	checkOrder(t, rcvs[0])
}

// TestSharedTakeoverAfterCrash: the node holding an app dies (crash hook:
// no ack, no release) while its endpoint fails; once the lease expires the
// other node delivers every unacked entry.
func TestSharedTakeoverAfterCrash(t *testing.T) {
	var down atomic.Bool
	down.Store(true)
	rcv := failingReceiver(t, &down)
	s := store(t, app("1", hook(rcv.URL)))
	q := newFakeQueue(testLease)
	const n = 40
	addEvents(q, "1", "private-c", 0, n)
	nodes := map[string]*harness{
		"a": runShared(t, fastShared(), s, q.node("a")),
		"b": runShared(t, fastShared(), s, q.node("b")),
	}
	waitFor(t, "failed attempts", 5*time.Second, func() bool { return len(rcv.requests()) >= 2 })
	holder := q.owner("1")
	if holder == "" {
		t.Fatal("nobody holds app 1")
	}
	other := map[string]string{"a": "b", "b": "a"}[holder]
	nodes[holder].crash(t)
	if got := q.len(); got != n {
		t.Fatalf("%d entries left, want all %d", got, n)
	}
	down.Store(false)
	waitFor(t, "every event from the other node", 10*time.Second, func() bool { got, _ := distinct(t, rcv); return got == n })
	waitFor(t, "every entry acked", 5*time.Second, func() bool { return q.len() == 0 })
	if got := q.owner("1"); got != other {
		t.Errorf("app 1 held by %q, want %q", got, other)
	}
	if got := q.ackCount(other); got != n {
		t.Errorf("%s acked %d, want %d", other, got, n)
	}
	checkOrder(t, rcv)
}

// TestSharedLeaseLostForgets: a node that loses an app's lease forgets its
// pending batches for it (its queue gauge drops to zero although the
// endpoint still fails) and acks nothing more; the new holder delivers
// everything once.
func TestSharedLeaseLostForgets(t *testing.T) {
	var down atomic.Bool
	down.Store(true)
	rcv := failingReceiver(t, &down)
	s := store(t, app("1", hook(rcv.URL)))
	q := newFakeQueue(testLease)
	const n = 20
	addEvents(q, "1", "private-c", 0, n)
	cfg := fastShared()
	cfg.BatchMaxEvents = 5
	a := runShared(t, cfg, s, q.node("a"))
	waitFor(t, "failed attempts", 5*time.Second, func() bool { return len(rcv.requests()) >= 2 })
	waitFor(t, "batches held", 5*time.Second, func() bool { return value(a.m.Queue) > 0 })

	q.steal("1", "b", time.Hour)
	waitFor(t, "node a forgets app 1", 5*time.Second, func() bool { return value(a.m.Queue) == 0 })
	if got := q.ackCount("a"); got != 0 {
		t.Fatalf("node a acked %d", got)
	}
	failedByA := len(rcv.requests())
	down.Store(false)
	runShared(t, cfg, s, q.node("b"))
	waitFor(t, "every event from node b", 5*time.Second, func() bool { got, _ := distinct(t, rcv); return got == n })
	waitFor(t, "every entry acked", 5*time.Second, func() bool { return q.len() == 0 })
	if got := q.ackCount("a"); got != 0 {
		t.Errorf("node a acked %d after losing the lease", got)
	}
	// At most one request of node a was in flight when it forgot the app.
	if got, want := len(rcv.requests()), failedByA+n/cfg.BatchMaxEvents+1; got > want {
		t.Errorf("%d requests, want at most %d: node a kept sending", got, want)
	}
	if _, dup := distinct(t, rcv); dup > cfg.BatchMaxEvents {
		t.Errorf("%d duplicates", dup)
	}
}

// TestSharedObserveAppends: in cluster mode Observe appends the hub's
// events to the shared queue in order (a transition that reaches it too),
// and they come back to be delivered.
func TestSharedObserveAppends(t *testing.T) {
	rcv := newReceiver(t, nil)
	s := store(t, app("1", hook(rcv.URL)))
	q := newFakeQueue(testLease)
	h := runShared(t, fastShared(), s, q.node("a"))
	const n = 300
	for i := range n {
		h.d.Observe(clientEvent("1", "private-c", i))
	}
	h.d.Observe(occupied("1", "presence-x"))
	waitFor(t, "all appended", 5*time.Second, func() bool { return len(q.addedHooks()) == n+1 })
	for i, a := range q.addedHooks() {
		if i < n {
			if want := hookOf(clientEvent("1", "private-c", i)); a.Kind != want.Kind || a.Data != want.Data || a.TimeMS != want.TimeMS {
				t.Fatalf("appended #%d = %+v, want %+v", i, a, want)
			}
		} else if a.Kind != broker.HookOccupied || a.Channel != "presence-x" {
			t.Fatalf("last appended = %+v", a)
		}
	}
	waitFor(t, "all delivered", 5*time.Second, func() bool { return len(rcv.events(t)) == n+1 })
	waitFor(t, "all acked", 5*time.Second, func() bool { return q.len() == 0 })
	evs := rcv.events(t)
	for i, e := range evs[:n] {
		if e["name"] != "client_event" || seqOf(t, e) != i {
			t.Fatalf("event #%d = %v", i, e)
		}
	}
	if got := fmt.Sprint(names(evs[n:])); got != "[channel_occupied@presence-x]" {
		t.Errorf("last = %s", got)
	}
}

// TestSharedSurvivesQueueErrors: with the queue down from the start the
// dispatcher neither crashes nor spins, warns once (rate-limited), keeps
// the hub's events in order, and delivers everything once it is back.
func TestSharedSurvivesQueueErrors(t *testing.T) {
	rcv := newReceiver(t, nil)
	s := store(t, app("1", hook(rcv.URL)))
	q := newFakeQueue(testLease)
	addEvents(q, "1", "private-a", 0, 10)
	q.down.Store(true)
	cfg := fastShared()
	start := time.Now()
	h := runShared(t, cfg, s, q.node("a"))
	for i := range 5 {
		h.d.Observe(clientEvent("1", "private-b", 100+i))
	}
	waitFor(t, "failed claims", 5*time.Second, func() bool { return q.calls.Load() >= 10 })
	waitFor(t, "the warning", 5*time.Second, func() bool { return strings.Contains(h.log.String(), "webhook queue unavailable") })
	waitFor(t, "more failed calls", 5*time.Second, func() bool { return q.calls.Load() >= 30 })
	calls, elapsed := q.calls.Load(), time.Since(start)
	// Claims every ClaimEvery, the writer's retries with backoff: no spinning.
	if limit := 2*int64(elapsed/cfg.ClaimEvery) + 20; calls > limit {
		t.Errorf("%d queue calls in %v while down (limit %d): spinning", calls, elapsed, limit)
	}
	if len(rcv.requests()) != 0 {
		t.Fatal("delivered without a lease")
	}
	q.down.Store(false)
	waitFor(t, "every event", 5*time.Second, func() bool { return len(rcv.events(t)) == 15 })
	waitFor(t, "every entry acked", 5*time.Second, func() bool { return q.len() == 0 })
	checkOrder(t, rcv)
	logs := h.log.String()
	if c := strings.Count(logs, "webhook queue unavailable"); c != 1 {
		t.Errorf("%d warnings, want 1 (rate-limited):\n%s", c, logs)
	}
	if !strings.Contains(logs, "webhook queue available again") {
		t.Errorf("no recovery line:\n%s", logs)
	}
}

// TestSharedMaxQueueStopsReading: at MaxQueue the dispatcher stops reading
// instead of dropping; the rest waits in the shared queue and is delivered
// once there is room.
func TestSharedMaxQueueStopsReading(t *testing.T) {
	var down atomic.Bool
	down.Store(true)
	rcv := failingReceiver(t, &down)
	s := store(t, app("1", hook(rcv.URL)))
	q := newFakeQueue(testLease)
	const n = 60
	addEvents(q, "1", "private-c", 0, n)
	cfg := fastShared()
	cfg.MaxQueue = 10
	cfg.BatchMaxEvents = 1
	h := runShared(t, cfg, s, q.node("a"))
	waitFor(t, "failed attempts", 5*time.Second, func() bool { return len(rcv.requests()) >= 20 })
	// Nothing is acked while the endpoint fails: all that was read is held.
	if got := q.maxOutstanding(); got > cfg.MaxQueue {
		t.Errorf("%d entries read and unacked, over max_queue %d", got, cfg.MaxQueue)
	}
	if got := value(h.m.Queue); got > float64(cfg.MaxQueue) {
		t.Errorf("queue gauge = %v", got)
	}
	down.Store(false)
	waitFor(t, "every event", 10*time.Second, func() bool { got, _ := distinct(t, rcv); return got == n })
	waitFor(t, "every entry acked", 5*time.Second, func() bool { return q.len() == 0 })
	if got := value(h.m.Dropped.WithLabelValues("1", "queue_full")); got != 0 {
		t.Errorf("%v dropped", got)
	}
	checkOrder(t, rcv)
}

// TestSharedShutdown: a clean stop acks what was delivered, leaves the
// rest queued, appends the events the hub reported just before, and
// releases the leases.
func TestSharedShutdown(t *testing.T) {
	ok := newReceiver(t, nil)
	bad := newReceiver(t, func(int, []byte) int { return http.StatusServiceUnavailable })
	okHook, badHook := hook(ok.URL), hook(bad.URL)
	okHook.ChannelNameStartsWith, badHook.ChannelNameStartsWith = "private-ok", "private-bad"
	s := store(t, app("1", okHook, badHook))
	q := newFakeQueue(time.Hour)
	addEvents(q, "1", "private-ok", 0, 5)
	addEvents(q, "1", "private-bad", 5, 10)
	h := runShared(t, fastShared(), s, q.node("a"))
	waitFor(t, "the good endpoint's events", 5*time.Second, func() bool { return len(ok.events(t)) == 5 })
	waitFor(t, "their acks", 5*time.Second, func() bool { return q.len() == 5 })
	waitFor(t, "a failed attempt", 5*time.Second, func() bool { return len(bad.requests()) >= 1 })
	for i := range 3 {
		h.d.Observe(clientEvent("1", "private-bad", 10+i))
	}
	h.stop(t)
	if got := q.len(); got != 8 {
		t.Errorf("%d entries queued after the stop, want 5 undelivered + 3 appended", got)
	}
	if got := q.owner("1"); got != "" {
		t.Errorf("lease still held by %q", got)
	}
	h.d.Observe(clientEvent("1", "private-bad", 99))
	if got := value(h.m.Dropped.WithLabelValues("1", "stopped")); got != 1 {
		t.Errorf("stopped drops = %v", got)
	}
}

// TestSharedLeaseRegained: an app whose lease is lost and later regained
// is read again from its oldest unacked entry, and what the node had seen
// before (here a cache_miss) does not hide it.
func TestSharedLeaseRegained(t *testing.T) {
	var down atomic.Bool
	down.Store(true)
	rcv := failingReceiver(t, &down)
	s := store(t, app("1", hook(rcv.URL)))
	q := newFakeQueue(testLease)
	q.add(hookOf(hub.Event{Kind: hub.CacheMiss, AppID: "1", Channel: "cache-a", TimeMS: nowMS()}))
	addEvents(q, "1", "private-c", 0, 5)
	a := runShared(t, fastShared(), s, q.node("a"))
	waitFor(t, "failed attempts", 5*time.Second, func() bool { return len(rcv.requests()) >= 2 })

	q.steal("1", "x", 150*time.Millisecond) // a node that dies at once
	waitFor(t, "node a forgets app 1", 5*time.Second, func() bool { return value(a.m.Queue) == 0 })
	down.Store(false)
	waitFor(t, "node a takes app 1 back", 5*time.Second, func() bool { return q.owner("1") == "a" })
	waitFor(t, "every event", 5*time.Second, func() bool { return len(rcv.events(t)) >= 6 })
	waitFor(t, "every entry acked", 5*time.Second, func() bool { return q.len() == 0 })
	evs := rcv.events(t)
	if got := fmt.Sprint(names(evs)); !strings.HasPrefix(got, "[cache_miss@cache-a client_event@private-c") {
		t.Fatalf("events = %s", got)
	}
	for i, e := range evs[1:6] {
		if seqOf(t, e) != i {
			t.Errorf("client event #%d = %v", i, e)
		}
	}
}
