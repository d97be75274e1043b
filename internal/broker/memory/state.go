package memory

import (
	"hash/maphash"
	"sync"
	"time"
)

// numShards splits channels, users and topics so that work on different
// ones proceeds on different cores.
const numShards = 64

// state is what the nodes of one cluster share (a New broker has its own).
type state struct {
	now     func() time.Time
	seed    maphash.Seed
	ordered bool // several nodes: deliver a topic's messages one at a time so all see one order

	topics [numShards]topicShard
	chans  [numShards]chanShard
	users  [numShards]userShard

	connMu sync.Mutex
	conns  map[string]*appConns // per app

	bucketMu sync.Mutex
	buckets  map[string]*bucket
}

// chanKey names a channel within an app.
type chanKey struct{ app, name string }

func newState(now func() time.Time, ordered bool) *state {
	if now == nil {
		now = time.Now
	}
	st := &state{
		now:     now,
		seed:    maphash.MakeSeed(),
		ordered: ordered,
		conns:   make(map[string]*appConns),
		buckets: make(map[string]*bucket),
	}
	for i := range numShards {
		st.topics[i].topics = make(map[uint64]*topicEntry)
		st.chans[i].channels = make(map[chanKey]*channel)
		st.chans[i].cache = make(map[chanKey]cacheEntry)
		st.users[i].users = make(map[chanKey][]signIn)
	}
	return st
}

// shardOf spreads by name alone: two apps' channels of one name sharing a
// shard costs nothing, and one hash is cheaper than two.
func (st *state) shardOf(name string) uint64 {
	return maphash.String(st.seed, name) % numShards
}

func (st *state) chanShard(name string) *chanShard { return &st.chans[st.shardOf(name)] }
func (st *state) userShard(id string) *userShard   { return &st.users[st.shardOf(id)] }

// purge drops expired cache entries and rate buckets that have refilled
// (a full bucket is the same as none), so memory stays bounded by what is
// live.
func (st *state) purge() {
	now := st.now()
	for i := range st.chans {
		sh := &st.chans[i]
		sh.mu.Lock()
		for k, e := range sh.cache {
			if !now.Before(e.expires) {
				delete(sh.cache, k)
			}
		}
		sh.mu.Unlock()
	}
	st.bucketMu.Lock()
	for k, bk := range st.buckets {
		if bk.full(now) {
			delete(st.buckets, k)
		}
	}
	st.bucketMu.Unlock()
}
