package hub

import (
	"context"
	"log/slog"
	"time"

	"github.com/heraldhq/herald/internal/apps"
	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/protocol"
)

// Pusher sends subscription counts of channels with more than 100
// subscribers at most every 5 seconds.
const (
	countThrottleAbove = 100
	countThrottleEvery = 5 * time.Second
)

// countChanged publishes pusher_internal:subscription_count after a
// subscriber joined or left on this node; n is the cluster-wide count the
// broker answered. Each node throttles the counts it sends.
func (h *Hub) countChanged(ctx context.Context, app *apps.App, name string, n int) {
	if n <= 0 {
		return
	}
	k := chanKey{app.ID, name}
	s := h.shardFor(k)
	now := h.now().UnixNano()
	s.mu.Lock()
	ch := s.channels[k]
	if ch == nil {
		// This node's last subscriber left, the others still count: no
		// local throttle state to keep, send it.
		s.mu.Unlock()
		h.publishCount(ctx, app, name, n)
		return
	}
	if n > countThrottleAbove && now-ch.countSentAt < countThrottleEvery.Nanoseconds() {
		if s.pendingCounts == nil {
			s.pendingCounts = make(map[chanKey]struct{})
		}
		s.pendingCounts[k] = struct{}{}
		s.mu.Unlock()
		return
	}
	ch.countSentAt = now
	s.mu.Unlock()
	h.publishCount(ctx, app, name, n)
}

func (h *Hub) publishCount(ctx context.Context, app *apps.App, name string, n int) {
	err := h.b.Publish(ctx, broker.Message{Topic: broker.Topic{App: app.ID, Kind: broker.ChannelTopic, Name: name},
		Frame: protocol.SubscriptionCount(name, n)})
	if err != nil {
		h.throttle.Log(h.log, slog.LevelWarn, "broker", "", "subscription count not sent", "err", err)
		return
	}
	h.emitApp(app, Event{Kind: SubscriptionCount, Channel: name, SubscriptionCount: n})
}

// flushCounts sends the throttled counts whose window has passed.
func (h *Hub) flushCounts(ctx context.Context) {
	now := h.now().UnixNano()
	type due struct {
		app  *apps.App
		name string
	}
	var list []due
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
				list = append(list, due{ch.app, k.name})
			}
		}
		s.mu.Unlock()
	}
	for _, d := range list {
		st, err := h.b.Channel(ctx, d.app.ID, d.name)
		if err != nil {
			continue
		}
		h.publishCount(ctx, d.app, d.name, st.Subscriptions)
	}
}
