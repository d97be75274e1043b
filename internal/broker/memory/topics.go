package memory

import (
	"context"
	"hash/maphash"
	"slices"
	"sync"

	"github.com/heraldhq/herald/internal/broker"
)

type topicShard struct {
	mu sync.RWMutex
	// topics is keyed by topicHash, cheaper than hashing a Topic as a map
	// key (two strings and a byte) again; topics of one hash are chained.
	topics map[uint64]*topicEntry
	_      [64]byte // keeps neighbouring shards' locks off one cache line
}

// topicEntry is one topic's listening nodes.
type topicEntry struct {
	topic broker.Topic
	next  *topicEntry // another topic of the same hash
	// order is held while a message goes to every listener (clusters only),
	// so two concurrent publishers reach all nodes in the same order.
	order sync.Mutex
	// nodes is replaced, never modified, under the shard's write lock, so a
	// publisher can use the one it read after dropping the read lock.
	nodes []*Broker
	refs  []int // Listen count of nodes[i]; only touched under the write lock
}

// topicHash spreads topics over shards (top bits) and keys them in a
// shard's map.
func (st *state) topicHash(t broker.Topic) uint64 {
	h := maphash.String(st.seed, t.Name)
	h ^= (maphash.String(st.seed, t.App) + uint64(t.Kind)) * 0x9e3779b97f4a7c15
	return h
}

func (st *state) topicShardOf(h uint64) *topicShard { return &st.topics[h%numShards] }

// findLocked returns t's entry, nil when nobody listens.
func (sh *topicShard) findLocked(h uint64, t broker.Topic) *topicEntry {
	for e := sh.topics[h]; e != nil; e = e.next {
		if e.topic == t {
			return e
		}
	}
	return nil
}

// unlinkLocked removes e from its hash chain.
func (sh *topicShard) unlinkLocked(h uint64, e *topicEntry) {
	p := sh.topics[h]
	if p == e {
		if e.next == nil {
			delete(sh.topics, h)
		} else {
			sh.topics[h] = e.next
		}
		return
	}
	for ; p != nil; p = p.next {
		if p.next == e {
			p.next = e.next
			return
		}
	}
}

// Listen makes this node receive t's messages until the matching Unlisten;
// messages published after it returns are delivered.
func (b *Broker) Listen(_ context.Context, t broker.Topic) error {
	if err := b.check(); err != nil {
		return err
	}
	h := b.st.topicHash(t)
	sh := b.st.topicShardOf(h)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.findLocked(h, t)
	if e == nil {
		e = &topicEntry{topic: t, next: sh.topics[h]}
		sh.topics[h] = e
	}
	if i := slices.Index(e.nodes, b); i >= 0 {
		e.refs[i]++
		return nil
	}
	e.nodes = append(e.nodes[:len(e.nodes):len(e.nodes)], b) // a copy: publishers may hold the old slice
	e.refs = append(e.refs, 1)
	return nil
}

// Unlisten undoes one Listen; the last one stops the deliveries. Extra
// calls are ignored.
func (b *Broker) Unlisten(t broker.Topic) {
	h := b.st.topicHash(t)
	sh := b.st.topicShardOf(h)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e := sh.findLocked(h, t); e != nil {
		e.dropLocked(b, false)
		if len(e.nodes) == 0 {
			sh.unlinkLocked(h, e)
		}
	}
}

// dropLocked removes one of n's Listens, or all of them.
func (e *topicEntry) dropLocked(n *Broker, all bool) {
	i := slices.Index(e.nodes, n)
	if i < 0 {
		return
	}
	if e.refs[i]--; e.refs[i] > 0 && !all {
		return
	}
	e.nodes = slices.Delete(slices.Clone(e.nodes), i, i+1)
	e.refs = slices.Delete(e.refs, i, i+1)
}

// Publish delivers m to the Handler of every node listening to m.Topic
// before it returns.
func (b *Broker) Publish(_ context.Context, m broker.Message) error {
	if err := b.check(); err != nil {
		return err
	}
	b.st.publish(m)
	return nil
}

// publish is the one delivery path: Publish, member events, watchlist
// events and cache channels all go through it.
func (st *state) publish(m broker.Message) {
	h := st.topicHash(m.Topic)
	sh := st.topicShardOf(h)
	sh.mu.RLock()
	e := sh.findLocked(h, m.Topic)
	var nodes []*Broker
	if e != nil {
		nodes = e.nodes
	}
	sh.mu.RUnlock()
	if len(nodes) == 0 {
		return
	}
	if st.ordered {
		e.order.Lock()
		defer e.order.Unlock()
	}
	for _, n := range nodes {
		if !n.crashed.Load() {
			n.h.Deliver(m)
		}
	}
}

// publishFrame publishes a transition's frame, unless the caller gave none.
func (st *state) publishFrame(t broker.Topic, frame []byte, except string, version uint64) {
	if frame == nil {
		return
	}
	st.publish(broker.Message{Topic: t, Kind: broker.Frame, Frame: frame, Except: except, Version: version})
}
