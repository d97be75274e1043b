package memory

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/heraldhq/herald/internal/broker"
)

// ClusterConfig configures a Cluster. Zero values mean the documented
// default.
type ClusterConfig struct {
	ReapInterval  time.Duration    // default 1s: how often each node's Run looks for crashed nodes to reap
	PurgeInterval time.Duration    // default 1m: as Config.PurgeInterval
	Now           func() time.Time // default time.Now
}

// Cluster is several in-process nodes sharing one state, for tests of
// cross-node behaviour (delivery to other nodes, transitions decided once,
// crashed nodes reaped) without Redis. A topic's messages reach all nodes
// in one order.
type Cluster struct {
	cfg ClusterConfig
	st  *state

	mu    sync.Mutex
	nodes []*Broker // created and not reaped; a reaper takes the crashed ones out
	next  int       // the next node's idx
}

// NewCluster returns a cluster with no nodes.
func NewCluster(cfg ClusterConfig) *Cluster {
	if cfg.ReapInterval <= 0 {
		cfg.ReapInterval = time.Second
	}
	return &Cluster{cfg: cfg, st: newState(cfg.Now, true)}
}

// Node adds a node delivering to h. An empty id gets a generated one; an id
// in use by a live node, or a nil h, panics.
func (c *Cluster) Node(id string, h broker.Handler) *Broker {
	if h == nil {
		panic("memory: Node with a nil Handler")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	idx := c.next
	c.next++
	if id == "" {
		id = fmt.Sprintf("node-%d", idx+1)
	}
	for _, n := range c.nodes {
		if n.id == id && !n.crashed.Load() {
			panic(fmt.Sprintf("memory: node id %q is in use", id))
		}
	}
	n := newNode(c.st, id, idx, h, c.cfg.PurgeInterval, c)
	c.nodes = append(c.nodes, n)
	return n
}

// Crash stops node id as kill -9 would: its Run returns, its calls fail
// with broker.ErrUnavailable and it gets no more messages, but its share of
// the state stays until a surviving node's Run reaps it. Unknown or already
// crashed ids are ignored.
func (c *Cluster) Crash(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.nodes {
		if n.id == id && !n.crashed.Load() {
			n.crashed.Store(true)
			close(n.down)
			return
		}
	}
}

// live counts the nodes that have not crashed.
func (c *Cluster) live() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, b := range c.nodes {
		if !b.crashed.Load() {
			n++
		}
	}
	return n
}

// reap removes the share of every crashed node nobody reaped yet and
// reports the transitions to by's Handler. Claiming the dead nodes under
// c.mu makes one survivor do it.
func (c *Cluster) reap(ctx context.Context, by *Broker) {
	if by.crashed.Load() {
		return
	}
	c.mu.Lock()
	var dead []*Broker
	c.nodes = slices.DeleteFunc(c.nodes, func(n *Broker) bool {
		if n.crashed.Load() {
			dead = append(dead, n)
			return true
		}
		return false
	})
	c.mu.Unlock()
	if len(dead) == 0 {
		return
	}
	if changes := c.st.remove(dead); len(changes) > 0 {
		by.h.Reaped(ctx, changes)
	}
}

// remove takes the nodes' subscriptions, members, sign-ins, counted
// connections and listeners out of the state, one shard at a time, and
// returns the transitions that made.
func (st *state) remove(dead []*Broker) []broker.Change {
	isDead := func(n *Broker) bool { return slices.Contains(dead, n) }
	for i := range st.topics {
		sh := &st.topics[i]
		sh.mu.Lock()
		for h, first := range sh.topics {
			for e := first; e != nil; e = e.next {
				for _, n := range dead {
					e.dropLocked(n, true)
				}
				if len(e.nodes) == 0 {
					sh.unlinkLocked(h, e)
				}
			}
		}
		sh.mu.Unlock()
	}

	var chans []broker.Change
	for i := range st.chans {
		chans = st.chans[i].remove(isDead, chans)
	}
	// Sort by channel, keeping each channel's changes in the order made.
	slices.SortStableFunc(chans, func(a, b broker.Change) int {
		return cmp.Or(cmp.Compare(a.App, b.App), cmp.Compare(a.Channel, b.Channel))
	})

	var users []broker.Change
	for i := range st.users {
		sh := &st.users[i]
		sh.mu.Lock()
		for k, conns := range sh.users {
			conns = slices.DeleteFunc(conns, func(s signIn) bool { return isDead(s.node) })
			if len(conns) > 0 {
				sh.users[k] = conns
				continue
			}
			delete(sh.users, k)
			users = append(users, broker.Change{Kind: broker.Offline, App: k.app, UserID: k.name})
		}
		sh.mu.Unlock()
	}
	slices.SortFunc(users, func(a, b broker.Change) int {
		return cmp.Or(cmp.Compare(a.App, b.App), cmp.Compare(a.UserID, b.UserID))
	})

	st.connMu.Lock()
	for app, c := range st.conns {
		for _, n := range dead {
			if n.idx < len(c.byNode) {
				c.total -= c.byNode[n.idx]
				c.byNode[n.idx] = 0
			}
		}
		if c.total == 0 {
			delete(st.conns, app)
		}
	}
	st.connMu.Unlock()
	return append(chans, users...)
}

// remove takes the dead nodes' subscriptions out of the shard's channels,
// appending the transitions to out. The shard stays locked throughout, so
// each channel's changes are atomic.
func (sh *chanShard) remove(isDead func(*Broker) bool, out []broker.Change) []broker.Change {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for k, ch := range sh.channels {
		before := len(ch.subs)
		var gone []broker.Change
		for id, s := range ch.subs {
			if !isDead(s.node) {
				continue
			}
			delete(ch.subs, id)
			if s.user != "" && ch.dropMember(s.user) {
				gone = append(gone, broker.Change{Kind: broker.MemberGone, App: k.app, Channel: k.name, UserID: s.user})
			}
		}
		if len(ch.subs) == before {
			continue
		}
		// Versions in user order, so the report reads in version order.
		slices.SortFunc(gone, func(a, b broker.Change) int { return cmp.Compare(a.UserID, b.UserID) })
		for i := range gone {
			gone[i].Version = sh.nextVersionLocked(ch)
		}
		out = append(out, gone...)
		if len(ch.subs) == 0 {
			delete(sh.channels, k)
			out = append(out, broker.Change{Kind: broker.Vacated, App: k.app, Channel: k.name})
		} else {
			out = append(out, broker.Change{Kind: broker.CountChanged, App: k.app, Channel: k.name, Count: len(ch.subs)})
		}
	}
	return out
}
