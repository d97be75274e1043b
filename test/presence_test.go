package test

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/signing"
)

const room = "presence-room"

// memberEvent decodes the data of member_added / member_removed.
type memberEvent struct {
	UserID   json.RawMessage `json:"user_id"`
	UserInfo json.RawMessage `json:"user_info"`
}

// checkMemberAdded checks a member_added frame on ch for userID (sent as a
// JSON string); userInfo, when not "", is compared with user_info as JSON.
func checkMemberAdded(t *testing.T, f frame, ch, userID, userInfo string) {
	t.Helper()
	if f.Event != "pusher_internal:member_added" || f.Channel != ch {
		t.Fatalf("want member_added on %s, got %s", ch, f)
	}
	var m memberEvent
	f.dataJSON(t, &m)
	if want, _ := json.Marshal(userID); string(m.UserID) != string(want) {
		t.Errorf("member_added user_id = %s, want the string %s", m.UserID, want)
	}
	if userInfo != "" && !jsonEqual(t, m.UserInfo, []byte(userInfo)) {
		t.Errorf("member_added user_info = %s, want %s", m.UserInfo, userInfo)
	}
}

// checkMemberRemoved checks a member_removed frame on ch whose data is the
// JSON string {"user_id":userID}.
func checkMemberRemoved(t *testing.T, f frame, ch, userID string) {
	t.Helper()
	if f.Event != "pusher_internal:member_removed" || f.Channel != ch {
		t.Fatalf("want member_removed on %s, got %s", ch, f)
	}
	want, _ := json.Marshal(map[string]string{"user_id": userID})
	if !jsonEqual(t, []byte(f.dataString(t)), want) {
		t.Errorf("member_removed data = %s, want %s", f.Data, want)
	}
}

func expectMemberAdded(t *testing.T, c *wsClient, userID, userInfo string) {
	t.Helper()
	checkMemberAdded(t, c.next(), room, userID, userInfo)
}

func expectMemberRemoved(t *testing.T, c *wsClient, userID string) {
	t.Helper()
	checkMemberRemoved(t, c.next(), room, userID)
}

func TestPresenceMembers(t *testing.T) {
	t.Parallel()
	s := startCountingServer(t, nil)
	a := connect(t, s)
	a.subscribePresence(room, `{"user_id":"1","user_info":{"name":"A"}}`)

	b := connect(t, s)
	d := b.subscribePresence(room, `{"user_id":"2","user_info":{"name":"B"}}`)
	ids := slices.Clone(d.Presence.IDs)
	slices.Sort(ids)
	if !slices.Equal(ids, []string{"1", "2"}) || d.Presence.Count != 2 {
		t.Errorf("B's member list: ids %v count %d, want ids [1 2] count 2", d.Presence.IDs, d.Presence.Count)
	}
	if len(d.Presence.Hash) != 2 || !jsonEqual(t, d.Presence.Hash["1"], []byte(`{"name":"A"}`)) ||
		!jsonEqual(t, d.Presence.Hash["2"], []byte(`{"name":"B"}`)) {
		t.Errorf("B's member hash = %v, want 1:{name:A} 2:{name:B}", d.Presence.Hash)
	}
	expectMemberAdded(t, a, "2", `{"name":"B"}`)
	b.expectQuiet("the joining member gets no member_added about itself")

	// A second connection of user 2: no member_added, count stays 2.
	b2 := connect(t, s)
	d2 := b2.subscribePresence(room, `{"user_id":"2","user_info":{"name":"B"}}`)
	if d2.Presence.Count != 2 || len(d2.Presence.IDs) != 2 {
		t.Errorf("second tab member list: %+v, want 2 members", d2.Presence)
	}
	b2.ping()
	a.expectQuiet("a second connection of an existing member")
	b.expectQuiet("a second connection of an existing member")
	expectJSON(t, s.get("/apps/1/channels/"+room, url.Values{"info": {"user_count,subscription_count"}}),
		`{"occupied":true,"user_count":2,"subscription_count":3}`)

	// Closing one of user 2's connections: no member_removed.
	b.close()
	eventually(t, readTimeout, "B's connection to leave", func() bool { return s.subscriptionCount(room) == 2 })
	a.expectQuiet("user 2 still has a connection")
	b2.expectQuiet("user 2 still has a connection")

	// Closing the last one: member_removed {"user_id":"2"}.
	b2.close()
	expectMemberRemoved(t, a, "2")
	expectJSON(t, s.get("/apps/1/channels/"+room+"/users", nil), `{"users":[{"id":"1"}]}`)
}

func TestPresenceDuplicateSubscribe(t *testing.T) {
	t.Parallel()
	s := startCountingServer(t, nil)
	a := connect(t, s)
	a.subscribePresence(room, `{"user_id":"1","user_info":{"name":"A"}}`)
	b := connect(t, s)
	b.subscribePresence(room, `{"user_id":"2"}`)
	expectMemberAdded(t, a, "2", "")

	d := b.subscribePresence(room, `{"user_id":"2"}`)
	if d.Presence.Count != 2 || len(d.Presence.IDs) != 2 {
		t.Errorf("a repeated subscribe is answered with the current member list, got %+v", d.Presence)
	}
	a.expectQuiet("a repeated subscribe adds no member")
	expectJSON(t, s.get("/apps/1/channels/"+room, url.Values{"info": {"user_count,subscription_count"}}),
		`{"occupied":true,"user_count":2,"subscription_count":2}`)

	// One unsubscribe undoes a doubled subscribe: the member is gone.
	b.send(map[string]any{"event": "pusher:unsubscribe", "data": map[string]any{"channel": room}})
	expectMemberRemoved(t, a, "2")
}

func TestPresenceNumericUserID(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	a := connect(t, s)
	a.subscribePresence(room, `{"user_id":"1","user_info":{"name":"A"}}`)
	c := connect(t, s)
	d := c.subscribePresence(room, `{"user_id":10,"user_info":{"name":"Ten"}}`)
	if !slices.Contains(d.Presence.IDs, "10") {
		t.Errorf("ids = %v, want the string \"10\" among them", d.Presence.IDs)
	}
	if _, ok := d.Presence.Hash["10"]; !ok {
		t.Errorf("hash has no key \"10\": %v", d.Presence.Hash)
	}
	expectMemberAdded(t, a, "10", `{"name":"Ten"}`)
	expectJSON(t, s.get("/apps/1/channels/"+room+"/users", nil), `{"users":[{"id":"1"},{"id":"10"}]}`)
}

func TestPresenceWithoutUserInfo(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	c := connect(t, s)
	d := c.subscribePresence(room, `{"user_id":"7"}`)
	if _, ok := d.Presence.Hash["7"]; !ok || d.Presence.Count != 1 {
		t.Errorf("every id needs a hash entry: %+v", d.Presence)
	}
}

func TestPresenceRefused(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	for _, tc := range []struct {
		name string
		data func(socketID string) map[string]any
	}{
		{"channel_data re-serialised", func(id string) map[string]any {
			signed := `{"user_id":"1","user_info":{"name":"A"}}`
			return map[string]any{"channel": room, "auth": signing.AuthorizeChannel(appKey, appSecret, id, room, &signed),
				"channel_data": `{"user_id": "1","user_info":{"name":"A"}}`}
		}},
		{"signature without channel_data", func(id string) map[string]any {
			cd := `{"user_id":"1"}`
			return map[string]any{"channel": room, "auth": signing.AuthorizeChannel(appKey, appSecret, id, room, nil), "channel_data": cd}
		}},
		{"no channel_data (not signed in)", func(id string) map[string]any {
			return map[string]any{"channel": room, "auth": signing.AuthorizeChannel(appKey, appSecret, id, room, nil)}
		}},
		{"user_info over 1 KB", func(id string) map[string]any {
			cd := `{"user_id":"1","user_info":{"name":"` + strings.Repeat("x", 1100) + `"}}`
			return map[string]any{"channel": room, "auth": signing.AuthorizeChannel(appKey, appSecret, id, room, &cd), "channel_data": cd}
		}},
		{"empty user_id", func(id string) map[string]any {
			cd := `{"user_id":""}`
			return map[string]any{"channel": room, "auth": signing.AuthorizeChannel(appKey, appSecret, id, room, &cd), "channel_data": cd}
		}},
		{"channel_data without user_id", func(id string) map[string]any {
			cd := `{"user_info":{"name":"A"}}`
			return map[string]any{"channel": room, "auth": signing.AuthorizeChannel(appKey, appSecret, id, room, &cd), "channel_data": cd}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := s.with(t)
			c := connect(t, s)
			c.send(map[string]any{"event": "pusher:subscribe", "data": tc.data(c.socketID)})
			expectRefused(t, room, c.syncFrames())
			c.ping()
		})
	}
}

func TestPresenceUserInfoJustUnderLimit(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	c := connect(t, s)
	info := `{"name":"` + strings.Repeat("x", 900) + `"}`
	d := c.subscribePresence(room, `{"user_id":"1","user_info":`+info+`}`)
	if !jsonEqual(t, d.Presence.Hash["1"], []byte(info)) {
		t.Errorf("user_info not kept: %s", d.Presence.Hash["1"])
	}
}

func TestPresenceMaxMembers(t *testing.T) {
	t.Parallel()
	s := startServer(t, func(c *config.Config) { c.Apps[0].MaxPresenceMembers = 2 })
	u1 := connect(t, s)
	u1.subscribePresence(room, `{"user_id":"1"}`)
	u2 := connect(t, s)
	u2.subscribePresence(room, `{"user_id":"2"}`)

	u3 := connect(t, s)
	u3.sendPresenceSubscribe(room, `{"user_id":"3"}`)
	expectRefused(t, room, u3.syncFrames())
	u3.ping()

	// Another tab of an existing member is not a new member.
	u2b := connect(t, s)
	d := u2b.subscribePresence(room, `{"user_id":"2"}`)
	if d.Presence.Count != 2 {
		t.Errorf("count = %d, want 2", d.Presence.Count)
	}
	expectJSON(t, s.get("/apps/1/channels/"+room, url.Values{"info": {"user_count"}}), `{"occupied":true,"user_count":2}`)
}

func TestPresenceUnsubscribe(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	a := connect(t, s)
	a.subscribePresence(room, `{"user_id":"1","user_info":{"name":"A"}}`)
	b := connect(t, s)
	b.subscribePresence(room, `{"user_id":"2","user_info":{"name":"B"}}`)
	expectMemberAdded(t, a, "2", `{"name":"B"}`)

	b.send(map[string]any{"event": "pusher:unsubscribe", "data": map[string]any{"channel": room}})
	b.expectQuiet("pusher:unsubscribe has no reply")
	expectMemberRemoved(t, a, "2")
	expectJSON(t, s.get("/apps/1/channels/"+room+"/users", nil), `{"users":[{"id":"1"}]}`)
}
