package memory_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/broker/brokertest"
	"github.com/heraldhq/herald/internal/broker/memory"
)

func TestConformance(t *testing.T) {
	t.Run("Cluster", func(t *testing.T) {
		brokertest.Run(t, func(t *testing.T) brokertest.Cluster {
			c := memory.NewCluster(memory.ClusterConfig{ReapInterval: 20 * time.Millisecond})
			return brokertest.Cluster{
				Node:       func(t *testing.T, h broker.Handler) broker.Broker { return c.Node("", h) },
				Crash:      func(t *testing.T, b broker.Broker) { c.Crash(b.NodeID()) },
				ReapWithin: time.Second,
			}
		})
	})
	t.Run("Single", func(t *testing.T) {
		brokertest.Run(t, func(t *testing.T) brokertest.Cluster {
			return brokertest.Cluster{
				Node:   func(t *testing.T, h broker.Handler) broker.Broker { return memory.New(memory.Config{}, h) },
				Single: true,
			}
		})
	})
}

// TestCrash: a crashed node's Run returns and its calls fail with
// ErrUnavailable; it gets no more messages.
func TestCrash(t *testing.T) {
	c := memory.NewCluster(memory.ClusterConfig{ReapInterval: time.Hour})
	ra, rb := brokertest.NewRecorder(), brokertest.NewRecorder()
	a, b := c.Node("a", ra), c.Node("b", rb)
	done := make(chan error, 1)
	go func() { done <- b.Run(context.Background()) }()
	ctx := t.Context()
	tp := broker.Topic{App: "1", Kind: broker.ChannelTopic, Name: "x"}
	if err := b.Listen(ctx, tp); err != nil {
		t.Fatal(err)
	}
	c.Crash("b")
	select {
	case err := <-done:
		if !errors.Is(err, broker.ErrUnavailable) {
			t.Fatalf("Run of a crashed node = %v, want ErrUnavailable", err)
		}
	case <-time.After(brokertest.Wait):
		t.Fatal("Run did not return after Crash")
	}
	if err := b.Ready(); !errors.Is(err, broker.ErrUnavailable) {
		t.Fatalf("Ready = %v", err)
	}
	if _, err := b.Join(ctx, broker.JoinRequest{App: "1", Channel: "x", SocketID: "1.1"}); !errors.Is(err, broker.ErrUnavailable) {
		t.Fatalf("Join = %v", err)
	}
	if n, err := a.Nodes(ctx); err != nil || n != 1 {
		t.Fatalf("Nodes = %d, %v; want 1", n, err)
	}
	if err := a.Publish(ctx, broker.Message{Topic: tp, Frame: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if got := rb.Messages(); len(got) != 0 {
		t.Fatalf("crashed node got %d messages", len(got))
	}
	defer func() {
		if recover() == nil {
			t.Fatal("a second live node named a did not panic")
		}
	}()
	c.Node("a", ra)
}

// TestUnlisten: delivery is inline, so Unlisten takes effect at once.
func TestUnlisten(t *testing.T) {
	rec := brokertest.NewRecorder()
	b := memory.New(memory.Config{}, rec)
	ctx := t.Context()
	tp := broker.Topic{App: "1", Kind: broker.ChannelTopic, Name: "x"}
	for range 2 {
		if err := b.Listen(ctx, tp); err != nil {
			t.Fatal(err)
		}
	}
	b.Unlisten(tp)
	b.Unlisten(tp)
	b.Unlisten(tp) // one too many: ignored
	if err := b.Publish(ctx, broker.Message{Topic: tp}); err != nil {
		t.Fatal(err)
	}
	if err := b.Listen(ctx, tp); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(ctx, broker.Message{Topic: tp, Frame: []byte("on")}); err != nil {
		t.Fatal(err)
	}
	if got := brokertest.Frames(rec.Messages()); len(got) != 1 || got[0] != "on" {
		t.Fatalf("got %q, want only the message published while listening", got)
	}
}

// TestPublishAllocs: the hot path allocates nothing.
func TestPublishAllocs(t *testing.T) {
	b := memory.New(memory.Config{}, nopHandler{})
	ctx := context.Background()
	m := broker.Message{Topic: broker.Topic{App: "1", Kind: broker.ChannelTopic, Name: "ticker"}, Frame: []byte(`{"event":"x"}`)}
	if err := b.Listen(ctx, m.Topic); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(1000, func() { _ = b.Publish(ctx, m) }); n != 0 {
		t.Fatalf("Publish allocates %v times", n)
	}
}

type nopHandler struct{}

func (nopHandler) Deliver(broker.Message)                  {}
func (nopHandler) Reaped(context.Context, []broker.Change) {}
func (nopHandler) Local() broker.LocalState                { return broker.LocalState{} }

// BenchmarkPublish: one event to a listening node whose handler does
// nothing; on one topic from every goroutine, and on a topic per goroutine.
func BenchmarkPublish(b *testing.B) {
	for _, topics := range []int{1, 64} {
		b.Run("topics="+strconv.Itoa(topics), func(b *testing.B) {
			br := memory.New(memory.Config{}, nopHandler{})
			ctx := context.Background()
			msgs := make([]broker.Message, topics)
			for i := range msgs {
				msgs[i] = broker.Message{Topic: broker.Topic{App: "1", Kind: broker.ChannelTopic, Name: fmt.Sprintf("ticker-%d", i)}, Frame: []byte(`{"event":"x"}`)}
				if err := br.Listen(ctx, msgs[i].Topic); err != nil {
					b.Fatal(err)
				}
			}
			var next atomic.Int64
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				m := msgs[int(next.Add(1))%topics]
				for pb.Next() {
					_ = br.Publish(ctx, m)
				}
			})
		})
	}
}

// BenchmarkJoinLeave: a subscribe and its unsubscribe in a public channel
// that stays occupied; each goroutine has channels of its own.
func BenchmarkJoinLeave(b *testing.B) {
	benchJoinLeave(b, false)
}

// BenchmarkJoinLeavePresence: as BenchmarkJoinLeave, in a presence channel
// of 10 members, each join adding a member (member_added published to a
// listening node) and each leave removing it.
func BenchmarkJoinLeavePresence(b *testing.B) {
	benchJoinLeave(b, true)
}

func benchJoinLeave(b *testing.B, presence bool) {
	br := memory.New(memory.Config{}, nopHandler{})
	ctx := context.Background()
	const chans, resident = 16, 10
	var next atomic.Int64
	frame := []byte(`{"event":"pusher_internal:member_added"}`)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		g := next.Add(1)
		var joins []broker.JoinRequest
		for i := range chans {
			ch := fmt.Sprintf("presence-%d-%d", g, i)
			if err := br.Listen(ctx, broker.Topic{App: "1", Kind: broker.ChannelTopic, Name: ch}); err != nil {
				b.Error(err)
				return
			}
			for k := range resident {
				r := broker.JoinRequest{App: "1", Channel: ch, SocketID: fmt.Sprintf("r%d", k), Presence: presence, Member: broker.Member{UserID: fmt.Sprintf("r%d", k), Info: []byte(`{}`)}}
				if _, err := br.Join(ctx, r); err != nil {
					b.Error(err)
					return
				}
			}
			joins = append(joins, broker.JoinRequest{
				App: "1", Channel: ch, SocketID: fmt.Sprintf("%d.%d", g, i),
				Presence: presence, Member: broker.Member{UserID: "u", Info: []byte(`{"name":"u"}`)}, MemberAdded: frame,
			})
		}
		i := 0
		for pb.Next() {
			j := joins[i%chans]
			i++
			if _, err := br.Join(ctx, j); err != nil {
				b.Error(err)
				return
			}
			if _, err := br.Leave(ctx, broker.LeaveRequest{App: "1", Channel: j.Channel, SocketID: j.SocketID, Presence: presence, UserID: "u", MemberRemoved: frame}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
