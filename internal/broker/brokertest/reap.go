package brokertest

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/broker"
)

// testReap: a crashed node's share is removed by the survivors, which
// report its transitions exactly once between them.
func testReap(t *testing.T, s *suite) {
	if s.c.Single || s.c.Crash == nil {
		t.Skip("needs distinct nodes and Crash")
	}
	ns := s.nodes(t, 3)
	a, b, c := ns[0], ns[1], ns[2] // b dies
	ctx := t.Context()

	s.join(t, b, "pub-b", "2.1")
	s.join(t, a, "pub-ab", "1.1")
	s.join(t, b, "pub-ab", "2.2")
	s.pjoin(t, a, "presence-x", "1.3", "u1", `{"on":"a"}`, 0)
	s.pjoin(t, b, "presence-x", "2.3", "u1", `{"on":"b"}`, 0)
	vx := s.pjoin(t, b, "presence-x", "2.4", "u2", `{}`, 0).Version
	vb := s.pjoin(t, b, "presence-b", "2.5", "u3", `{}`, 0).Version
	for _, in := range []struct {
		n          node
		user, sock string
	}{{b, "s1", "2.6"}, {a, "s2", "1.7"}, {b, "s2", "2.7"}} {
		_, err := in.n.SignIn(ctx, s.app, in.user, in.sock, []byte("online"))
		noErr(t, "SignIn", err)
	}
	for _, n := range []node{a, a, b, b, b} {
		_, err := n.AddConnection(ctx, s.app, 0)
		noErr(t, "AddConnection", err)
	}
	noErr(t, "Listen", b.Listen(ctx, s.chTopic("presence-x")))

	type key struct {
		kind          broker.ChangeKind
		channel, user string
		count         int
	}
	want := map[key]int{
		{kind: broker.MemberGone, channel: "presence-x", user: "u2"}: 1,
		{kind: broker.MemberGone, channel: "presence-b", user: "u3"}: 1,
		{kind: broker.Vacated, channel: "pub-b"}:                     1,
		{kind: broker.Vacated, channel: "presence-b"}:                1,
		{kind: broker.CountChanged, channel: "pub-ab", count: 1}:     1,
		{kind: broker.CountChanged, channel: "presence-x", count: 1}: 1,
		{kind: broker.Offline, user: "s1"}:                           1,
	}
	var versions map[string]uint64 // MemberGone's, by channel
	reported := func() (map[key]int, error) {
		got := make(map[key]int)
		versions = make(map[string]uint64)
		for _, n := range []node{a, c} {
			for _, ch := range n.rec.Changes() {
				if ch.App != s.app {
					return nil, fmt.Errorf("change %+v of an app the case did not use", ch)
				}
				got[key{ch.Kind, ch.Channel, ch.UserID, ch.Count}]++
				if ch.Kind == broker.MemberGone {
					versions[ch.Channel] = ch.Version
				}
			}
		}
		return got, nil
	}

	s.c.Crash(t, b.Broker) // the adapter's own value, not the suite's wrapper
	Within(t, s.c.ReapWithin, func() error {
		got, err := reported()
		if err != nil {
			return err
		}
		for k := range want {
			if got[k] == 0 {
				return fmt.Errorf("reported so far %v; want %v", got, want)
			}
		}
		return nil
	})
	// A second report of the same node would come from another survivor's
	// reaping, later; give it a moment to show.
	time.Sleep(min(s.c.ReapWithin/4, time.Second))
	got, err := reported()
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got, want) {
		t.Fatalf("reported %v;\nwant each of %v once", got, want)
	}
	if versions["presence-x"] <= vx || versions["presence-b"] <= vb {
		t.Fatalf("MemberGone versions %v, want above the channels' last versions %d and %d", versions, vx, vb)
	}

	// The state no longer holds b's share, seen from either survivor.
	for i, n := range []node{a, c} {
		if got := s.channels(t, n, ""); !maps.Equal(got, map[string]broker.ChannelStats{
			"pub-ab":     {Subscriptions: 1},
			"presence-x": {Subscriptions: 1, Users: 1},
		}) {
			t.Fatalf("survivor %d: Channels = %v", i, got)
		}
		if got := s.members(t, n, "presence-x"); got != `u1={"on":"a"}` {
			t.Fatalf("survivor %d: members %q, want u1 as it joined on a", i, got)
		}
		on, err := n.Online(ctx, s.app, []string{"s1", "s2"})
		noErr(t, "Online", err)
		if !slices.Equal(on, []bool{false, true}) {
			t.Fatalf("survivor %d: Online s1 s2 = %v, want false true", i, on)
		}
		if k, err := n.UserConnections(ctx, s.app, "s2"); err != nil || k != 1 {
			t.Fatalf("survivor %d: UserConnections s2 = %d, %v; want 1", i, k, err)
		}
		if k, err := n.Connections(ctx, s.app); err != nil || k != 2 {
			t.Fatalf("survivor %d: Connections = %d, %v; want 2", i, k, err)
		}
	}
	Eventually(t, func() error {
		if k, err := a.Nodes(ctx); err != nil || k != 2 {
			return fmt.Errorf("Nodes = %d, %v; want 2", k, err)
		}
		return nil
	})

	// Transitions go on from the reaped state.
	l := s.pleave(t, a, "presence-x", "1.3", "u1")
	checkLeave(t, "u1 leaves on a", l, "gone=true vacated=true subs=0")
	if l.Version <= versions["presence-x"] {
		t.Fatalf("version %d after the reaped MemberGone's %d", l.Version, versions["presence-x"])
	}
}
