package redis

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/heraldhq/herald/internal/broker"
)

func presenceJoin(sock, user string) broker.JoinRequest {
	return broker.JoinRequest{App: "1", Channel: "presence-a", SocketID: sock, Presence: true,
		Member: broker.Member{UserID: user, Info: json.RawMessage(`{"u":"` + user + `"}`)}, MemberAdded: []byte("added")}
}

// kinds lists the change kinds with their channel or user, for comparing.
func kinds(cs []broker.Change) []string {
	var out []string
	for _, c := range cs {
		s := map[broker.ChangeKind]string{
			broker.MemberGone: "gone", broker.Vacated: "vacated", broker.Offline: "offline",
			broker.CountChanged: "count", broker.MemberBack: "back", broker.Occupied: "occupied", broker.Online: "online",
		}[c.Kind]
		switch c.Kind {
		case broker.MemberGone, broker.MemberBack:
			s += " " + c.Channel + " " + c.UserID
		case broker.Offline, broker.Online:
			s += " " + c.UserID
		case broker.CountChanged:
			s += " " + c.Channel + " " + string(rune('0'+c.Count))
		default:
			s += " " + c.Channel
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// TestRestartResync: Redis restarts empty; the node notices its lease is
// gone, registers its share again from Handler.Local without reporting
// anything (nobody was told its members left); subscriptions resume.
func TestRestartResync(t *testing.T) {
	srv := startRedis(t)
	n := startNode(t, fastConfig(srv.URL()))
	ctx := ctxT(t)
	topic := broker.Topic{App: "1", Kind: broker.ChannelTopic, Name: "presence-a"}
	must[struct{}](t)(struct{}{}, n.Listen(ctx, topic))
	j1, j2 := presenceJoin("1.1", "alice"), presenceJoin("1.2", "alice")
	must[broker.JoinResult](t)(n.Join(ctx, j1))
	must[broker.JoinResult](t)(n.Join(ctx, j2))
	plain := broker.JoinRequest{App: "1", Channel: "news", SocketID: "1.1"}
	must[broker.JoinResult](t)(n.Join(ctx, plain))
	must[bool](t)(n.SignIn(ctx, "1", "alice", "1.1", nil))
	must[bool](t)(n.AddConnection(ctx, "1", 0))
	j1.MemberAdded, j2.MemberAdded = nil, nil
	n.hub.mu.Lock()
	n.hub.local = broker.LocalState{
		Subscriptions: []broker.JoinRequest{j1, j2, plain},
		SignIns:       []broker.SignIn{{App: "1", UserID: "alice", SocketID: "1.1"}},
		Connections:   map[string]int{"1": 1},
	}
	n.hub.mu.Unlock()

	srv.Restart()
	eventually(t, 10*time.Second, "re-sync", func() bool { return testutil.ToFloat64(n.m.Resyncs) >= 1 })
	n.hub.mu.Lock()
	calls := n.hub.localCalls
	n.hub.mu.Unlock()
	if calls < 1 { // more when a call failed while Redis was restarting (re-sync again)
		t.Errorf("Local called %d times", calls)
	}
	if got := n.hub.reaped(); len(got) != 0 {
		t.Fatalf("re-registering after a data loss reported %v", kinds(got))
	}
	m := must[[]broker.Member](t)(n.Members(ctx, "1", "presence-a"))
	if len(m) != 1 || m[0].UserID != "alice" || string(m[0].Info) != `{"u":"alice"}` {
		t.Fatalf("members after re-sync %+v", m)
	}
	st := must[broker.ChannelStats](t)(n.Channel(ctx, "1", "presence-a"))
	if st != (broker.ChannelStats{Subscriptions: 2, Users: 1}) {
		t.Fatalf("stats after re-sync %+v", st)
	}
	if c := must[int](t)(n.Connections(ctx, "1")); c != 1 {
		t.Fatalf("connections %d", c)
	}
	if c := must[int](t)(n.UserConnections(ctx, "1", "alice")); c != 1 {
		t.Fatalf("user connections %d", c)
	}
	// Subscriptions resumed.
	before := len(n.hub.messages())
	eventually(t, 5*time.Second, "message after restart", func() bool {
		_ = n.Publish(ctx, broker.Message{Topic: topic, Frame: []byte("after")})
		time.Sleep(20 * time.Millisecond)
		return len(n.hub.messages()) > before
	})
	// The share is exact: leaving everything vacates.
	for _, s := range []string{"1.1", "1.2"} {
		must[broker.LeaveResult](t)(n.Leave(ctx, broker.LeaveRequest{App: "1", Channel: "presence-a", SocketID: s, Presence: true, UserID: "alice"}))
	}
	if st := must[broker.ChannelStats](t)(n.Channel(ctx, "1", "presence-a")); st != (broker.ChannelStats{}) {
		t.Fatalf("after leaving %+v", st)
	}
}

// TestOutage: Redis stopped: Ready and calls fail with ErrUnavailable;
// back: Ready again and subscriptions resume.
func TestOutage(t *testing.T) {
	srv := startRedis(t)
	a, b := startNode(t, fastConfig(srv.URL())), startNode(t, fastConfig(srv.URL()))
	ctx := ctxT(t)
	topic := broker.Topic{App: "1", Kind: broker.ChannelTopic, Name: "c"}
	must[struct{}](t)(struct{}{}, b.Listen(ctx, topic))
	eventually(t, 5*time.Second, "ready", func() bool { return a.Ready() == nil && b.Ready() == nil })

	srv.Stop()
	eventually(t, 5*time.Second, "not ready", func() bool { return isUnavailable(a.Ready()) && isUnavailable(b.Ready()) })
	if err := a.Publish(ctx, broker.Message{Topic: topic}); !isUnavailable(err) {
		t.Fatalf("publish: %v", err)
	}
	if _, err := a.Join(ctx, broker.JoinRequest{App: "1", Channel: "c", SocketID: "1.1"}); !isUnavailable(err) {
		t.Fatalf("join: %v", err)
	}
	if err := a.Listen(ctx, broker.Topic{App: "1", Kind: broker.ChannelTopic, Name: "d"}); !isUnavailable(err) {
		t.Fatalf("listen: %v", err)
	}
	if _, err := a.Nodes(ctx); !isUnavailable(err) {
		t.Fatalf("nodes: %v", err)
	}
	if testutil.ToFloat64(a.m.Up) != 0 || testutil.ToFloat64(a.m.Outages) != 1 {
		t.Fatalf("up %v outages %v", testutil.ToFloat64(a.m.Up), testutil.ToFloat64(a.m.Outages))
	}

	srv.Restart()
	eventually(t, 10*time.Second, "ready again", func() bool { return a.Ready() == nil && b.Ready() == nil })
	eventually(t, 10*time.Second, "messages again", func() bool {
		_ = a.Publish(ctx, broker.Message{Topic: topic, Frame: []byte("x")})
		time.Sleep(20 * time.Millisecond)
		return len(b.hub.messages()) > 0
	})
	// Redis restarted empty: both nodes register a new lease at their next
	// heartbeat.
	eventually(t, 10*time.Second, "both nodes registered again", func() bool {
		n, err := a.Nodes(ctx)
		return err == nil && n == 2
	})
	// The failed Join counted nothing.
	if st := must[broker.ChannelStats](t)(a.Channel(ctx, "1", "c")); st != (broker.ChannelStats{}) {
		t.Fatalf("stats %+v", st)
	}
}

// TestPauseKeepsLease: Redis hangs for less than the lease: calls time out
// (ErrUnavailable); afterwards the lease is still there, nothing is
// reaped, and a Join whose reply was lost (it ran after the pause) is
// undone by registering the share again.
func TestPauseKeepsLease(t *testing.T) {
	srv := startRedis(t)
	cfg := fastConfig(srv.URL())
	cfg.LeaseTTL, cfg.CommandTimeout = 10*time.Second, 300*time.Millisecond
	a, b := startNode(t, cfg), startNode(t, cfg)
	ctx := ctxT(t)
	must[broker.JoinResult](t)(b.Join(ctx, broker.JoinRequest{App: "1", Channel: "c", SocketID: "2.1"}))
	topic := broker.Topic{App: "1", Kind: broker.ChannelTopic, Name: "c"}
	must[struct{}](t)(struct{}{}, b.Listen(ctx, topic))

	// a has state in app 1 already: the paused Join reaches its script.
	must[broker.JoinResult](t)(a.Join(ctx, broker.JoinRequest{App: "1", Channel: "warm", SocketID: "1.1"}))
	srv.Pause()
	_, err := a.Join(ctx, broker.JoinRequest{App: "1", Channel: "c", SocketID: "1.1"})
	if !isUnavailable(err) {
		t.Fatalf("join while paused: %v", err)
	}
	if _, err := a.Channel(ctx, "1", "c"); !isUnavailable(err) {
		t.Fatalf("channel while paused: %v", err)
	}
	eventually(t, 5*time.Second, "not ready", func() bool { return isUnavailable(a.Ready()) })
	time.Sleep(500 * time.Millisecond)
	srv.Resume()

	eventually(t, 10*time.Second, "re-registered", func() bool { return testutil.ToFloat64(a.m.Resyncs) >= 1 })
	eventually(t, 10*time.Second, "ready", func() bool { return a.Ready() == nil && b.Ready() == nil })
	if st := must[broker.ChannelStats](t)(b.Channel(ctx, "1", "c")); st.Subscriptions != 1 {
		t.Fatalf("the lost join is counted: %+v", st)
	}
	// The paused Join ran once Redis resumed (its reply was lost); the
	// registration undid it.
	if got := kinds(a.hub.reaped()); !slices.Equal(got, []string{"count c 1"}) {
		t.Fatalf("a's changes %v", got)
	}
	if testutil.ToFloat64(b.m.Resyncs) != 0 || len(b.hub.reaped()) != 0 {
		t.Fatalf("b re-synced (%v) or reaped %v", testutil.ToFloat64(b.m.Resyncs), b.hub.reaped())
	}
	eventually(t, 10*time.Second, "messages again", func() bool {
		_ = a.Publish(ctx, broker.Message{Topic: topic, Frame: []byte("x")})
		time.Sleep(20 * time.Millisecond)
		return len(b.hub.messages()) > 0
	})
	if n := must[int](t)(a.Nodes(ctx)); n != 2 {
		t.Fatalf("nodes %d", n)
	}
}

// TestCrashReaped: a node dies without cleanup; one survivor reaps it
// within LeaseTTL+ReapEvery and the transitions are reported once in the
// cluster.
func TestCrashReaped(t *testing.T) {
	srv := startRedis(t)
	cfg := fastConfig(srv.URL())
	dead, s1, s2 := startNode(t, cfg), startNode(t, cfg), startNode(t, cfg)
	ctx := ctxT(t)
	must[broker.JoinResult](t)(dead.Join(ctx, presenceJoin("1.1", "alice")))
	must[broker.JoinResult](t)(dead.Join(ctx, presenceJoin("1.2", "bob")))
	must[broker.JoinResult](t)(s1.Join(ctx, presenceJoin("2.1", "bob")))
	must[broker.JoinResult](t)(dead.Join(ctx, broker.JoinRequest{App: "2", Channel: "news", SocketID: "1.1"}))
	must[bool](t)(dead.SignIn(ctx, "1", "alice", "1.1", nil))
	must[bool](t)(dead.AddConnection(ctx, "1", 0))
	must[bool](t)(dead.AddConnection(ctx, "2", 0))

	crashed := time.Now()
	dead.crash()
	var all []broker.Change
	eventually(t, 10*time.Second, "reaping", func() bool {
		all = append(s1.hub.reaped(), s2.hub.reaped()...)
		return len(all) >= 4
	})
	if took, limit := time.Since(crashed), cfg.LeaseTTL+cfg.ReapEvery+cfg.Heartbeat+500*time.Millisecond; took > limit {
		t.Errorf("reaped after %s, want within %s", took, limit)
	}
	time.Sleep(3 * cfg.ReapEvery) // nobody reports them again
	all = append(s1.hub.reaped(), s2.hub.reaped()...)
	want := []string{"count presence-a 1", "gone presence-a alice", "offline alice", "vacated news"}
	if !slices.Equal(kinds(all), want) {
		t.Fatalf("changes %v, want %v", kinds(all), want)
	}
	s1.hub.mu.Lock()
	calls := s1.hub.reapCalls
	s1.hub.mu.Unlock()
	s2.hub.mu.Lock()
	calls += s2.hub.reapCalls
	s2.hub.mu.Unlock()
	if calls != 1 {
		t.Errorf("Reaped called %d times, want once", calls)
	}
	for _, c := range all {
		if c.Kind == broker.MemberGone && c.Version == 0 {
			t.Errorf("member gone without version: %+v", c)
		}
	}
	if got := testutil.ToFloat64(s1.m.ReapedNodes) + testutil.ToFloat64(s2.m.ReapedNodes); got != 1 {
		t.Errorf("reaped nodes %v", got)
	}
	if st := must[broker.ChannelStats](t)(s1.Channel(ctx, "1", "presence-a")); st != (broker.ChannelStats{Subscriptions: 1, Users: 1}) {
		t.Fatalf("stats %+v", st)
	}
	if n := must[int](t)(s1.Connections(ctx, "1")) + must[int](t)(s1.Connections(ctx, "2")); n != 0 {
		t.Fatalf("connections %d", n)
	}
	if n := must[int](t)(s1.Nodes(ctx)); n != 2 {
		t.Fatalf("nodes %d", n)
	}
	keys := must[[]string](t)(s1.keysMatching(ctx, "*"+dead.NodeID()+"*"))
	keys = slices.DeleteFunc(keys, func(k string) bool { return strings.Contains(k, ":reaped:") }) // kept 1 h on purpose
	if len(keys) != 0 {
		t.Fatalf("the dead node left keys: %v", keys)
	}
}

// TestCleanShutdown: Run's end removes the lease and any share left.
func TestCleanShutdown(t *testing.T) {
	srv := startRedis(t)
	a, b := startNode(t, fastConfig(srv.URL())), startNode(t, fastConfig(srv.URL()))
	ctx := ctxT(t)
	must[broker.JoinResult](t)(a.Join(ctx, presenceJoin("1.1", "alice")))
	a.stop()
	if got := kinds(a.hub.reaped()); !slices.Equal(got, []string{"gone presence-a alice", "vacated presence-a"}) {
		t.Fatalf("shutdown changes %v", got)
	}
	// b's first heartbeat may still be on its way on a busy machine.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		n := must[int](t)(b.Nodes(ctx))
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nodes %d", n)
		}
	}
	// Left: b's lease in P:nodes, and the channel's member version, which
	// expires (versions must keep growing if the channel is used again).
	keys := must[[]string](t)(b.keysMatching(ctx, "*"))
	slices.Sort(keys)
	if !slices.Equal(keys, []string{"herald:nodes", "herald:{1}:mv:presence-a"}) {
		t.Fatalf("keys left: %v", keys)
	}
	if ttl := must[int64](t)(b.pttl(ctx, "herald:{1}:mv:presence-a")); ttl <= 0 {
		t.Fatalf("member version key without expiry (%d)", ttl)
	}
}

// TestReapedNodeComesBack: a node that could not renew its lease in time
// is reaped (its members announced gone); when it renews again it
// registers its share under a new lease and announces its members back.
func TestReapedNodeComesBack(t *testing.T) {
	srv := startRedis(t)
	a := startNode(t, fastConfig(srv.URL()))
	b := startNode(t, fastConfig(srv.URL()))
	ctx := ctxT(t)
	j := presenceJoin("1.1", "alice")
	must[broker.JoinResult](t)(a.Join(ctx, j))
	j.MemberAdded = nil
	a.hub.mu.Lock()
	a.hub.local = broker.LocalState{Subscriptions: []broker.JoinRequest{j}}
	a.hub.mu.Unlock()

	a.noBeat.Store(true)
	eventually(t, 10*time.Second, "reaped", func() bool { return testutil.ToFloat64(b.m.ReapedNodes) == 1 })
	if got := kinds(b.hub.reaped()); !slices.Contains(got, "gone presence-a alice") {
		t.Fatalf("reaping reported %v", got)
	}
	if st := must[broker.ChannelStats](t)(b.Channel(ctx, "1", "presence-a")); st.Users != 0 {
		t.Fatalf("stats after reaping %+v", st)
	}
	a.noBeat.Store(false)
	eventually(t, 10*time.Second, "announced back", func() bool {
		return slices.Contains(kinds(a.hub.reaped()), "back presence-a alice")
	})
	if st := must[broker.ChannelStats](t)(b.Channel(ctx, "1", "presence-a")); st != (broker.ChannelStats{Subscriptions: 1, Users: 1}) {
		t.Fatalf("stats after coming back %+v", st)
	}
}

// TestScriptBugNotUnavailable: a script Redis runs and refuses because of
// a bug (here a key of the wrong type: WRONGTYPE) is an error without
// ErrUnavailable, counted, and Redis stays up; a refusal that says Redis
// is not usable now (READONLY: a demoted master) stays ErrUnavailable.
func TestScriptBugNotUnavailable(t *testing.T) {
	srv := startRedis(t)
	n := startNode(t, fastConfig(srv.URL()))
	ctx := ctxT(t)
	c := must[*client](t)(n.client(ctx))
	must[struct{}](t)(struct{}{}, c.Do(ctx, c.B().Set().Key(n.keys.chans("1")).Value("not a hash").Build()).Error())
	_, err := n.Join(ctx, broker.JoinRequest{App: "1", Channel: "c", SocketID: "1.1"})
	if err == nil || isUnavailable(err) || !strings.Contains(err.Error(), "WRONGTYPE") {
		t.Fatalf("join on a broken key: %v, want a WRONGTYPE error without ErrUnavailable", err)
	}
	if err := n.Ready(); err != nil {
		t.Fatalf("a script error marked Redis down: %v", err)
	}
	if got := testutil.ToFloat64(n.m.CommandErrors.WithLabelValues("join")); got != 1 {
		t.Fatalf("join errors counted %v, want 1", got)
	}

	// A replica refuses writes: that is an outage of the shared state.
	must[struct{}](t)(struct{}{}, c.Do(ctx, c.B().Replicaof().Host("127.0.0.1").Port(1).Build()).Error())
	t.Cleanup(func() { _ = c.Do(ctx, c.B().Replicaof().No().One().Build()).Error() })
	_, err = n.Join(ctx, broker.JoinRequest{App: "2", Channel: "c", SocketID: "1.1"})
	if !isUnavailable(err) {
		t.Fatalf("join on a read-only replica: %v, want ErrUnavailable", err)
	}
}
