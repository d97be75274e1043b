package memory

import (
	"context"
	"time"

	"github.com/heraldhq/herald/internal/broker"
)

type cacheEntry struct {
	event, data string
	expires     time.Time
}

// PublishCached stores the cache channel's last event and publishes m under
// one lock, so the stored event is always the last one delivered. A ttl <= 0
// stores nothing but forgets the previous event: it is no longer the last.
func (b *Broker) PublishCached(_ context.Context, m broker.Message, event, data string, ttl time.Duration) error {
	if err := b.check(); err != nil {
		return err
	}
	k := chanKey{m.Topic.App, m.Topic.Name}
	sh := b.st.chanShard(k.name)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if ttl > 0 {
		sh.cache[k] = cacheEntry{event: event, data: data, expires: b.st.now().Add(ttl)}
	} else {
		delete(sh.cache, k)
	}
	b.st.publish(m)
	return nil
}

// Cached returns a cache channel's last event with its remaining TTL.
// Expired entries are dropped by Run's purge.
func (b *Broker) Cached(_ context.Context, app, name string) (broker.CacheEntry, bool, error) {
	if err := b.check(); err != nil {
		return broker.CacheEntry{}, false, err
	}
	sh := b.st.chanShard(name)
	sh.mu.Lock()
	e, ok := sh.cache[chanKey{app, name}]
	sh.mu.Unlock()
	if !ok {
		return broker.CacheEntry{}, false, nil
	}
	left := e.expires.Sub(b.st.now())
	if left <= 0 {
		return broker.CacheEntry{}, false, nil
	}
	return broker.CacheEntry{Event: e.event, Data: e.data, TTL: left}, true, nil
}
