package redis

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/rueidis"

	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/redistest"
)

// hooksJoin is presenceJoin asking for hooks.
func hooksJoin(sock, user string) broker.JoinRequest {
	j := presenceJoin(sock, user)
	j.Hooks = true
	return j
}

func hooksLeave(sock, user string) broker.LeaveRequest {
	return broker.LeaveRequest{App: "1", Channel: "presence-a", SocketID: sock, Presence: true, UserID: user,
		MemberRemoved: []byte("removed"), Hooks: true}
}

// queued reads app's whole webhook queue.
func queued(t *testing.T, n *node, app string) []broker.Hook {
	t.Helper()
	return must[[]broker.Hook](t)(n.ReadHooks(ctxT(t), app, "", 10000))
}

// hookNames lists hooks as "kind channel [user]", for comparing.
func hookNames(hs []broker.Hook) []string {
	out := make([]string, 0, len(hs))
	for _, h := range hs {
		s := h.Kind + " " + h.Channel
		if h.UserID != "" {
			s += " " + h.UserID
		}
		out = append(out, s)
	}
	return out
}

// claimHooks is ClaimHooks that fails the test on an error; the lists
// come back sorted.
func claimHooks(t testing.TB, n *node, apps ...string) (held, fresh []string) {
	t.Helper()
	held, fresh, err := n.ClaimHooks(ctxT(t), apps)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(held)
	slices.Sort(fresh)
	return held, fresh
}

// hookFlag reads P:{app}:hk ("" when absent).
func hookFlag(t *testing.T, n *node, app string) string {
	t.Helper()
	ctx := ctxT(t)
	c := must[*client](t)(n.client(ctx))
	s, err := c.Do(ctx, c.B().Get().Key(n.keys.hookFlag(app)).Build()).ToString()
	if err != nil && !rueidis.IsRedisNil(err) {
		t.Fatal(err)
	}
	return s
}

// TestHooksJoinLeave: joins and leaves on two nodes with Hooks queue
// exactly the cluster-wide transitions, in state order, with their
// fields; the results say HooksQueued.
func TestHooksJoinLeave(t *testing.T) {
	srv := startRedis(t)
	a, b := startNode(t, fastConfig(srv.URL())), startNode(t, fastConfig(srv.URL()))
	ctx := ctxT(t)
	start := time.Now().UnixMilli()

	r := must[broker.JoinResult](t)(a.Join(ctx, hooksJoin("1.1", "alice")))
	if !r.Occupied || !r.NewMember || !r.HooksQueued {
		t.Fatalf("first join %+v", r)
	}
	must[broker.JoinResult](t)(b.Join(ctx, hooksJoin("2.1", "bob")))
	must[broker.JoinResult](t)(b.Join(ctx, hooksJoin("2.2", "alice"))) // not new: nothing
	if l := must[broker.LeaveResult](t)(a.Leave(ctx, hooksLeave("1.1", "alice"))); l.MemberGone || !l.HooksQueued {
		t.Fatalf("alice still on b: %+v", l)
	}
	must[broker.LeaveResult](t)(b.Leave(ctx, hooksLeave("2.2", "alice")))
	l := must[broker.LeaveResult](t)(b.Leave(ctx, hooksLeave("2.1", "bob")))
	if !l.MemberGone || !l.Vacated || !l.HooksQueued {
		t.Fatalf("last leave %+v", l)
	}
	// A public channel: occupied and vacated only.
	pub := broker.JoinRequest{App: "1", Channel: "news", SocketID: "1.1", Hooks: true}
	must[broker.JoinResult](t)(a.Join(ctx, pub))
	must[broker.JoinResult](t)(b.Join(ctx, broker.JoinRequest{App: "1", Channel: "news", SocketID: "2.1", Hooks: true}))
	must[broker.LeaveResult](t)(a.Leave(ctx, broker.LeaveRequest{App: "1", Channel: "news", SocketID: "1.1", Hooks: true}))
	must[broker.LeaveResult](t)(b.Leave(ctx, broker.LeaveRequest{App: "1", Channel: "news", SocketID: "2.1", Hooks: true}))

	hs := queued(t, b, "1")
	want := []string{
		"channel_occupied presence-a", "member_added presence-a alice", "member_added presence-a bob",
		"member_removed presence-a alice", "member_removed presence-a bob", "channel_vacated presence-a",
		"channel_occupied news", "channel_vacated news",
	}
	if got := hookNames(hs); !slices.Equal(got, want) {
		t.Fatalf("queue %v, want %v", got, want)
	}
	end := time.Now().UnixMilli()
	for i, h := range hs {
		if h.App != "1" || h.ID == "" || h.TimeMS < start-1000 || h.TimeMS > end+1000 ||
			h.Event != "" || h.HasData || h.SocketID != "" || h.SubscriptionCount != 0 {
			t.Errorf("hook %d: %+v", i, h)
		}
		if i > 0 && (h.ID == hs[i-1].ID || h.TimeMS < hs[i-1].TimeMS) {
			t.Errorf("hook %d not after the one before: %+v, %+v", i, hs[i-1], h)
		}
	}
	if f := hookFlag(t, a, "1"); f != "1" {
		t.Fatalf("hook flag %q", f)
	}
	if other := queued(t, a, "2"); len(other) != 0 {
		t.Fatalf("app 2's queue %v", hookNames(other))
	}
}

// TestHooksOff: transitions without Hooks queue nothing and clear the
// app's flag; joins and leaves that change nothing cluster-wide leave the
// flag alone.
func TestHooksOff(t *testing.T) {
	srv := startRedis(t)
	n := startNode(t, fastConfig(srv.URL()))
	ctx := ctxT(t)
	must[broker.JoinResult](t)(n.Join(ctx, hooksJoin("1.1", "alice")))
	if got := len(queued(t, n, "1")); got != 2 || hookFlag(t, n, "1") != "1" {
		t.Fatalf("%d queued, flag %q", got, hookFlag(t, n, "1"))
	}
	// Not a transition: the flag stays, though the request has no Hooks.
	j := presenceJoin("1.2", "alice")
	if r := must[broker.JoinResult](t)(n.Join(ctx, j)); r.HooksQueued || r.NewMember {
		t.Fatalf("join %+v", r)
	}
	if f := hookFlag(t, n, "1"); f != "1" {
		t.Fatalf("flag after a join that changed nothing: %q", f)
	}
	// A transition without Hooks: nothing queued, the flag goes.
	r := must[broker.JoinResult](t)(n.Join(ctx, broker.JoinRequest{App: "1", Channel: "news", SocketID: "1.1"}))
	if !r.Occupied || r.HooksQueued {
		t.Fatalf("join %+v", r)
	}
	if f := hookFlag(t, n, "1"); f != "" {
		t.Fatalf("flag after a transition without hooks: %q", f)
	}
	l := must[broker.LeaveResult](t)(n.Leave(ctx, broker.LeaveRequest{App: "1", Channel: "news", SocketID: "1.1"}))
	if !l.Vacated || l.HooksQueued {
		t.Fatalf("leave %+v", l)
	}
	if got := hookNames(queued(t, n, "1")); len(got) != 2 {
		t.Fatalf("queue %v", got)
	}
	// Reaped or re-synced transitions follow the flag: see TestHooksReaped.
}

// TestHooksReaped: a dead node's transitions are queued by the survivor
// that reaps it, member_removed before channel_vacated, when the app's
// last transition asked for hooks; the changes say HooksQueued. An app
// without hooks gets nothing queued.
func TestHooksReaped(t *testing.T) {
	srv := startRedis(t)
	cfg := fastConfig(srv.URL())
	dead, s := startNode(t, cfg), startNode(t, cfg)
	ctx := ctxT(t)
	must[broker.JoinResult](t)(dead.Join(ctx, hooksJoin("1.1", "alice")))
	must[broker.JoinResult](t)(s.Join(ctx, hooksJoin("2.1", "bob")))
	b := hooksJoin("1.1", "carol")
	b.Channel = "presence-b"
	must[broker.JoinResult](t)(dead.Join(ctx, b))
	must[broker.JoinResult](t)(dead.Join(ctx, broker.JoinRequest{App: "1", Channel: "news", SocketID: "1.1", Hooks: true}))
	must[bool](t)(dead.SignIn(ctx, "1", "alice", "1.1", nil))
	must[broker.JoinResult](t)(dead.Join(ctx, broker.JoinRequest{App: "2", Channel: "news", SocketID: "1.1"})) // no hooks
	before := queued(t, s, "1")
	last := before[len(before)-1].ID

	dead.crash()
	eventually(t, 10*time.Second, "reaping", func() bool { return testutil.ToFloat64(s.m.ReapedNodes) == 1 })
	hs := must[[]broker.Hook](t)(s.ReadHooks(ctx, "1", last, 100))
	got := hookNames(hs)
	// The reaper visits channels in any order; each channel's hooks keep
	// theirs.
	want := []string{"channel_vacated news", "channel_vacated presence-b", "member_removed presence-a alice",
		"member_removed presence-b carol"}
	sorted := slices.Sorted(slices.Values(got))
	if !slices.Equal(sorted, want) {
		t.Fatalf("queued %v, want (in some order) %v", got, want)
	}
	if slices.Index(got, "member_removed presence-b carol") > slices.Index(got, "channel_vacated presence-b") {
		t.Fatalf("vacated before its last member left: %v", got)
	}
	for _, c := range s.hub.reaped() {
		hooked := c.App == "1" && (c.Kind == broker.MemberGone || c.Kind == broker.Vacated)
		if c.HooksQueued != hooked {
			t.Errorf("change %+v: HooksQueued %v, want %v", c, c.HooksQueued, hooked)
		}
	}
	if n := len(s.hub.reaped()); n != 7 { // + count presence-a, offline alice, vacated news of app 2
		t.Errorf("%d changes: %v", n, kinds(s.hub.reaped()))
	}
	if other := queued(t, s, "2"); len(other) != 0 {
		t.Fatalf("app 2 (no hooks) queued %v", hookNames(other))
	}
}

// TestHooksReapedNodeComesBack: a node reaped while alive announces its
// members again when it registers again: member_added is queued.
func TestHooksReapedNodeComesBack(t *testing.T) {
	srv := startRedis(t)
	a, b := startNode(t, fastConfig(srv.URL())), startNode(t, fastConfig(srv.URL()))
	ctx := ctxT(t)
	j := hooksJoin("1.1", "alice")
	must[broker.JoinResult](t)(a.Join(ctx, j))
	must[broker.JoinResult](t)(b.Join(ctx, hooksJoin("2.1", "bob")))
	j.MemberAdded = nil
	a.hub.mu.Lock()
	a.hub.local = broker.LocalState{Subscriptions: []broker.JoinRequest{j}}
	a.hub.mu.Unlock()

	a.noBeat.Store(true)
	eventually(t, 10*time.Second, "reaped", func() bool { return testutil.ToFloat64(b.m.ReapedNodes) == 1 })
	a.noBeat.Store(false)
	eventually(t, 10*time.Second, "announced back", func() bool {
		return slices.Contains(kinds(a.hub.reaped()), "back presence-a alice")
	})
	want := []string{"channel_occupied presence-a", "member_added presence-a alice", "member_added presence-a bob",
		"member_removed presence-a alice", "member_added presence-a alice"}
	if got := hookNames(queued(t, a, "1")); !slices.Equal(got, want) {
		t.Fatalf("queue %v, want %v", got, want)
	}
	for _, c := range a.hub.reaped() {
		if c.Kind == broker.MemberBack && !c.HooksQueued {
			t.Errorf("member back not queued: %+v", c)
		}
	}
}

// TestHooksResyncAfterFlush: Redis lost its data; the node registers its
// share again and queues occupied and member_added for it once a
// transition of the app asked for hooks again (the flag went with the
// data). Nothing is reported to the handler (nobody saw the members go).
func TestHooksResyncAfterFlush(t *testing.T) {
	srv := startRedis(t)
	n := startNode(t, fastConfig(srv.URL()))
	ctx := ctxT(t)
	j := hooksJoin("1.1", "alice")
	must[broker.JoinResult](t)(n.Join(ctx, j))
	j.MemberAdded = nil
	n.hub.mu.Lock()
	n.hub.local = broker.LocalState{Subscriptions: []broker.JoinRequest{j}}
	n.hub.mu.Unlock()

	n.noBeat.Store(true)              // the re-sync waits for the join below
	time.Sleep(50 * time.Millisecond) // a heartbeat under way ends before the flush
	c := must[*client](t)(n.client(ctx))
	must[struct{}](t)(struct{}{}, c.Do(ctx, c.B().Flushall().Build()).Error())
	must[broker.JoinResult](t)(n.Join(ctx, broker.JoinRequest{App: "1", Channel: "news", SocketID: "1.2", Hooks: true}))
	n.noBeat.Store(false)
	eventually(t, 10*time.Second, "re-sync", func() bool { return testutil.ToFloat64(n.m.Resyncs) >= 1 })

	want := []string{"channel_occupied news", "channel_occupied presence-a", "member_added presence-a alice"}
	if got := hookNames(queued(t, n, "1")); !slices.Equal(got, want) {
		t.Fatalf("queue %v, want %v", got, want)
	}
	if got := n.hub.reaped(); len(got) != 0 {
		t.Fatalf("re-sync after a data loss reported %v", kinds(got))
	}
}

// TestHookQueueRoundTrip: AddHook keeps every field; ReadHooks pages with
// after; AckHooks removes; an entry the broker cannot read comes back with
// what it has, without an error.
func TestHookQueueRoundTrip(t *testing.T) {
	srv := startRedis(t)
	n := startNode(t, fastConfig(srv.URL()))
	ctx := ctxT(t)
	in := []broker.Hook{
		{App: "1", Kind: broker.HookClientEvent, Channel: "presence-a", TimeMS: 1700000000001, UserID: "alice",
			Event: "client-typing", Data: `{"a":"b"}`, HasData: true, SocketID: "1.1"},
		{App: "1", Kind: broker.HookClientEvent, Channel: "private-a", TimeMS: 1700000000002, Event: "client-x",
			HasData: true, SocketID: "1.2"}, // empty data, sent
		{App: "1", Kind: broker.HookClientEvent, Channel: "private-a", TimeMS: 1700000000003, Event: "client-y",
			SocketID: "1.2"}, // no data
		{App: "1", Kind: broker.HookCacheMiss, Channel: "cache-a", TimeMS: 1700000000004},
		{App: "1", Kind: broker.HookSubscriptionCount, Channel: "news", TimeMS: 1700000000005, SubscriptionCount: 7},
		{App: "1", Kind: broker.HookSubscriptionCount, Channel: "news", TimeMS: 1700000000006}, // count 0
		{App: "1", Kind: broker.HookMemberAdded, Channel: "presence-a", TimeMS: 1700000000007, UserID: "bob"},
	}
	for _, h := range in {
		must[struct{}](t)(struct{}{}, n.AddHook(ctx, h))
	}
	out := queued(t, n, "1")
	if len(out) != len(in) {
		t.Fatalf("read %d of %d", len(out), len(in))
	}
	for i := range in {
		got := out[i]
		if got.ID == "" {
			t.Errorf("hook %d without id", i)
		}
		got.ID = ""
		if got != in[i] {
			t.Errorf("hook %d: got %+v, want %+v", i, got, in[i])
		}
	}

	// Paging.
	var pages [][]string
	after := ""
	for {
		p := must[[]broker.Hook](t)(n.ReadHooks(ctx, "1", after, 3))
		if len(p) == 0 {
			break
		}
		var ids []string
		for _, h := range p {
			ids = append(ids, h.ID)
		}
		pages = append(pages, ids)
		after = p[len(p)-1].ID
	}
	if len(pages) != 3 || len(pages[0]) != 3 || len(pages[2]) != 1 || pages[2][0] != out[6].ID || pages[1][0] != out[3].ID {
		t.Fatalf("pages %v of %v", pages, out)
	}

	// Ack (by the lease holder).
	claimHooks(t, n, "1", "9")
	must[struct{}](t)(struct{}{}, n.AckHooks(ctx, "1", []string{out[0].ID, out[2].ID}))
	must[struct{}](t)(struct{}{}, n.AckHooks(ctx, "1", nil))
	left := queued(t, n, "1")
	if len(left) != 5 || left[0].ID != out[1].ID || left[1].ID != out[3].ID {
		t.Fatalf("after ack: %v", left)
	}
	// An ack of ids already gone is a no-op; reading after an acked id works.
	must[struct{}](t)(struct{}{}, n.AckHooks(ctx, "1", []string{out[0].ID}))
	if p := must[[]broker.Hook](t)(n.ReadHooks(ctx, "1", out[2].ID, 10)); len(p) != 4 || p[0].ID != out[3].ID {
		t.Fatalf("after an acked id: %v", p)
	}

	// Someone else's entry: returned as is.
	c := must[*client](t)(n.client(ctx))
	id := must[string](t)(c.Do(ctx, c.B().Xadd().Key(n.keys.hooks("9")).Id("*").FieldValue().
		FieldValue("x", "y").FieldValue("t", "soon").FieldValue("n", "many").Build()).ToString())
	must[struct{}](t)(struct{}{}, n.AddHook(ctx, broker.Hook{App: "9", Kind: broker.HookCacheMiss, Channel: "cache-b", TimeMS: 1}))
	odd := queued(t, n, "9")
	if len(odd) != 2 || odd[0] != (broker.Hook{ID: id, App: "9"}) || odd[1].Kind != broker.HookCacheMiss {
		t.Fatalf("odd entries %+v", odd)
	}

	if p := must[[]broker.Hook](t)(n.ReadHooks(ctx, "none", "", 10)); len(p) != 0 {
		t.Fatalf("empty queue %v", p)
	}
	if err := n.AddHook(ctx, broker.Hook{Kind: broker.HookCacheMiss}); err == nil {
		t.Fatal("a hook without app accepted")
	}
}

// TestHookQueueCap: MAXLEN ~ keeps a queue near HookQueueMax, from
// AddHook and from the scripts alike.
func TestHookQueueCap(t *testing.T) {
	srv := startRedis(t)
	cfg := fastConfig(srv.URL())
	cfg.HookQueueMax = 50
	n := startNode(t, cfg)
	ctx := ctxT(t)
	for i := range 500 {
		must[struct{}](t)(struct{}{}, n.AddHook(ctx, broker.Hook{App: "1", Kind: broker.HookCacheMiss, Channel: "c" + strconv.Itoa(i)}))
		ch := "news-" + strconv.Itoa(i)
		must[broker.JoinResult](t)(n.Join(ctx, broker.JoinRequest{App: "2", Channel: ch, SocketID: "1.1", Hooks: true}))
	}
	c := must[*client](t)(n.client(ctx))
	for _, app := range []string{"1", "2"} {
		l := must[int64](t)(c.Do(ctx, c.B().Xlen().Key(n.keys.hooks(app)).Build()).AsInt64())
		// ~ trims whole stream nodes (at most 100 entries each).
		if l < int64(cfg.HookQueueMax) || l > int64(cfg.HookQueueMax)+100 {
			t.Errorf("app %s: queue of %d, cap %d", app, l, cfg.HookQueueMax)
		}
	}
	// The newest stay.
	hs := queued(t, n, "2")
	if last := hs[len(hs)-1]; last.Channel != "news-499" {
		t.Fatalf("last entry %+v", last)
	}
}

// TestClaimHooks: each app's queue is held by exactly one node; renewing
// keeps it, a lease not renewed goes to another node, apps not listed
// any more and a clean Run end release theirs at once.
func TestClaimHooks(t *testing.T) {
	srv := startRedis(t)
	cfg := fastConfig(srv.URL())
	cfg.HookLease = 600 * time.Millisecond
	a, b := startNode(t, cfg), startNode(t, cfg)
	ctx := ctxT(t)
	claim := func(n *node, apps ...string) []string {
		t.Helper()
		got, _ := claimHooks(t, n, apps...)
		return got
	}
	if got := claim(a, "1", "2", "3", "2"); !slices.Equal(got, []string{"1", "2", "3"}) {
		t.Fatalf("a holds %v", got)
	}
	if got := claim(b, "1", "2", "3", "4"); !slices.Equal(got, []string{"4"}) {
		t.Fatalf("b holds %v", got)
	}
	// Not listed any more: released.
	if got := claim(a, "1", "2"); !slices.Equal(got, []string{"1", "2"}) {
		t.Fatalf("a holds %v", got)
	}
	if got := claim(b, "1", "2", "3", "4"); !slices.Equal(got, []string{"3", "4"}) {
		t.Fatalf("b holds %v", got)
	}
	// Renewed past the lease: kept.
	for range 4 {
		time.Sleep(cfg.HookLease / 3)
		claim(a, "1", "2")
		claim(b, "1", "2", "3", "4")
	}
	if got := claim(b, "1", "2", "3", "4"); !slices.Equal(got, []string{"3", "4"}) {
		t.Fatalf("b holds %v after renewals", got)
	}
	if ttl := must[int64](t)(a.pttl(ctx, a.keys.hookLease("1"))); ttl <= 0 || ttl > cfg.HookLease.Milliseconds() {
		t.Fatalf("lease ttl %d", ttl)
	}
	// a stops renewing: b takes its apps once the lease expires.
	stopped := time.Now()
	eventually(t, 5*time.Second, "b takes a's apps", func() bool {
		return slices.Equal(claim(b, "1", "2", "3", "4"), []string{"1", "2", "3", "4"})
	})
	if took := time.Since(stopped); took < cfg.HookLease/2 {
		t.Fatalf("b took a's apps after %s, before the lease could expire", took)
	}
	if got := claim(a, "1", "2"); len(got) != 0 {
		t.Fatalf("a still holds %v", got)
	}
	// b's clean shutdown releases its leases: a takes them at once.
	b.stop()
	if got := claim(a, "1", "2", "3"); !slices.Equal(got, []string{"1", "2", "3"}) {
		t.Fatalf("after b's shutdown a holds %v", got)
	}
	// A crash leaves the leases to expire.
	a.crash()
	c := newNode(t, cfg)
	if got := claim(c, "1"); len(got) != 0 {
		t.Fatalf("c took a crashed node's lease at once: %v", got)
	}
	eventually(t, 5*time.Second, "c takes it", func() bool { return len(claim(c, "1")) == 1 })
}

// TestClaimHooksRace: nodes claiming the same apps at once: each app is
// held by exactly one.
func TestClaimHooksRace(t *testing.T) {
	srv := startRedis(t)
	cfg := fastConfig(srv.URL())
	nodes := []*node{startNode(t, cfg), startNode(t, cfg), startNode(t, cfg)}
	ctx := ctxT(t)
	var apps []string
	for i := range 30 {
		apps = append(apps, strconv.Itoa(i))
	}
	held := make([][]string, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() {
			for range 5 {
				got, _, err := n.ClaimHooks(ctx, apps)
				if err != nil {
					t.Error(err)
					return
				}
				held[i] = got
			}
		})
	}
	wg.Wait()
	seen := map[string]int{}
	for _, h := range held {
		for _, app := range h {
			seen[app]++
		}
	}
	for _, app := range apps {
		if seen[app] != 1 {
			t.Errorf("app %s held by %d nodes (%v)", app, seen[app], held)
		}
	}
}

// TestClaimHooksFresh: ClaimHooks tells a lease taken from one renewed:
// the first claim takes it; a renewal is not fresh; a claim after the
// lease lapsed (whether another node held it meanwhile or nobody did) is,
// although this node held it before; so is a renewal after a claim whose
// outcome the node could not know.
func TestClaimHooksFresh(t *testing.T) {
	srv := startRedis(t)
	cfg := fastConfig(srv.URL())
	cfg.HookLease = 300 * time.Millisecond
	a, b := startNode(t, cfg), startNode(t, cfg)
	check := func(n *node, wantHeld, wantFresh []string, apps ...string) {
		t.Helper()
		held, fresh := claimHooks(t, n, apps...)
		if !slices.Equal(held, wantHeld) || !slices.Equal(fresh, wantFresh) {
			t.Fatalf("held %v fresh %v, want %v and %v", held, fresh, wantHeld, wantFresh)
		}
	}
	check(a, []string{"1", "2"}, []string{"1", "2"}, "1", "2")
	check(a, []string{"1", "2"}, nil, "1", "2")
	check(b, nil, nil, "1", "2")

	// a is cut off past its lease; b takes app 1 and releases it (it
	// stops wanting it); nobody takes app 2. Both come back fresh to a.
	time.Sleep(cfg.HookLease + 100*time.Millisecond)
	check(b, []string{"1"}, []string{"1"}, "1")
	check(b, nil, nil)
	check(a, []string{"1", "2"}, []string{"1", "2"}, "1", "2")
	check(a, []string{"1", "2"}, nil, "1", "2")

	// A call that fails leaves the outcome unknown (it may have run after
	// the lease lapsed, and taken it again): the next renewal is fresh.
	ctx, cancel := context.WithCancel(ctxT(t))
	cancel()
	if _, _, err := a.ClaimHooks(ctx, []string{"1", "2"}); err == nil {
		t.Fatal("a claim with a cancelled context succeeded")
	}
	check(a, []string{"1", "2"}, []string{"1", "2"}, "1", "2")
	check(a, []string{"1", "2"}, nil, "1", "2")
}

// TestAckHooksOnlyHolder: only the holder of an app's hook lease removes
// its entries; another node's ack, or the former holder's after the lease
// moved, removes nothing and does not fail.
func TestAckHooksOnlyHolder(t *testing.T) {
	srv := startRedis(t)
	cfg := fastConfig(srv.URL())
	cfg.HookLease = 300 * time.Millisecond
	a, b := startNode(t, cfg), startNode(t, cfg)
	ctx := ctxT(t)
	for i := range 4 {
		must[struct{}](t)(struct{}{}, a.AddHook(ctx, broker.Hook{App: "1", Kind: broker.HookCacheMiss, Channel: "c" + strconv.Itoa(i)}))
	}
	hs := queued(t, a, "1")
	ack := func(n *node, h broker.Hook) {
		t.Helper()
		must[struct{}](t)(struct{}{}, n.AckHooks(ctx, "1", []string{h.ID}))
	}
	ack(a, hs[0]) // nobody holds the lease
	claimHooks(t, a, "1")
	ack(b, hs[1])
	if got := len(queued(t, a, "1")); got != 4 {
		t.Fatalf("%d entries left after acks of non-holders, want 4", got)
	}
	ack(a, hs[1])
	if got := hookNames(queued(t, a, "1")); !slices.Equal(got, []string{"cache_miss c0", "cache_miss c2", "cache_miss c3"}) {
		t.Fatalf("after the holder's ack: %v", got)
	}
	// The lease moves to b: a's acks are ignored, b's apply.
	eventually(t, 5*time.Second, "b takes app 1", func() bool { held, _ := claimHooks(t, b, "1"); return len(held) == 1 })
	ack(a, hs[2])
	ack(b, hs[3])
	if got := hookNames(queued(t, a, "1")); !slices.Equal(got, []string{"cache_miss c0", "cache_miss c2"}) {
		t.Fatalf("after the lease moved: %v", got)
	}
	// More ids than one XDEL takes at once.
	var ids []string
	for i := range 2500 {
		ids = append(ids, fmt.Sprintf("1-%d", i+1))
	}
	ids = append(ids, hs[0].ID, hs[2].ID)
	must[struct{}](t)(struct{}{}, b.AckHooks(ctx, "1", ids))
	if got := queued(t, a, "1"); len(got) != 0 {
		t.Fatalf("left %v", hookNames(got))
	}
}

// TestClaimHooksScriptFlushed: Redis lost its script cache; ClaimHooks
// loads the script again and works.
func TestClaimHooksScriptFlushed(t *testing.T) {
	srv := startRedis(t)
	n := startNode(t, fastConfig(srv.URL()))
	ctx := ctxT(t)
	c := must[*client](t)(n.client(ctx))
	must[struct{}](t)(struct{}{}, c.Do(ctx, c.B().ScriptFlush().Build()).Error())
	if got, _ := claimHooks(t, n, "1", "2"); len(got) != 2 {
		t.Fatalf("holds %v", got)
	}
}

// TestHooksCluster: on a Redis Cluster of 3 masters, the queue and flag
// share the app's slot with the state (the scripts would fail
// otherwise), and ClaimHooks pipelines over every master.
func TestHooksCluster(t *testing.T) {
	cl := redistest.StartCluster(t, 3)
	a, b := startNode(t, fastConfig(cl.URL())), startNode(t, fastConfig(cl.URL()))
	ctx := ctxT(t)
	var apps []string
	for i := range 12 { // spread over the masters
		app := "app" + strconv.Itoa(i)
		apps = append(apps, app)
		j := hooksJoin("1.1", "alice")
		j.App = app
		must[broker.JoinResult](t)(a.Join(ctx, j))
		must[struct{}](t)(struct{}{}, b.AddHook(ctx, broker.Hook{App: app, Kind: broker.HookCacheMiss, Channel: "cache-x"}))
		l := hooksLeave("1.1", "alice")
		l.App = app
		must[broker.LeaveResult](t)(a.Leave(ctx, l))
		want := []string{"channel_occupied presence-a", "member_added presence-a alice", "cache_miss cache-x",
			"member_removed presence-a alice", "channel_vacated presence-a"}
		if got := hookNames(queued(t, b, app)); !slices.Equal(got, want) {
			t.Fatalf("app %s: %v", app, got)
		}
	}
	ga, _ := claimHooks(t, a, apps...)
	gb, _ := claimHooks(t, b, apps...)
	if len(ga) != len(apps) || len(gb) != 0 {
		t.Fatalf("a holds %v, b %v", ga, gb)
	}
	a.stop()
	if gb, _ := claimHooks(t, b, apps...); len(gb) != len(apps) {
		t.Fatalf("after a's shutdown b holds %v", gb)
	}
}

// TestHooksSharedOrder: many nodes joining and leaving one presence
// channel at once: the queue replays to the final state, and the
// occupied / vacated hooks alternate.
func TestHooksSharedOrder(t *testing.T) {
	srv := startRedis(t)
	cfg := fastConfig(srv.URL())
	nodes := []*node{startNode(t, cfg), startNode(t, cfg), startNode(t, cfg)}
	ctx := ctxT(t)
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() {
			for k := range 40 {
				sock := fmt.Sprintf("%d.%d", i, k)
				user := fmt.Sprintf("u%d", k%4)
				if _, err := n.Join(ctx, hooksJoin(sock, user)); err != nil {
					t.Error(err)
					return
				}
				if k%3 != 0 {
					if _, err := n.Leave(ctx, hooksLeave(sock, user)); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	members := map[string]bool{}
	occupied := false
	for _, h := range queued(t, nodes[0], "1") {
		switch h.Kind {
		case broker.HookOccupied:
			if occupied {
				t.Fatal("occupied twice")
			}
			occupied = true
		case broker.HookVacated:
			if !occupied || len(members) != 0 {
				t.Fatalf("vacated while occupied=%v, members %v", occupied, members)
			}
			occupied = false
		case broker.HookMemberAdded:
			if !occupied || members[h.UserID] {
				t.Fatalf("member_added %s: occupied %v, members %v", h.UserID, occupied, members)
			}
			members[h.UserID] = true
		case broker.HookMemberRemoved:
			if !members[h.UserID] {
				t.Fatalf("member_removed %s not a member", h.UserID)
			}
			delete(members, h.UserID)
		}
	}
	now := must[[]broker.Member](t)(nodes[0].Members(ctx, "1", "presence-a"))
	if len(now) != len(members) || !occupied {
		t.Fatalf("queue replays to %v (occupied %v), state %v", members, occupied, now)
	}
	for _, m := range now {
		if !members[m.UserID] {
			t.Fatalf("queue replays to %v, state %v", members, now)
		}
	}
}
