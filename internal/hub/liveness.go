package hub

import "github.com/heraldhq/herald/internal/protocol"

var pingFrame = protocol.Ping()

// sweep pings connections that have been silent for the activity timeout
// and closes, with 4201, those that stayed silent for the pong timeout after
// our ping. One sweeper for all connections keeps per-connection timers
// (and their memory) out of the picture.
func (h *Hub) sweep() {
	now := h.now().UnixNano()
	idle := h.cfg.ActivityTimeout.Nanoseconds()
	pongWait := h.cfg.PongTimeout.Nanoseconds()

	var ping, kill []*Client
	h.clientsMu.RLock()
	for _, c := range h.clients {
		if sent := c.pingSentAt.Load(); sent != 0 {
			if now-sent >= pongWait {
				kill = append(kill, c)
			}
			continue
		}
		if now-c.lastSeen.Load() >= idle {
			ping = append(ping, c)
		}
	}
	h.clientsMu.RUnlock()

	for _, c := range ping {
		c.pingSentAt.Store(now)
		c.Send(pingFrame)
	}
	for _, c := range kill {
		h.m.PongTimeouts.WithLabelValues(c.app.ID).Inc()
		c.Close(protocol.CodePongTimeout, "Pong reply not received")
	}
}
