package hub

import "github.com/heraldhq/herald/internal/console"

// What the hub shows the debug console. Every helper returns at once when
// no one watches the app (console.Feed.Watching), before building anything.

// showSub reports a subscription change of c (subscribed, unsubscribed).
func (h *Hub) showSub(c *Client, t console.Type, channel, detail string) {
	if app := c.curApp(); h.console.Watching(app.ID) {
		h.console.Emit(app.ID, console.Event{Type: t, Channel: channel, SocketID: c.socketID, Detail: detail})
	}
}

// showMember reports a presence member added or removed.
func (h *Hub) showMember(appID string, t console.Type, channel, userID string) {
	if h.console.Watching(appID) {
		h.console.Emit(appID, console.Event{Type: t, Channel: channel, User: userID})
	}
}

// authFailed writes the audit line of a failed authorization by c (and
// shows it to the console): channel for a subscription, else endpoint.
func (h *Hub) authFailed(c *Client, channel, endpoint, reason, detail string) {
	app := c.curApp()
	console.AuditAuthFailure(h.log, h.throttle, h.console, console.AuthFailure{AppID: app.ID, Key: app.Key,
		SocketID: c.socketID, Remote: c.remote, Channel: channel, Endpoint: endpoint, Reason: reason, Detail: detail})
}

// signinEndpoint is the endpoint of a sign-in's audit line.
const signinEndpoint = "pusher:signin"
