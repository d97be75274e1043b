package policy

import (
	"encoding/json"

	"github.com/heraldhq/herald/internal/apps"
	"github.com/heraldhq/herald/internal/protocol"
	"github.com/heraldhq/herald/internal/signing"
)

// User is the identity a connection proved with pusher:signin.
type User struct {
	ID        string
	Info      json.RawMessage // compact JSON; nil when absent
	Watchlist []string        // deduplicated, at most Config.MaxWatchlistSize ids
}

// Subscription is a pusher:subscribe the policy allows.
type Subscription struct {
	Info protocol.ChannelInfo
	// Member is who joins a presence channel: from channel_data, or the
	// signed-in user when there is none. Zero for other channels.
	Member protocol.Member
	// Secret is the index in the app's secrets (apps.App.Secrets, 0: the
	// primary) of the one that verified the signature; NoSecret when none
	// was needed or none verified. Set even when a later check refuses the
	// request: the signature was good all the same.
	Secret int
}

// Subscribe checks a pusher:subscribe sent by connection socketID of app:
// the channel name; for private, presence and encrypted channels the
// signature, against every secret app accepts now; for presence channels
// the member, from channel_data or the signed-in user; for
// #server-to-user-<id> that the connection is signed in as <id>. user is
// the connection's signed-in identity, nil when it has none. Refusals are
// *SubscriptionError; one for a bad signature wraps ErrSignature.
func (p *Policy) Subscribe(app *apps.App, socketID string, d protocol.SubscribeData, user *User) (Subscription, error) {
	name := d.Channel
	sub := Subscription{Info: protocol.Classify(name), Secret: NoSecret}
	switch sub.Info.Type {
	case protocol.Reserved:
		return sub, subErr(name, "InvalidChannel", 400, "Channel names starting with # are reserved")
	case protocol.UserChannel:
		// Delivery goes by the user index, so this is the only check.
		if id, _ := protocol.UserChannelID(name); user == nil || user.ID != id {
			return sub, subErr(name, "AuthError", 403, "Subscribing to %s requires a connection signed in as user %q", truncate(name, 210), truncate(id, 140))
		}
		return sub, nil
	}
	if err := p.checkName(name); err != nil {
		return sub, err
	}
	if !sub.Info.Type.RequiresAuth() {
		return sub, nil
	}

	presence := sub.Info.Type == protocol.Presence
	var cd *string // signed for presence channels only
	asUser := false
	if presence {
		cd = d.ChannelData
		if cd == nil {
			// A signed-in connection may join presence as its user (pusher-js
			// sends no channel_data then, and signs socket_id:channel only).
			if user == nil {
				return sub, subErr(name, "AuthError", 401, "Presence channel subscriptions need channel_data or a signed-in connection")
			}
			asUser = true
		}
	}
	if sub.Secret = p.channelSecret(app, socketID, name, cd, d.Auth); sub.Secret == NoSecret {
		e := subErr(name, "AuthError", 401, "Invalid signature: expected HMAC SHA256 hex digest of %s",
			truncate(signing.ChannelStringToSign(socketID, name, cd), 300))
		e.cause = ErrSignature
		return sub, e
	}
	switch {
	case asUser:
		if len(user.Info) > p.maxUserInfo(app) {
			return sub, subErr(name, "LimitReached", 413, "user_info is larger than %d bytes", p.maxUserInfo(app))
		}
		sub.Member = protocol.Member{UserID: user.ID, UserInfo: user.Info}
	case presence:
		m, err := p.member(app, name, *cd)
		if err != nil {
			return sub, err
		}
		sub.Member = m
	}
	return sub, nil
}

// checkName refuses a name that is not a channel name a client may use.
func (p *Policy) checkName(name string) error {
	if protocol.ValidChannelName(name, p.cfg.MaxChannelNameLen) {
		return nil
	}
	if len(name) > p.cfg.MaxChannelNameLen {
		return subErr(name, "LimitReached", 400, "Channel name is longer than %d characters", p.cfg.MaxChannelNameLen)
	}
	return subErr(name, "InvalidChannel", 400, "Invalid channel name %q: use only A-Z a-z 0-9 _ - = @ , . ;", truncate(name, 210))
}

// member parses a presence subscription's channel_data within the limits.
func (p *Policy) member(app *apps.App, channel, channelData string) (protocol.Member, error) {
	m, err := protocol.ParseChannelData(channelData)
	if err != nil {
		return protocol.Member{}, subErr(channel, "AuthError", 400, "Invalid channel_data: %s", protocol.MessageOf(err))
	}
	if len(m.UserID) > p.cfg.MaxUserIDLen {
		return protocol.Member{}, subErr(channel, "LimitReached", 400, "user_id is longer than %d characters", p.cfg.MaxUserIDLen)
	}
	if len(m.UserInfo) > p.maxUserInfo(app) {
		return protocol.Member{}, subErr(channel, "LimitReached", 413, "user_info is larger than %d bytes", p.maxUserInfo(app))
	}
	return m, nil
}
