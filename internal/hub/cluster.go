package hub

import (
	"context"
	"errors"

	"github.com/heraldhq/herald/internal/apps"
	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/console"
	"github.com/heraldhq/herald/internal/protocol"
)

var _ broker.Handler = (*Hub)(nil)

// Reaped publishes and reports the transitions the broker decided without
// a connection at hand: a dead node's members and channels removed, or this
// node's share registered again after the shared state was lost. The broker
// reports each once for the cluster, and queued the webhook of one that says
// HooksQueued itself.
func (h *Hub) Reaped(ctx context.Context, changes []broker.Change) {
	for _, ch := range changes {
		app := h.lookupApp(ctx, ch.App)
		topic := broker.Topic{App: ch.App, Kind: broker.ChannelTopic, Name: ch.Channel}
		var m broker.Message
		var ev *Event
		switch ch.Kind {
		case broker.MemberGone:
			h.forgetLost(ch.App, ch.Channel, ch.UserID)
			m = broker.Message{Topic: topic, Frame: protocol.MemberRemoved(ch.Channel, ch.UserID), Version: ch.Version}
			ev = &Event{Kind: MemberRemoved, Channel: ch.Channel, UserID: ch.UserID}
		case broker.MemberBack:
			m = broker.Message{Topic: topic, Frame: protocol.MemberAdded(ch.Channel, ch.UserID, ch.Info), Version: ch.Version}
			ev = &Event{Kind: MemberAdded, Channel: ch.Channel, UserID: ch.UserID}
		case broker.Vacated:
			ev = &Event{Kind: ChannelVacated, Channel: ch.Channel}
		case broker.Occupied:
			ev = &Event{Kind: ChannelOccupied, Channel: ch.Channel}
		case broker.Offline, broker.Online:
			var on, off []string
			if ch.Kind == broker.Online {
				on = []string{ch.UserID}
			} else {
				off = []string{ch.UserID}
			}
			m = broker.Message{Topic: broker.Topic{App: ch.App, Kind: broker.WatchTopic, Name: ch.UserID},
				Frame: protocol.WatchlistEvents(on, off)}
		case broker.CountChanged:
			if app != nil && app.EnableSubscriptionCount && ch.Count > 0 {
				h.publishCount(ctx, app, ch.Channel, ch.Count)
			}
		}
		if m.Frame != nil {
			if err := h.b.Publish(ctx, m); err != nil {
				h.log.Warn("cluster change not published", "app_id", ch.App, "kind", ch.Kind, "err", err)
			}
		}
		if ev != nil && app != nil && !ch.HooksQueued { // queued: the broker's queue has it
			h.emitApp(app, *ev)
		}
		switch ch.Kind {
		case broker.MemberGone:
			h.showMember(ch.App, console.MemberRemoved, ch.Channel, ch.UserID)
		case broker.MemberBack:
			h.showMember(ch.App, console.MemberAdded, ch.Channel, ch.UserID)
		}
	}
}

func (h *Hub) lookupApp(ctx context.Context, id string) *apps.App {
	if h.apps == nil {
		return nil
	}
	a, err := h.apps.ByID(ctx, id)
	if err != nil {
		if !errors.Is(err, apps.ErrNotFound) { // a deleted app's leftovers need no report
			h.log.Warn("app lookup failed for a cluster change", "app_id", id, "err", err)
		}
		return nil
	}
	return a
}

// Local lists this node's share of the shared state: what the broker
// registers again when the shared state lost it, together with what its
// own calls registered.
func (h *Hub) Local() broker.LocalState {
	st := broker.LocalState{Connections: map[string]int{}}
	for _, c := range h.allClients() {
		if c.gone.Load() {
			continue
		}
		app := c.curApp()
		if c.counted {
			st.Connections[app.ID]++
		}
		// A connection busy in a call to the broker holds c.mu, and the
		// broker may be waiting for this list: skip it. The broker keeps
		// what its own calls registered, so nothing of c is lost.
		if !c.mu.TryLock() {
			continue
		}
		for _, s := range c.subs {
			st.Subscriptions = append(st.Subscriptions, broker.JoinRequest{App: app.ID, Channel: s.channel,
				SocketID: c.socketID, Presence: s.presence(), Member: broker.Member{UserID: s.userID, Info: s.info}})
		}
		if u := c.user; u != nil {
			st.SignIns = append(st.SignIns, broker.SignIn{App: app.ID, UserID: u.ID, SocketID: c.socketID})
		}
		c.mu.Unlock()
	}
	return st
}
