package hub

import (
	"context"

	"github.com/heraldhq/herald/internal/apps"
	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/console"
	"github.com/heraldhq/herald/internal/protocol"
)

// ClientEvent relays a client-* event from c to the other subscribers of its
// channel. Refusals come back as *protocol.Error; none closes the connection.
func (h *Hub) ClientEvent(ctx context.Context, c *Client, f protocol.Frame) error {
	if !c.curApp().EnableClientMessages {
		return &protocol.Error{Code: 0, Message: "Client events are not enabled for this app"}
	}
	if len(f.Event) > h.cfg.MaxEventNameLen {
		return &protocol.Error{Code: 0, Message: "Event name is too long"}
	}
	if f.Channel == "" {
		return &protocol.Error{Code: 0, Message: "Client event " + truncate(f.Event, 200) + " has no channel"}
	}
	switch protocol.Classify(f.Channel).Type {
	case protocol.Private, protocol.Presence:
	case protocol.Encrypted:
		return &protocol.Error{Code: 0, Message: "Client events are not allowed on encrypted channels"}
	default:
		return &protocol.Error{Code: 0, Message: "Client events are only allowed on private and presence channels"}
	}
	data, hasData := protocol.ClientEventData(f.Data)
	if max := c.curApp().MaxEventPayloadBytes; max > 0 && len(data) > max {
		return &protocol.Error{Code: 0, Message: "Client event data is larger than the app's limit"}
	}

	c.mu.Lock()
	idx := c.findLocked(f.Channel)
	var userID string
	if idx >= 0 {
		userID = c.subs[idx].userID
	}
	allowed := idx >= 0 && c.allowClientEventLocked(h.now().UnixNano(), h.clientEventsPerSec(c.curApp()))
	c.mu.Unlock()
	if idx < 0 {
		return &protocol.Error{Code: 0, Message: "Client event on " + truncate(f.Channel, 200) + " rejected: not subscribed to it"}
	}
	if !allowed {
		h.m.ClientEventsRejected.WithLabelValues(c.curApp().ID, "rate_limit").Inc()
		return &protocol.Error{Code: protocol.CodeClientRateLimit, Message: "Client event rejected: more than the allowed client events per second"}
	}

	frame := protocol.EncodeClientEvent(f.Event, f.Channel, data, hasData, userID)
	h.m.ClientEvents.WithLabelValues(c.curApp().ID).Inc()
	m := broker.Message{Topic: broker.Topic{App: c.curApp().ID, Kind: broker.ChannelTopic, Name: f.Channel},
		Frame: frame, Except: c.socketID}
	err := h.b.Publish(ctx, m)
	h.deliverLocallyOn(err, m)
	if err != nil {
		return &protocol.Error{Code: 0, Message: "Client event delivered on this server only: it cannot reach its cluster state"}
	}
	h.emit(c, Event{Kind: ClientEvent, Channel: f.Channel, Event: f.Event, Data: data, HasData: hasData,
		SocketID: c.socketID, UserID: userID})
	if appID := c.curApp().ID; h.console.Watching(appID) {
		h.console.Emit(appID, console.Event{Type: console.ClientEvent, Channel: f.Channel, Event: f.Event,
			SocketID: c.socketID, User: userID, Bytes: len(data), Data: data})
	}
	return nil
}

func (h *Hub) clientEventsPerSec(a *apps.App) int {
	if a.ClientEventsPerSec > 0 {
		return a.ClientEventsPerSec
	}
	return h.cfg.ClientEventsPerSec
}
