package hub

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/console"
	"github.com/heraldhq/herald/internal/protocol"
)

// Presence leaves the broker could not record (the shared state was
// unreachable). When the outage kept the shared state, the broker's
// re-sync finds these members gone and reports them (Reaped, MemberGone);
// when it lost it (an empty Redis restart), nothing in the cluster
// remembers them any more, while the other nodes' clients still list them.
// So the hub keeps them and, once the broker is reachable again and every
// node had time to register its share again (LostLeaveGrace), announces
// member_removed for each user that is no member of the channel now.
const maxLostLeaves = 10_000 // beyond it, further lost leaves are not tracked (logged)

type lostKey struct{ app, channel, user string }

type lostLeaves struct {
	mu      sync.Mutex
	m       map[lostKey]struct{}
	readyAt time.Time // when the broker was first seen reachable with leaves pending; zero while not
	over    int       // leaves not tracked since the last warning
}

// noteLost records a presence leave the broker did not take.
func (h *Hub) noteLost(app, channel, user string) {
	l := &h.lost
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.m) >= maxLostLeaves {
		l.over++
		return
	}
	if l.m == nil {
		l.m = map[lostKey]struct{}{}
	}
	l.m[lostKey{app, channel, user}] = struct{}{}
	l.readyAt = time.Time{} // the outage goes on: wait for the next recovery
}

// forgetLost drops a leave the broker reported itself.
func (h *Hub) forgetLost(app, channel, user string) {
	l := &h.lost
	l.mu.Lock()
	delete(l.m, lostKey{app, channel, user})
	l.mu.Unlock()
}

// announceLost runs on the sweep tick: once the broker has been reachable
// for LostLeaveGrace, it announces the lost leaves whose users are no
// members any more, and forgets them. A failing lookup keeps the rest for
// the next tick.
func (h *Hub) announceLost(ctx context.Context) {
	l := &h.lost
	l.mu.Lock()
	if over := l.over; over > 0 {
		l.over = 0
		l.mu.Unlock()
		h.log.Warn("presence leaves during the outage not tracked: too many", "untracked", over, "max", maxLostLeaves)
		l.mu.Lock()
	}
	if len(l.m) == 0 {
		l.mu.Unlock()
		return
	}
	if h.b.Ready() != nil {
		l.readyAt = time.Time{}
		l.mu.Unlock()
		return
	}
	now := h.now()
	if l.readyAt.IsZero() {
		l.readyAt = now
	}
	if now.Sub(l.readyAt) < h.cfg.LostLeaveGrace {
		l.mu.Unlock()
		return
	}
	keys := make([]lostKey, 0, len(l.m))
	for k := range l.m {
		keys = append(keys, k)
	}
	l.mu.Unlock()

	members := map[[2]string]map[string]bool{} // one lookup per channel
	for _, k := range keys {
		ck := [2]string{k.app, k.channel}
		present, ok := members[ck]
		if !ok {
			list, err := h.b.Members(ctx, k.app, k.channel)
			if err != nil {
				return // unreachable again: the rest waits
			}
			present = make(map[string]bool, len(list))
			for _, m := range list {
				present[m.UserID] = true
			}
			members[ck] = present
		}
		l.mu.Lock()
		_, still := l.m[k] // not reported by a re-sync meanwhile
		delete(l.m, k)
		l.mu.Unlock()
		if !still || present[k.user] {
			continue
		}
		topic := broker.Topic{App: k.app, Kind: broker.ChannelTopic, Name: k.channel}
		// Version 0: not ordered against a joiner's snapshot; the user is
		// in no snapshot taken now, and pusher-js ignores the removal of a
		// member it does not list.
		if err := h.b.Publish(ctx, broker.Message{Topic: topic, Frame: protocol.MemberRemoved(k.channel, k.user)}); err != nil {
			h.throttle.Log(h.log, slog.LevelWarn, "broker", "", "member_removed after an outage not sent", "err", err)
			continue
		}
		if app := h.lookupApp(ctx, k.app); app != nil {
			h.emitApp(app, Event{Kind: MemberRemoved, Channel: k.channel, UserID: k.user})
		}
		h.showMember(k.app, console.MemberRemoved, k.channel, k.user)
	}
}
