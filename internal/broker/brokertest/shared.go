package brokertest

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/broker"
)

// testCache: PublishCached publishes and stores; Cached answers from any
// node.
func testCache(t *testing.T, s *suite) {
	ns := s.nodes(t, 2)
	a, b := ns[0], ns[1]
	ctx := t.Context()
	tp := s.chTopic("cache-news")
	noErr(t, "Listen", b.Listen(ctx, tp))
	noErr(t, "PublishCached", a.PublishCached(ctx, broker.Message{Topic: tp, Frame: []byte("f1")}, "ev", "d1", time.Minute))
	check := func(data string) {
		t.Helper()
		e, ok, err := b.Cached(ctx, s.app, "cache-news")
		noErr(t, "Cached", err)
		if !ok || e.Event != "ev" || e.Data != data || e.TTL <= 0 || e.TTL > time.Minute {
			t.Fatalf("Cached = %+v, %v; want ev, %s, a TTL in (0, 1m]", e, ok, data)
		}
	}
	check("d1")
	noErr(t, "PublishCached", b.PublishCached(ctx, broker.Message{Topic: tp, Frame: []byte("f2")}, "ev", "d2", time.Minute))
	check("d2")
	// ttl 0 caches nothing, but d2 is no longer the last event.
	noErr(t, "PublishCached", a.PublishCached(ctx, broker.Message{Topic: tp, Frame: []byte("f3")}, "ev", "d3", 0))
	if e, ok, err := b.Cached(ctx, s.app, "cache-news"); err != nil || ok && e.Data != "d3" {
		t.Fatalf("Cached after a ttl-0 event = %+v, %v, %v; want nothing or d3", e, ok, err)
	}
	s.wantFrames(t, tp, []string{"f1", "f2", "f3"}, b)
	for _, k := range [][2]string{{s.app, "cache-other"}, {s.app + "-other", "cache-news"}} {
		if e, ok, err := a.Cached(ctx, k[0], k[1]); err != nil || ok {
			t.Fatalf("Cached %s %s = %+v, %v, %v; want nothing", k[0], k[1], e, ok, err)
		}
	}
}

// testCacheExpiry: an entry is gone once its TTL passed.
func testCacheExpiry(t *testing.T, s *suite) {
	ns := s.nodes(t, 2)
	a, b := ns[0], ns[1]
	ctx := t.Context()
	const ttl = 300 * time.Millisecond
	start := time.Now()
	noErr(t, "PublishCached", a.PublishCached(ctx, broker.Message{Topic: s.chTopic("cache-short"), Frame: []byte("f")}, "ev", "d", ttl))
	e, ok, err := b.Cached(ctx, s.app, "cache-short")
	noErr(t, "Cached", err)
	switch {
	case ok && (e.Data != "d" || e.TTL <= 0 || e.TTL > ttl):
		t.Fatalf("Cached = %+v; want d with a TTL in (0, %v]", e, ttl)
	case !ok && time.Since(start) < ttl:
		t.Fatalf("Cached found nothing %v after PublishCached with TTL %v", time.Since(start), ttl)
	}
	Eventually(t, func() error {
		if _, ok, err := b.Cached(ctx, s.app, "cache-short"); err != nil || ok {
			return fmt.Errorf("Cached still finds the entry (%v) %v after it was stored with TTL %v", err, time.Since(start), ttl)
		}
		return nil
	})
	if el := time.Since(start); el < ttl-50*time.Millisecond {
		t.Fatalf("entry with TTL %v gone after %v", ttl, el)
	}
}

// testUsers: sign-ins are counted per user across nodes; the first and the
// last publish online and offline on the user's WatchTopic.
func testUsers(t *testing.T, s *suite) {
	ns := s.nodes(t, 2)
	a, b := ns[0], ns[1]
	ctx := t.Context()
	wt := s.topic(broker.WatchTopic, "u1")
	noErr(t, "Listen", a.Listen(ctx, wt))
	noErr(t, "Listen", b.Listen(ctx, wt))

	signIn := func(n node, sock string, want bool) {
		t.Helper()
		first, err := n.SignIn(ctx, s.app, "u1", sock, []byte("online:"+sock))
		noErr(t, "SignIn", err)
		if first != want {
			t.Fatalf("SignIn %s: first = %v, want %v", sock, first, want)
		}
	}
	signOut := func(n node, sock string, want bool) {
		t.Helper()
		last, err := n.SignOut(ctx, s.app, "u1", sock, []byte("offline:"+sock))
		noErr(t, "SignOut", err)
		if last != want {
			t.Fatalf("SignOut %s: last = %v, want %v", sock, last, want)
		}
	}
	online := func(n node, want ...bool) {
		t.Helper()
		got, err := n.Online(ctx, s.app, []string{"u1", "u2"})
		noErr(t, "Online", err)
		if !slices.Equal(got, want) {
			t.Fatalf("Online u1 u2 = %v, want %v", got, want)
		}
	}
	conns := func(n node, want int) {
		t.Helper()
		got, err := n.UserConnections(ctx, s.app, "u1")
		noErr(t, "UserConnections", err)
		if got != want {
			t.Fatalf("UserConnections = %d, want %d", got, want)
		}
	}

	online(b, false, false)
	signIn(a, "1.1", true)
	signIn(b, "2.1", false)
	signIn(b, "2.1", false) // again: no change
	online(a, true, false)
	conns(b, 2)
	other, err := a.Online(ctx, s.app+"-other", []string{"u1"})
	noErr(t, "Online", err)
	if !slices.Equal(other, []bool{false}) {
		t.Fatalf("another app's Online u1 = %v", other)
	}
	signOut(a, "1.1", false)
	signOut(a, "9.9", false) // never signed in
	conns(a, 1)
	online(b, true, false)
	signOut(b, "2.1", true)
	online(a, false, false)
	conns(a, 0)

	s.wantMessages(t, wt, []broker.Message{{Topic: wt, Frame: []byte("online:1.1")}, {Topic: wt, Frame: []byte("offline:2.1")}}, a, b)
}

// testConnections: connections are counted per app across nodes, against
// a cluster-wide max.
func testConnections(t *testing.T, s *suite) {
	ns := s.nodes(t, 2)
	a, b := ns[0], ns[1]
	ctx := t.Context()
	add := func(n node, max int, want bool) {
		t.Helper()
		ok, err := n.AddConnection(ctx, s.app, max)
		noErr(t, "AddConnection", err)
		if ok != want {
			t.Fatalf("AddConnection max %d = %v, want %v", max, ok, want)
		}
	}
	count := func(n node, want int) {
		t.Helper()
		got, err := n.Connections(ctx, s.app)
		noErr(t, "Connections", err)
		if got != want {
			t.Fatalf("Connections = %d, want %d", got, want)
		}
	}
	add(a, 3, true)
	add(b, 3, true)
	add(a, 3, true)
	add(b, 3, false)
	count(a, 3)
	count(b, 3)
	noErr(t, "RemoveConnection", a.RemoveConnection(ctx, s.app))
	count(b, 2)
	add(b, 3, true)
	add(a, 0, true) // no limit
	count(a, 4)
	if n, err := a.Connections(ctx, s.app+"-other"); err != nil || n != 0 {
		t.Fatalf("another app's Connections = %d, %v", n, err)
	}
	for _, n := range []node{a, a, b, b} {
		noErr(t, "RemoveConnection", n.RemoveConnection(ctx, s.app))
	}
	count(b, 0)
}

// testAllow: one bucket per key for the whole cluster.
func testAllow(t *testing.T, s *suite) {
	ns := s.nodes(t, 2)
	// drain takes tokens until refused; time can only add tokens, so the
	// count is burst plus what the time taken refilled.
	drain := func(key string, rate float64, burst int, capacity float64) {
		t.Helper()
		start := time.Now()
		for i := 0; ; i++ {
			wait, ok, err := ns[i%2].Allow(t.Context(), key, rate, burst)
			noErr(t, "Allow", err)
			if ok {
				if limit := capacity + math.Ceil(time.Since(start).Seconds()*rate); float64(i+1) > limit {
					t.Fatalf("Allow(%v, %d): %d tokens taken, at most %v possible", rate, burst, i+1, limit)
				}
				continue
			}
			if float64(i) < capacity {
				t.Fatalf("Allow(%v, %d): refused after %d tokens, want at least %v", rate, burst, i, capacity)
			}
			if wait <= 0 || wait > time.Duration(float64(time.Second)/rate) {
				t.Fatalf("Allow(%v, %d): refused with wait %v, want (0, %v]", rate, burst, wait, time.Duration(float64(time.Second)/rate))
			}
			return
		}
	}
	drain(s.app+":a", 0.5, 3, 3)
	drain(s.app+":b", 0.5, 0, 1) // burst 0: max(1, rate)
	drain(s.app+":c", 4, 0, 4)
}

// testNodesReady: every node counts the live nodes and is ready.
func testNodesReady(t *testing.T, s *suite) {
	ns := s.nodes(t, 2)
	want := 2
	if s.c.Single {
		want = 1
	}
	waitNodes := func(n node, want int) {
		t.Helper()
		Eventually(t, func() error {
			if err := n.Ready(); err != nil {
				return fmt.Errorf("Ready: %w", err)
			}
			got, err := n.Nodes(t.Context())
			if err != nil || got != want {
				return fmt.Errorf("Nodes = %d, %v; want %d", got, err, want)
			}
			return nil
		})
	}
	for _, n := range ns {
		waitNodes(n, want)
	}
	if !s.multi(t) {
		return
	}
	s.start(t)
	waitNodes(ns[0], 3)
}
