package hub

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"

	"github.com/heraldhq/herald/internal/apps"
	"github.com/heraldhq/herald/internal/protocol"
	"github.com/heraldhq/herald/internal/signing"
)

// SubscriptionError is a refused subscription. The edge reports it as a
// pusher:error (code null, hosted Pusher's form) and as a
// pusher:subscription_error on the channel (what laravel-echo's .error()
// listens for). The connection stays open.
type SubscriptionError struct {
	Channel string
	Type    string // AuthError, InvalidChannel, LimitReached
	Status  int    // HTTP-like status for the subscription_error payload
	Message string
}

func (e *SubscriptionError) Error() string { return e.Message }

func subErr(channel, typ string, status int, format string, args ...any) *SubscriptionError {
	return &SubscriptionError{Channel: channel, Type: typ, Status: status, Message: fmt.Sprintf(format, args...)}
}

// Subscribe checks and performs a pusher:subscribe for c.
func (h *Hub) Subscribe(c *Client, d protocol.SubscribeData) error {
	name := d.Channel
	info := protocol.Classify(name)
	switch info.Type {
	case protocol.Reserved:
		return subErr(name, "InvalidChannel", 400, "Channel names starting with # are reserved")
	case protocol.UserChannel:
		return h.subscribeUserChannel(c, name)
	}
	if !protocol.ValidChannelName(name, h.cfg.MaxChannelNameLen) {
		if len(name) > h.cfg.MaxChannelNameLen {
			return subErr(name, "LimitReached", 400, "Channel name is longer than %d characters", h.cfg.MaxChannelNameLen)
		}
		return subErr(name, "InvalidChannel", 400, "Invalid channel name %q: use only A-Z a-z 0-9 _ - = @ , . ;", truncate(name, 210))
	}

	var m protocol.Member
	if info.Type.RequiresAuth() {
		var cd *string
		var signedIn *signedInUser
		if info.Type == protocol.Presence {
			if d.ChannelData == nil {
				// A signed-in connection may join presence as its user (pusher-js
				// sends no channel_data then, and signs socket_id:channel only).
				c.mu.Lock()
				signedIn = c.user
				c.mu.Unlock()
				if signedIn == nil {
					return subErr(name, "AuthError", 401, "Presence channel subscriptions need channel_data or a signed-in connection")
				}
			}
			cd = d.ChannelData
		}
		if !h.verify(c, "channel", func(secret string) bool {
			return signing.VerifyChannel(c.curApp().Key, secret, c.socketID, name, cd, d.Auth)
		}) {
			h.m.AuthFailures.WithLabelValues(c.curApp().ID, "channel_signature").Inc()
			return subErr(name, "AuthError", 401, "Invalid signature: expected HMAC SHA256 hex digest of %s",
				truncate(signing.ChannelStringToSign(c.socketID, name, cd), 300))
		}
		if signedIn != nil {
			m = protocol.Member{UserID: signedIn.id, UserInfo: signedIn.info}
			if len(m.UserInfo) > h.maxUserInfo(c.curApp()) {
				return subErr(name, "LimitReached", 413, "user_info is larger than %d bytes", h.maxUserInfo(c.curApp()))
			}
		} else if info.Type == protocol.Presence {
			var err error
			m, err = protocol.ParseChannelData(*d.ChannelData)
			if err != nil {
				return subErr(name, "AuthError", 400, "Invalid channel_data: %s", protocol.MessageOf(err))
			}
			if len(m.UserID) > h.cfg.MaxUserIDLen {
				return subErr(name, "LimitReached", 400, "user_id is longer than %d characters", h.cfg.MaxUserIDLen)
			}
			if len(m.UserInfo) > h.maxUserInfo(c.curApp()) {
				return subErr(name, "LimitReached", 413, "user_info is larger than %d bytes", h.maxUserInfo(c.curApp()))
			}
		}
	}
	if err := h.join(c, name, info, m); err != nil {
		return err
	}
	if info.Type.RequiresAuth() {
		c.authorized.Store(true)
	}
	return nil
}

// subscribeUserChannel accepts #server-to-user-<id> only from a connection
// signed in as <id>. Delivery goes by the user index, not the channel index.
func (h *Hub) subscribeUserChannel(c *Client, name string) error {
	id, _ := protocol.UserChannelID(name)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.user == nil || c.user.id != id {
		return subErr(name, "AuthError", 403, "Subscribing to %s requires a connection signed in as user %q", truncate(name, 210), truncate(id, 140))
	}
	c.Send(protocol.SubscriptionSucceeded(name))
	return nil
}

func (h *Hub) join(c *Client, name string, info protocol.ChannelInfo, m protocol.Member) error {
	presence := info.Type == protocol.Presence
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gone.Load() {
		return nil
	}
	idx := c.findLocked(name)
	if idx < 0 && len(c.subs) >= h.cfg.MaxChannelsPerConn {
		return subErr(name, "LimitReached", 400, "A connection may hold at most %d channels", h.cfg.MaxChannelsPerConn)
	}
	if idx >= 0 && presence && c.subs[idx].userID != m.UserID {
		// Re-subscribing under another identity would orphan the old member.
		return subErr(name, "AuthError", 400, "Already subscribed to %s as user %q", name, c.subs[idx].userID)
	}

	k := chanKey{c.curApp().ID, name}
	s := h.shardFor(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := s.channels[k]
	if ch == nil {
		ch = &channel{app: c.curApp(), subs: make(map[*Client]struct{}, 1)}
		if presence {
			ch.members = make(map[string]*member, 1)
		}
		s.channels[k] = ch
		h.m.Channels.WithLabelValues(c.curApp().ID).Inc()
		h.emit(c, Event{Kind: ChannelOccupied, Channel: name})
	}
	if idx >= 0 { // duplicate subscribe: answer again, count nothing twice
		c.Send(succeededFrame(ch, name, presence))
		if info.Cache {
			h.sendCacheLocked(c, s, k)
		}
		return nil
	}

	newMember := false
	if presence {
		mem := ch.members[m.UserID]
		if mem == nil {
			// A full channel has members, so it existed before this call
			// and has subscribers: nothing to undo.
			if max := c.curApp().MaxPresenceMembers; max > 0 && len(ch.members) >= max {
				return subErr(name, "LimitReached", 4100, "Presence channel %s is full (%d members)", name, max)
			}
			mem = &member{info: m.UserInfo}
			ch.members[m.UserID] = mem
			newMember = true
		}
		mem.conns++
	}
	ch.subs[c] = struct{}{}
	c.subs = append(c.subs, subscription{channel: name, userID: m.UserID})

	c.Send(succeededFrame(ch, name, presence))
	if info.Cache {
		h.sendCacheLocked(c, s, k)
	}
	if newMember {
		h.broadcastLocked(ch, protocol.MemberAdded(name, m.UserID, m.UserInfo), c)
		h.emit(c, Event{Kind: MemberAdded, Channel: name, UserID: m.UserID})
	}
	if !presence && c.curApp().EnableSubscriptionCount {
		h.countChangedLocked(s, k, ch)
	}
	return nil
}

func succeededFrame(ch *channel, name string, presence bool) []byte {
	if !presence {
		return protocol.SubscriptionSucceeded(name)
	}
	ids := make([]string, 0, len(ch.members))
	hash := make(map[string]json.RawMessage, len(ch.members))
	for id, mem := range ch.members {
		ids = append(ids, id)
		hash[id] = mem.info
	}
	sort.Strings(ids)
	return protocol.PresenceSubscriptionSucceeded(name, ids, hash)
}

// Unsubscribe removes c from channel; unknown channels are ignored.
func (h *Hub) Unsubscribe(c *Client, name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	idx := c.findLocked(name)
	if idx < 0 {
		return
	}
	sub := c.subs[idx]
	last := len(c.subs) - 1
	c.subs[idx] = c.subs[last]
	c.subs[last] = subscription{}
	c.subs = c.subs[:last]
	h.leave(c, sub)
}

// leave takes c out of one channel: member_removed when its user has no
// connection left there, and the channel disappears when empty.
func (h *Hub) leave(c *Client, sub subscription) {
	k := chanKey{c.curApp().ID, sub.channel}
	s := h.shardFor(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := s.channels[k]
	if ch == nil {
		return
	}
	if _, ok := ch.subs[c]; !ok {
		return
	}
	delete(ch.subs, c)
	if ch.members != nil {
		if mem := ch.members[sub.userID]; mem != nil {
			if mem.conns--; mem.conns <= 0 {
				delete(ch.members, sub.userID)
				h.broadcastLocked(ch, protocol.MemberRemoved(sub.channel, sub.userID), nil)
				h.emit(c, Event{Kind: MemberRemoved, Channel: sub.channel, UserID: sub.userID})
			}
		}
	}
	if len(ch.subs) == 0 {
		delete(s.channels, k)
		h.m.Channels.WithLabelValues(c.curApp().ID).Dec()
		h.emit(c, Event{Kind: ChannelVacated, Channel: sub.channel})
		return
	}
	if ch.members == nil && c.curApp().EnableSubscriptionCount {
		h.countChangedLocked(s, k, ch)
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// verify tries each secret the app accepts now (primary first) and counts
// which generation matched, so operators see when old secrets fall out of use.
func (h *Hub) verify(c *Client, kind string, check func(secret string) bool) bool {
	for i, secret := range c.curApp().Secrets(h.now()) {
		if check(secret) {
			h.m.SecretUses.WithLabelValues(c.curApp().ID, kind, apps.SecretGeneration(i)).Inc()
			if i > 0 {
				h.throttle.Log(h.log, slog.LevelInfo, c.socketID, c.curApp().ID, "signature made with a previous secret",
					"app_key", c.curApp().Key, "socket_id", c.socketID, "kind", kind)
			}
			return true
		}
	}
	return false
}
