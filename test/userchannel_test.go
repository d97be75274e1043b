package test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/signing"
)

// TestSendToUser: an event on #server-to-user-<id> reaches every connection
// signed in as <id>, subscribed to the user channel or not, exactly once.
func TestSendToUser(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	alice1 := connectAs(t, s, "alice")
	alice1.send(map[string]any{"event": "pusher:subscribe", "data": map[string]any{"auth": "", "channel": userChannel("alice")}})
	alice1.expectSucceeded(userChannel("alice"))
	alice2 := connectAs(t, s, "alice") // never subscribes to its user channel
	bob := connectAs(t, s, "bob")
	anon := connect(t, s)
	presenceAlice := connect(t, s) // "alice" only as a presence member
	presenceAlice.subscribePresence(room, `{"user_id":"alice"}`)

	const data = "{ \"hello\" : \"user\", \"n\":1.50, \"u\":\"caf\u00e9 \\u00e9\" }"
	s.sendToUser("alice", "my-event", data, "")
	alice1.expectUserEvent("alice", "my-event", data)
	alice2.expectUserEvent("alice", "my-event", data)
	alice1.expectQuiet("one copy per connection")
	alice2.expectQuiet("one copy per connection")
	bob.expectQuiet("another user's event")
	anon.expectQuiet("a connection that is not signed in")
	presenceAlice.expectQuiet("a presence identity is not a signed-in user")

	t.Run("socket_id exclusion", func(t *testing.T) {
		s := s.with(t)
		alice1.t, alice2.t = t, t
		s.sendToUser("alice", "not-to-1", "x", alice1.socketID)
		alice2.expectUserEvent("alice", "not-to-1", "x")
		alice1.expectQuiet("the excluded socket")
		s.sendToUser("alice", "to-all", "y", "1.1")
		alice1.expectUserEvent("alice", "to-all", "y")
		alice2.expectUserEvent("alice", "to-all", "y")
	})

	t.Run("unknown user", func(t *testing.T) {
		s := s.with(t)
		bob.t = t
		s.sendToUser("nobody", "e", "x", "")
		bob.expectQuiet("nobody is signed in as the target")
	})

	t.Run("batch_events", func(t *testing.T) {
		s := s.with(t)
		bob.t = t
		expectJSON(t, s.post("/apps/1/batch_events", map[string]any{"batch": []map[string]any{
			{"channel": userChannel("bob"), "name": "b1", "data": "1"},
		}}), `{}`)
		bob.expectUserEvent("bob", "b1", "1")
	})

	t.Run("a closed connection gets nothing, the other still does", func(t *testing.T) {
		s := s.with(t)
		alice2.t = t
		alice1.close()
		s.sendToUser("alice", "after-close", "z", "")
		alice2.expectUserEvent("alice", "after-close", "z")
	})
}

// TestSendToUserInvalidID: #server-to-user-<id> is publishable only with an
// id a user could have (channel-name characters, http-api §4.1); other #
// names are refused with 400.
func TestSendToUserInvalidID(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	for _, ch := range []string{"#server-to-user-", "#server-to-user-bad id", "#server-to-user-a*b", "#server-to-user-caf\u00e9", "#server-to-userx"} {
		t.Run(ch, func(t *testing.T) {
			s := s.with(t)
			r := s.api(http.MethodPost, "/apps/1/events", nil, []byte(`{"name":"e","channels":["`+ch+`"],"data":"x"}`))
			expectStatus(t, r, http.StatusBadRequest)
		})
	}
}

// TestUserChannelSubscribe: #server-to-user-<id> is subscribable only by a
// connection signed in as <id>.
func TestUserChannelSubscribe(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	bystander := connectAs(t, s, "bystander")
	subscribeUser := func(c *wsClient, id string) {
		c.send(map[string]any{"event": "pusher:subscribe", "data": map[string]any{"auth": "", "channel": userChannel(id)}})
	}

	t.Run("own channel", func(t *testing.T) {
		c := connectAs(t, s.with(t), "12345")
		subscribeUser(c, "12345")
		f := c.expect("pusher_internal:subscription_succeeded")
		if f.Channel != userChannel("12345") || string(f.Data) != `"{}"` {
			t.Errorf(`want {"event":"pusher_internal:subscription_succeeded","channel":"#server-to-user-12345","data":"{}"}, got %s`, f)
		}
		c.expectQuiet("nothing else after the user channel's subscription_succeeded")
	})
	t.Run("another user's channel", func(t *testing.T) {
		s := s.with(t)
		c := connectAs(t, s, "eve")
		subscribeUser(c, "bystander")
		expectRefused(t, userChannel("bystander"), c.syncFrames())
		c.ping()
		s.sendToUser("bystander", "private-note", "x", "")
		c.expectQuiet("the refused subscriber gets nothing of the other user")
	})
	t.Run("before signing in", func(t *testing.T) {
		c := connect(t, s.with(t))
		subscribeUser(c, "late")
		expectRefused(t, userChannel("late"), c.syncFrames())
		c.ping()
		// Signing in afterwards makes it subscribable.
		c.signin(`{"id":"late"}`)
		subscribeUser(c, "late")
		c.expectSucceeded(userChannel("late"))
	})
	t.Run("another user's channel with auth", func(t *testing.T) {
		c := connectAs(t, s.with(t), "eve2")
		c.send(map[string]any{"event": "pusher:subscribe", "data": map[string]any{
			"auth": appKey + ":" + "00", "channel": userChannel("bystander")}})
		expectRefused(t, userChannel("bystander"), c.syncFrames())
	})
	t.Run("not listed as a channel", func(t *testing.T) {
		s := s.with(t)
		c := connectAs(t, s, "listed")
		subscribeUser(c, "listed")
		c.expectSucceeded(userChannel("listed"))
		r := s.get("/apps/1/channels", nil)
		var d struct {
			Channels map[string]any `json:"channels"`
		}
		if r.status != http.StatusOK || json.Unmarshal(r.body, &d) != nil || d.Channels == nil {
			t.Fatalf("GET channels: %v", r)
		}
		if _, ok := d.Channels[userChannel("listed")]; ok {
			t.Errorf("user channels are not listed: %s", r.body)
		}
	})

	// The bystander got exactly its own event and nothing from the refusals.
	bystander.expectUserEvent("bystander", "private-note", "x")
	bystander.expectQuiet("refused subscriptions to its channel send it nothing")
}

// TestTerminateConnections: POST /users/{id}/terminate_connections closes
// every connection signed in as id with pusher:error 4009 + close 4009.
func TestTerminateConnections(t *testing.T) {
	t.Parallel()
	s := startCountingServer(t, nil)
	alice1 := connectAs(t, s, "alice")
	alice2 := connectAs(t, s, "alice")
	alice2.subscribe("my-channel")
	bob := connectAs(t, s, "bob")
	presenceAlice := connect(t, s) // alice only as a presence member, not signed in
	presenceAlice.subscribePresence(room, `{"user_id":"alice"}`)
	anon := connect(t, s)

	expectJSON(t, s.terminateUser("alice"), `{}`)
	for _, c := range []*wsClient{alice1, alice2} {
		frames := c.expectClose(4009, readTimeout)
		expectErrorCode(t, frames, 4009)
	}
	bob.ping()
	presenceAlice.ping()
	anon.ping()
	s.sendToUser("bob", "still", "here", "")
	bob.expectUserEvent("bob", "still", "here")
	expectJSON(t, s.get("/apps/1/channels/"+room+"/users", nil), `{"users":[{"id":"alice"}]}`)
	eventually(t, readTimeout, "the terminated connections to leave my-channel", func() bool {
		return s.subscriptionCount("my-channel") == 0
	})

	t.Run("unknown user", func(t *testing.T) {
		s := s.with(t)
		bob.t = t
		expectJSON(t, s.terminateUser("nobody"), `{}`)
		expectJSON(t, s.terminateUser("alice"), `{}`) // no connection left
		bob.ping()
	})
	t.Run("invalid user id", func(t *testing.T) {
		s := s.with(t)
		bob.t = t
		expectStatus(t, s.terminateUser(url.PathEscape("bad id")), http.StatusBadRequest)
		expectStatus(t, s.terminateUser(url.PathEscape("bad*id")), http.StatusBadRequest)
		bob.ping()
	})
	t.Run("unsigned request", func(t *testing.T) {
		s := s.with(t)
		bob.t = t
		expectStatus(t, s.do(http.MethodPost, "/apps/1/users/bob/terminate_connections", []byte(`{}`)), http.StatusUnauthorized)
		bob.ping()
	})
	t.Run("a user can sign in again afterwards", func(t *testing.T) {
		s := s.with(t)
		c := connectAs(t, s, "alice")
		s.sendToUser("alice", "back", "x", "")
		c.expectUserEvent("alice", "back", "x")
	})
}

// TestTerminateConnectionsShortPath: the Python SDK's
// terminate_user_connections posts to /users/{id}/terminate_connections
// (no /apps/{app_id}); the app is the one whose key signed it.
func TestTerminateConnectionsShortPath(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	alice := connectAs(t, s, "alice")
	bob := connectAs(t, s, "bob")
	expectJSON(t, s.api(http.MethodPost, "/users/alice/terminate_connections", nil, []byte(`{}`)), `{}`)
	expectErrorCode(t, alice.expectClose(4009, readTimeout), 4009)
	bob.ping()
	expectStatus(t, s.do(http.MethodPost, "/users/bob/terminate_connections", []byte(`{}`)), http.StatusUnauthorized)
	bob.ping()
}

// TestUsersArePerApp: the same user id in two apps are two users.
func TestUsersArePerApp(t *testing.T) {
	t.Parallel()
	s := startServer(t, func(c *config.Config) {
		c.Apps = append(c.Apps, config.App{ID: "2", Key: "key-2", Secret: "secret-2"})
	})
	alice1 := connectAs(t, s, "alice")
	alice2 := connectKey(t, s, "key-2")
	const ud = `{"id":"alice"}`
	alice2.send(map[string]any{"event": "pusher:signin", "data": map[string]any{
		"auth": signing.AuthenticateUser("key-2", "secret-2", alice2.socketID, ud), "user_data": ud}})
	alice2.expectSigninSuccess(ud)
	// A watcher in app 2 watching alice sees app 2's alice only.
	w2 := connectKey(t, s, "key-2")
	const wud = `{"id":"w","watchlist":["alice","bob"]}`
	w2.send(map[string]any{"event": "pusher:signin", "data": map[string]any{
		"auth": signing.AuthenticateUser("key-2", "secret-2", w2.socketID, wud), "user_data": wud}})
	w2.expectSigninSuccess(wud)
	w2.expectWatchlist([]string{"alice"}, []string{"bob"})

	s.sendToUser("alice", "app-1-only", "x", "")
	alice1.expectUserEvent("alice", "app-1-only", "x")
	alice2.expectQuiet("app 1's sendToUser must not reach app 2")

	connectAs(t, s, "bob") // bob in app 1
	w2.expectQuiet("app 1's bob is not app 2's bob")

	expectJSON(t, s.terminateUser("alice"), `{}`)
	expectErrorCode(t, alice1.expectClose(4009, readTimeout), 4009)
	alice2.ping()
	w2.expectQuiet("app 2's alice is still online")
}
