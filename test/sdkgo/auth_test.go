package sdkgo_test

import (
	"encoding/json"
	"testing"

	pusher "github.com/pusher/pusher-http-go/v5"
)

// TestAuthorizePrivateChannel subscribes with AuthorizePrivateChannel's
// answer, sends a client event between two subscribers, and checks that an
// answer signed with another secret is refused with subscription_error.
func TestAuthorizePrivateChannel(t *testing.T) {
	t.Parallel()
	ch := unique(t, "private-orders-")
	a, b := dial(t, appKey), dial(t, appKey)
	for _, c := range []*wsClient{a, b} {
		auth, err := sdk().AuthorizePrivateChannel(authParams(c.socketID, ch))
		if err != nil {
			t.Fatalf("AuthorizePrivateChannel: %v", err)
		}
		if got := c.subscribe(ch, auth); got != "{}" {
			t.Errorf("subscription_succeeded data = %q, want \"{}\"", got)
		}
	}
	a.send(map[string]any{"event": "client-typing", "channel": ch, "data": map[string]bool{"typing": true}})
	if got := b.expectEvent(ch, "client-typing"); got != `{"typing":true}` {
		t.Errorf("client event data = %s", got)
	}

	wrong := sdk()
	wrong.Secret = "not-the-secret"
	c := dial(t, appKey)
	auth, err := wrong.AuthorizePrivateChannel(authParams(c.socketID, ch))
	if err != nil {
		t.Fatal(err)
	}
	c.sendSubscribe(ch, auth)
	f := c.expect(func(f frame) bool { return f.Channel == ch })
	if f.Event != "pusher:subscription_error" {
		t.Errorf("a wrong signature: got %s, want pusher:subscription_error", f.raw)
	}
}

// TestAuthorizePresenceChannel: members see each other with the user_info
// AuthorizePresenceChannel signed (channel_data checked byte for byte).
func TestAuthorizePresenceChannel(t *testing.T) {
	t.Parallel()
	ch := unique(t, "presence-room-")
	a := dial(t, appKey)
	auth, err := sdk().AuthorizePresenceChannel(authParams(a.socketID, ch),
		pusher.MemberData{UserID: "42", UserInfo: map[string]string{"name": "Ada", "emoji": "é<>"}})
	if err != nil {
		t.Fatalf("AuthorizePresenceChannel: %v", err)
	}
	var p struct {
		Presence struct {
			IDs   []string                     `json:"ids"`
			Hash  map[string]map[string]string `json:"hash"`
			Count int                          `json:"count"`
		} `json:"presence"`
	}
	if err := json.Unmarshal([]byte(a.subscribe(ch, auth)), &p); err != nil {
		t.Fatal(err)
	}
	if p.Presence.Count != 1 || len(p.Presence.IDs) != 1 || p.Presence.IDs[0] != "42" || p.Presence.Hash["42"]["emoji"] != "é<>" {
		t.Errorf("presence data = %+v", p.Presence)
	}

	b := dial(t, appKey)
	auth, err = sdk().AuthorizePresenceChannel(authParams(b.socketID, ch), pusher.MemberData{UserID: "43"})
	if err != nil {
		t.Fatal(err)
	}
	b.subscribe(ch, auth)
	var added struct {
		UserID   string            `json:"user_id"`
		UserInfo map[string]string `json:"user_info"`
	}
	if err := json.Unmarshal([]byte(a.expectEvent(ch, "pusher_internal:member_added")), &added); err != nil || added.UserID != "43" {
		t.Errorf("member_added = %+v, %v", added, err)
	}

	// Client events on presence carry the sender's user_id.
	b.send(map[string]any{"event": "client-wave", "channel": ch, "data": "hi"})
	f := a.expect(func(f frame) bool { return f.Event == "client-wave" })
	if f.UserID != "43" {
		t.Errorf("client event user_id = %q, want 43: %s", f.UserID, f.raw)
	}
}
