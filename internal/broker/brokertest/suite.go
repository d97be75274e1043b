package brokertest

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/broker"
)

// cases are the suite's subtests, in the order they are listed.
var cases = []struct {
	name string
	run  func(*testing.T, *suite)
}{
	{"Publish", testPublish},
	{"ListenCounted", testListenCounted},
	{"JoinLeave", testJoinLeave},
	{"DuplicateJoin", testDuplicateJoin},
	{"LeaveUnknown", testLeaveUnknown},
	{"Presence", testPresence},
	{"MaxMembers", testMaxMembers},
	{"VersionAcrossVacancy", testVersionAcrossVacancy},
	{"Queries", testQueries},
	{"Cache", testCache},
	{"CacheExpiry", testCacheExpiry},
	{"Users", testUsers},
	{"Connections", testConnections},
	{"Allow", testAllow},
	{"NodesReady", testNodesReady},
	{"Concurrent", testConcurrent},
	{"Reap", testReap},
}

type suite struct {
	c   Cluster
	app string
}

// node is a started broker and the Recorder it delivers to.
type node struct {
	broker.Broker
	rec *Recorder
}

// newApp names a case's app; random so that cases never share state even
// on a backend shared by several test processes.
func newApp() string { return fmt.Sprintf("app-%016x", rand.Uint64()) }

// nodes starts n nodes; a Single cluster's one node plays all n.
func (s *suite) nodes(t *testing.T, n int) []node {
	t.Helper()
	if s.c.Single {
		one := s.start(t)
		out := make([]node, n)
		for i := range out {
			out[i] = one
		}
		return out
	}
	out := make([]node, n)
	for i := range out {
		out[i] = s.start(t)
	}
	return out
}

func (s *suite) start(t *testing.T) node {
	t.Helper()
	rec := NewRecorder()
	b := s.c.Node(t, rec)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = b.Run(ctx) // a crashed node's Run fails; nothing to check
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(Wait):
			t.Errorf("node %s: Run did not return within %v of its context ending", b.NodeID(), Wait)
		}
	})
	return node{Broker: b, rec: rec}
}

// multi says whether the case may go on with checks that need distinct
// nodes; on a Single cluster it logs that they were left out.
func (s *suite) multi(t *testing.T) bool {
	t.Helper()
	if s.c.Single {
		t.Log("the rest needs distinct nodes: left out")
	}
	return !s.c.Single
}

func (s *suite) topic(k broker.TopicKind, name string) broker.Topic {
	return broker.Topic{App: s.app, Kind: k, Name: name}
}

func (s *suite) chTopic(name string) broker.Topic { return s.topic(broker.ChannelTopic, name) }

// join subscribes sock to a public channel.
func (s *suite) join(t *testing.T, n node, channel, sock string) broker.JoinResult {
	t.Helper()
	r, err := n.Join(t.Context(), broker.JoinRequest{App: s.app, Channel: channel, SocketID: sock})
	if err != nil {
		t.Fatalf("Join %s %s: %v", channel, sock, err)
	}
	return r
}

// pjoin subscribes sock to a presence channel as user with info; the
// member_added frame is "added:<user>:<sock>".
func (s *suite) pjoin(t *testing.T, n node, channel, sock, user, info string, max int) broker.JoinResult {
	t.Helper()
	r, err := n.Join(t.Context(), broker.JoinRequest{
		App: s.app, Channel: channel, SocketID: sock,
		Presence:    true,
		Member:      broker.Member{UserID: user, Info: []byte(info)},
		MaxMembers:  max,
		MemberAdded: []byte("added:" + user + ":" + sock),
	})
	if err != nil {
		t.Fatalf("Join %s %s as %s: %v", channel, sock, user, err)
	}
	return r
}

func (s *suite) leave(t *testing.T, n node, channel, sock string) broker.LeaveResult {
	t.Helper()
	r, err := n.Leave(t.Context(), broker.LeaveRequest{App: s.app, Channel: channel, SocketID: sock})
	if err != nil {
		t.Fatalf("Leave %s %s: %v", channel, sock, err)
	}
	return r
}

// pleave unsubscribes sock, a connection of user, from a presence channel;
// the member_removed frame is "removed:<user>".
func (s *suite) pleave(t *testing.T, n node, channel, sock, user string) broker.LeaveResult {
	t.Helper()
	r, err := n.Leave(t.Context(), broker.LeaveRequest{
		App: s.app, Channel: channel, SocketID: sock,
		Presence: true, UserID: user, MemberRemoved: []byte("removed:" + user),
	})
	if err != nil {
		t.Fatalf("Leave %s %s as %s: %v", channel, sock, user, err)
	}
	return r
}

func (s *suite) members(t *testing.T, n node, channel string) string {
	t.Helper()
	ms, err := n.Members(t.Context(), s.app, channel)
	if err != nil {
		t.Fatalf("Members %s: %v", channel, err)
	}
	return fmtMembers(ms)
}

// settled publishes a marker on tp from ns[0] and waits until each of ns
// (all listening to tp) got it; it returns, per node, the messages on tp
// before the marker. Topic order makes these lists final: nothing published
// before the marker can still arrive, so a missing extra message is a
// conclusive check.
func (s *suite) settled(t *testing.T, tp broker.Topic, ns ...node) [][]broker.Message {
	t.Helper()
	marker := fmt.Appendf(nil, "settled-%016x", rand.Uint64())
	noErr(t, "Publish", ns[0].Publish(t.Context(), broker.Message{Topic: tp, Frame: marker}))
	out := make([][]broker.Message, len(ns))
	for i, n := range ns {
		Eventually(t, func() error {
			got := n.rec.On(tp)
			end := slices.IndexFunc(got, func(m broker.Message) bool { return bytes.Equal(m.Frame, marker) })
			if end < 0 {
				return fmt.Errorf("node %d: marker not yet delivered on %v after %s", i, tp, fmtMessages(got))
			}
			out[i] = got[:end]
			return nil
		})
	}
	return out
}

// wantMessages checks that each of ns got exactly want on tp.
func (s *suite) wantMessages(t *testing.T, tp broker.Topic, want []broker.Message, ns ...node) {
	t.Helper()
	for i, got := range s.settled(t, tp, ns...) {
		if !slices.EqualFunc(got, want, sameMessage) {
			t.Fatalf("node %d on %v:\n got %s\nwant %s", i, tp, fmtMessages(got), fmtMessages(want))
		}
	}
}

// wantFrames checks that each of ns got exactly the frames want on tp.
func (s *suite) wantFrames(t *testing.T, tp broker.Topic, want []string, ns ...node) {
	t.Helper()
	for i, got := range s.settled(t, tp, ns...) {
		if f := Frames(got); !slices.Equal(f, want) {
			t.Fatalf("node %d on %v: frames %q, want %q", i, tp, f, want)
		}
	}
}

func (s *suite) stats(t *testing.T, n node, channel string) broker.ChannelStats {
	t.Helper()
	st, err := n.Channel(t.Context(), s.app, channel)
	if err != nil {
		t.Fatalf("Channel %s: %v", channel, err)
	}
	return st
}

func (s *suite) channels(t *testing.T, n node, prefix string) map[string]broker.ChannelStats {
	t.Helper()
	m, err := n.Channels(t.Context(), s.app, prefix)
	if err != nil {
		t.Fatalf("Channels %q: %v", prefix, err)
	}
	return m
}

// fmtMembers writes members as "id=info id=info", which a test compares.
func fmtMembers(ms []broker.Member) string {
	var sb strings.Builder
	for i, m := range ms {
		if i > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString(m.UserID + "=" + string(m.Info))
	}
	return sb.String()
}

// fmtJoin writes what a JoinResult says but its version.
func fmtJoin(r broker.JoinResult) string {
	return fmt.Sprintf("full=%v occupied=%v new=%v subs=%d members=[%s]", r.Full, r.Occupied, r.NewMember, r.Subscriptions, fmtMembers(r.Members))
}

// fmtLeave writes what a LeaveResult says but its version.
func fmtLeave(r broker.LeaveResult) string {
	return fmt.Sprintf("gone=%v vacated=%v subs=%d", r.MemberGone, r.Vacated, r.Subscriptions)
}

func checkJoin(t *testing.T, what string, got broker.JoinResult, want string) {
	t.Helper()
	if g := fmtJoin(got); g != want {
		t.Fatalf("%s:\n got %s\nwant %s", what, g, want)
	}
}

func checkLeave(t *testing.T, what string, got broker.LeaveResult, want string) {
	t.Helper()
	if g := fmtLeave(got); g != want {
		t.Fatalf("%s:\n got %s\nwant %s", what, g, want)
	}
}

func sameMessage(a, b broker.Message) bool {
	return a.Topic == b.Topic && a.Kind == b.Kind && bytes.Equal(a.Frame, b.Frame) && a.Except == b.Except && a.Version == b.Version
}

func fmtMessage(m broker.Message) string {
	return fmt.Sprintf("{%v kind=%d %q except=%q v=%d}", m.Topic, m.Kind, m.Frame, m.Except, m.Version)
}

func fmtMessages(ms []broker.Message) string {
	parts := make([]string, len(ms))
	for i, m := range ms {
		parts[i] = fmtMessage(m)
	}
	return strings.Join(parts, " ")
}

func noErr(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}
