package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/broker/memory"
	"github.com/heraldhq/herald/internal/metrics"
	"github.com/heraldhq/herald/internal/protocol"
)

// clusterHubs builds n hubs sharing one in-process cluster state, as n
// nodes sharing one Redis would.
func clusterHubs(t *testing.T, n int) []*Hub {
	t.Helper()
	cl := memory.NewCluster(memory.ClusterConfig{ReapInterval: 20 * time.Millisecond})
	hubs := make([]*Hub, n)
	for i := range hubs {
		id := fmt.Sprintf("node-%d", i)
		hubs[i] = New(Config{ActivityTimeout: 10 * time.Second, PongTimeout: 5 * time.Second},
			Deps{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: metrics.New(prometheus.NewRegistry()),
				Broker: func(h broker.Handler) broker.Broker { return cl.Node(id, h) }})
	}
	return hubs
}

// memberView replays what a pusher-js client would make of its frames for
// channel: the member list of subscription_succeeded, then each
// member_added / member_removed in order.
func memberView(t *testing.T, s *fakeSink, channel string) []string {
	t.Helper()
	var members map[string]bool
	for _, e := range s.events() {
		if e["channel"] != channel {
			continue
		}
		var data map[string]any
		if str, ok := e["data"].(string); ok {
			_ = json.Unmarshal([]byte(str), &data)
		}
		switch e["event"] {
		case "pusher_internal:subscription_succeeded":
			members = map[string]bool{}
			for _, id := range data["presence"].(map[string]any)["ids"].([]any) {
				members[id.(string)] = true
			}
		case "pusher_internal:member_added":
			if members == nil {
				t.Fatalf("member_added before subscription_succeeded: %v", s.names())
			}
			members[data["user_id"].(string)] = true
		case "pusher_internal:member_removed":
			if members == nil {
				t.Fatalf("member_removed before subscription_succeeded: %v", s.names())
			}
			delete(members, data["user_id"].(string))
		}
	}
	var out []string
	for id := range members {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// TestClusterPresenceConvergesUnderConcurrentJoins: connections on two
// nodes join and leave one presence channel at the same time; every
// connection that stays ends with the cluster's member list, whatever
// order its snapshot and the other joins' events crossed in.
func TestClusterPresenceConvergesUnderConcurrentJoins(t *testing.T) {
	hubs := clusterHubs(t, 2)
	app := *testApp
	app.MaxPresenceMembers = 0
	const ch = "presence-race"
	const n = 40
	type conn struct {
		c    *Client
		s    *fakeSink
		stay bool
	}
	conns := make([]conn, n)
	for i := range conns {
		c, s := connect(t, hubs[i%2], &app)
		conns[i] = conn{c, s, i%3 != 0}
	}
	var wg sync.WaitGroup
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cn := conns[i]
			h := hubs[i%2]
			if err := h.Subscribe(ctx, cn.c, presence(cn.c, ch, fmt.Sprintf(`{"user_id":"u%d"}`, i%25))); err != nil {
				t.Error(err)
				return
			}
			if !cn.stay {
				h.Unsubscribe(ctx, cn.c, ch)
			}
		}()
	}
	wg.Wait()

	want := map[string]bool{}
	for i, cn := range conns {
		if cn.stay {
			want[fmt.Sprintf("u%d", i%25)] = true
		}
	}
	var wantList []string
	for id := range want {
		wantList = append(wantList, id)
	}
	sort.Strings(wantList)
	for _, h := range hubs {
		ids, err := h.PresenceUsers(ctx, app.ID, ch)
		if err != nil || strings.Join(ids, ",") != strings.Join(wantList, ",") {
			t.Fatalf("PresenceUsers = %v, %v; want %v", ids, err, wantList)
		}
	}
	for i, cn := range conns {
		if !cn.stay {
			continue
		}
		if got := memberView(t, cn.s, ch); strings.Join(got, ",") != strings.Join(wantList, ",") {
			t.Errorf("connection %d (node %d) sees %v, want %v; frames %v", i, i%2, got, wantList, cn.s.names())
		}
	}
}

// TestClusterPublishReachesEveryNode: an API publish on one node reaches
// the subscribers of every node once, the excluded socket on any node
// excepted; a client event reaches the other node but not its sender.
func TestClusterPublishReachesEveryNode(t *testing.T) {
	hubs := clusterHubs(t, 3)
	app := *testApp
	app.MaxPresenceMembers = 0
	var sinks []*fakeSink
	var clients []*Client
	for i := range 6 {
		c, s := connect(t, hubs[i%3], &app)
		if err := hubs[i%3].Subscribe(ctx, c, presence(c, "presence-x", fmt.Sprintf(`{"user_id":"%d"}`, i))); err != nil {
			t.Fatal(err)
		}
		sinks, clients = append(sinks, s), append(clients, c)
	}
	for _, s := range sinks {
		s.reset() // subscription_succeeded and the later joins' member_added
	}
	if err := hubs[0].Publish(ctx, testApp.ID, "presence-x", "ev", `{"a":1}`, clients[4].socketID); err != nil {
		t.Fatal(err)
	}
	for i, s := range sinks {
		want := 1
		if i == 4 {
			want = 0
		}
		if got := len(s.events()); got != want {
			t.Errorf("subscriber %d got %d frames %v, want %d", i, got, s.names(), want)
		}
		s.reset()
	}
	f := protocol.Frame{Event: "client-x", Channel: "presence-x", Data: json.RawMessage(`{"b":2}`)}
	if err := hubs[1].ClientEvent(ctx, clients[1], f); err != nil {
		t.Fatal(err)
	}
	for i, s := range sinks {
		want := 1
		if i == 1 {
			want = 0
		}
		if got := len(s.events()); got != want {
			t.Errorf("client event: subscriber %d got %v, want %d frames", i, s.names(), want)
		}
	}
}

// TestClusterOutageDeliversLocally: while the shared state is unreachable
// an API publish fails (the API answers 503) but this node's own
// subscribers still get the event; the other nodes' cannot.
func TestClusterOutageDeliversLocally(t *testing.T) {
	cl := memory.NewCluster(memory.ClusterConfig{ReapInterval: time.Hour})
	newNode := func(id string) *Hub {
		return New(Config{}, Deps{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: metrics.New(prometheus.NewRegistry()),
			Broker: func(h broker.Handler) broker.Broker { return cl.Node(id, h) }})
	}
	a, b := newNode("a"), newNode("b")
	ca, sa := connect(t, a, testApp)
	cb, sb := connect(t, b, testApp)
	for _, x := range []struct {
		h *Hub
		c *Client
	}{{a, ca}, {b, cb}} {
		if err := x.h.Subscribe(ctx, x.c, protocol.SubscribeData{Channel: "news"}); err != nil {
			t.Fatal(err)
		}
	}
	sa.reset()
	sb.reset()
	cl.Crash("a")
	err := a.Publish(ctx, testApp.ID, "news", "ev", `{"x":1}`, "")
	if !errors.Is(err, broker.ErrUnavailable) {
		t.Fatalf("publish during the outage: %v, want ErrUnavailable", err)
	}
	if got := sa.names(); len(got) != 1 || got[0] != "ev" {
		t.Fatalf("local subscriber got %v", got)
	}
	if got := sb.names(); len(got) != 0 {
		t.Fatalf("other node's subscriber got %v", got)
	}
}

// slowJoin wraps a broker: before runs while a Join is in flight, as the
// channel's other traffic would during a round trip to Redis.
type slowJoin struct {
	broker.Broker
	before func()
}

func (b *slowJoin) Join(ctx context.Context, r broker.JoinRequest) (broker.JoinResult, error) {
	if f := b.before; f != nil {
		b.before = nil
		f()
	}
	return b.Broker.Join(ctx, r)
}

func slowJoinHub(t *testing.T) (*Hub, *slowJoin) {
	t.Helper()
	sj := &slowJoin{}
	h := New(Config{}, Deps{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: metrics.New(prometheus.NewRegistry()),
		Broker: func(hd broker.Handler) broker.Broker { sj.Broker = memory.New(memory.Config{}, hd); return sj }})
	return h, sj
}

// TestJoinBufferOverflowLeavesNothingBehind: a connection that misses more
// than the join buffer holds while its join is in flight is closed with
// 4100, and its disconnect leaves the channel everywhere (the broker's
// count and the local channel index).
func TestJoinBufferOverflowLeavesNothingBehind(t *testing.T) {
	h, sj := slowJoinHub(t)
	c, s := connect(t, h, testApp)
	sj.before = func() {
		for range maxJoinBuffer + 1 {
			if err := h.Publish(ctx, testApp.ID, "news", "ev", "{}", ""); err != nil {
				t.Error(err)
			}
		}
	}
	if err := h.Subscribe(ctx, c, protocol.SubscribeData{Channel: "news"}); err != nil {
		t.Fatal(err)
	}
	if s.closeCode != 4100 {
		t.Fatalf("close code %d, want 4100", s.closeCode)
	}
	h.Disconnect(c) // what the transport's close callback does
	if st, err := h.Channel(ctx, testApp.ID, "news"); err != nil || st.Subscriptions != 0 {
		t.Fatalf("after disconnect: %+v, %v; want no subscription left", st, err)
	}
	k := chanKey{testApp.ID, "news"}
	sh := h.shardFor(k)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	if sh.channels[k] != nil {
		t.Fatal("the local channel is still indexed")
	}
}

// TestCacheJoinDuringPublishes: events published on a cache channel while
// a join is in flight reach the joiner once, in order: the cached one (the
// newest at the time it is read), nothing older after it.
func TestCacheJoinDuringPublishes(t *testing.T) {
	h, sj := slowJoinHub(t)
	c, s := connect(t, h, testApp)
	sj.before = func() {
		for _, d := range []string{`"e1"`, `"e2"`} {
			if err := h.Publish(ctx, testApp.ID, "cache-x", "ev", d, ""); err != nil {
				t.Error(err)
			}
		}
	}
	if err := h.Subscribe(ctx, c, protocol.SubscribeData{Channel: "cache-x"}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range s.events() {
		d, _ := e["data"].(string)
		got = append(got, e["event"].(string)+":"+d)
	}
	want := []string{"pusher_internal:subscription_succeeded:{}", `ev:"e2"`}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("frames %q, want %q", got, want)
	}
}
