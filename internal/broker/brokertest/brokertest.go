// Package brokertest is the conformance suite every broker adapter passes.
//
// An adapter's test calls Run with a function that builds a fresh, empty
// cluster for each case:
//
//	func TestConformance(t *testing.T) {
//		brokertest.Run(t, func(t *testing.T) brokertest.Cluster {
//			c := memory.NewCluster(memory.ClusterConfig{ReapInterval: 20 * time.Millisecond})
//			return brokertest.Cluster{
//				Node:       func(t *testing.T, h broker.Handler) broker.Broker { return c.Node("", h) },
//				Crash:      func(t *testing.T, b broker.Broker) { c.Crash(b.NodeID()) },
//				ReapWithin: time.Second,
//			}
//		})
//	}
//
// The suite starts each node's Run itself and stops it when the case ends
// (cleanups the adapter registers in the cluster function run after that).
// Cases run in parallel, each on its own cluster; they also use app names
// of their own, but an adapter sharing a backend (one Redis) should still
// give each cluster its own key space.
//
// Nothing in the suite relies on inline delivery: every delivery is waited
// for by polling, each wait bounded by Wait (ReapWithin for reaping). A
// delivery that must not happen is checked after a later message on the
// same topic arrived, which topic order makes conclusive.
//
// As a hub does, the suite makes the calls about one connection on one node:
// Leave on the node that joined, SignOut where SignIn, RemoveConnection
// where AddConnection. An adapter may rely on that.
//
// # What the suite requires beyond the broker package's doc comments
//
//   - A duplicate Join (a socket id already subscribed to the channel)
//     changes nothing and reports the current state: Occupied and NewMember
//     false, the current Subscriptions, Members and Version. One Leave then
//     removes the subscription.
//   - A Leave of a socket id that is not subscribed changes nothing; its
//     result has only Subscriptions, the channel's current count.
//   - A presence JoinResult that is Full changes nothing and publishes
//     nothing.
//   - A channel's member versions strictly increase for as long as the
//     cluster lives, across vacancies too: a stale member event delivered
//     after a later snapshot must not look newer than it.
//   - A SignIn of a socket already signed in as that user changes nothing
//     (first false); a SignOut of one that is not changes nothing (last
//     false).
//   - PublishCached with ttl <= 0 leaves no earlier event behind: Cached
//     then finds nothing or the new event.
//   - Allow's buckets start full; burst <= 0 means max(1, rate).
//   - RemoveConnection is called on the node that added the connection.
//   - Reaping a dead node reports, across all survivors' Handlers, each of
//     these exactly once: MemberGone (with a version above every earlier
//     one of the channel) for each user only the dead node held in a
//     channel, Vacated for each channel only it had, CountChanged with the
//     new count for each other channel it had, Offline for each user only
//     it had signed in. Nothing else is reported; in particular no
//     CountChanged for a vacated channel.
package brokertest

import (
	"bytes"
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/broker"
)

// Wait bounds every wait of the suite but reaping's.
const Wait = 5 * time.Second

// Cluster is what an adapter gives the suite: a way to start nodes that
// share one state.
type Cluster struct {
	// Node returns a new node of the cluster delivering to h. The suite
	// starts its Run and stops it (cancels its context and waits for it to
	// return) when the case ends.
	Node func(t *testing.T, h broker.Handler) broker.Broker
	// Crash stops b (a value Node returned) as kill -9 would: b stops
	// renewing its lease and listening, and cleans nothing up. The suite
	// makes no further call to b. Nil when the adapter cannot crash a node:
	// the reaping case is skipped.
	Crash func(t *testing.T, b broker.Broker)
	// ReapWithin bounds how long after Crash the survivors take to report
	// the dead node's transitions; zero means 10s.
	ReapWithin time.Duration
	// Single says Node may be called only once per cluster (memory.New: a
	// broker with no peers). Cases then play every node with that one, and
	// skip what needs distinct nodes.
	Single bool
}

// Run runs the conformance suite, one parallel subtest per case, each on a
// cluster newCluster returns.
func Run(t *testing.T, newCluster func(t *testing.T) Cluster) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := &suite{c: newCluster(t), app: newApp()}
			if s.c.ReapWithin <= 0 {
				s.c.ReapWithin = 10 * time.Second
			}
			c.run(t, s)
		})
	}
}

// Recorder is a goroutine-safe Handler that records what it is given.
type Recorder struct {
	mu      sync.Mutex
	msgs    []broker.Message
	reports [][]broker.Change
}

var _ broker.Handler = (*Recorder)(nil)

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder { return &Recorder{} }

// Deliver records a copy of m.
func (r *Recorder) Deliver(m broker.Message) {
	m.Frame = bytes.Clone(m.Frame)
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	r.mu.Unlock()
}

// Reaped records one report.
func (r *Recorder) Reaped(_ context.Context, changes []broker.Change) {
	r.mu.Lock()
	r.reports = append(r.reports, slices.Clone(changes))
	r.mu.Unlock()
}

// Local returns an empty share: the suite's nodes re-register only what
// their own calls made.
func (r *Recorder) Local() broker.LocalState { return broker.LocalState{} }

// Messages returns the messages delivered so far, in delivery order.
func (r *Recorder) Messages() []broker.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.msgs)
}

// On returns the messages delivered so far on topic t, in delivery order.
func (r *Recorder) On(t broker.Topic) []broker.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []broker.Message
	for _, m := range r.msgs {
		if m.Topic == t {
			out = append(out, m)
		}
	}
	return out
}

// Changes returns every change reported so far, in report order.
func (r *Recorder) Changes() []broker.Change {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []broker.Change
	for _, rep := range r.reports {
		out = append(out, rep...)
	}
	return out
}

// Frames returns the messages' frames as strings.
func Frames(ms []broker.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = string(m.Frame)
	}
	return out
}

// Eventually polls cond until it returns nil; after Wait it fails t with
// cond's last error. Call it from the test's goroutine.
func Eventually(t testing.TB, cond func() error) {
	t.Helper()
	Within(t, Wait, cond)
}

// Within is Eventually with a bound of d.
func Within(t testing.TB, d time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	pause := 100 * time.Microsecond
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still after %v: %v", d, err)
		}
		time.Sleep(pause)
		pause = min(2*pause, 10*time.Millisecond)
	}
}
