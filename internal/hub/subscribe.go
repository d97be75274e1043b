package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sort"

	"github.com/heraldhq/herald/internal/apps"
	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/console"
	"github.com/heraldhq/herald/internal/policy"
	"github.com/heraldhq/herald/internal/protocol"
)

// Subscribe performs a pusher:subscribe for c once the policy allows it
// (name, signature, member); what needs this hub's state it decides here.
// Refusals are *policy.SubscriptionError.
func (h *Hub) Subscribe(ctx context.Context, c *Client, d protocol.SubscribeData) error {
	err := h.subscribe(ctx, c, d)
	h.subscribeResult(c, d.Channel, err)
	return err
}

func (h *Hub) subscribe(ctx context.Context, c *Client, d protocol.SubscribeData) error {
	app := c.curApp()
	c.mu.Lock()
	user := c.user
	c.mu.Unlock()
	sub, err := h.pol.Subscribe(app, c.socketID, d, user)
	h.secretUsed(c, "channel", sub.Secret)
	if err != nil {
		if errors.Is(err, policy.ErrSignature) {
			h.m.AuthFailures.WithLabelValues(app.ID, "channel_signature").Inc()
		}
		return err
	}
	if sub.Info.Type == protocol.UserChannel {
		// Delivery goes by the user index, not the channel index.
		c.Send(protocol.SubscriptionSucceeded(d.Channel))
		return nil
	}
	if err := h.join(ctx, c, d.Channel, sub.Info, sub.Member); err != nil {
		return err
	}
	if sub.Info.Type.RequiresAuth() {
		c.authorized.Store(true)
	}
	return nil
}

// subscribeResult writes the audit line of a subscription refused as an
// authorization error, and shows the outcome to the debug console.
func (h *Hub) subscribeResult(c *Client, channel string, err error) {
	if err != nil {
		h.subscribeRefused(c, channel, err)
		return
	}
	h.showSub(c, console.Subscribed, channel, "")
}

// subscribeRefused is subscribeResult for a refusal (apart: errors.As
// moves its target to the heap, which a successful subscribe need not pay).
func (h *Hub) subscribeRefused(c *Client, channel string, err error) {
	var se *policy.SubscriptionError
	if errors.As(err, &se) && se.Type == "AuthError" {
		reason := console.ReasonChannelRefused
		if errors.Is(err, policy.ErrSignature) {
			reason = console.ReasonBadSignature
		}
		h.authFailed(c, channel, "", reason, se.Message)
		return
	}
	if app := c.curApp(); h.console.Watching(app.ID) {
		e := console.Event{Type: console.SubscriptionFailed, Channel: channel, SocketID: c.socketID, Detail: err.Error()}
		if se != nil {
			e.Reason = se.Type
		}
		h.console.Emit(app.ID, e)
	}
}

// join adds c to channel name: locally first (as a pending joiner that
// keeps what the channel delivers meanwhile), then at the broker, which
// decides the cluster-wide transitions and answers with the member
// snapshot; then subscription_succeeded and what was kept are queued under
// the shard lock, so nothing the channel delivers later can pass them.
func (h *Hub) join(ctx context.Context, c *Client, name string, info protocol.ChannelInfo, m protocol.Member) error {
	presence := info.Type == protocol.Presence
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gone.Load() {
		return nil
	}
	app := c.curApp()
	idx := c.findLocked(name)
	if idx >= 0 {
		if presence && c.subs[idx].userID != m.UserID {
			// Re-subscribing under another identity would orphan the old member.
			return policy.AlreadySubscribedAs(name, c.subs[idx].userID)
		}
		return h.answerAgain(ctx, c, name, info)
	}
	if len(c.subs) >= h.cfg.MaxChannelsPerConn {
		return policy.TooManyChannels(name, h.cfg.MaxChannelsPerConn)
	}

	topic := broker.Topic{App: app.ID, Kind: broker.ChannelTopic, Name: name}
	if err := h.b.Listen(ctx, topic); err != nil {
		return h.unavailable(name, err)
	}
	k := chanKey{app.ID, name}
	s := h.shardFor(k)
	buf := &joinBuffer{}
	s.mu.Lock()
	ch := s.channels[k]
	if ch == nil {
		ch = &channel{app: app, subs: make(map[*Client]struct{}, 1)}
		s.channels[k] = ch
		h.m.Channels.WithLabelValues(app.ID).Inc()
	}
	if ch.pending == nil {
		ch.pending = make(map[*Client]*joinBuffer, 1)
	}
	ch.pending[c] = buf
	s.mu.Unlock()

	req := broker.JoinRequest{App: app.ID, Channel: name, SocketID: c.socketID, Presence: presence, Hooks: hasHooks(app)}
	if presence {
		req.Member = broker.Member{UserID: m.UserID, Info: m.UserInfo}
		req.MaxMembers = app.MaxPresenceMembers
		req.MemberAdded = protocol.MemberAdded(name, m.UserID, m.UserInfo)
	}
	res, err := h.b.Join(ctx, req)
	var cached broker.CacheEntry
	var hit bool
	if err == nil && !res.Full && info.Cache {
		cached, hit, err = h.b.Cached(ctx, app.ID, name)
		if err != nil {
			// Joined at the broker but cannot answer: undo it.
			h.b.Leave(context.WithoutCancel(ctx), broker.LeaveRequest{App: app.ID, Channel: name, SocketID: c.socketID,
				Presence: presence, UserID: m.UserID, MemberRemoved: protocol.MemberRemoved(name, m.UserID), Hooks: req.Hooks})
		}
	}
	if err != nil || res.Full {
		s.mu.Lock()
		delete(ch.pending, c)
		h.dropIfEmptyLocked(s, k, ch)
		s.mu.Unlock()
		h.b.Unlisten(topic)
		if err != nil {
			return h.unavailable(name, err)
		}
		return policy.PresenceFull(name, req.MaxMembers)
	}

	var cacheFrame []byte
	if info.Cache && hit {
		cacheFrame = protocol.EncodeEvent(cached.Event, name, cached.Data)
	}
	s.mu.Lock()
	delete(ch.pending, c)
	// Subscribed here as at the broker, whatever follows: Disconnect
	// undoes both.
	ch.subs[c] = struct{}{}
	c.subs = append(c.subs, subscription{channel: name, userID: m.UserID, info: m.UserInfo})
	if buf.over {
		s.mu.Unlock()
		c.SlowConsumer(ErrSlowConsumer)
		return nil
	}
	c.deliver(succeededFrame(name, presence, res.Members), true)
	frames := buf.frames
	if info.Cache {
		if cacheFrame != nil {
			c.deliver(cacheFrame, true)
			// The cache holds the newest publish that came before the read:
			// what was kept up to it is older, or it again.
			for j := len(frames) - 1; j >= 0; j-- {
				if bytes.Equal(frames[j], cacheFrame) {
					frames = frames[j+1:]
					break
				}
			}
		} else {
			c.deliver(protocol.CacheMiss(name), true)
		}
	}
	skipped := len(buf.frames) - len(frames)
	for i, f := range frames {
		if v := buf.versions[skipped+i]; presence && v > 0 && v <= res.Version {
			continue // in the snapshot already
		}
		c.deliver(f, true)
	}
	if presence && res.Version > 0 {
		if ch.joinVer == nil {
			ch.joinVer = make(map[*Client]uint64, 1)
		}
		ch.joinVer[c] = res.Version
	}
	s.mu.Unlock()

	if res.Occupied && !res.HooksQueued {
		h.emitApp(app, Event{Kind: ChannelOccupied, Channel: name})
	}
	if res.NewMember && !res.HooksQueued {
		h.emitApp(app, Event{Kind: MemberAdded, Channel: name, UserID: m.UserID})
	}
	if res.NewMember {
		h.showMember(app.ID, console.MemberAdded, name, m.UserID)
	}
	if info.Cache && cacheFrame == nil {
		h.emitApp(app, Event{Kind: CacheMiss, Channel: name})
	}
	if !presence && app.EnableSubscriptionCount {
		h.countChanged(ctx, app, name, res.Subscriptions)
	}
	return nil
}

// answerAgain answers a duplicate subscribe without counting anything twice.
func (h *Hub) answerAgain(ctx context.Context, c *Client, name string, info protocol.ChannelInfo) error {
	app := c.curApp()
	var members []broker.Member
	presence := info.Type == protocol.Presence
	if presence {
		var err error
		if members, err = h.b.Members(ctx, app.ID, name); err != nil {
			return h.unavailable(name, err)
		}
	}
	c.Send(succeededFrame(name, presence, members))
	if info.Cache {
		e, ok, err := h.b.Cached(ctx, app.ID, name)
		if err != nil {
			return h.unavailable(name, err)
		}
		if ok {
			c.Send(protocol.EncodeEvent(e.Event, name, e.Data))
		} else {
			c.Send(protocol.CacheMiss(name))
			h.emitApp(app, Event{Kind: CacheMiss, Channel: name})
		}
	}
	return nil
}

// unavailable is the subscription error when the cluster's shared state
// cannot be reached; the connection stays, the client may try again.
func (h *Hub) unavailable(name string, err error) error {
	h.throttle.Log(h.log, slog.LevelWarn, "broker", "", "subscription failed: shared state unavailable", "err", err)
	return policy.Unavailable(name)
}

func (h *Hub) dropIfEmptyLocked(s *shard, k chanKey, ch *channel) {
	if ch.empty() && s.channels[k] == ch {
		delete(s.channels, k)
		h.m.Channels.WithLabelValues(k.app).Dec()
	}
}

func succeededFrame(name string, presence bool, members []broker.Member) []byte {
	if !presence {
		return protocol.SubscriptionSucceeded(name)
	}
	ids := make([]string, 0, len(members))
	hash := make(map[string]json.RawMessage, len(members))
	for _, mem := range members {
		ids = append(ids, mem.UserID)
		hash[mem.UserID] = mem.Info
	}
	sort.Strings(ids)
	return protocol.PresenceSubscriptionSucceeded(name, ids, hash)
}

// Unsubscribe removes c from channel; unknown channels are ignored.
func (h *Hub) Unsubscribe(ctx context.Context, c *Client, name string) {
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
	h.leave(ctx, c, sub)
	h.showSub(c, console.Unsubscribed, name, "")
}

// leave takes c out of one channel: locally, then at the broker, which
// publishes member_removed when its user has no connection left anywhere.
func (h *Hub) leave(ctx context.Context, c *Client, sub subscription) {
	app := c.curApp()
	k := chanKey{app.ID, sub.channel}
	s := h.shardFor(k)
	s.mu.Lock()
	ch := s.channels[k]
	if ch == nil {
		s.mu.Unlock()
		return
	}
	if _, ok := ch.subs[c]; !ok {
		s.mu.Unlock()
		return
	}
	delete(ch.subs, c)
	delete(ch.joinVer, c)
	h.dropIfEmptyLocked(s, k, ch)
	s.mu.Unlock()

	presence := sub.presence()
	req := broker.LeaveRequest{App: app.ID, Channel: sub.channel, SocketID: c.socketID, Presence: presence, UserID: sub.userID,
		Hooks: hasHooks(app)}
	if presence {
		req.MemberRemoved = protocol.MemberRemoved(sub.channel, sub.userID)
	}
	res, err := h.b.Leave(ctx, req)
	h.b.Unlisten(broker.Topic{App: app.ID, Kind: broker.ChannelTopic, Name: sub.channel})
	if err != nil {
		// The broker re-syncs this node's share when it is back; a
		// presence member it can no longer find then is announced gone
		// (lost.go).
		h.throttle.Log(h.log, slog.LevelWarn, "broker", "", "unsubscribe not recorded: shared state unavailable", "err", err)
		if presence {
			h.noteLost(app.ID, sub.channel, sub.userID)
		}
		return
	}
	if res.MemberGone && !res.HooksQueued {
		h.emitApp(app, Event{Kind: MemberRemoved, Channel: sub.channel, UserID: sub.userID})
	}
	if res.MemberGone {
		h.showMember(app.ID, console.MemberRemoved, sub.channel, sub.userID)
	}
	if res.Vacated {
		if !res.HooksQueued {
			h.emitApp(app, Event{Kind: ChannelVacated, Channel: sub.channel})
		}
		return
	}
	if !presence && app.EnableSubscriptionCount {
		h.countChanged(ctx, app, sub.channel, res.Subscriptions)
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// secretUsed counts which generation of the app's secrets verified a
// client's signature (index i of apps.App.Secrets; policy.NoSecret when
// none did), so operators see when old secrets fall out of use.
func (h *Hub) secretUsed(c *Client, kind string, i int) {
	if i == policy.NoSecret {
		return
	}
	app := c.curApp()
	h.m.SecretUses.WithLabelValues(app.ID, kind, apps.SecretGeneration(i)).Inc()
	if i > 0 {
		h.throttle.Log(h.log, slog.LevelInfo, c.socketID, app.ID, "signature made with a previous secret",
			"app_key", app.Key, "socket_id", c.socketID, "kind", kind)
	}
}
