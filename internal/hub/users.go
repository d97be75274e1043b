package hub

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/heraldhq/herald/internal/protocol"
	"github.com/heraldhq/herald/internal/signing"
)

// signedInUser is the identity a connection proved with pusher:signin.
type signedInUser struct {
	id        string
	info      json.RawMessage
	watchlist []string
}

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

// Signin handles pusher:signin. A bad signature or user_data is answered
// with pusher:error 4009; the connection is closed too when the app
// requires sign-in. Signing in again as the same user is answered again;
// as another user it is refused.
func (h *Hub) Signin(c *Client, d protocol.SigninData) error {
	refuse := func(format string, args ...any) error {
		h.m.AuthFailures.WithLabelValues(c.curApp().ID, "signin").Inc()
		return &protocol.Error{Code: protocol.CodeUnauthorized, Message: fmt.Sprintf(format, args...), Close: c.curApp().RequireSignin}
	}
	if !h.verify(c, "user", func(secret string) bool {
		return signing.VerifyUser(c.curApp().Key, secret, c.socketID, d.UserData, d.Auth)
	}) {
		return refuse("Invalid signature: expected HMAC SHA256 hex digest of %s", truncate(c.socketID+"::user::"+d.UserData, 300))
	}
	ud, err := protocol.ParseUserData(d.UserData)
	if err != nil {
		return refuse("Invalid user_data: %s", protocol.MessageOf(err))
	}
	if !protocol.ValidChannelName(ud.ID, h.cfg.MaxUserIDLen) {
		return refuse("Invalid user id %q: at most %d characters from A-Z a-z 0-9 _ - = @ , . ;", truncate(ud.ID, 140), h.cfg.MaxUserIDLen)
	}
	if len(ud.UserInfo) > h.maxUserInfo(c.curApp()) {
		return refuse("user_info is larger than %d bytes", h.maxUserInfo(c.curApp()))
	}
	watch, dropped := dedupe(ud.Watchlist), 0
	if len(watch) > h.cfg.MaxWatchlistSize {
		dropped = len(watch) - h.cfg.MaxWatchlistSize
		watch = watch[:h.cfg.MaxWatchlistSize]
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gone.Load() {
		return nil
	}
	if c.user != nil {
		if c.user.id != ud.ID {
			return refuse("Connection is already signed in as user %q", truncate(c.user.id, 140))
		}
		c.Send(protocol.SigninSuccess(d.UserData))
		return nil
	}
	c.user = &signedInUser{id: ud.ID, info: ud.UserInfo, watchlist: watch}
	c.authorized.Store(true)

	u := &h.users
	u.mu.Lock()
	defer u.mu.Unlock()
	k := chanKey{c.curApp().ID, ud.ID}
	wasOnline := len(u.conns[k]) > 0
	addTo(u.conns, k, c)
	for _, w := range watch {
		addTo(u.watchers, chanKey{c.curApp().ID, w}, c)
	}

	c.Send(protocol.SigninSuccess(d.UserData))
	if dropped > 0 {
		c.Send(protocol.ErrorFrame(protocol.CodeWatchlistLimit, fmt.Sprintf(
			"Watchlist limit exceeded: only the first %d ids are watched (%d dropped): %s",
			len(watch), dropped, truncate(strings.Join(watch, ","), 2000))))
	}
	if len(watch) > 0 {
		var online, offline []string
		for _, w := range watch {
			if len(u.conns[chanKey{c.curApp().ID, w}]) > 0 {
				online = append(online, w)
			} else {
				offline = append(offline, w)
			}
		}
		c.Send(protocol.WatchlistEvents(online, offline))
	}
	if !wasOnline {
		h.notifyWatchersLocked(k, true, c) // c itself learnt the status above
	}
	return nil
}

// notifyWatchersLocked tells every connection watching user k that it came
// online or went offline; the caller holds users.mu, so the frame is queued
// (no syscall per watcher under the lock) and counted once.
func (h *Hub) notifyWatchersLocked(k chanKey, online bool, except *Client) {
	set := h.users.watchers[k]
	if len(set) == 0 {
		return
	}
	var frame []byte
	if online {
		frame = protocol.WatchlistEvents([]string{k.name}, nil)
	} else {
		frame = protocol.WatchlistEvents(nil, []string{k.name})
	}
	n := 0
	for w := range set {
		if w != except && w.deliver(frame, true) {
			n++
		}
	}
	h.m.MessagesSent.WithLabelValues(k.app).Add(float64(n))
}

// signOut removes a departing connection's identity.
func (h *Hub) signOut(c *Client, user *signedInUser) {
	u := &h.users
	u.mu.Lock()
	defer u.mu.Unlock()
	k := chanKey{c.curApp().ID, user.id}
	removeFrom(u.conns, k, c)
	for _, w := range user.watchlist {
		removeFrom(u.watchers, chanKey{c.curApp().ID, w}, c)
	}
	if len(u.conns[k]) == 0 {
		h.notifyWatchersLocked(k, false, nil)
	}
}

// userConns copies the connections signed in as user.
func (h *Hub) userConns(appID, userID string, buf []*Client) []*Client {
	h.users.mu.RLock()
	for c := range h.users.conns[chanKey{appID, userID}] {
		buf = append(buf, c)
	}
	h.users.mu.RUnlock()
	return buf
}

// TerminateUser closes every connection signed in as userID with 4009, so
// pusher-js does not reconnect by itself. It returns how many it closed.
func (h *Hub) TerminateUser(appID, userID string) int {
	list := h.userConns(appID, userID, nil)
	frame := protocol.ErrorFrame(protocol.CodeUnauthorized, "You got disconnected by the app.")
	for _, c := range list {
		c.Send(frame)
		c.Close(protocol.CodeUnauthorized, "You got disconnected by the app.")
	}
	return len(list)
}

// UserConnectionCount returns how many connections are signed in as userID.
func (h *Hub) UserConnectionCount(appID, userID string) int {
	h.users.mu.RLock()
	defer h.users.mu.RUnlock()
	return len(h.users.conns[chanKey{appID, userID}])
}

// dedupe drops repeated and empty ids, keeping the first occurrence's order.
func dedupe(ids []string) []string {
	if len(ids) == 0 {
		return ids
	}
	seen := make(map[string]struct{}, len(ids))
	out := ids[:0:0]
	for _, id := range ids {
		if _, ok := seen[id]; !ok && id != "" {
			seen[id] = struct{}{}
			out = append(out, id)
		}
	}
	return out
}
