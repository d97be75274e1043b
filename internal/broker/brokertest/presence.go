package brokertest

import (
	"maps"
	"testing"

	"github.com/heraldhq/herald/internal/broker"
)

// testJoinLeave: occupancy and subscription counts are cluster-wide.
func testJoinLeave(t *testing.T, s *suite) {
	ns := s.nodes(t, 2)
	a, b := ns[0], ns[1]
	checkJoin(t, "first join", s.join(t, a, "room", "1.1"), "full=false occupied=true new=false subs=1 members=[]")
	checkJoin(t, "join on another node", s.join(t, b, "room", "2.1"), "full=false occupied=false new=false subs=2 members=[]")
	checkJoin(t, "third join", s.join(t, a, "room", "1.2"), "full=false occupied=false new=false subs=3 members=[]")
	if st := s.stats(t, b, "room"); st != (broker.ChannelStats{Subscriptions: 3}) {
		t.Fatalf("Channel = %+v, want 3 subscriptions", st)
	}
	checkLeave(t, "leave", s.leave(t, a, "room", "1.1"), "gone=false vacated=false subs=2")
	checkLeave(t, "leave on the other node", s.leave(t, b, "room", "2.1"), "gone=false vacated=false subs=1")
	checkLeave(t, "last leave", s.leave(t, a, "room", "1.2"), "gone=false vacated=true subs=0")
	if st := s.stats(t, b, "room"); st != (broker.ChannelStats{}) {
		t.Fatalf("Channel of a vacated channel = %+v, want zero", st)
	}
	if m := s.channels(t, a, ""); len(m) != 0 {
		t.Fatalf("Channels after vacating = %v, want none", m)
	}
	checkJoin(t, "join after vacating", s.join(t, b, "room", "2.2"), "full=false occupied=true new=false subs=1 members=[]")
}

// testDuplicateJoin: joining again with the same socket id changes nothing.
func testDuplicateJoin(t *testing.T, s *suite) {
	ns := s.nodes(t, 2)
	a, b := ns[0], ns[1]
	checkJoin(t, "join", s.join(t, a, "room", "1.1"), "full=false occupied=true new=false subs=1 members=[]")
	checkJoin(t, "same socket again", s.join(t, a, "room", "1.1"), "full=false occupied=false new=false subs=1 members=[]")
	checkLeave(t, "one leave", s.leave(t, a, "room", "1.1"), "gone=false vacated=true subs=0")

	const ch = "presence-dup"
	noErr(t, "Listen", b.Listen(t.Context(), s.chTopic(ch)))
	first := s.pjoin(t, a, ch, "1.1", "u1", `{"n":1}`, 0)
	checkJoin(t, "presence join", first, `full=false occupied=true new=true subs=1 members=[u1={"n":1}]`)
	again := s.pjoin(t, a, ch, "1.1", "u1", `{"n":2}`, 0)
	checkJoin(t, "same socket again", again, `full=false occupied=false new=false subs=1 members=[u1={"n":1}]`)
	if again.Version != first.Version {
		t.Fatalf("duplicate join moved the version from %d to %d", first.Version, again.Version)
	}
	checkLeave(t, "one leave", s.pleave(t, a, ch, "1.1", "u1"), "gone=true vacated=true subs=0")
	s.wantFrames(t, s.chTopic(ch), []string{"added:u1:1.1", "removed:u1"}, b)
}

// testLeaveUnknown: leaving with a socket id that did not join is a no-op.
func testLeaveUnknown(t *testing.T, s *suite) {
	ns := s.nodes(t, 2)
	a, b := ns[0], ns[1]
	checkLeave(t, "leave of an unoccupied channel", s.leave(t, a, "room", "9.9"), "gone=false vacated=false subs=0")
	s.join(t, a, "room", "1.1")
	checkLeave(t, "leave of an unknown socket", s.leave(t, b, "room", "9.9"), "gone=false vacated=false subs=1")

	const ch = "presence-unknown"
	noErr(t, "Listen", b.Listen(t.Context(), s.chTopic(ch)))
	s.pjoin(t, a, ch, "1.1", "u1", `{}`, 0)
	checkLeave(t, "leave of an unknown socket as a member", s.pleave(t, b, ch, "9.9", "u1"), "gone=false vacated=false subs=1")
	if got := s.members(t, b, ch); got != "u1={}" {
		t.Fatalf("members %q, want u1 still", got)
	}
	checkLeave(t, "real leave", s.pleave(t, a, ch, "1.1", "u1"), "gone=true vacated=true subs=0")
	s.wantFrames(t, s.chTopic(ch), []string{"added:u1:1.1", "removed:u1"}, b)
}

// testPresence: members are users across nodes; first and last
// connections are the transitions, published once, in version order.
func testPresence(t *testing.T, s *suite) {
	ns := s.nodes(t, 2)
	a, b := ns[0], ns[1]
	const ch = "presence-room"
	tp := s.chTopic(ch)
	noErr(t, "Listen", a.Listen(t.Context(), tp))
	noErr(t, "Listen", b.Listen(t.Context(), tp))

	r1 := s.pjoin(t, a, ch, "1.1", "u1", `{"n":1}`, 0)
	checkJoin(t, "u1 on a", r1, `full=false occupied=true new=true subs=1 members=[u1={"n":1}]`)
	r2 := s.pjoin(t, b, ch, "2.1", "u1", `{"n":2}`, 0)
	checkJoin(t, "u1 on b too (first info wins)", r2, `full=false occupied=false new=false subs=2 members=[u1={"n":1}]`)
	if r2.Version != r1.Version {
		t.Fatalf("a join that added no member moved the version from %d to %d", r1.Version, r2.Version)
	}
	r3 := s.pjoin(t, b, ch, "2.2", "u0", `{"n":0}`, 0)
	checkJoin(t, "u0 on b (sorted)", r3, `full=false occupied=false new=true subs=3 members=[u0={"n":0} u1={"n":1}]`)
	if r3.Version <= r1.Version {
		t.Fatalf("versions %d then %d: not increasing", r1.Version, r3.Version)
	}
	checkLeave(t, "u1 leaves a, still on b", s.pleave(t, a, ch, "1.1", "u1"), "gone=false vacated=false subs=2")
	if got := s.members(t, a, ch); got != `u0={"n":0} u1={"n":1}` {
		t.Fatalf("members %q, want u0 and u1 with its first info", got)
	}
	if st := s.stats(t, a, ch); st != (broker.ChannelStats{Subscriptions: 2, Users: 2}) {
		t.Fatalf("Channel = %+v, want 2 subscriptions, 2 users", st)
	}
	l1 := s.pleave(t, b, ch, "2.1", "u1")
	checkLeave(t, "u1's last connection", l1, "gone=true vacated=false subs=1")
	if l1.Version <= r3.Version {
		t.Fatalf("versions %d then %d: not increasing", r3.Version, l1.Version)
	}
	l0 := s.pleave(t, b, ch, "2.2", "u0")
	checkLeave(t, "u0's last connection", l0, "gone=true vacated=true subs=0")
	if l0.Version <= l1.Version {
		t.Fatalf("versions %d then %d: not increasing", l1.Version, l0.Version)
	}
	if got := s.members(t, b, ch); got != "" {
		t.Fatalf("members of a vacated channel %q, want none", got)
	}

	want := []broker.Message{
		{Topic: tp, Frame: []byte("added:u1:1.1"), Except: "1.1", Version: r1.Version},
		{Topic: tp, Frame: []byte("added:u0:2.2"), Except: "2.2", Version: r3.Version},
		{Topic: tp, Frame: []byte("removed:u1"), Version: l1.Version},
		{Topic: tp, Frame: []byte("removed:u0"), Version: l0.Version},
	}
	s.wantMessages(t, tp, want, a, b)
}

// testMaxMembers: a join that would add a member past MaxMembers is Full
// and changes nothing; more connections of a member are not limited.
func testMaxMembers(t *testing.T, s *suite) {
	ns := s.nodes(t, 2)
	a, b := ns[0], ns[1]
	const ch = "presence-max"
	tp := s.chTopic(ch)
	noErr(t, "Listen", b.Listen(t.Context(), tp))
	s.pjoin(t, a, ch, "1.1", "u1", `{}`, 2)
	r2 := s.pjoin(t, b, ch, "2.1", "u2", `{}`, 2)
	if r := s.pjoin(t, a, ch, "1.3", "u3", `{}`, 2); !r.Full || r.Occupied || r.NewMember {
		t.Fatalf("u3 past the limit: %s, want full", fmtJoin(r))
	}
	if st := s.stats(t, b, ch); st != (broker.ChannelStats{Subscriptions: 2, Users: 2}) {
		t.Fatalf("Channel after a Full join = %+v, want 2 subscriptions, 2 users", st)
	}
	r4 := s.pjoin(t, a, ch, "1.4", "u1", `{}`, 2)
	checkJoin(t, "another connection of u1", r4, "full=false occupied=false new=false subs=3 members=[u1={} u2={}]")
	if r4.Version != r2.Version {
		t.Fatalf("version moved from %d to %d without a member change", r2.Version, r4.Version)
	}
	checkLeave(t, "u2 leaves", s.pleave(t, b, ch, "2.1", "u2"), "gone=true vacated=false subs=2")
	checkJoin(t, "u3 once there is room", s.pjoin(t, a, ch, "1.3", "u3", `{}`, 2), "full=false occupied=false new=true subs=3 members=[u1={} u3={}]")
	// Nothing for the Full join.
	s.wantFrames(t, tp, []string{"added:u1:1.1", "added:u2:2.1", "removed:u2", "added:u3:1.3"}, b)
}

// testVersionAcrossVacancy: a channel occupied again (on one node, then
// another) continues above its old versions.
func testVersionAcrossVacancy(t *testing.T, s *suite) {
	ns := s.nodes(t, 2)
	const ch = "presence-again"
	var last uint64
	for i := range 3 {
		j := s.pjoin(t, ns[i%2], ch, "1.1", "u1", `{}`, 0)
		if j.Version <= last {
			t.Fatalf("round %d: join version %d after %d", i, j.Version, last)
		}
		l := s.pleave(t, ns[i%2], ch, "1.1", "u1")
		if !l.Vacated || l.Version <= j.Version {
			t.Fatalf("round %d: leave %s version %d after %d", i, fmtLeave(l), l.Version, j.Version)
		}
		last = l.Version
	}
}

// testQueries: Channel, Channels and Members answer the same from any node.
func testQueries(t *testing.T, s *suite) {
	ns := s.nodes(t, 2)
	a, b := ns[0], ns[1]
	s.join(t, a, "a-1", "1.1")
	s.join(t, b, "a-1", "2.1")
	s.pjoin(t, a, "presence-a-2", "1.2", "u2", `{"x":2}`, 0)
	s.pjoin(t, b, "presence-a-2", "2.2", "u1", `{"x":1}`, 0)
	s.pjoin(t, b, "presence-a-2", "2.3", "u2", `{"x":3}`, 0)
	s.join(t, b, "b-1", "2.4")
	s.join(t, a, "gone", "1.5")
	s.leave(t, a, "gone", "1.5")

	all := map[string]broker.ChannelStats{
		"a-1":          {Subscriptions: 2},
		"presence-a-2": {Subscriptions: 3, Users: 2},
		"b-1":          {Subscriptions: 1},
	}
	for i, n := range []node{a, b} {
		if got := s.channels(t, n, ""); !maps.Equal(got, all) {
			t.Fatalf("node %d: Channels = %v, want %v", i, got, all)
		}
		if got := s.channels(t, n, "a-"); !maps.Equal(got, map[string]broker.ChannelStats{"a-1": all["a-1"]}) {
			t.Fatalf("node %d: Channels a- = %v, want a-1 only", i, got)
		}
		if got := s.channels(t, n, "presence-"); !maps.Equal(got, map[string]broker.ChannelStats{"presence-a-2": all["presence-a-2"]}) {
			t.Fatalf("node %d: Channels presence- = %v, want presence-a-2 only", i, got)
		}
		if got := s.members(t, n, "presence-a-2"); got != `u1={"x":1} u2={"x":2}` {
			t.Fatalf("node %d: members %q", i, got)
		}
		if got := s.stats(t, n, "presence-a-2"); got != all["presence-a-2"] {
			t.Fatalf("node %d: Channel = %+v", i, got)
		}
		if got := s.stats(t, n, "never"); got != (broker.ChannelStats{}) {
			t.Fatalf("node %d: Channel of an unknown channel = %+v", i, got)
		}
		if got := s.members(t, n, "never"); got != "" {
			t.Fatalf("node %d: Members of an unknown channel %q", i, got)
		}
		other, err := n.Channels(t.Context(), s.app+"-other", "")
		noErr(t, "Channels", err)
		if len(other) != 0 {
			t.Fatalf("node %d: another app's Channels = %v", i, other)
		}
	}
}
