package hub

import (
	"time"

	"github.com/heraldhq/herald/internal/protocol"
)

// Pusher sends subscription counts of channels with more than 100
// subscribers at most every 5 seconds.
const (
	countThrottleAbove = 100
	countThrottleEvery = 5 * time.Second
)

// countChangedLocked broadcasts pusher_internal:subscription_count after a
// subscriber joined or left; the caller holds the shard lock.
func (h *Hub) countChangedLocked(s *shard, k chanKey, ch *channel) {
	n := len(ch.subs)
	if n == 0 {
		return
	}
	now := h.now().UnixNano()
	if n > countThrottleAbove && now-ch.countSentAt < countThrottleEvery.Nanoseconds() {
		if s.pendingCounts == nil {
			s.pendingCounts = make(map[chanKey]struct{})
		}
		s.pendingCounts[k] = struct{}{}
		return
	}
	ch.countSentAt = now
	h.broadcastLocked(ch, protocol.SubscriptionCount(k.name, n), nil)
	h.emitApp(ch.app, Event{Kind: SubscriptionCount, Channel: k.name, SubscriptionCount: n})
}

// flushCounts sends the throttled counts whose window has passed.
func (h *Hub) flushCounts() {
	now := h.now().UnixNano()
	for i := range h.shards {
		s := &h.shards[i]
		s.mu.Lock()
		for k := range s.pendingCounts {
			ch := s.channels[k]
			if ch == nil {
				delete(s.pendingCounts, k)
				continue
			}
			if now-ch.countSentAt >= countThrottleEvery.Nanoseconds() {
				delete(s.pendingCounts, k)
				ch.countSentAt = now
				h.broadcastLocked(ch, protocol.SubscriptionCount(k.name, len(ch.subs)), nil)
				h.emitApp(ch.app, Event{Kind: SubscriptionCount, Channel: k.name, SubscriptionCount: len(ch.subs)})
			}
		}
		s.mu.Unlock()
	}
}
