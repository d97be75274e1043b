package webhooks

import (
	"fmt"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/hub"
)

func names(evs []map[string]any) []string {
	var out []string
	for _, e := range evs {
		s := fmt.Sprint(e["name"], "@", e["channel"])
		if u, ok := e["user_id"]; ok {
			s += "/" + fmt.Sprint(u)
		}
		out = append(out, s)
	}
	return out
}

// TestLeaveThenRejoinSendsNothing: the vacated is cancelled by the rejoin,
// and the rejoin's occupied is not sent either. Absence is proven without
// sleeping: a later leave on another channel (due after the cancelled one
// would have been) arrives alone.
func TestLeaveThenRejoinSendsNothing(t *testing.T) {
	rcv := newReceiver(t, nil)
	h := run(t, fast(dbPath(t)), store(t, app("1", hook(rcv.URL))))
	h.d.Observe(occupied("1", "c"))
	waitFor(t, "occupied", 5*time.Second, func() bool { return len(rcv.events(t)) == 1 })
	h.d.Observe(vacated("1", "c"))
	h.d.Observe(occupied("1", "c"))
	h.d.Observe(vacated("1", "sentinel"))
	waitFor(t, "sentinel", 5*time.Second, func() bool { return len(rcv.events(t)) == 2 })
	if got := fmt.Sprint(names(rcv.events(t))); got != "[channel_occupied@c channel_vacated@sentinel]" {
		t.Fatalf("events = %s", got)
	}
	if got := value(h.m.Events.WithLabelValues("1", "debounced")); got != 2 {
		t.Errorf("debounced = %v, want 2", got)
	}
}

// TestLeaveAndStayAway: the vacated arrives, no earlier than the delay.
func TestLeaveAndStayAway(t *testing.T) {
	rcv := newReceiver(t, nil)
	cfg := fast(dbPath(t))
	cfg.LeaveDelay = 300 * time.Millisecond
	h := run(t, cfg, store(t, app("1", hook(rcv.URL))))
	start := time.Now()
	h.d.Observe(vacated("1", "c"))
	waitFor(t, "vacated", 5*time.Second, func() bool { return len(rcv.events(t)) == 1 })
	if el := rcv.ok()[0].At.Sub(start); el < cfg.LeaveDelay {
		t.Errorf("vacated after %v, before the %v delay", el, cfg.LeaveDelay)
	}
	if got := rcv.ok()[0].payload(t).TimeMS; got != t0 {
		t.Errorf("time_ms = %d, want the time of the leave %d", got, t0)
	}
}

// TestMemberFlapping: a user leaving and rejoining repeatedly inside the
// delay produces nothing; when they finally stay away, one member_removed.
// Another user's leave in the same channel is independent.
func TestMemberFlapping(t *testing.T) {
	rcv := newReceiver(t, nil)
	h := run(t, fast(dbPath(t)), store(t, app("1", hook(rcv.URL))))
	h.d.Observe(member(hub.MemberAdded, "1", "presence-r", "u1"))
	h.d.Observe(member(hub.MemberAdded, "1", "presence-r", "u2"))
	waitFor(t, "two adds", 5*time.Second, func() bool { return len(rcv.events(t)) == 2 })
	for range 20 {
		h.d.Observe(member(hub.MemberRemoved, "1", "presence-r", "u1"))
		h.d.Observe(member(hub.MemberAdded, "1", "presence-r", "u1"))
	}
	h.d.Observe(member(hub.MemberRemoved, "1", "presence-r", "u1"))
	h.d.Observe(member(hub.MemberRemoved, "1", "presence-r", "u2"))
	waitFor(t, "two removes", 5*time.Second, func() bool { return len(rcv.events(t)) == 4 })
	want := "[member_added@presence-r/u1 member_added@presence-r/u2 member_removed@presence-r/u1 member_removed@presence-r/u2]"
	if got := fmt.Sprint(names(rcv.events(t))); got != want {
		t.Fatalf("events = %s\nwant %s", got, want)
	}
	// Nothing else trails in: a sentinel leave queued now is next.
	h.d.Observe(vacated("1", "sentinel"))
	waitFor(t, "sentinel", 5*time.Second, func() bool { return len(rcv.events(t)) == 5 })
}

// TestCacheMissDeduplicated: simultaneous subscribers of an empty cache
// channel produce one cache_miss; another channel has its own.
func TestCacheMissDeduplicated(t *testing.T) {
	rcv := newReceiver(t, nil)
	h := run(t, fast(dbPath(t)), store(t, app("1", hook(rcv.URL))))
	for range 10 {
		h.d.Observe(hub.Event{Kind: hub.CacheMiss, AppID: "1", Channel: "cache-a", TimeMS: t0})
	}
	h.d.Observe(hub.Event{Kind: hub.CacheMiss, AppID: "1", Channel: "cache-b", TimeMS: t0})
	h.d.Observe(vacated("1", "sentinel"))
	waitFor(t, "sentinel", 5*time.Second, func() bool { return len(rcv.events(t)) >= 3 })
	if got := fmt.Sprint(names(rcv.events(t))); got != "[cache_miss@cache-a cache_miss@cache-b channel_vacated@sentinel]" {
		t.Fatalf("events = %s", got)
	}
	if got := value(h.m.Events.WithLabelValues("1", "deduplicated")); got != 9 {
		t.Errorf("deduplicated = %v, want 9", got)
	}
}

func TestCacheMissWindowExpires(t *testing.T) {
	var c cacheMisses
	now := time.Unix(1000, 0)
	e := hub.Event{Kind: hub.CacheMiss, AppID: "1", Channel: "cache-a"}
	if c.duplicate(e, now) || !c.duplicate(e, now.Add(cacheMissWindow-1)) || c.duplicate(e, now.Add(cacheMissWindow+time.Millisecond)) {
		t.Fatal("window not applied")
	}
	c.duplicate(hub.Event{AppID: "1", Channel: "cache-b"}, now.Add(5*cacheMissWindow))
	if len(c.seen) != 1 {
		t.Errorf("stale entries kept: %d", len(c.seen))
	}
}

// TestLeavesFlappingStaysBounded: leave/rejoin flapping on one channel
// keeps the heap small (cancelled entries are compacted away), and the
// live leave still comes out when due.
func TestLeavesFlappingStaysBounded(t *testing.T) {
	var l leaves
	now := time.Now()
	vacated := hub.Event{Kind: hub.ChannelVacated, AppID: "1", Channel: "flap"}
	occupied := hub.Event{Kind: hub.ChannelOccupied, AppID: "1", Channel: "flap"}
	for i := range 10_000 {
		l.add(uint64(i+1), leaveRecord{due: now.Add(3 * time.Second), ev: vacated})
		if _, ok := l.cancel(occupied); !ok {
			t.Fatalf("flap %d: the rejoin found no pending leave", i)
		}
	}
	if len(l.h) > 2*len(l.byKey)+compactSlack {
		t.Fatalf("heap holds %d entries for %d pending leaves", len(l.h), len(l.byKey))
	}
	l.add(20_000, leaveRecord{due: now.Add(3 * time.Second), ev: vacated})
	e, ok := l.popDue(now.Add(4 * time.Second))
	if !ok || e.seq != 20_000 {
		t.Fatalf("live leave: got %+v, %v", e, ok)
	}
	if _, ok := l.popDue(now.Add(4 * time.Second)); ok {
		t.Fatal("a cancelled leave came out")
	}
}
