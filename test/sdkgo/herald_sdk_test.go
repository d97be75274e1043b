package sdkgo_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	heraldsdk "github.com/heraldhq/herald/pusher"
)

// The end-to-end test of Herald's own Go SDK (the pusher module of this
// repository), against the same herald as the official SDK's tests. Each case
// builds its own connections and uniquely named channels and users, so the
// cases run in parallel with each other and with the rest of the package.

// heraldApp is one app of the generated config, as Herald's SDK needs it.
type heraldApp struct{ id, key, secret string }

var (
	// app1 has client events and the webhook receiver; the API leaves
	// subscription_count out of GET /channels[/{name}] for it.
	app1 = heraldApp{appID, appKey, appSecret}
	// app3 has enable_subscription_count: the cases that read a
	// subscription_count use it.
	app3 = heraldApp{countAppID, countAppKey, countAppSecret}
)

// heraldClient is Herald's SDK configured for app, with the package's
// encryption master key; every request is bounded by wait.
func heraldClient(t *testing.T, app heraldApp) *heraldsdk.Client {
	t.Helper()
	c, err := heraldsdk.New(heraldsdk.Config{
		AppID: app.id, Key: app.key, Secret: app.secret,
		Host:                      herald.addr,
		EncryptionMasterKeyBase64: masterKeyB64,
		Timeout:                   wait,
	})
	if err != nil {
		t.Fatalf("heraldsdk.New: %v", err)
	}
	return c
}

// e2e is the scene every case starts from: a and b on the public channel;
// a also on a private, a presence (as member) and an encrypted channel.
type e2e struct {
	c       *heraldsdk.Client
	app     heraldApp
	a, b    *wsClient
	base    string // unique per case; every name below contains it
	pub     string // a and b
	private string // a
	room    string // a, as member
	vault   string // a (private-encrypted-)
	member  string // a's user id in room
	encAuth heraldsdk.ChannelAuth
}

func newE2E(t *testing.T, app heraldApp) *e2e {
	t.Helper()
	base := unique(t, "")
	e := &e2e{
		c: heraldClient(t, app), app: app, base: base,
		pub:     base + "-my-channel",
		private: "private-" + base + "-orders",
		room:    "presence-" + base + "-room",
		vault:   "private-encrypted-" + base + "-vault",
		member:  base + "-u1",
	}
	e.a, e.b = dial(t, app.key), dial(t, app.key)

	e.a.subscribe(e.pub, nil)
	e.b.subscribe(e.pub, nil)
	e.a.subscribe(e.private, authJSON(t, e.c, heraldsdk.ChannelAuthParams{SocketID: e.a.socketID, Channel: e.private}))
	e.a.subscribe(e.room, authJSON(t, e.c, heraldsdk.ChannelAuthParams{SocketID: e.a.socketID, Channel: e.room,
		Member: &heraldsdk.Member{UserID: e.member, UserInfo: map[string]string{"name": "Ann"}}}))
	e.encAuth = authorize(t, e.c, heraldsdk.ChannelAuthParams{SocketID: e.a.socketID, Channel: e.vault})
	if e.encAuth.SharedSecret == "" {
		t.Fatalf("no shared_secret in the encrypted channel's authorization: %+v", e.encAuth)
	}
	e.a.subscribe(e.vault, marshal(t, e.encAuth))
	return e
}

func authorize(t *testing.T, c *heraldsdk.Client, p heraldsdk.ChannelAuthParams) heraldsdk.ChannelAuth {
	t.Helper()
	a, err := c.AuthorizeChannel(p)
	if err != nil {
		t.Fatalf("AuthorizeChannel(%s): %v", p.Channel, err)
	}
	return a
}

// authJSON is AuthorizeChannel's answer as the JSON body an app's auth
// endpoint returns to pusher-js (the form wsClient.subscribe takes).
func authJSON(t *testing.T, c *heraldsdk.Client, p heraldsdk.ChannelAuthParams) []byte {
	t.Helper()
	return marshal(t, authorize(t, c, p))
}

func marshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// nextFrame returns the connection's next frame other than
// pusher_internal:subscription_count (app 3 sends those whenever a count
// changes; these cases are about the SDK's calls).
func nextFrame(c *wsClient) frame {
	c.t.Helper()
	return c.expect(func(f frame) bool { return f.Event != "pusher_internal:subscription_count" })
}

// expectOnly waits for event on channel, skipping protocol frames
// (pusher:*, pusher_internal:*), and fails on any other channel event first.
func expectOnly(c *wsClient, channel, event string) frame {
	c.t.Helper()
	f := c.expect(func(f frame) bool {
		return (f.Event == event && f.Channel == channel) || !strings.HasPrefix(f.Event, "pusher")
	})
	if f.Event != event || f.Channel != channel {
		c.t.Fatalf("want %s on %s, got %s", event, channel, f.raw)
	}
	return f
}

// signInHerald signs c in as user with Herald's SDK; the next frame must be
// pusher:signin_success.
func signInHerald(t *testing.T, c *wsClient, s *heraldsdk.Client, user heraldsdk.UserData) {
	t.Helper()
	ua, err := s.AuthenticateUser(heraldsdk.UserAuthParams{SocketID: c.socketID, User: user})
	if err != nil {
		t.Fatalf("AuthenticateUser: %v", err)
	}
	c.send(map[string]any{"event": "pusher:signin", "data": map[string]string{"auth": ua.Auth, "user_data": ua.UserData}})
	if f := nextFrame(c); f.Event != "pusher:signin_success" {
		t.Fatalf("signin: %s", f.raw)
	}
}

func TestHeraldSDK(t *testing.T) {
	t.Parallel()

	t.Run("trigger public and private with info", func(t *testing.T) {
		t.Parallel()
		e := newE2E(t, app3)
		res, err := e.c.Trigger(t.Context(), heraldsdk.TriggerParams{Channels: []string{e.pub, e.private}, Event: "hello",
			Data: map[string]int{"n": 1}, Info: []string{heraldsdk.InfoSubscriptionCount}})
		if err != nil {
			t.Fatal(err)
		}
		if n := res.Channels[e.pub].SubscriptionCount; n == nil || *n != 2 {
			t.Errorf("%s subscription_count = %s, want 2", e.pub, ptrString(n))
		}
		if n := res.Channels[e.private].SubscriptionCount; n == nil || *n != 1 {
			t.Errorf("%s subscription_count = %s, want 1", e.private, ptrString(n))
		}
		got := []string{}
		for range 2 {
			f := nextFrame(e.a)
			got = append(got, f.Channel)
			if f.Event != "hello" || f.dataString(t) != `{"n":1}` {
				t.Errorf("a got %s", f.raw)
			}
		}
		slices.Sort(got)
		if want := []string{e.pub, e.private}; !slices.Equal(got, sorted(want)) {
			t.Errorf("a got events on %v, want %v", got, want)
		}
		if f := expectOnly(e.b, e.pub, "hello"); f.dataString(t) != `{"n":1}` {
			t.Errorf("b got %s", f.raw)
		}
	})

	t.Run("socket_id exclusion", func(t *testing.T) {
		t.Parallel()
		e := newE2E(t, app1)
		if _, err := e.c.Trigger(t.Context(), heraldsdk.TriggerParams{Channels: []string{e.pub}, Event: "first", Data: "1", SocketID: e.a.socketID}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.c.Trigger(t.Context(), heraldsdk.TriggerParams{Channels: []string{e.pub}, Event: "second", Data: "2"}); err != nil {
			t.Fatal(err)
		}
		expectOnly(e.b, e.pub, "first")
		expectOnly(e.b, e.pub, "second")
		// Events of one connection arrive in order: a's next event must be
		// the second one, so the first was not delivered to it.
		if f := expectOnly(e.a, e.pub, "second"); f.dataString(t) != "2" {
			t.Errorf("a got %s", f.raw)
		}
	})

	t.Run("encrypted trigger", func(t *testing.T) {
		t.Parallel()
		e := newE2E(t, app1)
		if _, err := e.c.Trigger(t.Context(), heraldsdk.TriggerParams{Channels: []string{e.vault}, Event: "secret",
			Data: map[string]string{"message": "top secret"}}); err != nil {
			t.Fatal(err)
		}
		data := expectOnly(e.a, e.vault, "secret").dataString(t)
		var env map[string]string
		if err := json.Unmarshal([]byte(data), &env); err != nil || len(env) != 2 || env["nonce"] == "" || env["ciphertext"] == "" {
			t.Fatalf("encrypted data %s", data)
		}
		if !strings.HasPrefix(data, `{"nonce":`) {
			t.Errorf("nonce is not first: %s", data)
		}
		// The subscriber opens it with the shared_secret of its auth.
		key, err := base64.StdEncoding.DecodeString(e.encAuth.SharedSecret)
		if err != nil {
			t.Fatal(err)
		}
		plain, err := heraldsdk.Decrypt(key, data)
		if err != nil || string(plain) != `{"message":"top secret"}` {
			t.Errorf("Decrypt = %q, %v", plain, err)
		}
		if plain, err := e.c.Decrypt(e.vault, data); err != nil || string(plain) != `{"message":"top secret"}` {
			t.Errorf("Client.Decrypt = %q, %v", plain, err)
		}
	})

	t.Run("batch", func(t *testing.T) {
		t.Parallel()
		e := newE2E(t, app1)
		res, err := e.c.TriggerBatch(t.Context(), []heraldsdk.BatchEvent{
			{Channel: e.pub, Event: "b1", Data: "x"},
			{Channel: e.room, Event: "b2", Data: "y", Info: []string{heraldsdk.InfoUserCount}},
			{Channel: e.vault, Event: "b3", Data: "z"},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Batch) != 3 || res.Batch[1].UserCount == nil || *res.Batch[1].UserCount != 1 || res.Batch[0].UserCount != nil {
			t.Errorf("batch result %+v", res.Batch)
		}
		expectOnly(e.b, e.pub, "b1")
		seen := map[string]frame{}
		for range 3 {
			f := nextFrame(e.a)
			seen[f.Event] = f
		}
		if seen["b1"].Channel != e.pub || seen["b2"].Channel != e.room || seen["b3"].Channel != e.vault {
			t.Fatalf("a got %+v", seen)
		}
		if plain, err := e.c.Decrypt(e.vault, seen["b3"].dataString(t)); err != nil || string(plain) != "z" {
			t.Errorf("batch encrypted item: %q, %v", plain, err)
		}
	})

	// queries needs subscription_count from GET /channels/{name}: app 3.
	t.Run("queries", func(t *testing.T) {
		t.Parallel()
		e := newE2E(t, app3)
		ctx := t.Context()
		list, err := e.c.Channels(ctx, heraldsdk.ChannelsParams{})
		if err != nil {
			t.Fatal(err)
		}
		for _, ch := range []string{e.pub, e.private, e.room, e.vault} {
			if _, ok := list.Channels[ch]; !ok {
				t.Errorf("Channels lacks %s: %v", ch, list.Channels)
			}
		}
		// Other tests have presence channels on this server too: the prefix
		// is this case's own, which also covers its never-occupied
		// presence-…-empty.
		pres, err := e.c.Channels(ctx, heraldsdk.ChannelsParams{Prefix: "presence-" + e.base + "-", Info: []string{heraldsdk.InfoUserCount}})
		if n := pres.Channels[e.room].UserCount; err != nil || len(pres.Channels) != 1 || n == nil || *n != 1 {
			t.Errorf("presence Channels = %+v, %v", pres, err)
		}
		st, err := e.c.Channel(ctx, e.room, heraldsdk.ChannelParams{Info: []string{heraldsdk.InfoUserCount, heraldsdk.InfoSubscriptionCount}})
		if err != nil || !st.Occupied || st.UserCount == nil || *st.UserCount != 1 || st.SubscriptionCount == nil || *st.SubscriptionCount != 1 {
			t.Errorf("Channel = %+v (user_count %s, subscription_count %s), %v", st, ptrString(st.UserCount), ptrString(st.SubscriptionCount), err)
		}
		st, err = e.c.Channel(ctx, e.base+"-nobody-here", heraldsdk.ChannelParams{})
		if err != nil || st.Occupied || st.UserCount != nil {
			t.Errorf("empty Channel = %+v, %v", st, err)
		}
		users, err := e.c.PresenceUsers(ctx, e.room)
		if err != nil || len(users) != 1 || users[0].ID != e.member {
			t.Errorf("PresenceUsers = %+v, %v; want [%s]", users, err, e.member)
		}
		users, err = e.c.PresenceUsers(ctx, "presence-"+e.base+"-empty")
		if err != nil || users == nil || len(users) != 0 {
			t.Errorf("empty PresenceUsers = %#v, %v", users, err)
		}
		// user_count on a non-presence channel: the server's 400 surfaces.
		_, err = e.c.Channel(ctx, e.pub, heraldsdk.ChannelParams{Info: []string{heraldsdk.InfoUserCount}})
		var re *heraldsdk.RequestError
		if !errors.As(err, &re) || re.Status != 400 {
			t.Errorf("user_count on public channel: %v", err)
		}
	})

	t.Run("cache channel", func(t *testing.T) {
		t.Parallel()
		e := newE2E(t, app1)
		cache := "cache-" + e.base + "-prices"
		e.b.subscribe(cache, nil)
		if _, err := e.c.Trigger(t.Context(), heraldsdk.TriggerParams{Channels: []string{cache}, Event: "price", Data: `{"p":1}`}); err != nil {
			t.Fatal(err)
		}
		expectOnly(e.b, cache, "price")
		st, err := e.c.Channel(t.Context(), cache, heraldsdk.ChannelParams{Info: []string{heraldsdk.InfoCache}})
		if err != nil || st.Cache == nil || st.Cache.Data != `{"p":1}` || st.Cache.TTL <= 0 {
			t.Errorf("Channel cache = %+v (%+v), %v", st, st.Cache, err)
		}
	})

	t.Run("presence with a signed-in user", func(t *testing.T) {
		t.Parallel()
		e := newE2E(t, app1)
		signed := e.base + "-signed"
		u := dial(t, e.app.key)
		signInHerald(t, u, e.c, heraldsdk.UserData{ID: signed, UserInfo: map[string]string{"name": "S"}})
		u.subscribe(e.room, authJSON(t, e.c, heraldsdk.ChannelAuthParams{SocketID: u.socketID, Channel: e.room, UseSignedInUser: true}))
		users, err := e.c.PresenceUsers(t.Context(), e.room)
		ids := []string{}
		for _, x := range users {
			ids = append(ids, x.ID)
		}
		slices.Sort(ids)
		if want := sorted([]string{signed, e.member}); err != nil || !slices.Equal(ids, want) {
			t.Errorf("PresenceUsers = %v, %v; want %v", ids, err, want)
		}
	})

	t.Run("send to user and terminate", func(t *testing.T) {
		t.Parallel()
		e := newE2E(t, app1)
		user := e.base + "-user-7"
		u := dial(t, e.app.key)
		other := dial(t, e.app.key)
		signInHerald(t, u, e.c, heraldsdk.UserData{ID: user})
		if err := e.c.SendToUser(t.Context(), heraldsdk.SendToUserParams{UserID: user, Event: "notice", Data: map[string]string{"hello": "user"}}); err != nil {
			t.Fatal(err)
		}
		if f := expectOnly(u, "#server-to-user-"+user, "notice"); f.dataString(t) != `{"hello":"user"}` {
			t.Errorf("user event %s", f.raw)
		}

		if err := e.c.TerminateUserConnections(t.Context(), user); err != nil {
			t.Fatal(err)
		}
		// A pusher:error 4009 may precede the close; expectClose skips it.
		if code := u.expectClose(); code != 4009 {
			t.Fatalf("terminated connection ended with close code %d, want 4009", code)
		}
		// A connection that is not signed in as the user stays open.
		other.subscribe(e.pub, nil)
	})

	t.Run("request errors", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		ch := unique(t, "errors-")
		bad, err := heraldsdk.New(heraldsdk.Config{AppID: appID, Key: appKey, Secret: "wrong-secret", Host: herald.addr, Timeout: wait})
		if err != nil {
			t.Fatal(err)
		}
		_, err = bad.Trigger(ctx, heraldsdk.TriggerParams{Channels: []string{ch}, Event: "e", Data: "d"})
		var re *heraldsdk.RequestError
		if !errors.As(err, &re) || re.Status != 401 || !strings.Contains(re.Body, "signature") {
			t.Errorf("wrong secret: %v", err)
		}
		unknown, err := heraldsdk.NewFromURL("http://" + appKey + ":" + appSecret + "@" + herald.addr + "/apps/999")
		if err != nil {
			t.Fatal(err)
		}
		_, err = unknown.Channels(ctx, heraldsdk.ChannelsParams{})
		if !errors.As(err, &re) || re.Status != 404 {
			t.Errorf("unknown app: %v", err)
		}
		// The URL form reaches the right app too.
		good, err := heraldsdk.NewFromURL("http://" + appKey + ":" + appSecret + "@" + herald.addr + "/apps/" + appID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := good.Channels(ctx, heraldsdk.ChannelsParams{}); err != nil {
			t.Errorf("NewFromURL client: %v", err)
		}
	})
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
