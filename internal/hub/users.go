package hub

import (
	"context"
	"log/slog"
	"sync"

	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/console"
	"github.com/heraldhq/herald/internal/policy"
	"github.com/heraldhq/herald/internal/protocol"
)

// userIndex maps signed-in users to their connections, and watched users to
// the connections watching them. A user is online while at least one of its
// connections is signed in.
type userIndex struct {
	mu       sync.RWMutex
	conns    map[chanKey]map[*Client]struct{} // (app, user id) -> signed-in connections
	watchers map[chanKey]map[*Client]struct{} // (app, watched user id) -> watching connections
}

func addTo(m map[chanKey]map[*Client]struct{}, k chanKey, c *Client) {
	set := m[k]
	if set == nil {
		set = make(map[*Client]struct{}, 1)
		m[k] = set
	}
	set[c] = struct{}{}
}

func removeFrom(m map[chanKey]map[*Client]struct{}, k chanKey, c *Client) {
	if set := m[k]; set != nil {
		delete(set, c)
		if len(set) == 0 {
			delete(m, k)
		}
	}
}

// Signin performs a pusher:signin for c once the policy allows it
// (signature, user_data). A refusal is a pusher:error 4009, which closes
// the connection too when the app requires sign-in. Signing in again as
// the same user is answered again; as another user it is refused.
func (h *Hub) Signin(ctx context.Context, c *Client, d protocol.SigninData) error {
	app := c.curApp()
	s, err := h.pol.Signin(app, c.socketID, d)
	h.secretUsed(c, "user", s.Secret)
	if err != nil {
		h.m.AuthFailures.WithLabelValues(app.ID, "signin").Inc()
		h.authFailed(c, "", signinEndpoint, console.ReasonSigninRefused, err.Error())
		return err
	}
	user := s.User

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gone.Load() {
		return nil
	}
	if c.user != nil {
		if c.user.ID != user.ID {
			h.m.AuthFailures.WithLabelValues(app.ID, "signin").Inc()
			err := policy.AlreadySignedIn(app, c.user.ID)
			h.authFailed(c, "", signinEndpoint, console.ReasonSigninRefused, err.Error())
			return err
		}
		c.Send(protocol.SigninSuccess(d.UserData))
		return nil
	}
	if err := h.listenUser(ctx, app.ID, user); err != nil {
		return h.signinUnavailable(err)
	}
	if _, err := h.b.SignIn(ctx, app.ID, user.ID, c.socketID, protocol.WatchlistEvents([]string{user.ID}, nil)); err != nil {
		h.unlistenUser(app.ID, user)
		return h.signinUnavailable(err)
	}
	c.user = user
	c.authorized.Store(true)

	u := &h.users
	u.mu.Lock()
	addTo(u.conns, chanKey{app.ID, user.ID}, c)
	u.mu.Unlock()

	c.Send(protocol.SigninSuccess(d.UserData))
	if w := s.Warning; w != nil {
		c.Send(protocol.ErrorFrame(w.Code, w.Message))
	}
	if watch := user.Watchlist; len(watch) > 0 {
		// Watching starts before the snapshot is read: a change in between
		// arrives twice at worst, never not at all.
		u.mu.Lock()
		for _, w := range watch {
			addTo(u.watchers, chanKey{app.ID, w}, c)
		}
		u.mu.Unlock()
		online, err := h.b.Online(ctx, app.ID, watch)
		if err != nil {
			h.throttle.Log(h.log, slog.LevelWarn, "broker", "", "watchlist status unavailable", "err", err)
		} else {
			var on, off []string
			for i, w := range watch {
				if online[i] {
					on = append(on, w)
				} else {
					off = append(off, w)
				}
			}
			c.Send(protocol.WatchlistEvents(on, off))
		}
	}
	return nil
}

func (h *Hub) signinUnavailable(err error) error {
	h.throttle.Log(h.log, slog.LevelWarn, "broker", "", "sign-in failed: shared state unavailable", "err", err)
	return policy.SigninUnavailable()
}

// listenUser makes this node receive what goes to user's connections and to
// the watchers of the ids user watches.
func (h *Hub) listenUser(ctx context.Context, appID string, user *policy.User) error {
	topics := []broker.Topic{{App: appID, Kind: broker.UserTopic, Name: user.ID}}
	for _, w := range user.Watchlist {
		topics = append(topics, broker.Topic{App: appID, Kind: broker.WatchTopic, Name: w})
	}
	for i, t := range topics {
		if err := h.b.Listen(ctx, t); err != nil {
			for _, t := range topics[:i] {
				h.b.Unlisten(t)
			}
			return err
		}
	}
	return nil
}

func (h *Hub) unlistenUser(appID string, user *policy.User) {
	h.b.Unlisten(broker.Topic{App: appID, Kind: broker.UserTopic, Name: user.ID})
	for _, w := range user.Watchlist {
		h.b.Unlisten(broker.Topic{App: appID, Kind: broker.WatchTopic, Name: w})
	}
}

// signOut removes a departing connection's identity, here and at the broker
// (which tells the watchers when it was the user's last connection).
func (h *Hub) signOut(ctx context.Context, c *Client, user *policy.User) {
	app := c.curApp()
	u := &h.users
	u.mu.Lock()
	removeFrom(u.conns, chanKey{app.ID, user.ID}, c)
	for _, w := range user.Watchlist {
		removeFrom(u.watchers, chanKey{app.ID, w}, c)
	}
	u.mu.Unlock()
	if _, err := h.b.SignOut(ctx, app.ID, user.ID, c.socketID, protocol.WatchlistEvents(nil, []string{user.ID})); err != nil {
		h.throttle.Log(h.log, slog.LevelWarn, "broker", "", "sign-out not recorded: shared state unavailable", "err", err)
	}
	h.unlistenUser(app.ID, user)
}

// deliverUser hands a message on a user's topic to its local connections:
// a #server-to-user- event, or a request to close them.
func (h *Hub) deliverUser(m broker.Message) {
	bp := getClients()
	list := h.userConns(m.Topic.App, m.Topic.Name, (*bp)[:0])
	defer putClients(bp, list)
	switch m.Kind {
	case broker.Terminate:
		frame := protocol.ErrorFrame(protocol.CodeUnauthorized, "You got disconnected by the app.")
		for _, c := range list {
			c.Send(frame)
			c.Close(protocol.CodeUnauthorized, "You got disconnected by the app.")
		}
	default:
		h.sendAll(m.Topic.App, list, m.Frame, m.Except)
	}
}

// deliverWatch tells the local connections watching a user that it came
// online or went offline.
func (h *Hub) deliverWatch(m broker.Message) {
	bp := getClients()
	list := (*bp)[:0]
	h.users.mu.RLock()
	for w := range h.users.watchers[chanKey{m.Topic.App, m.Topic.Name}] {
		list = append(list, w)
	}
	h.users.mu.RUnlock()
	h.sendAll(m.Topic.App, list, m.Frame, m.Except)
	putClients(bp, list)
}

// userConns copies the local connections signed in as user.
func (h *Hub) userConns(appID, userID string, buf []*Client) []*Client {
	h.users.mu.RLock()
	for c := range h.users.conns[chanKey{appID, userID}] {
		buf = append(buf, c)
	}
	h.users.mu.RUnlock()
	return buf
}

// TerminateUser closes every connection signed in as userID, on every node,
// with 4009, so pusher-js does not reconnect by itself.
func (h *Hub) TerminateUser(ctx context.Context, appID, userID string) error {
	return h.b.Publish(ctx, broker.Message{Topic: broker.Topic{App: appID, Kind: broker.UserTopic, Name: userID}, Kind: broker.Terminate})
}

// UserConnectionCount returns how many connections are signed in as userID
// in the cluster.
func (h *Hub) UserConnectionCount(ctx context.Context, appID, userID string) (int, error) {
	return h.b.UserConnections(ctx, appID, userID)
}
