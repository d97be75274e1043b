package pusher_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/server"
	"github.com/heraldhq/herald/pusher"
)

const (
	e2eKey       = "app-key"
	e2eSecret    = "app-secret"
	e2eMasterKey = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
	wait         = 3 * time.Second
)

// startHerald runs a real Herald on 127.0.0.1:0 and returns its address.
func startHerald(t *testing.T) string {
	t.Helper()
	cfg := config.Config{Host: "127.0.0.1", AdminListen: config.AdminListenOff, Apps: []config.App{{ID: "1", Key: e2eKey, Secret: e2eSecret, EnableClientMessages: true,
		// The API answers subscription_count only with the option on (as hosted Pusher).
		EnableSubscriptionCount: true}}}
	cfg.ApplyDefaults()
	cfg.Port = 0
	ctx, cancel := context.WithCancel(context.Background())
	addrCh := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- server.Run(ctx, cfg, server.Options{Stderr: io.Discard, OnListen: func(a net.Addr) { addrCh <- a.String() }})
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	select {
	case addr := <-addrCh:
		return addr
	case err := <-done:
		t.Fatalf("server exited: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("server did not start")
	}
	return ""
}

func newE2EClient(t *testing.T, addr string) *pusher.Client {
	t.Helper()
	c, err := pusher.New(pusher.Config{AppID: "1", Key: e2eKey, Secret: e2eSecret, Host: addr, EncryptionMasterKeyBase64: e2eMasterKey})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// frame is a server frame; Data is the raw JSON (a string for events).
type frame struct {
	Event   string          `json:"event"`
	Channel string          `json:"channel"`
	Data    json.RawMessage `json:"data"`
}

// dataString returns the frame's data, which the protocol sends as a JSON
// string.
func (f frame) dataString(t *testing.T) string {
	t.Helper()
	var s string
	if err := json.Unmarshal(f.Data, &s); err != nil {
		t.Fatalf("%s: data is not a JSON string: %s", f.Event, f.Data)
	}
	return s
}

type wsConn struct {
	t        *testing.T
	conn     *websocket.Conn
	socketID string
}

func dial(t *testing.T, addr string) *wsConn {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: wait}
	conn, _, err := d.Dial("ws://"+addr+"/app/"+e2eKey+"?protocol=7&client=go-test&version=1&flash=false", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &wsConn{t: t, conn: conn}
	f := c.next()
	if f.Event != "pusher:connection_established" {
		t.Fatalf("first frame %+v", f)
	}
	var est struct {
		SocketID string `json:"socket_id"`
	}
	if err := json.Unmarshal([]byte(f.dataString(t)), &est); err != nil || est.SocketID == "" {
		t.Fatalf("connection_established: %s", f.Data)
	}
	c.socketID = est.SocketID
	return c
}

func (c *wsConn) send(v any) {
	c.t.Helper()
	if err := c.conn.WriteJSON(v); err != nil {
		c.t.Fatal(err)
	}
}

// next reads the next frame, whatever it is.
// next returns the next frame but pusher_internal:subscription_count (the
// app's option sends them; these tests are about the SDK's calls).
func (c *wsConn) next() frame {
	c.t.Helper()
	for {
		_ = c.conn.SetReadDeadline(time.Now().Add(wait))
		var f frame
		if err := c.conn.ReadJSON(&f); err != nil {
			c.t.Fatalf("reading a frame: %v", err)
		}
		if f.Event != "pusher_internal:subscription_count" {
			return f
		}
	}
}

// expect reads frames until event arrives on channel, skipping protocol
// frames (pusher_internal:*, pusher:*), and fails on any other channel event.
func (c *wsConn) expect(channel, event string) frame {
	c.t.Helper()
	for {
		f := c.next()
		if f.Event == event && f.Channel == channel {
			return f
		}
		if !strings.HasPrefix(f.Event, "pusher") {
			c.t.Fatalf("want %s on %s, got %+v", event, channel, f)
		}
	}
}

func (c *wsConn) subscribe(channel string, auth *pusher.ChannelAuth) {
	c.t.Helper()
	data := map[string]string{"channel": channel}
	if auth != nil {
		data["auth"] = auth.Auth
		if auth.ChannelData != "" {
			data["channel_data"] = auth.ChannelData
		}
	}
	c.send(map[string]any{"event": "pusher:subscribe", "data": data})
	for {
		f := c.next()
		switch {
		case f.Event == "pusher_internal:subscription_succeeded" && f.Channel == channel:
			return
		case f.Event == "pusher:subscription_error" || f.Event == "pusher:error":
			c.t.Fatalf("subscribing to %s: %+v", channel, f)
		}
	}
}

func authorize(t *testing.T, c *pusher.Client, p pusher.ChannelAuthParams) *pusher.ChannelAuth {
	t.Helper()
	a, err := c.AuthorizeChannel(p)
	if err != nil {
		t.Fatal(err)
	}
	return &a
}

func TestEndToEnd(t *testing.T) {
	addr := startHerald(t)
	c := newE2EClient(t, addr)
	ctx := context.Background()

	a := dial(t, addr)
	b := dial(t, addr)

	a.subscribe("my-channel", nil)
	b.subscribe("my-channel", nil)
	a.subscribe("private-orders", authorize(t, c, pusher.ChannelAuthParams{SocketID: a.socketID, Channel: "private-orders"}))
	a.subscribe("presence-room", authorize(t, c, pusher.ChannelAuthParams{SocketID: a.socketID, Channel: "presence-room",
		Member: &pusher.Member{UserID: "u1", UserInfo: map[string]string{"name": "Ann"}}}))
	encAuth := authorize(t, c, pusher.ChannelAuthParams{SocketID: a.socketID, Channel: "private-encrypted-vault"})
	a.subscribe("private-encrypted-vault", encAuth)

	t.Run("trigger public and private with info", func(t *testing.T) {
		res, err := c.Trigger(ctx, pusher.TriggerParams{Channels: []string{"my-channel", "private-orders"}, Event: "hello",
			Data: map[string]int{"n": 1}, Info: []string{pusher.InfoSubscriptionCount}})
		if err != nil {
			t.Fatal(err)
		}
		if n := res.Channels["my-channel"].SubscriptionCount; n == nil || *n != 2 {
			t.Errorf("my-channel subscription_count = %v", n)
		}
		if n := res.Channels["private-orders"].SubscriptionCount; n == nil || *n != 1 {
			t.Errorf("private-orders subscription_count = %v", n)
		}
		got := []string{}
		for range 2 {
			f := a.next()
			got = append(got, f.Channel)
			if f.Event != "hello" || f.dataString(t) != `{"n":1}` {
				t.Errorf("a got %+v", f)
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, []string{"my-channel", "private-orders"}) {
			t.Errorf("a got events on %v", got)
		}
		if f := b.expect("my-channel", "hello"); f.dataString(t) != `{"n":1}` {
			t.Errorf("b got %+v", f)
		}
	})

	t.Run("socket_id exclusion", func(t *testing.T) {
		if _, err := c.Trigger(ctx, pusher.TriggerParams{Channels: []string{"my-channel"}, Event: "first", Data: "1", SocketID: a.socketID}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Trigger(ctx, pusher.TriggerParams{Channels: []string{"my-channel"}, Event: "second", Data: "2"}); err != nil {
			t.Fatal(err)
		}
		b.expect("my-channel", "first")
		b.expect("my-channel", "second")
		// Events of one connection arrive in order: a's next event must be
		// the second one, so the first was not delivered to it.
		if f := a.expect("my-channel", "second"); f.dataString(t) != "2" {
			t.Errorf("a got %+v", f)
		}
	})

	t.Run("encrypted trigger", func(t *testing.T) {
		if _, err := c.Trigger(ctx, pusher.TriggerParams{Channels: []string{"private-encrypted-vault"}, Event: "secret",
			Data: map[string]string{"message": "top secret"}}); err != nil {
			t.Fatal(err)
		}
		data := a.expect("private-encrypted-vault", "secret").dataString(t)
		var env map[string]string
		if err := json.Unmarshal([]byte(data), &env); err != nil || len(env) != 2 || env["nonce"] == "" || env["ciphertext"] == "" {
			t.Fatalf("encrypted data %s", data)
		}
		if !strings.HasPrefix(data, `{"nonce":`) {
			t.Errorf("nonce is not first: %s", data)
		}
		// The subscriber opens it with the shared_secret of its auth.
		key, err := base64.StdEncoding.DecodeString(encAuth.SharedSecret)
		if err != nil {
			t.Fatal(err)
		}
		plain, err := pusher.Decrypt(key, data)
		if err != nil || string(plain) != `{"message":"top secret"}` {
			t.Errorf("Decrypt = %q, %v", plain, err)
		}
		if plain, err := c.Decrypt("private-encrypted-vault", data); err != nil || string(plain) != `{"message":"top secret"}` {
			t.Errorf("Client.Decrypt = %q, %v", plain, err)
		}
	})

	t.Run("batch", func(t *testing.T) {
		res, err := c.TriggerBatch(ctx, []pusher.BatchEvent{
			{Channel: "my-channel", Event: "b1", Data: "x"},
			{Channel: "presence-room", Event: "b2", Data: "y", Info: []string{pusher.InfoUserCount}},
			{Channel: "private-encrypted-vault", Event: "b3", Data: "z"},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Batch) != 3 || res.Batch[1].UserCount == nil || *res.Batch[1].UserCount != 1 || res.Batch[0].UserCount != nil {
			t.Errorf("batch result %+v", res.Batch)
		}
		b.expect("my-channel", "b1")
		seen := map[string]frame{}
		for range 3 {
			f := a.next()
			seen[f.Event] = f
		}
		if seen["b1"].Channel != "my-channel" || seen["b2"].Channel != "presence-room" || seen["b3"].Channel != "private-encrypted-vault" {
			t.Fatalf("a got %+v", seen)
		}
		if plain, err := c.Decrypt("private-encrypted-vault", seen["b3"].dataString(t)); err != nil || string(plain) != "z" {
			t.Errorf("batch encrypted item: %q, %v", plain, err)
		}
	})

	t.Run("queries", func(t *testing.T) {
		list, err := c.Channels(ctx, pusher.ChannelsParams{})
		if err != nil {
			t.Fatal(err)
		}
		for _, ch := range []string{"my-channel", "private-orders", "presence-room", "private-encrypted-vault"} {
			if _, ok := list.Channels[ch]; !ok {
				t.Errorf("Channels lacks %s: %v", ch, list.Channels)
			}
		}
		pres, err := c.Channels(ctx, pusher.ChannelsParams{Prefix: "presence-", Info: []string{pusher.InfoUserCount}})
		if n := pres.Channels["presence-room"].UserCount; err != nil || len(pres.Channels) != 1 || n == nil || *n != 1 {
			t.Errorf("presence Channels = %+v, %v", pres, err)
		}
		st, err := c.Channel(ctx, "presence-room", pusher.ChannelParams{Info: []string{pusher.InfoUserCount, pusher.InfoSubscriptionCount}})
		if err != nil || !st.Occupied || st.UserCount == nil || *st.UserCount != 1 || st.SubscriptionCount == nil || *st.SubscriptionCount != 1 {
			t.Errorf("Channel = %+v, %v", st, err)
		}
		st, err = c.Channel(ctx, "nobody-here", pusher.ChannelParams{})
		if err != nil || st.Occupied || st.UserCount != nil {
			t.Errorf("empty Channel = %+v, %v", st, err)
		}
		users, err := c.PresenceUsers(ctx, "presence-room")
		if err != nil || len(users) != 1 || users[0].ID != "u1" {
			t.Errorf("PresenceUsers = %+v, %v", users, err)
		}
		users, err = c.PresenceUsers(ctx, "presence-empty")
		if err != nil || users == nil || len(users) != 0 {
			t.Errorf("empty PresenceUsers = %#v, %v", users, err)
		}
		// user_count on a non-presence channel: the server's 400 surfaces.
		_, err = c.Channel(ctx, "my-channel", pusher.ChannelParams{Info: []string{pusher.InfoUserCount}})
		var re *pusher.RequestError
		if !errors.As(err, &re) || re.Status != 400 {
			t.Errorf("user_count on public channel: %v", err)
		}
	})

	t.Run("cache channel", func(t *testing.T) {
		b.subscribe("cache-prices", nil)
		if _, err := c.Trigger(ctx, pusher.TriggerParams{Channels: []string{"cache-prices"}, Event: "price", Data: `{"p":1}`}); err != nil {
			t.Fatal(err)
		}
		b.expect("cache-prices", "price")
		st, err := c.Channel(ctx, "cache-prices", pusher.ChannelParams{Info: []string{pusher.InfoCache}})
		if err != nil || st.Cache == nil || st.Cache.Data != `{"p":1}` || st.Cache.TTL <= 0 {
			t.Errorf("Channel cache = %+v (%+v), %v", st, st.Cache, err)
		}
	})

	t.Run("presence with a signed-in user", func(t *testing.T) {
		u := dial(t, addr)
		ua, err := c.AuthenticateUser(pusher.UserAuthParams{SocketID: u.socketID, User: pusher.UserData{ID: "signed", UserInfo: map[string]string{"name": "S"}}})
		if err != nil {
			t.Fatal(err)
		}
		u.send(map[string]any{"event": "pusher:signin", "data": map[string]string{"auth": ua.Auth, "user_data": ua.UserData}})
		if f := u.next(); f.Event != "pusher:signin_success" {
			t.Fatalf("signin: %+v", f)
		}
		u.subscribe("presence-room", authorize(t, c, pusher.ChannelAuthParams{SocketID: u.socketID, Channel: "presence-room", UseSignedInUser: true}))
		users, err := c.PresenceUsers(ctx, "presence-room")
		ids := []string{}
		for _, x := range users {
			ids = append(ids, x.ID)
		}
		slices.Sort(ids)
		if err != nil || !slices.Equal(ids, []string{"signed", "u1"}) {
			t.Errorf("PresenceUsers = %v, %v", ids, err)
		}
	})

	t.Run("send to user and terminate", func(t *testing.T) {
		u := dial(t, addr)
		other := dial(t, addr)
		ua, err := c.AuthenticateUser(pusher.UserAuthParams{SocketID: u.socketID, User: pusher.UserData{ID: "user-7"}})
		if err != nil {
			t.Fatal(err)
		}
		u.send(map[string]any{"event": "pusher:signin", "data": map[string]string{"auth": ua.Auth, "user_data": ua.UserData}})
		if f := u.next(); f.Event != "pusher:signin_success" {
			t.Fatalf("signin: %+v", f)
		}
		if err := c.SendToUser(ctx, pusher.SendToUserParams{UserID: "user-7", Event: "notice", Data: map[string]string{"hello": "user"}}); err != nil {
			t.Fatal(err)
		}
		if f := u.expect("#server-to-user-user-7", "notice"); f.dataString(t) != `{"hello":"user"}` {
			t.Errorf("user event %+v", f)
		}

		if err := c.TerminateUserConnections(ctx, "user-7"); err != nil {
			t.Fatal(err)
		}
		_ = u.conn.SetReadDeadline(time.Now().Add(wait))
		for {
			_, _, err := u.conn.ReadMessage()
			if err == nil {
				continue // a pusher:error 4009 may precede the close
			}
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != 4009 {
				t.Fatalf("terminated connection ended with %v, want close 4009", err)
			}
			break
		}
		// A connection that is not signed in as the user stays open.
		other.subscribe("my-channel", nil)
	})

	t.Run("request errors", func(t *testing.T) {
		bad, err := pusher.New(pusher.Config{AppID: "1", Key: e2eKey, Secret: "wrong-secret", Host: addr})
		if err != nil {
			t.Fatal(err)
		}
		_, err = bad.Trigger(ctx, pusher.TriggerParams{Channels: []string{"my-channel"}, Event: "e", Data: "d"})
		var re *pusher.RequestError
		if !errors.As(err, &re) || re.Status != 401 || !strings.Contains(re.Body, "signature") {
			t.Errorf("wrong secret: %v", err)
		}
		unknown, err := pusher.NewFromURL("http://" + e2eKey + ":" + e2eSecret + "@" + addr + "/apps/999")
		if err != nil {
			t.Fatal(err)
		}
		_, err = unknown.Channels(ctx, pusher.ChannelsParams{})
		if !errors.As(err, &re) || re.Status != 404 {
			t.Errorf("unknown app: %v", err)
		}
		// The URL form reaches the right app too.
		good, err := pusher.NewFromURL("http://" + e2eKey + ":" + e2eSecret + "@" + addr + "/apps/1")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := good.Channels(ctx, pusher.ChannelsParams{}); err != nil {
			t.Errorf("NewFromURL client: %v", err)
		}
	})
}
