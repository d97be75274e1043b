package hub

import (
	"log/slog"

	"github.com/heraldhq/herald/internal/console"
	"github.com/heraldhq/herald/internal/protocol"
)

var pingFrame = protocol.Ping()

// sweep pings connections that have been silent for the activity timeout
// and closes, with 4201, those that stayed silent for the pong timeout after
// our ping. One sweeper for all connections keeps per-connection timers
// (and their memory) out of the picture.
func (h *Hub) sweep() {
	now := h.now().UnixNano()
	idle := h.cfg.ActivityTimeout.Nanoseconds()
	pongWait := h.cfg.PongTimeout.Nanoseconds()

	signinWait := h.cfg.SigninTimeout.Nanoseconds()

	var ping, kill, unauthorized []*Client
	h.clientsMu.RLock()
	for _, c := range h.clients {
		if c.curApp().RequireSignin && !c.authorized.Load() && now-c.connectedAt >= signinWait {
			unauthorized = append(unauthorized, c)
			continue
		}
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
	for _, c := range unauthorized {
		h.m.AuthFailures.WithLabelValues(c.curApp().ID, "signin_timeout").Inc()
		h.throttle.Log(h.log, slog.LevelWarn, c.socketID, c.curApp().ID, "closing connection that did not sign in",
			"app_key", c.curApp().Key, "socket_id", c.socketID, "reason", "require_signin timeout", "remote", c.remote)
		msg := "Connection not authorized within " + h.cfg.SigninTimeout.String() + ": sign in first"
		h.authFailed(c, "", signinEndpoint, console.ReasonSigninTimeout, msg)
		c.Send(protocol.ErrorFrame(protocol.CodeUnauthorized, msg))
		c.Close(protocol.CodeUnauthorized, msg)
	}
	for _, c := range kill {
		h.m.PongTimeouts.WithLabelValues(c.curApp().ID).Inc()
		c.Close(protocol.CodePongTimeout, "Pong reply not received")
	}
}
