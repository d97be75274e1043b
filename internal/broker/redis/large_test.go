package redis

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/heraldhq/herald/internal/broker"
)

// TestLargeShare: shares larger than one script call carries (chunkUnits,
// leftoverBudget) are registered again and reaped completely.
func TestLargeShare(t *testing.T) {
	srv := startRedis(t)
	cfg := fastConfig(srv.URL())
	a, b := startNode(t, cfg), startNode(t, cfg)
	ctx := ctxT(t)
	const chans, users = 1500, 700
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < chans; i += 8 {
				req := broker.JoinRequest{App: "1", Channel: fmt.Sprintf("c%d", i), SocketID: "1.1"}
				if i%3 == 0 {
					req.Channel = fmt.Sprintf("presence-%d", i)
					req.Presence, req.Member = true, broker.Member{UserID: fmt.Sprintf("u%d", i%50), Info: []byte(`{}`)}
				}
				if _, err := a.Join(ctx, req); err != nil {
					t.Error(err)
					return
				}
			}
			for i := w; i < users; i += 8 {
				if _, err := a.SignIn(ctx, "1", fmt.Sprintf("s%d", i), fmt.Sprintf("1.%d", i), nil); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	check := func(n *node, wantChans, wantOnline int) {
		t.Helper()
		got := must[map[string]broker.ChannelStats](t)(n.Channels(ctx, "1", ""))
		ids := make([]string, users)
		for i := range ids {
			ids[i] = fmt.Sprintf("s%d", i)
		}
		online := 0
		for _, on := range must[[]bool](t)(n.Online(ctx, "1", ids)) {
			if on {
				online++
			}
		}
		if len(got) != wantChans || online != wantOnline {
			t.Fatalf("%d channels, %d users online; want %d, %d", len(got), online, wantChans, wantOnline)
		}
	}

	srv.Restart()
	eventually(t, 10*time.Second, "re-sync", func() bool { return testutil.ToFloat64(a.m.Resyncs) >= 1 })
	check(b, chans, users)
	if got := a.hub.reaped(); len(got) != 0 {
		t.Fatalf("re-registering after a data loss reported %d changes, want none", len(got))
	}

	a.crash()
	eventually(t, 10*time.Second, "reaping", func() bool { return testutil.ToFloat64(b.m.ReapedNodes) == 1 })
	check(b, 0, 0)
	vacated, offline := 0, 0
	for _, c := range b.hub.reaped() {
		switch c.Kind {
		case broker.Vacated:
			vacated++
		case broker.Offline:
			offline++
		}
	}
	if vacated != chans || offline != users {
		t.Fatalf("reaping reported %d vacated, %d offline; want %d, %d", vacated, offline, chans, users)
	}
	keys := must[[]string](t)(b.keysMatching(ctx, "*"+a.NodeID()+"*"))
	keys = slices.DeleteFunc(keys, func(k string) bool { return strings.Contains(k, ":reaped:") }) // kept 1 h on purpose
	if len(keys) != 0 {
		t.Fatalf("keys of the dead node left: %d, e.g. %s", len(keys), keys[0])
	}
}

// TestResyncMergesLocal: a subscription the hub lists but whose Join has
// not run yet is registered; the Join then counts nothing more.
func TestResyncMergesLocal(t *testing.T) {
	srv := startRedis(t)
	n := startNode(t, fastConfig(srv.URL()))
	ctx := ctxT(t)
	must[broker.JoinResult](t)(n.Join(ctx, broker.JoinRequest{App: "1", Channel: "a", SocketID: "1.1"}))
	pending := broker.JoinRequest{App: "1", Channel: "a", SocketID: "1.2"}
	n.hub.mu.Lock()
	n.hub.local = broker.LocalState{Subscriptions: []broker.JoinRequest{pending}, Connections: map[string]int{"1": 2}}
	n.hub.mu.Unlock()
	srv.Restart()
	eventually(t, 10*time.Second, "re-sync", func() bool { return testutil.ToFloat64(n.m.Resyncs) == 1 })
	if st := must[broker.ChannelStats](t)(n.Channel(ctx, "1", "a")); st.Subscriptions != 2 {
		t.Fatalf("after re-sync %+v, want the joined and the pending socket", st)
	}
	if r := must[broker.JoinResult](t)(n.Join(ctx, pending)); r.Subscriptions != 2 || r.Occupied {
		t.Fatalf("the pending Join counted again: %+v", r)
	}
	if c := must[int](t)(n.Connections(ctx, "1")); c != 2 {
		t.Fatalf("connections %d", c)
	}
}

func TestMetricsRegistered(t *testing.T) {
	srv := startRedis(t)
	n := startNode(t, fastConfig(srv.URL()))
	n.m.CommandErrors.WithLabelValues("join")
	n.m.Dropped.WithLabelValues("malformed")
	eventually(t, 5*time.Second, "up", func() bool { return testutil.ToFloat64(n.m.Up) == 1 })
	families, err := n.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, f := range families {
		got[f.GetName()] = true
	}
	for _, name := range []string{"herald_redis_up", "herald_redis_command_errors_total", "herald_redis_outages_total",
		"herald_redis_reaped_nodes_total", "herald_redis_resyncs_total", "herald_redis_messages_dropped_total"} {
		if !got[name] {
			t.Errorf("%s not gathered", name)
		}
	}
}
