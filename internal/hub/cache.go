package hub

import (
	"time"

	"github.com/heraldhq/herald/internal/protocol"
)

// cachedEvent is the last API event of a cache channel.
type cachedEvent struct {
	event, data string
	expires     int64 // unix nanos
}

// CacheEntry is what GET /channels/{name}?info=cache reports.
type CacheEntry struct {
	Event string
	Data  string
	TTL   time.Duration // remaining
}

// sendCacheLocked sends what a new subscriber of a cache channel gets right
// after subscription_succeeded: the cached event, or pusher:cache_miss (and
// a cache_miss webhook). The caller holds the shard lock.
func (h *Hub) sendCacheLocked(c *Client, s *shard, k chanKey) {
	if e := s.cache[k]; e != nil && e.expires > h.now().UnixNano() {
		c.Send(protocol.EncodeEvent(e.event, k.name, e.data))
		return
	}
	c.Send(protocol.CacheMiss(k.name))
	h.emit(c, Event{Kind: CacheMiss, Channel: k.name})
}

// Cached returns the cached event of a cache channel, if any.
func (h *Hub) Cached(appID, name string) (CacheEntry, bool) {
	k := chanKey{appID, name}
	s := h.shardFor(k)
	s.mu.RLock()
	defer s.mu.RUnlock()
	e := s.cache[k]
	now := h.now().UnixNano()
	if e == nil || e.expires <= now {
		return CacheEntry{}, false
	}
	return CacheEntry{Event: e.event, Data: e.data, TTL: time.Duration(e.expires - now)}, true
}

// purgeCache drops expired entries so the cache holds at most one TTL's
// worth of channels.
func (h *Hub) purgeCache() {
	now := h.now().UnixNano()
	for i := range h.shards {
		s := &h.shards[i]
		s.mu.Lock()
		for k, e := range s.cache {
			if e.expires <= now {
				delete(s.cache, k)
			}
		}
		s.mu.Unlock()
	}
}
