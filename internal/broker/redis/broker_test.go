package redis

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/heraldhq/herald/internal/broker"
)

func TestPublishListen(t *testing.T) {
	srv := startRedis(t)
	a, b := startNode(t, fastConfig(srv.URL())), startNode(t, fastConfig(srv.URL()))
	ctx := ctxT(t)
	topic := broker.Topic{App: "1", Kind: broker.ChannelTopic, Name: "chat"}
	for _, n := range []*node{a, b} {
		if err := n.Listen(ctx, topic); err != nil {
			t.Fatal(err)
		}
	}
	const count = 100
	for i := range count {
		m := broker.Message{Topic: topic, Frame: fmt.Appendf(nil, `{"n":%d}`, i), Except: "1.2"}
		if err := a.Publish(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []*node{a, b} {
		eventually(t, 5*time.Second, "all messages", func() bool { return len(n.hub.messages()) == count })
		for i, m := range n.hub.messages() {
			if want := fmt.Sprintf(`{"n":%d}`, i); string(m.Frame) != want || m.Topic != topic || m.Except != "1.2" {
				t.Fatalf("message %d = %+v, want frame %s", i, m, want)
			}
		}
	}

	// Counted: one Unlisten of two keeps the subscription.
	if err := b.Listen(ctx, topic); err != nil {
		t.Fatal(err)
	}
	b.Unlisten(topic)
	if err := a.Publish(ctx, broker.Message{Topic: topic, Frame: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "message after one unlisten", func() bool { return len(b.hub.messages()) == count+1 })
	b.Unlisten(topic)
	// Other topics of the app still arrive; this one no longer does.
	other := broker.Topic{App: "1", Kind: broker.UserTopic, Name: "u1"}
	if err := b.Listen(ctx, other); err != nil {
		t.Fatal(err)
	}
	_ = a.Publish(ctx, broker.Message{Topic: topic, Frame: []byte("not for b")})
	_ = a.Publish(ctx, broker.Message{Topic: other, Kind: broker.Terminate})
	eventually(t, 5*time.Second, "user topic message", func() bool { return len(b.hub.messages()) == count+2 })
	if got := b.hub.messages()[count+1]; got.Topic != other || got.Kind != broker.Terminate {
		t.Fatalf("got %+v", got)
	}
}

func TestPresence(t *testing.T) {
	srv := startRedis(t)
	a, b := startNode(t, fastConfig(srv.URL())), startNode(t, fastConfig(srv.URL()))
	ctx := ctxT(t)
	ch := "presence-room"
	topic := broker.Topic{App: "1", Kind: broker.ChannelTopic, Name: ch}
	if err := b.Listen(ctx, topic); err != nil {
		t.Fatal(err)
	}
	join := func(n *node, sock, user string, max int) broker.JoinResult {
		t.Helper()
		r, err := n.Join(ctx, broker.JoinRequest{
			App: "1", Channel: ch, SocketID: sock, Presence: true,
			Member:     broker.Member{UserID: user, Info: json.RawMessage(`{"name":"` + user + `"}`)},
			MaxMembers: max, MemberAdded: []byte("added " + user),
		})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	r1 := join(a, "1.1", "alice", 2)
	if !r1.Occupied || !r1.NewMember || r1.Subscriptions != 1 || len(r1.Members) != 1 || r1.Version == 0 {
		t.Fatalf("first join: %+v", r1)
	}
	r2 := join(b, "2.1", "alice", 2) // same user, other node: not a new member
	if r2.Occupied || r2.NewMember || r2.Subscriptions != 2 || r2.Version != r1.Version {
		t.Fatalf("second connection of alice: %+v", r2)
	}
	r3 := join(b, "2.2", "bob", 2)
	if !r3.NewMember || r3.Version <= r1.Version || len(r3.Members) != 2 || r3.Members[0].UserID != "alice" || r3.Members[1].UserID != "bob" {
		t.Fatalf("bob: %+v", r3)
	}
	if string(r3.Members[0].Info) != `{"name":"alice"}` {
		t.Fatalf("info %s", r3.Members[0].Info)
	}
	if full := join(a, "1.2", "carol", 2); !full.Full {
		t.Fatalf("carol should be refused: %+v", full)
	}
	if again := join(a, "1.1", "alice", 2); again.Subscriptions != 3 || again.NewMember || again.Occupied {
		t.Fatalf("duplicate join counted: %+v", again)
	}
	st, err := a.Channel(ctx, "1", ch)
	if err != nil || st != (broker.ChannelStats{Subscriptions: 3, Users: 2}) {
		t.Fatalf("channel %+v %v", st, err)
	}
	chans, err := b.Channels(ctx, "1", "presence-")
	if err != nil || !reflect.DeepEqual(chans, map[string]broker.ChannelStats{ch: {Subscriptions: 3, Users: 2}}) {
		t.Fatalf("channels %+v %v", chans, err)
	}
	if chans, _ := b.Channels(ctx, "1", "private-"); len(chans) != 0 {
		t.Fatalf("prefix filter: %+v", chans)
	}

	// Member events arrive with the versions of the results.
	eventually(t, 5*time.Second, "member_added events", func() bool { return len(b.hub.messages()) == 2 })
	msgs := b.hub.messages()
	if string(msgs[0].Frame) != "added alice" || msgs[0].Version != r1.Version || msgs[0].Except != "1.1" {
		t.Fatalf("event 0: %+v", msgs[0])
	}
	if string(msgs[1].Frame) != "added bob" || msgs[1].Version != r3.Version {
		t.Fatalf("event 1: %+v", msgs[1])
	}

	leave := func(n *node, sock, user string) broker.LeaveResult {
		t.Helper()
		r, err := n.Leave(ctx, broker.LeaveRequest{App: "1", Channel: ch, SocketID: sock, Presence: true, UserID: user,
			MemberRemoved: []byte("removed " + user)})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := leave(a, "1.1", "alice"); r.MemberGone || r.Vacated || r.Subscriptions != 2 {
		t.Fatalf("alice still on b: %+v", r)
	}
	if r := leave(a, "1.1", "alice"); r != (broker.LeaveResult{Subscriptions: 2}) {
		t.Fatalf("second leave of the socket changed something: %+v", r)
	}
	if r := leave(b, "2.1", "alice"); !r.MemberGone || r.Vacated || r.Version <= r3.Version {
		t.Fatalf("alice's last: %+v", r)
	}
	last := leave(b, "2.2", "bob")
	if !last.MemberGone || !last.Vacated || last.Subscriptions != 0 {
		t.Fatalf("bob's last: %+v", last)
	}
	if chans, _ := b.Channels(ctx, "1", ""); len(chans) != 0 {
		t.Fatalf("vacated channel listed: %+v", chans)
	}
	// A new member after the channel emptied still gets a higher version.
	if r := join(a, "1.3", "dave", 0); r.Version <= last.Version {
		t.Fatalf("version went back: %d after %d", r.Version, last.Version)
	}
}

func TestUsersConnectionsCacheAllow(t *testing.T) {
	srv := startRedis(t)
	a, b := startNode(t, fastConfig(srv.URL())), startNode(t, fastConfig(srv.URL()))
	ctx := ctxT(t)
	watch := broker.Topic{App: "1", Kind: broker.WatchTopic, Name: "u1"}
	if err := b.Listen(ctx, watch); err != nil {
		t.Fatal(err)
	}
	first := must[bool](t)(a.SignIn(ctx, "1", "u1", "1.1", []byte("online")))
	second := must[bool](t)(b.SignIn(ctx, "1", "u1", "2.1", []byte("online")))
	dup := must[bool](t)(b.SignIn(ctx, "1", "u1", "2.1", []byte("online")))
	if !first || second || dup {
		t.Fatalf("sign-ins: %v %v %v", first, second, dup)
	}
	if n := must[int](t)(a.UserConnections(ctx, "1", "u1")); n != 2 {
		t.Fatalf("user connections %d", n)
	}
	on := must[[]bool](t)(a.Online(ctx, "1", []string{"u1", "u2"}))
	if !reflect.DeepEqual(on, []bool{true, false}) {
		t.Fatalf("online %v", on)
	}
	if last := must[bool](t)(a.SignOut(ctx, "1", "u1", "1.1", []byte("offline"))); last {
		t.Fatal("not the last")
	}
	if last := must[bool](t)(a.SignOut(ctx, "1", "u1", "1.1", []byte("offline"))); last {
		t.Fatal("unknown socket signed out")
	}
	if last := must[bool](t)(b.SignOut(ctx, "1", "u1", "2.1", []byte("offline"))); !last {
		t.Fatal("the last")
	}
	eventually(t, 5*time.Second, "online and offline", func() bool { return len(b.hub.messages()) == 2 })
	if m := b.hub.messages(); string(m[0].Frame) != "online" || string(m[1].Frame) != "offline" {
		t.Fatalf("watch events %+v", m)
	}

	// Connections: a cluster-wide quota.
	for i, want := range []bool{true, true, false} {
		n := a
		if i == 1 {
			n = b
		}
		if ok := must[bool](t)(n.AddConnection(ctx, "1", 2)); ok != want {
			t.Fatalf("connection %d: %v", i, ok)
		}
	}
	if n := must[int](t)(a.Connections(ctx, "1")); n != 2 {
		t.Fatalf("connections %d", n)
	}
	if err := b.RemoveConnection(ctx, "1"); err != nil {
		t.Fatal(err)
	}
	if err := b.RemoveConnection(ctx, "1"); err != nil { // none left on b: no-op
		t.Fatal(err)
	}
	if n := must[int](t)(a.Connections(ctx, "1")); n != 1 {
		t.Fatalf("connections %d", n)
	}
	if ok := must[bool](t)(a.AddConnection(ctx, "1", 0)); !ok {
		t.Fatal("no limit")
	}

	// Cache channels.
	topic := broker.Topic{App: "1", Kind: broker.ChannelTopic, Name: "cache-x"}
	if _, ok, err := a.Cached(ctx, "1", "cache-x"); ok || err != nil {
		t.Fatalf("empty cache: %v %v", ok, err)
	}
	if err := a.PublishCached(ctx, broker.Message{Topic: topic, Frame: []byte("f")}, "ev", `{"a":1}`, time.Minute); err != nil {
		t.Fatal(err)
	}
	e, ok, err := b.Cached(ctx, "1", "cache-x")
	if err != nil || !ok || e.Event != "ev" || e.Data != `{"a":1}` || e.TTL <= 50*time.Second || e.TTL > time.Minute {
		t.Fatalf("cached %+v %v %v", e, ok, err)
	}
	_ = a.PublishCached(ctx, broker.Message{Topic: topic}, "ev", "d", 20*time.Millisecond)
	eventually(t, 2*time.Second, "cache expiry", func() bool {
		_, ok, _ := b.Cached(ctx, "1", "cache-x")
		return !ok
	})

	// Allow: burst 3, then a wait of about 1/rate.
	for i := range 3 {
		if _, ok := must2(t)(a.Allow(ctx, "k", 10, 3)); !ok {
			t.Fatalf("token %d refused", i)
		}
	}
	wait, ok, err := b.Allow(ctx, "k", 10, 3)
	if err != nil || ok || wait <= 0 || wait > 100*time.Millisecond {
		t.Fatalf("4th token: %v %v %v", wait, ok, err)
	}
	time.Sleep(wait + 5*time.Millisecond)
	if _, ok := must2(t)(b.Allow(ctx, "k", 10, 3)); !ok {
		t.Fatal("token after the wait refused")
	}
	if _, ok := must2(t)(b.Allow(ctx, "free", 0, 0)); !ok {
		t.Fatal("rate 0 is no limit")
	}

	if n := must[int](t)(a.Nodes(ctx)); n != 2 {
		t.Fatalf("nodes %d", n)
	}
}

func must2(t testing.TB) func(time.Duration, bool, error) (time.Duration, bool) {
	return func(d time.Duration, ok bool, err error) (time.Duration, bool) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return d, ok
	}
}

// TestMalformedDropped: a payload that is not ours is counted and dropped;
// the messages after it arrive.
func TestMalformedDropped(t *testing.T) {
	srv := startRedis(t)
	n := startNode(t, fastConfig(srv.URL()))
	ctx := ctxT(t)
	topic := broker.Topic{App: "1", Kind: broker.ChannelTopic, Name: "c"}
	must[struct{}](t)(struct{}{}, n.Listen(ctx, topic))
	c := must[*client](t)(n.client(ctx))
	for _, p := range []string{"", "\x09junk", "\x00\x00\x7fshort"} {
		if err := c.Do(ctx, c.B().Spublish().Channel(n.keys.topic(topic)).Message(p).Build()).Error(); err != nil {
			t.Fatal(err)
		}
	}
	must[struct{}](t)(struct{}{}, n.Publish(ctx, broker.Message{Topic: topic, Frame: []byte("ok")}))
	eventually(t, 5*time.Second, "the good message", func() bool { return len(n.hub.messages()) == 1 })
	if got := testutil.ToFloat64(n.m.Dropped.WithLabelValues("malformed")); got != 3 {
		t.Fatalf("dropped %v", got)
	}
}

// TestListenUnlistenRace: Listen and Unlisten of one topic from many
// goroutines; whenever a Listen returned, a message published after it
// arrives.
func TestListenUnlistenRace(t *testing.T) {
	srv := startRedis(t)
	a, b := startNode(t, fastConfig(srv.URL())), startNode(t, fastConfig(srv.URL()))
	ctx := ctxT(t)
	topic := broker.Topic{App: "1", Kind: broker.ChannelTopic, Name: "race"}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 30 {
				if err := a.Listen(ctx, topic); err != nil {
					t.Error(err)
					return
				}
				frame := fmt.Sprintf("%d-%d", g, i)
				if err := b.Publish(ctx, broker.Message{Topic: topic, Frame: []byte(frame)}); err != nil {
					t.Error(err)
					return
				}
				deadline := time.Now().Add(5 * time.Second)
				for !a.hub.has(frame) {
					if time.Now().After(deadline) {
						t.Errorf("%s published while listening never arrived", frame)
						return
					}
					time.Sleep(time.Millisecond)
				}
				a.Unlisten(topic)
			}
		})
	}
	wg.Wait()
}
