// Package memory is the in-process broker: the single-node default (New)
// and, for tests of cross-node behaviour without Redis, several in-process
// nodes sharing one state (NewCluster).
//
// Everything happens inline under short locks: Publish calls the Handler of
// every listening node on the caller's goroutine before it returns, and a
// transition's frame is delivered while the lock that decided the
// transition is held. So a caller must not hold, while it calls a method
// that publishes (Publish, PublishCached, Join, Leave, SignIn, SignOut),
// any lock its Handler's Deliver takes. Nothing blocks on I/O, so the
// contexts the methods take are not consulted (Run's excepted).
//
// Publishers of one topic that run concurrently may be delivered to a New
// broker's Handler concurrently (no order between them is defined anyway);
// member events of a channel never are, as they are published under the
// channel's lock. A Cluster delivers a topic's messages one at a time so
// that all its nodes see them in the same order.
//
// # Semantics the broker package leaves open
//
//   - A Join of a socket id already subscribed to the channel changes
//     nothing and reports the current state (Occupied and NewMember false);
//     the subscription keeps the member it first joined as.
//   - Leave removes what Join recorded for the socket id (its member, not
//     LeaveRequest.UserID). A Leave of a socket id that is not subscribed
//     changes nothing and reports the current Subscriptions.
//   - A presence Join needs a non-empty Member.UserID.
//   - A SignIn of a socket already signed in as that user changes nothing
//     (first false); a SignOut of one that is not changes nothing.
//   - Nil frames (MemberAdded, MemberRemoved, online, offline) are not
//     published; the transition is still decided and reported.
//   - Member versions come from one counter per lock shard, so a channel's
//     versions strictly increase for the life of the broker, across
//     vacancies too (a stale member event can never look newer than a later
//     snapshot), and are not consecutive.
//   - PublishCached with ttl <= 0 publishes m and caches nothing; the
//     channel's earlier event, no longer its last, is forgotten.
//   - Allow: rate <= 0 (or NaN) means no limit; burst <= 0 means
//     max(1, rate) rounded down (buckets hold whole tokens); a new bucket
//     starts full; each call's rate and burst apply from then on; a wait
//     too long for a Duration is the longest one. A bucket that has
//     refilled is dropped by Run's purge, so a key no longer asked for (a
//     deleted app's) costs nothing after burst/rate seconds.
//   - AddConnection counts against the calling node; RemoveConnection
//     removes one of the calling node's (none left: no-op).
//   - Reaping reports, per channel, MemberGone for each user the dead node
//     alone held, then Vacated when no subscription is left or else
//     CountChanged with the new count; then Offline per user. Channels are
//     in (app, channel) order, users in (app, user) order.
//
// # Lock order
//
//	channel shard (chanShard.mu) or user shard (userShard.mu), never both
//	  -> topic shard (topicShard.mu), released before delivering
//	    -> a topic's delivery order lock (topicEntry.order, clusters only)
//	      -> the Handler's own locks, taken inside Deliver
//
// Cluster.mu, connMu and bucketMu are leaves. Handler.Deliver must never
// call the broker (it runs under the broker's locks); Handler.Reaped is
// called with no broker lock held and may.
package memory

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/internal/broker"
)

// Config configures a single-node broker. Zero values mean the documented
// default.
type Config struct {
	NodeID        string           // default "memory"
	Now           func() time.Time // default time.Now: cache expiry and rate buckets
	PurgeInterval time.Duration    // default 1m: how often Run drops expired cache entries and refilled rate buckets
}

// Broker is one node. Its methods are safe for concurrent use.
type Broker struct {
	st      *state
	h       broker.Handler
	id      string
	idx     int      // index in per-node counters
	cluster *Cluster // nil for New

	purgeEvery time.Duration
	crashed    atomic.Bool
	down       chan struct{} // closed by Cluster.Crash
	errDown    error
}

var _ broker.Broker = (*Broker)(nil)

// New returns a single-node broker delivering to h; a nil h panics.
func New(cfg Config, h broker.Handler) *Broker {
	if h == nil {
		panic("memory: New with a nil Handler")
	}
	if cfg.NodeID == "" {
		cfg.NodeID = "memory"
	}
	st := newState(cfg.Now, false)
	return newNode(st, cfg.NodeID, 0, h, cfg.PurgeInterval, nil)
}

func newNode(st *state, id string, idx int, h broker.Handler, purge time.Duration, c *Cluster) *Broker {
	if purge <= 0 {
		purge = time.Minute
	}
	return &Broker{
		st: st, h: h, id: id, idx: idx, cluster: c,
		purgeEvery: purge,
		down:       make(chan struct{}),
		errDown:    fmt.Errorf("memory: node %q crashed: %w", id, broker.ErrUnavailable),
	}
}

// check fails once the node has crashed.
func (b *Broker) check() error {
	if b.crashed.Load() {
		return b.errDown
	}
	return nil
}

// NodeID names this node.
func (b *Broker) NodeID() string { return b.id }

// Run purges expired cache entries and refilled rate buckets and, in a
// cluster, reaps crashed nodes, until ctx ends (nil) or the node crashes
// (an error wrapping broker.ErrUnavailable).
func (b *Broker) Run(ctx context.Context) error {
	if err := b.check(); err != nil {
		return err
	}
	purge := time.NewTicker(b.purgeEvery)
	defer purge.Stop()
	var reap <-chan time.Time
	if b.cluster != nil {
		t := time.NewTicker(b.cluster.cfg.ReapInterval)
		defer t.Stop()
		reap = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-b.down:
			return b.errDown
		case <-purge.C:
			b.st.purge()
		case <-reap:
			b.cluster.reap(ctx, b)
		}
	}
}

// Ready is nil unless the node crashed.
func (b *Broker) Ready() error { return b.check() }

// Nodes counts the cluster's nodes that have not crashed (1 for New).
func (b *Broker) Nodes(context.Context) (int, error) {
	if err := b.check(); err != nil {
		return 0, err
	}
	if b.cluster == nil {
		return 1, nil
	}
	return b.cluster.live(), nil
}

var errNoUser = errors.New("memory: presence join without a user id")
