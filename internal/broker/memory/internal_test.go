package memory

import (
	"context"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/broker"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type nop struct{}

func (nop) Deliver(broker.Message)                  {}
func (nop) Reaped(context.Context, []broker.Change) {}
func (nop) Local() broker.LocalState                { return broker.LocalState{} }

func newClocked() (*Broker, *clock) {
	c := &clock{t: time.Unix(1_000_000, 0)}
	return New(Config{Now: c.now}, nop{}), c
}

// TestCacheTTL: the TTL counts down on the clock; purge forgets expired
// entries.
func TestCacheTTL(t *testing.T) {
	b, clk := newClocked()
	ctx := t.Context()
	m := broker.Message{Topic: broker.Topic{App: "1", Kind: broker.ChannelTopic, Name: "cache-x"}}
	if err := b.PublishCached(ctx, m, "ev", "d", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := b.PublishCached(ctx, broker.Message{Topic: broker.Topic{App: "1", Name: "cache-y"}}, "ev", "d", 0); err != nil {
		t.Fatal(err)
	}
	clk.add(4 * time.Second)
	if e, ok, _ := b.Cached(ctx, "1", "cache-x"); !ok || e.TTL != 6*time.Second {
		t.Fatalf("Cached = %+v, %v; want TTL 6s", e, ok)
	}
	if _, ok, _ := b.Cached(ctx, "1", "cache-y"); ok {
		t.Fatal("ttl 0 was cached")
	}
	b.st.purge()
	if n := cacheSize(b.st); n != 1 {
		t.Fatalf("%d entries after purging none expired, want 1", n)
	}
	clk.add(6 * time.Second)
	if e, ok, _ := b.Cached(ctx, "1", "cache-x"); ok {
		t.Fatalf("Cached = %+v at expiry", e)
	}
	b.st.purge()
	if n := cacheSize(b.st); n != 0 {
		t.Fatalf("%d entries after purging an expired one", n)
	}
	// ttl 0 after a cached event: that event is no longer the last one.
	if err := b.PublishCached(ctx, m, "ev", "d1", time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := b.PublishCached(ctx, m, "ev", "d2", 0); err != nil {
		t.Fatal(err)
	}
	if e, ok, _ := b.Cached(ctx, "1", "cache-x"); ok {
		t.Fatalf("Cached = %+v after a later event with ttl 0", e)
	}
}

func cacheSize(st *state) int {
	n := 0
	for i := range st.chans {
		st.chans[i].mu.Lock()
		n += len(st.chans[i].cache)
		st.chans[i].mu.Unlock()
	}
	return n
}

// TestAllowClock: the wait is the time until one token; buckets refill at
// rate and are forgotten once full.
func TestAllowClock(t *testing.T) {
	b, clk := newClocked()
	ctx := t.Context()
	allow := func(rate float64, burst int, wantOK bool, wantWait time.Duration) {
		t.Helper()
		wait, ok, err := b.Allow(ctx, "k", rate, burst)
		if err != nil || ok != wantOK || wait != wantWait {
			t.Fatalf("Allow = %v, %v, %v; want %v, %v", wait, ok, err, wantWait, wantOK)
		}
	}
	allow(2, 2, true, 0)
	allow(2, 2, true, 0)
	allow(2, 2, false, 500*time.Millisecond)
	clk.add(200 * time.Millisecond)
	allow(2, 2, false, 300*time.Millisecond)
	clk.add(300 * time.Millisecond)
	allow(2, 2, true, 0)
	allow(2, 2, false, 500*time.Millisecond)
	clk.add(-time.Second) // a clock going back adds nothing
	allow(2, 2, false, 500*time.Millisecond)
	clk.add(time.Second)
	b.st.purge()
	if len(b.st.buckets) != 1 {
		t.Fatal("a bucket still refilling was purged")
	}
	clk.add(time.Second)
	b.st.purge()
	if len(b.st.buckets) != 0 {
		t.Fatal("a full bucket was kept")
	}
	allow(0, 0, true, 0) // no limit
	allow(-1, 0, true, 0)
	allow(math.NaN(), 0, true, 0)
	// A wait beyond a Duration's range is the longest Duration, not the
	// undefined (on amd64, negative) conversion clamped to 1ns.
	if _, ok, _ := b.Allow(ctx, "slow", 1e-12, 1); !ok {
		t.Fatal("a new bucket refused")
	}
	if wait, ok, err := b.Allow(ctx, "slow", 1e-12, 1); err != nil || ok || wait != math.MaxInt64 {
		t.Fatalf("Allow at 1e-12/s = %v, %v, %v; want refused with the longest wait", wait, ok, err)
	}
}

// TestAllowForgetsDeletedApp: a key no longer asked for (a deleted app's)
// is dropped by the purge once its bucket has refilled; a live one that is
// still refilling stays, and a new bucket after the drop starts full.
func TestAllowForgetsDeletedApp(t *testing.T) {
	b, clk := newClocked()
	ctx := t.Context()
	for range 3 {
		b.Allow(ctx, "api:gone", 1, 3)
	}
	clk.add(2 * time.Second)
	for range 4 {
		b.Allow(ctx, "api:live", 1, 4)
	}
	b.st.purge()
	if _, ok := b.st.buckets["api:gone"]; !ok || len(b.st.buckets) != 2 {
		t.Fatalf("buckets %v after 2s; want both (gone has 2 of 3 tokens)", len(b.st.buckets))
	}
	clk.add(time.Second)
	b.st.purge()
	if _, ok := b.st.buckets["api:gone"]; ok || len(b.st.buckets) != 1 {
		t.Fatalf("buckets %v: the refilled bucket of the deleted app was kept", len(b.st.buckets))
	}
	clk.add(3 * time.Second)
	b.st.purge()
	if len(b.st.buckets) != 0 {
		t.Fatal("the live app's refilled bucket was kept")
	}
	for i := range 4 {
		if _, ok, _ := b.Allow(ctx, "api:live", 1, 4); !ok {
			t.Fatalf("token %d of a fresh bucket refused", i)
		}
	}
}

// TestReapOrder: a reaping report lists each channel's member changes in
// user and version order, then its count; channels sorted, then users.
func TestReapOrder(t *testing.T) {
	c := NewCluster(ClusterConfig{ReapInterval: time.Hour})
	rep := &reports{}
	a, b := c.Node("a", rep), c.Node("b", nop{})
	ctx := t.Context()
	join := func(n *Broker, ch, sock, user string) {
		t.Helper()
		r := broker.JoinRequest{App: "1", Channel: ch, SocketID: sock, Presence: user != "", Member: broker.Member{UserID: user}}
		if _, err := n.Join(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	join(b, "presence-z", "2.1", "u2")
	join(b, "presence-z", "2.2", "u1")
	join(a, "presence-z", "1.1", "u3")
	join(b, "m", "2.3", "")
	if _, err := b.SignIn(ctx, "1", "v", "2.4", nil); err != nil {
		t.Fatal(err)
	}
	c.Crash("b")
	c.reap(ctx, a)
	c.reap(ctx, a) // nothing left to reap: no second report
	if len(rep.got) != 1 {
		t.Fatalf("%d reports, want 1", len(rep.got))
	}
	got := rep.got[0]
	want := []broker.Change{
		{Kind: broker.Vacated, App: "1", Channel: "m"},
		{Kind: broker.MemberGone, App: "1", Channel: "presence-z", UserID: "u1"},
		{Kind: broker.MemberGone, App: "1", Channel: "presence-z", UserID: "u2"},
		{Kind: broker.CountChanged, App: "1", Channel: "presence-z", Count: 1},
		{Kind: broker.Offline, App: "1", UserID: "v"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		w, g := want[i], got[i]
		g.Version = 0
		if g.Kind != w.Kind || g.App != w.App || g.Channel != w.Channel || g.UserID != w.UserID || g.Count != w.Count {
			t.Fatalf("change %d = %+v, want %+v (all: %+v)", i, got[i], w, got)
		}
	}
	if !(got[1].Version < got[2].Version) {
		t.Fatalf("member versions %d, %d not in order", got[1].Version, got[2].Version)
	}
}

type reports struct {
	nop
	got [][]broker.Change
}

func (r *reports) Reaped(_ context.Context, c []broker.Change) { r.got = append(r.got, c) }
