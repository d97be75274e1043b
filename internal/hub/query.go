package hub

import (
	"context"
	"time"

	"github.com/heraldhq/herald/internal/broker"
)

// Channel returns the cluster-wide stats of one channel.
func (h *Hub) Channel(ctx context.Context, appID, name string) (broker.ChannelStats, error) {
	return h.b.Channel(ctx, appID, name)
}

// Channels lists the occupied channels of app whose names start with prefix.
func (h *Hub) Channels(ctx context.Context, appID, prefix string) (map[string]broker.ChannelStats, error) {
	return h.b.Channels(ctx, appID, prefix)
}

// PresenceUsers returns the distinct user ids in a presence channel, sorted.
func (h *Hub) PresenceUsers(ctx context.Context, appID, name string) ([]string, error) {
	members, err := h.b.Members(ctx, appID, name)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(members))
	for i, m := range members {
		ids[i] = m.UserID
	}
	return ids, nil
}

// Cached returns the cached event of a cache channel, if any.
func (h *Hub) Cached(ctx context.Context, appID, name string) (broker.CacheEntry, bool, error) {
	return h.b.Cached(ctx, appID, name)
}

// Ready reports whether the cluster's shared state is reachable.
func (h *Hub) Ready() error { return h.b.Ready() }

// Nodes counts the live nodes of the cluster.
func (h *Hub) Nodes(ctx context.Context) (int, error) { return h.b.Nodes(ctx) }

// Allow takes a token from a cluster-wide rate-limit bucket.
func (h *Hub) Allow(ctx context.Context, key string, rate float64, burst int) (time.Duration, bool, error) {
	return h.b.Allow(ctx, key, rate, burst)
}
