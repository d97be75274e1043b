package hub

import (
	"sort"
	"strings"
)

// ChannelStats is the state of one channel on this node.
type ChannelStats struct {
	Occupied          bool
	SubscriptionCount int
	UserCount         int // distinct presence members
}

// Channel returns the stats of one channel.
func (h *Hub) Channel(appID, name string) ChannelStats {
	k := chanKey{appID, name}
	s := h.shardFor(k)
	s.mu.RLock()
	defer s.mu.RUnlock()
	ch := s.channels[k]
	if ch == nil {
		return ChannelStats{}
	}
	return ChannelStats{Occupied: len(ch.subs) > 0, SubscriptionCount: len(ch.subs), UserCount: len(ch.members)}
}

// Channels lists the occupied channels of app whose names start with prefix.
func (h *Hub) Channels(appID, prefix string) map[string]ChannelStats {
	out := make(map[string]ChannelStats)
	for i := range h.shards {
		s := &h.shards[i]
		s.mu.RLock()
		for k, ch := range s.channels {
			if k.app != appID || !strings.HasPrefix(k.name, prefix) || len(ch.subs) == 0 {
				continue
			}
			out[k.name] = ChannelStats{Occupied: true, SubscriptionCount: len(ch.subs), UserCount: len(ch.members)}
		}
		s.mu.RUnlock()
	}
	return out
}

// PresenceUsers returns the distinct user ids in a presence channel, sorted.
func (h *Hub) PresenceUsers(appID, name string) []string {
	k := chanKey{appID, name}
	s := h.shardFor(k)
	s.mu.RLock()
	ids := []string{}
	if ch := s.channels[k]; ch != nil {
		for id := range ch.members {
			ids = append(ids, id)
		}
	}
	s.mu.RUnlock()
	sort.Strings(ids)
	return ids
}
