package policy

import (
	"errors"
	"testing"

	"github.com/heraldhq/herald/internal/protocol"
	"github.com/heraldhq/herald/internal/signing"
)

// FuzzSubscribe: whatever a client sends, a refusal is a SubscriptionError
// on the channel asked for, and an accepted subscription has a valid name,
// the exact signature where one is needed and a member within the limits.
// sign makes the auth the app backend would give, so that fuzzed
// channel_data reaches the parser behind the signature check.
func FuzzSubscribe(f *testing.F) {
	f.Add("private-x", "", false, "", true, "")
	f.Add("presence-x", `{"user_id":"1","user_info":{"n":"A"}}`, true, "", true, "")
	f.Add("presence-x", "", false, "", true, "me")
	f.Add("presence-x", `{"user_id":12345678901234567}`, true, "", true, "")
	f.Add("#server-to-user-me", "", false, "", false, "me")
	f.Add("bad name", "", false, "app-key:00", false, "")
	f.Add("private-encrypted-cache-x", "", false, "", true, "")
	const maxName, maxID, maxInfo = 40, 16, 64
	p := New(Config{MaxChannelNameLen: maxName, MaxUserIDLen: maxID, MaxUserInfoBytes: maxInfo})
	f.Fuzz(func(t *testing.T, channel, channelData string, hasData bool, auth string, sign bool, userID string) {
		d := protocol.SubscribeData{Channel: channel, Auth: auth}
		if hasData {
			d.ChannelData = &channelData
		}
		if sign {
			d.Auth = signing.AuthorizeChannel("app-key", primary, sid, channel, d.ChannelData)
		}
		var user *User
		if userID != "" {
			user = &User{ID: userID}
		}
		app := testApp()
		sub, err := p.Subscribe(app, sid, d, user)
		if err != nil {
			se, ok := errors.AsType[*SubscriptionError](err)
			if !ok || se.Channel != channel || se.Message == "" || se.Status == 0 {
				t.Fatalf("refusal %#v", err)
			}
			return
		}
		info := protocol.Classify(channel)
		if info.Type == protocol.UserChannel {
			if id, _ := protocol.UserChannelID(channel); user == nil || id != user.ID {
				t.Fatalf("%q accepted for user %+v", channel, user)
			}
			return
		}
		if !protocol.ValidChannelName(channel, maxName) {
			t.Fatalf("channel %q accepted", channel)
		}
		if !info.Type.RequiresAuth() {
			return
		}
		cd := d.ChannelData
		if info.Type != protocol.Presence {
			cd = nil
		}
		if sub.Secret != 0 || d.Auth != signing.AuthorizeChannel("app-key", primary, sid, channel, cd) {
			t.Fatalf("%q accepted with auth %q (secret %d)", channel, d.Auth, sub.Secret)
		}
		if info.Type == protocol.Presence {
			if m := sub.Member; m.UserID == "" || len(m.UserID) > maxID && cd != nil || len(m.UserInfo) > maxInfo {
				t.Fatalf("member %+v accepted", m)
			}
		}
	})
}
