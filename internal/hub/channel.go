package hub

import (
	"encoding/json"
	"hash/maphash"
	"sync"

	"github.com/heraldhq/herald/internal/apps"
)

// chanKey names a channel within an app; apps never share channels.
type chanKey struct {
	app  string
	name string
}

type shard struct {
	mu            sync.RWMutex
	channels      map[chanKey]*channel
	cache         map[chanKey]*cachedEvent // cache channels' last event; kept while unoccupied
	pendingCounts map[chanKey]struct{}     // throttled subscription counts still to send
}

type channel struct {
	app     *apps.App
	subs    map[*Client]struct{}
	members map[string]*member // presence channels only

	countSentAt int64 // last subscription_count broadcast, unix nanos
}

type member struct {
	info  json.RawMessage // first user_info seen wins (pusher-js never gets updates)
	conns int             // connections of this user in the channel
}

func (h *Hub) shardFor(k chanKey) *shard {
	var hs maphash.Hash
	hs.SetSeed(h.seed)
	hs.WriteString(k.app)
	hs.WriteByte(0)
	hs.WriteString(k.name)
	return &h.shards[hs.Sum64()%numShards]
}

// subscribers copies the subscriber list under a short read lock so that
// sending happens outside it.
func (h *Hub) subscribers(k chanKey, buf []*Client) []*Client {
	s := h.shardFor(k)
	s.mu.RLock()
	if ch := s.channels[k]; ch != nil {
		for c := range ch.subs {
			buf = append(buf, c)
		}
	}
	s.mu.RUnlock()
	return buf
}

// broadcastLocked queues frame for every subscriber but except; the caller
// holds the shard lock, so it uses Sink.Queue, which leaves the writes to
// the transport's writers (see docs/locking.md).
func (h *Hub) broadcastLocked(ch *channel, frame []byte, except *Client) {
	n := 0
	for c := range ch.subs {
		if c != except && c.deliver(frame, true) {
			n++
		}
	}
	h.m.MessagesSent.WithLabelValues(ch.app.ID).Add(float64(n))
}
