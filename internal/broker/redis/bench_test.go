package redis

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/broker"
)

// countingHub counts deliveries (benchmarks).
type countingHub struct {
	hub
	n atomic.Int64
}

func (h *countingHub) Deliver(broker.Message) { h.n.Add(1) }

func benchNode(b *testing.B, url string, h broker.Handler) *Broker {
	cfg := fastConfig(url)
	cfg.LeaseTTL, cfg.Heartbeat = 10*time.Second, 2*time.Second
	n, err := New(cfg, Deps{}, h)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = n.Run(ctx) }()
	b.Cleanup(func() { cancel(); <-done; n.Close() })
	if err := n.Ping(ctx); err != nil {
		b.Fatal(err)
	}
	return n
}

var frame = []byte(`{"event":"ev","channel":"bench","data":"{\"hello\":\"world\",\"n\":12345}"}`)

// benchParallelism is how many goroutines per CPU the parallel benchmarks
// run: a node has many connections calling at once, which is what lets
// rueidis pipeline their commands.
const benchParallelism = 32

// BenchmarkPublish: one SPUBLISH round trip per op, from parallel callers
// (auto-pipelined), nobody listening.
func BenchmarkPublish(b *testing.B) {
	srv := startRedis(b)
	n := benchNode(b, srv.URL(), &hub{})
	m := broker.Message{Topic: broker.Topic{App: "1", Kind: broker.ChannelTopic, Name: "bench"}, Frame: frame}
	b.ReportAllocs()
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			if err := n.Publish(ctx, m); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkPublishFanIn: messages per second one listening node receives
// from parallel publishers on another node.
func BenchmarkPublishFanIn(b *testing.B) {
	srv := startRedis(b)
	h := &countingHub{}
	listener := benchNode(b, srv.URL(), h)
	pub := benchNode(b, srv.URL(), &hub{})
	topic := broker.Topic{App: "1", Kind: broker.ChannelTopic, Name: "bench"}
	if err := listener.Listen(context.Background(), topic); err != nil {
		b.Fatal(err)
	}
	m := broker.Message{Topic: topic, Frame: frame}
	b.ReportAllocs()
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			if err := pub.Publish(ctx, m); err != nil {
				b.Error(err)
				return
			}
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for h.n.Load() < int64(b.N) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	el := time.Since(start)
	b.StopTimer()
	if got := h.n.Load(); got != int64(b.N) {
		b.Fatalf("received %d of %d", got, b.N)
	}
	b.ReportMetric(float64(b.N)/el.Seconds(), "msgs/s")
}

// BenchmarkJoinLeave: a public channel Join then Leave (two scripts) per
// op, parallel callers on distinct sockets over 100 channels.
func BenchmarkJoinLeave(b *testing.B) { benchJoinLeave(b, false) }

// BenchmarkJoinLeavePresence: the same on presence channels (member
// added and removed each time, frames published).
func BenchmarkJoinLeavePresence(b *testing.B) { benchJoinLeave(b, true) }

func benchJoinLeave(b *testing.B, presence bool) {
	srv := startRedis(b)
	n := benchNode(b, srv.URL(), &hub{})
	var seq atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		g := seq.Add(1)
		for i := 0; pb.Next(); i++ {
			ch := fmt.Sprintf("presence-%d", i%100)
			sock := fmt.Sprintf("%d.%d", g, i)
			user := "u" + sock
			_, err := n.Join(ctx, broker.JoinRequest{App: "1", Channel: ch, SocketID: sock, Presence: presence,
				Member: broker.Member{UserID: user, Info: []byte(`{"name":"x"}`)}, MemberAdded: frame})
			if err != nil {
				b.Error(err)
				return
			}
			_, err = n.Leave(ctx, broker.LeaveRequest{App: "1", Channel: ch, SocketID: sock, Presence: presence,
				UserID: user, MemberRemoved: frame})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// commandStats reads INFO commandstats: calls per command.
func commandStats(t testing.TB, n *node) map[string]int {
	t.Helper()
	c, err := n.client(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Do(context.Background(), c.B().Info().Section("commandstats").Build()).ToString()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":calls=")
		if !ok {
			continue
		}
		calls, _, _ := strings.Cut(rest, ",")
		out[strings.TrimPrefix(name, "cmdstat_")], _ = strconv.Atoi(calls)
	}
	return out
}

// TestCommandsPerOp measures the Redis commands one call costs: the
// commands the client sent (round trips) and those its script ran inside.
func TestCommandsPerOp(t *testing.T) {
	srv := startRedis(t)
	n := newNode(t, fastConfig(srv.URL())) // not running: no heartbeats in the counts
	ctx := ctxT(t)
	topic := broker.Topic{App: "1", Kind: broker.ChannelTopic, Name: "presence-a"}
	type op struct {
		what string
		run  func(p string) // p makes the ids of a run distinct
	}
	ops := []op{
		{"Publish", func(string) {
			must[struct{}](t)(struct{}{}, n.Publish(ctx, broker.Message{Topic: topic, Frame: frame}))
		}},
		{"Join public", func(p string) {
			must[broker.JoinResult](t)(n.Join(ctx, broker.JoinRequest{App: "1", Channel: "news", SocketID: p + "1"}))
		}},
		{"Join presence, new member", func(p string) { must[broker.JoinResult](t)(n.Join(ctx, presenceJoin(p+"1", p+"alice"))) }},
		{"Join presence, 2nd conn", func(p string) { must[broker.JoinResult](t)(n.Join(ctx, presenceJoin(p+"2", p+"alice"))) }},
		{"Leave presence, not last", func(p string) {
			must[broker.LeaveResult](t)(n.Leave(ctx, broker.LeaveRequest{App: "1", Channel: "presence-a", SocketID: p + "2", Presence: true, UserID: p + "alice", MemberRemoved: frame}))
		}},
		{"Leave presence, last", func(p string) {
			must[broker.LeaveResult](t)(n.Leave(ctx, broker.LeaveRequest{App: "1", Channel: "presence-a", SocketID: p + "1", Presence: true, UserID: p + "alice", MemberRemoved: frame}))
		}},
		{"SignIn, first", func(p string) { must[bool](t)(n.SignIn(ctx, "1", p+"u", p+"1", frame)) }},
		{"AddConnection, max 100", func(string) { must[bool](t)(n.AddConnection(ctx, "1", 100)) }},
		{"PublishCached", func(string) {
			must[struct{}](t)(struct{}{}, n.PublishCached(ctx, broker.Message{Topic: topic, Frame: frame}, "e", "d", time.Minute))
		}},
		{"Allow", func(string) { must2(t)(n.Allow(ctx, "k", 100, 10)) }},
		{"Join public, new, hooks", func(p string) {
			must[broker.JoinResult](t)(n.Join(ctx, broker.JoinRequest{App: "1", Channel: p + "h", SocketID: p + "1", Hooks: true}))
		}},
		{"Join public, new, no hooks", func(p string) {
			must[broker.JoinResult](t)(n.Join(ctx, broker.JoinRequest{App: "1", Channel: p + "n", SocketID: p + "1"}))
		}},
		{"Join presence, new, hooks", func(p string) { must[broker.JoinResult](t)(n.Join(ctx, hooksJoin(p+"3", p+"bob"))) }},
		{"Leave presence, last, hooks", func(p string) { must[broker.LeaveResult](t)(n.Leave(ctx, hooksLeave(p+"3", p+"bob"))) }},
		{"AddHook", func(string) {
			must[struct{}](t)(struct{}{}, n.AddHook(ctx, broker.Hook{App: "1", Kind: broker.HookCacheMiss, Channel: "c"}))
		}},
		{"ReadHooks", func(string) { must[[]broker.Hook](t)(n.ReadHooks(ctx, "1", "", 100)) }},
		{"AckHooks", func(string) { must[struct{}](t)(struct{}{}, n.AckHooks(ctx, "1", []string{"1-1", "1-2"})) }},
		{"ClaimHooks, 1 app", func(string) { claimHooks(t, n, "1") }},
	}
	for _, o := range ops {
		o.run("w.") // warm: app registered, script cached in Redis
	}
	for _, o := range ops {
		before := commandStats(t, n)
		o.run("m.")
		after := commandStats(t, n)
		var sent int
		var inner []string
		for name, calls := range after {
			d := calls - before[name]
			switch {
			case name == "info" || d == 0:
			case strings.HasPrefix(name, "eval"):
				sent += d
			default:
				inner = append(inner, fmt.Sprintf("%s=%d", name, d))
			}
		}
		if sent == 0 {
			sent = len(inner) // a plain command
			inner = nil
		}
		sort.Strings(inner)
		t.Logf("%-30s round trips %d; inside its script: %s", o.what+":", sent, strings.Join(inner, " "))
		if sent != 1 {
			t.Errorf("%s: %d commands sent, want 1", o.what, sent)
		}
	}
}
