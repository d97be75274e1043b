package test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/signing"
)

func TestSigninSuccess(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	for _, tc := range []struct{ name, userData string }{
		{"id only", `{"id":"12345"}`},
		{"pusher-js example with user_info and watchlist",
			`{"id":"12345","user_info":{"name":"John Smith"},"watchlist":["another_id_1","another_id_2"]}`},
		// The echo must be the string sent, not a re-serialisation.
		{"odd formatting kept byte for byte", "{ \"user_info\" : {\"name\":\"caf\u00e9 \\u00e9\", \"n\":1.50},\n \"id\" : \"u-1\" }"},
		{"id with every allowed character", `{"id":"AZaz09-_=@,.;"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := connect(t, s.with(t))
			c.sendSignin(tc.userData)
			checkSigninAnswer(t, c, tc.userData)
		})
		// Reverb-style clients send data as a JSON string holding the object.
		t.Run(tc.name+" (data as a JSON string)", func(t *testing.T) {
			t.Parallel()
			c := connect(t, s.with(t))
			inner, _ := json.Marshal(map[string]any{"auth": signing.AuthenticateUser(appKey, appSecret, c.socketID, tc.userData), "user_data": tc.userData})
			c.send(map[string]any{"event": "pusher:signin", "data": string(inner)})
			checkSigninAnswer(t, c, tc.userData)
		})
	}
}

func checkSigninAnswer(t *testing.T, c *wsClient, userData string) {
	t.Helper()
	fs := c.syncFrames()
	if len(fs) == 0 {
		t.Fatal("no answer to a valid pusher:signin")
	}
	checkSigninSuccess(t, fs[0], userData)
	for _, f := range fs[1:] {
		if f.Event != "pusher_internal:watchlist_events" {
			t.Errorf("unexpected frame after signin_success: %s", f)
		}
	}
}

// TestSigninRefused sends bad sign-ins. Each is answered with exactly one
// pusher:error 4009, the connection stays open (the app does not require
// sign-in) and is not signed in, and a signed-in bystander is untouched.
func TestSigninRefused(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	good := func(socketID, userData string) string {
		return signing.AuthenticateUser(appKey, appSecret, socketID, userData)
	}
	const ud = `{"id":"mallory"}`
	for _, tc := range []struct {
		name  string
		frame func(socketID string) string
	}{
		{"wrong signature", func(string) string {
			return signinJSON(appKey+":"+strings.Repeat("0", 64), ud)
		}},
		{"signature for another socket id", func(string) string { return signinJSON(good("1234.5678", ud), ud) }},
		{"signed with another secret", func(id string) string {
			return signinJSON(signing.AuthenticateUser(appKey, "wrong-secret", id, ud), ud)
		}},
		{"wrong key prefix", func(id string) string {
			_, hex, _ := strings.Cut(good(id, ud), ":")
			return signinJSON("other-key:"+hex, ud)
		}},
		{"signature over other user_data", func(id string) string {
			return signinJSON(good(id, `{"id":"alice"}`), ud)
		}},
		{"user_data re-serialised after signing", func(id string) string {
			return signinJSON(good(id, `{"id":"mallory"}`), `{"id": "mallory"}`)
		}},
		{"user_data not JSON", func(id string) string { return signinJSON(good(id, "mallory"), "mallory") }},
		{"user_data a JSON array", func(id string) string { return signinJSON(good(id, `["mallory"]`), `["mallory"]`) }},
		{"user_data without id", func(id string) string {
			u := `{"user_info":{"name":"M"}}`
			return signinJSON(good(id, u), u)
		}},
		{"numeric id", func(id string) string { u := `{"id":12345}`; return signinJSON(good(id, u), u) }},
		{"empty id", func(id string) string { u := `{"id":""}`; return signinJSON(good(id, u), u) }},
		{"null id", func(id string) string { u := `{"id":null}`; return signinJSON(good(id, u), u) }},
		{"id with a space", func(id string) string { u := `{"id":"mal lory"}`; return signinJSON(good(id, u), u) }},
		{"id over 128 characters", func(id string) string {
			u := `{"id":"` + strings.Repeat("m", 129) + `"}`
			return signinJSON(good(id, u), u)
		}},
		{"no data", func(string) string { return `{"event":"pusher:signin"}` }},
		{"empty data object", func(string) string { return `{"event":"pusher:signin","data":{}}` }},
		{"missing auth", func(string) string {
			b, _ := json.Marshal(map[string]any{"event": "pusher:signin", "data": map[string]any{"user_data": ud}})
			return string(b)
		}},
		{"empty auth", func(string) string { return signinJSON("", ud) }},
		{"missing user_data", func(id string) string {
			b, _ := json.Marshal(map[string]any{"event": "pusher:signin", "data": map[string]any{"auth": good(id, ud)}})
			return string(b)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := s.with(t)
			id := bystanderID(t)
			bystander := connectAs(t, s, id)
			c := connect(t, s)
			c.sendRaw(tc.frame(c.socketID))
			expectErrorCode(t, c.syncFrames(), 4009)
			c.ping() // kept open: the app does not require sign-in

			// Not signed in: neither mallory's events nor mallory's channel.
			s.sendToUser("mallory", "secret", "x", "")
			c.send(map[string]any{"event": "pusher:subscribe", "data": map[string]any{"auth": "", "channel": userChannel("mallory")}})
			expectRefused(t, userChannel("mallory"), c.syncFrames())

			// The bystander still gets its own events and answers pings.
			s.sendToUser(id, "hello", `{"ok":true}`, "")
			bystander.expectUserEvent(id, "hello", `{"ok":true}`)
			bystander.expectQuiet("the bystander gets nothing else")

			// A proper sign-in afterwards works.
			c.signin(`{"id":"fine"}`)
		})
	}
}

// bystanderID is a user id unique to the subtest (parallel subtests share
// one server).
func bystanderID(t *testing.T) string {
	_, sub, _ := strings.Cut(t.Name(), "/")
	return "bystander-" + strings.NewReplacer(" ", "_", "/", "_").Replace(sub)
}

func signinJSON(auth, userData string) string {
	b, _ := json.Marshal(map[string]any{"event": "pusher:signin", "data": map[string]any{"auth": auth, "user_data": userData}})
	return string(b)
}

// TestSigninRefusedRequireSignin: with require_signin a failed sign-in is
// answered with pusher:error 4009 and a close with 4009.
func TestSigninRefusedRequireSignin(t *testing.T) {
	t.Parallel()
	s := startServer(t, func(c *config.Config) { c.Apps[0].RequireSignin = true })
	for _, tc := range []struct {
		name  string
		frame func(socketID string) string
	}{
		{"wrong signature", func(string) string { return signinJSON(appKey+":"+strings.Repeat("0", 64), `{"id":"m"}`) }},
		{"malformed user_data", func(id string) string {
			return signinJSON(signing.AuthenticateUser(appKey, appSecret, id, `[1]`), `[1]`)
		}},
		{"no data", func(string) string { return `{"event":"pusher:signin"}` }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := s.with(t)
			bystander := connectAs(t, s, "ok-"+strings.ReplaceAll(tc.name, " ", "-"))
			c := connect(t, s)
			c.sendRaw(tc.frame(c.socketID))
			frames := c.expectClose(4009, readTimeout)
			expectErrorCode(t, frames, 4009)
			bystander.ping()
		})
	}
}

// TestSigninAgain: a second sign-in as another user is refused and the
// first identity is kept; as the same user it is answered again and
// nothing is doubled.
func TestSigninAgain(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	watcher := connect(t, s)
	watcher.signin(`{"id":"w","watchlist":["alice"]}`)
	watcher.expectWatchlist(nil, []string{"alice"})

	c := connect(t, s)
	const alice = `{"id":"alice","user_info":{"name":"Alice"}}`
	c.signin(alice)
	watcher.expectWatchlist([]string{"alice"}, nil)

	t.Run("as another user", func(t *testing.T) {
		c.t, watcher.t = t, t
		s := s.with(t)
		c.sendSignin(`{"id":"bob"}`)
		expectErrorCode(t, c.syncFrames(), 4009)
		c.ping()
		s.sendToUser("alice", "to-alice", "a", "")
		c.expectUserEvent("alice", "to-alice", "a")
		s.sendToUser("bob", "to-bob", "b", "")
		c.expectQuiet("the refused identity bob gets nothing")
		c.send(map[string]any{"event": "pusher:subscribe", "data": map[string]any{"auth": "", "channel": userChannel("bob")}})
		expectRefused(t, userChannel("bob"), c.syncFrames())
		c.send(map[string]any{"event": "pusher:subscribe", "data": map[string]any{"auth": "", "channel": userChannel("alice")}})
		c.expectSucceeded(userChannel("alice"))
		watcher.expectQuiet("a refused second sign-in changes no status")
	})

	t.Run("as the same user", func(t *testing.T) {
		c.t, watcher.t = t, t
		s := s.with(t)
		c.sendSignin(alice)
		fs := c.syncFrames()
		if len(fs) != 1 {
			t.Fatalf("a repeated sign-in: want exactly signin_success, got %v", fs)
		}
		checkSigninSuccess(t, fs[0], alice)
		// Another formatting of the same user is a fresh signature over
		// other bytes: also answered with the string it sent.
		again := `{"id":"alice"}`
		c.sendSignin(again)
		c.expectSigninSuccess(again)
		watcher.expectQuiet("alice was online already")
		s.sendToUser("alice", "once", "x", "")
		c.expectUserEvent("alice", "once", "x")
		c.expectQuiet("a sendToUser arrives once after repeated sign-ins")
	})

	t.Run("closing goes offline once", func(t *testing.T) {
		c.t, watcher.t = t, t
		c.close()
		watcher.expectWatchlist(nil, []string{"alice"})
		watcher.expectQuiet("one offline event")
	})
}

// TestRequireSignin: with require_signin, a connection that neither signs
// in nor joins a private or presence channel within signin_timeout is sent
// pusher:error 4009 and closed with 4009; the others stay.
func TestRequireSignin(t *testing.T) {
	t.Parallel()
	s := startServer(t, func(c *config.Config) {
		c.Apps[0].RequireSignin = true
		c.SigninTimeout = config.Duration(time.Second)
		c.Apps = append(c.Apps, config.App{ID: "2", Key: "open-key", Secret: "open-secret"})
	})
	const closeWithin = 4 * time.Second // 1 s timeout + 1 s sweep + slack

	expectKicked := func(t *testing.T, c *wsClient) {
		t.Helper()
		frames := c.expectClose(4009, closeWithin)
		var errs []frame
		for _, f := range frames {
			if f.Event == "pusher:error" {
				errs = append(errs, f)
			} else if f.Event != "pusher:ping" {
				t.Errorf("unexpected frame before the close: %s", f)
			}
		}
		expectErrorCode(t, errs, 4009)
	}
	t.Run("silent connection is closed", func(t *testing.T) {
		t.Parallel()
		expectKicked(t, connect(t, s.with(t)))
	})
	t.Run("public channel only is closed", func(t *testing.T) {
		t.Parallel()
		c := connect(t, s.with(t))
		c.subscribe("public-only")
		expectKicked(t, c)
	})
	t.Run("refused private subscribe is closed", func(t *testing.T) {
		t.Parallel()
		c := connect(t, s.with(t))
		c.send(map[string]any{"event": "pusher:subscribe", "data": map[string]any{"auth": appKey + ":" + strings.Repeat("0", 64), "channel": "private-x"}})
		expectRefused(t, "private-x", c.syncFrames())
		expectKicked(t, c)
	})
	t.Run("signed in stays open", func(t *testing.T) {
		t.Parallel()
		c := connect(t, s.with(t))
		c.signin(`{"id":"in-time"}`)
		c.stayOpen(3*time.Second, "a signed-in connection")
	})
	t.Run("private channel stays open", func(t *testing.T) {
		t.Parallel()
		c := connect(t, s.with(t))
		c.subscribePrivate("private-in-time")
		c.stayOpen(3*time.Second, "a connection on a private channel")
	})
	t.Run("another app without require_signin stays open", func(t *testing.T) {
		t.Parallel()
		c := connectKey(t, s.with(t), "open-key")
		c.stayOpen(3*time.Second, "a silent connection of an app without require_signin")
	})
	t.Run("presence channel stays open", func(t *testing.T) {
		t.Parallel()
		c := connect(t, s.with(t))
		c.subscribePresence("presence-in-time", `{"user_id":"p"}`)
		c.stayOpen(3*time.Second, "a connection on a presence channel")
	})
}

// TestPresenceViaSignin: a signed-in connection may join presence without
// channel_data, with a socket_id:channel signature; it joins as its user.
func TestPresenceViaSignin(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	const ch = "presence-x"
	other := connect(t, s)
	other.subscribePresence(ch, `{"user_id":"other","user_info":{"name":"O"}}`)

	c := connect(t, s)
	c.signin(`{"id":"alice","user_info":{"name":"Alice","n":1}}`)
	c.send(map[string]any{"event": "pusher:subscribe", "data": map[string]any{
		"auth": signing.AuthorizeChannel(appKey, appSecret, c.socketID, ch, nil), "channel": ch}})
	f := c.next()
	if f.Event != "pusher_internal:subscription_succeeded" || f.Channel != ch {
		t.Fatalf("want presence subscription_succeeded, got %s", f)
	}
	var d presenceData
	f.dataJSON(t, &d)
	ids := slices.Clone(d.Presence.IDs)
	slices.Sort(ids)
	if !slices.Equal(ids, []string{"alice", "other"}) || d.Presence.Count != 2 {
		t.Errorf("member list: ids %v count %d, want [alice other] 2", d.Presence.IDs, d.Presence.Count)
	}
	if !jsonEqual(t, d.Presence.Hash["alice"], []byte(`{"name":"Alice","n":1}`)) {
		t.Errorf("alice's info = %s, want the signed-in user_info", d.Presence.Hash["alice"])
	}
	checkMemberAdded(t, other.next(), ch, "alice", `{"name":"Alice","n":1}`) // the signed-in user and info
	expectJSON(t, s.get("/apps/1/channels/"+ch+"/users", nil), `{"users":[{"id":"alice"},{"id":"other"}]}`)

	t.Run("without sign-in refused", func(t *testing.T) {
		s := s.with(t)
		other.t = t
		u := connect(t, s)
		u.send(map[string]any{"event": "pusher:subscribe", "data": map[string]any{
			"auth": signing.AuthorizeChannel(appKey, appSecret, u.socketID, ch, nil), "channel": ch}})
		expectRefused(t, ch, u.syncFrames())
		u.ping()
		other.expectQuiet("a refused subscription adds no member")
	})

	t.Run("signed in without user_info", func(t *testing.T) {
		s := s.with(t)
		other.t = t
		u := connect(t, s)
		u.signin(`{"id":"noinfo"}`)
		u.send(map[string]any{"event": "pusher:subscribe", "data": map[string]any{
			"auth": signing.AuthorizeChannel(appKey, appSecret, u.socketID, ch, nil), "channel": ch}})
		f := u.expect("pusher_internal:subscription_succeeded")
		var d presenceData
		f.dataJSON(t, &d)
		if _, ok := d.Presence.Hash["noinfo"]; !ok || !slices.Contains(d.Presence.IDs, "noinfo") {
			t.Errorf("every id needs a hash entry: %s", f.Data)
		}
		checkMemberAdded(t, other.next(), ch, "noinfo", "")
		u.close()
		checkMemberRemoved(t, other.next(), ch, "noinfo")
	})

	t.Run("channel_data overrides the signed-in identity", func(t *testing.T) {
		s := s.with(t)
		other.t = t
		u := connect(t, s)
		u.signin(`{"id":"bob","user_info":{"name":"Bob"}}`)
		d := u.subscribePresence(ch, `{"user_id":"robert","user_info":{"name":"Robert"}}`)
		if !slices.Contains(d.Presence.IDs, "robert") || slices.Contains(d.Presence.IDs, "bob") {
			t.Errorf("ids = %v, want robert (from channel_data), not bob", d.Presence.IDs)
		}
		checkMemberAdded(t, other.next(), ch, "robert", "")
	})
}

// TestPresenceViaSigninUserInfoLimit: the presence user object limit (1 KB,
// channels-protocol §8.4 and §15) holds for members that join through
// sign-in too: either the sign-in or the subscription is refused, never a
// member with an oversized user_info.
func TestPresenceViaSigninUserInfoLimit(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	const ch = "presence-big"
	other := connect(t, s)
	other.subscribePresence(ch, `{"user_id":"other"}`)

	u := connect(t, s)
	ud := `{"id":"big","user_info":{"name":"` + strings.Repeat("x", 1100) + `"}}`
	u.sendSignin(ud)
	fs := u.syncFrames()
	if len(fs) == 1 && fs[0].Event == "pusher:error" {
		fs[0].pusherError(t) // refused at sign-in: fine
		other.expectQuiet("a refused sign-in adds no member")
		return
	}
	if len(fs) != 1 {
		t.Fatalf("sign-in answer: %v", fs)
	}
	checkSigninSuccess(t, fs[0], ud)
	u.send(map[string]any{"event": "pusher:subscribe", "data": map[string]any{
		"auth": signing.AuthorizeChannel(appKey, appSecret, u.socketID, ch, nil), "channel": ch}})
	fs = u.syncFrames()
	for _, f := range fs {
		if f.Event == "pusher_internal:subscription_succeeded" {
			t.Fatalf("a signed-in user with a %d-byte user_info joined %s (limit 1 KB): %.160s...", 1100+11, ch, f)
		}
	}
	expectRefused(t, ch, fs)
	other.expectQuiet("an oversized member is not added")
}
