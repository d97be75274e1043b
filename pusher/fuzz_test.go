package pusher

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// Fuzz targets for everything the SDK reads from outside: webhook requests,
// encrypted payloads, the form bodies of auth endpoints, the server URL of
// its configuration and the server's answers.

// noTransport refuses every request: the calls fuzzed with it send none.
type noTransport struct{}

func (noTransport) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("no request expected")
}

// fuzzClient is newTestClient for fuzz targets (which have no *testing.T at
// setup): app 1, the vectors' credentials and master key, a frozen clock.
func fuzzClient(tb testing.TB, rt http.RoundTripper) *Client {
	tb.Helper()
	c, err := New(Config{
		AppID: "1", Key: testKey, Secret: testSecret, Host: "127.0.0.1:6001",
		EncryptionMasterKeyBase64: testMasterKey,
		HTTPClient:                &http.Client{Transport: rt},
	})
	if err != nil {
		tb.Fatal(err)
	}
	c.now = func() time.Time { return time.Unix(frozenUnix, 0) }
	c.nonce = fixedNonce{}
	return c
}

// FuzzParseWebhook signs each fuzzed body as Herald would and checks what
// the SDK makes of it; then that any change to the body, signature or key
// is refused, and that ParseWebhookRequest enforces MaxWebhookBytes.
func FuzzParseWebhook(f *testing.F) {
	v := loadVectors(f)
	for _, w := range v.Webhooks {
		f.Add([]byte(w.RawBody), "application/json", uint16(0), false)
	}
	f.Add([]byte(`{"time_ms":1700000000000,"events":[{"name":"client_event","channel":"private-x","event":"client-a","data":{"a":1},"socket_id":"1.1"}]}`), "application/json; charset=utf-8", uint16(3), false)
	f.Add([]byte(`{"time_ms":1,"events":[{"name":"client_event","channel":"private-encrypted-foobar","data":"{\"nonce\":\"x\"}"}]}`), "Application/JSON", uint16(9), false)
	f.Add([]byte(`{"time_ms":1,"events":[{"name":"subscription_count","channel":"c","subscription_count":"12"},{"name":"member_added","channel":"presence-x","user_id":10}]}`), "text/plain", uint16(1), true)
	f.Add([]byte(`{"events":null}`), "application/json;", uint16(0), false)
	f.Add([]byte(`[]`), "", uint16(0), false)

	c := fuzzClient(f, noTransport{})
	other := fuzzClient(f, noTransport{})
	other.secret = "another-secret"
	f.Fuzz(func(t *testing.T, body []byte, contentType string, pos uint16, pad bool) {
		h := signedHeader(string(body))
		h.Set("Content-Type", contentType)
		wh, err := c.ParseWebhook(h, body)
		if err != nil {
			var we *WebhookError
			if !errors.As(err, &we) || !errors.Is(err, ErrInvalidWebhook) {
				t.Fatalf("error %T %v is not a *WebhookError", err, err)
			}
		} else {
			mt, _, perr := mime.ParseMediaType(contentType)
			if perr != nil || mt != "application/json" {
				t.Fatalf("accepted Content-Type %q", contentType)
			}
			checkWebhook(t, c, body, wh)
		}

		// Only the exact signed bytes, signature and key are accepted.
		if len(body) > 0 {
			changed := append([]byte(nil), body...)
			changed[int(pos)%len(changed)] ^= 0x20
			if _, err := c.ParseWebhook(h, changed); err == nil {
				t.Fatalf("changed body %q accepted with the signature of %q", changed, body)
			}
		}
		sig := h.Get("X-Pusher-Signature")
		i := int(pos) % len(sig)
		digit := "0"
		if sig[i] == '0' {
			digit = "1"
		}
		flipped := sig[:i] + digit + sig[i+1:]
		for name, hdr := range map[string]http.Header{
			"flipped signature": withHeader(h, "X-Pusher-Signature", flipped),
			"other key":         withHeader(h, "X-Pusher-Key", testKey+"x"),
			"no signature":      withHeader(h, "X-Pusher-Signature", ""),
		} {
			if _, err := c.ParseWebhook(hdr, body); err == nil {
				t.Fatalf("%s accepted", name)
			}
		}
		if _, err := other.ParseWebhook(h, body); err == nil {
			t.Fatal("webhook signed with another secret accepted")
		}

		if !pad {
			return
		}
		// Trailing white space keeps the JSON valid: at the limit the body
		// is read, one byte over it is refused before any parsing.
		for _, n := range []int{MaxWebhookBytes, MaxWebhookBytes + 1} {
			if len(body) > n {
				continue
			}
			big := append(append(make([]byte, 0, n), body...), bytes.Repeat([]byte{' '}, n-len(body))...)
			r := httptest.NewRequest(http.MethodPost, "/webhooks", bytes.NewReader(big))
			r.Header = signedHeader(string(big))
			r.Header.Set("Content-Type", contentType)
			_, err := c.ParseWebhookRequest(r)
			if n > MaxWebhookBytes && err == nil {
				t.Fatalf("body of %d bytes accepted, limit %d", n, MaxWebhookBytes)
			}
		}
	})
}

func withHeader(h http.Header, k, v string) http.Header {
	out := h.Clone()
	out.Set(k, v)
	return out
}

// checkWebhook compares an accepted webhook with the body read by
// encoding/json: same time, same number of events, same names and channels,
// data decoded from a JSON string (or decrypted).
func checkWebhook(t *testing.T, c *Client, body []byte, wh *Webhook) {
	t.Helper()
	var raw struct {
		TimeMS int64 `json:"time_ms"`
		Events []struct {
			Name    string          `json:"name"`
			Channel string          `json:"channel"`
			Data    json.RawMessage `json:"data"`
		} `json:"events"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatalf("accepted body %q is not JSON: %v", body, err)
	}
	if wh.TimeMS != raw.TimeMS || len(wh.Events) != len(raw.Events) {
		t.Fatalf("webhook %+v from %q", wh, body)
	}
	for i, e := range raw.Events {
		got := wh.Events[i]
		if got.Name != e.Name || got.Channel != e.Channel {
			t.Fatalf("event %d = %+v, want name %q channel %q", i, got, e.Name, e.Channel)
		}
		var s string
		d := bytes.TrimSpace(e.Data)
		if len(d) == 0 || string(d) == "null" {
			if got.Data != "" {
				t.Fatalf("event %d: data %q from absent data", i, got.Data)
			}
			continue
		}
		if d[0] != '"' || json.Unmarshal(d, &s) != nil {
			if !json.Valid([]byte(got.Data)) {
				t.Fatalf("event %d: non-string data %s returned as %q", i, d, got.Data)
			}
			continue
		}
		if strings.HasPrefix(e.Channel, "private-encrypted-") && s != "" {
			plain, err := c.Decrypt(e.Channel, s)
			if err != nil || got.Data != string(plain) {
				t.Fatalf("event %d: encrypted data %q returned as %q (%v)", i, s, got.Data, err)
			}
		} else if got.Data != s {
			t.Fatalf("event %d: data %q returned as %q", i, s, got.Data)
		}
	}
}

// FuzzDecrypt: Decrypt never panics and fails only with ErrDecrypt; what
// the SDK encrypts for a channel decrypts with that channel's key only,
// and a changed ciphertext never opens.
func FuzzDecrypt(f *testing.F) {
	v := loadVectors(f)
	f.Add(v.EncryptedChannel.ExampleEvent.APIBodyDataField, []byte(v.EncryptedChannel.ExampleEvent.DecryptsToUTF8), uint16(5))
	f.Add(`{"nonce":"QUFB","ciphertext":"`+strings.Repeat("A", 24)+`"}`, []byte(nil), uint16(0))
	f.Add(`{"nonce":null,"ciphertext":1}`, []byte(`{"message":"top secret"}`), uint16(70))
	f.Add(`x`, []byte("\x00\xff"), uint16(9))
	c := fuzzClient(f, noTransport{})
	const channel = "private-encrypted-foobar"
	key := sha256.Sum256(append([]byte(channel), c.masterKey...))
	f.Fuzz(func(t *testing.T, data string, plaintext []byte, pos uint16) {
		if _, err := Decrypt(key[:], data); err != nil && !errors.Is(err, ErrDecrypt) {
			t.Fatalf("error %v does not wrap ErrDecrypt", err)
		}
		if _, err := Decrypt(key[:int(pos)%32], data); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("short key: err = %v", err)
		}

		sealed, err := c.encrypt("Data", channel, plaintext)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.Decrypt(channel, sealed)
		if err != nil || !bytes.Equal(got, plaintext) {
			t.Fatalf("round trip of %q = %q, %v", plaintext, got, err)
		}
		if _, err := c.Decrypt(channel+"x", sealed); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("another channel's key: err = %v", err)
		}
		var env struct{ Nonce, Ciphertext string }
		if err := json.Unmarshal([]byte(sealed), &env); err != nil {
			t.Fatalf("sealed %q: %v", sealed, err)
		}
		box, _ := base64.StdEncoding.DecodeString(env.Ciphertext)
		box[int(pos)%len(box)] ^= 1
		tampered := `{"nonce":"` + env.Nonce + `","ciphertext":"` + base64.StdEncoding.EncodeToString(box) + `"}`
		if _, err := c.Decrypt(channel, tampered); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("tampered ciphertext: err = %v", err)
		}
	})
}

// FuzzParseAuthRequest: the form bodies pusher-js posts to the auth
// endpoints are accepted only with a valid socket id and channel name, and
// whatever is accepted can be signed and verifies as the server checks it.
func FuzzParseAuthRequest(f *testing.F) {
	for _, s := range []string{
		"socket_id=123.456&channel_name=private-foobar",
		"socket_id=123.456&channel_name=presence-room&extra=1",
		"channel_name=private-encrypted-foobar&socket_id=1.1",
		"socket_id=123.456", "socket_id=123.456&socket_id=9.9&channel_name=my-channel",
		"socket_id=1.1&channel_name=private-%23x", "socket_id=%zz", "socket_id=1.1;channel_name=private-a",
		"socket_id=%EF%BC%91.1&channel_name=private-a", "socket_id=1.1&channel_name=" + strings.Repeat("c", 201),
	} {
		f.Add([]byte(s))
	}
	c := fuzzClient(f, noTransport{})
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := ParseChannelAuthRequest(body)
		if err != nil {
			if !errors.Is(err, ErrInvalidParams) {
				t.Fatalf("error %v is not a ValidationError", err)
			}
		} else {
			if !socketIDRE.MatchString(p.SocketID) || !channelNameRE.MatchString(p.Channel) {
				t.Fatalf("accepted socket id %q, channel %q", p.SocketID, p.Channel)
			}
			presence := strings.HasPrefix(p.Channel, "presence-")
			var cd *string
			if presence {
				p.Member = &Member{UserID: "10", UserInfo: map[string]string{"name": "Ten"}}
			}
			auth, err := c.AuthorizeChannel(p)
			switch {
			case !presence && !strings.HasPrefix(p.Channel, "private-"):
				if err == nil {
					t.Fatalf("public channel %q authorized", p.Channel)
				}
				return
			case err != nil:
				t.Fatalf("AuthorizeChannel(%+v): %v", p, err)
			}
			if presence {
				cd = &auth.ChannelData
				var m struct {
					UserID string `json:"user_id"`
				}
				if err := json.Unmarshal([]byte(auth.ChannelData), &m); err != nil || m.UserID != "10" {
					t.Fatalf("channel_data %q: %+v, %v", auth.ChannelData, m, err)
				}
			}
			if auth.Auth != oracleChannelAuth(p.SocketID, p.Channel, cd) {
				t.Fatalf("authorization %+v for %+v does not verify", auth, p)
			}
		}

		sid, err := ParseUserAuthRequest(body)
		if err != nil {
			if !errors.Is(err, ErrInvalidParams) {
				t.Fatalf("error %v is not a ValidationError", err)
			}
			return
		}
		if !socketIDRE.MatchString(sid) {
			t.Fatalf("accepted socket id %q", sid)
		}
		ua, err := c.AuthenticateUser(UserAuthParams{SocketID: sid, User: UserData{ID: "u-1", Watchlist: []string{"u-2"}}})
		if err != nil || ua.Auth != testKey+":"+oracleHMAC(testSecret, sid+"::user::"+ua.UserData) {
			t.Fatalf("user auth %+v, %v does not verify", ua, err)
		}
		var u struct{ ID string }
		if err := json.Unmarshal([]byte(ua.UserData), &u); err != nil || u.ID != "u-1" {
			t.Fatalf("user_data %q: %+v, %v", ua.UserData, u, err)
		}
	})
}

// FuzzParseURL: a server URL (PUSHER_URL, HERALD_URL) that New accepts
// gives requests whose wire form verifies on the server side, for the path
// the server reads and the app id it routes on.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{
		"http://app-key:app-secret@127.0.0.1:6001/apps/1",
		"https://k:s@herald.example.com/prefix/apps/42/",
		"http://k:s@[::1]:6001/a%20b/apps/app%2F1",
		"http://k:s@h/apps/a%zz", "http://k@h/apps/1", "http://h/apps/1", "ftp://k:s@h/apps/1",
		"http://k:s@h/apps/", "http://k:s@h/x/apps/1/y", "http://k:s%40x@h:1/apps/%C3%A9",
		"HTTP://K:S@H/Apps/1", "http://k:s@h/;/apps/1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		cfg, err := ParseURL(raw)
		if err != nil {
			if !errors.Is(err, ErrInvalidParams) {
				t.Fatalf("error %v is not a ValidationError", err)
			}
			return
		}
		var sent *http.Request
		rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			sent = r
			return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader(`{"channels":{}}`)), Request: r}, nil
		})
		cfg.HTTPClient = &http.Client{Transport: rt}
		c, err := New(cfg)
		if err != nil {
			if !errors.Is(err, ErrInvalidParams) {
				t.Fatalf("error %v is not a ValidationError", err)
			}
			return
		}
		c.now = func() time.Time { return time.Unix(frozenUnix, 0) }
		if _, err := c.Channels(context.Background(), ChannelsParams{Prefix: "presence-", Info: []string{InfoUserCount}}); err != nil {
			if sent == nil {
				return // refused before sending (e.g. a host net/http cannot dial)
			}
			t.Fatalf("Channels: %v", err)
		}
		// What the server parses from the request line.
		u, err := url.ParseRequestURI(sent.URL.RequestURI())
		if err != nil {
			t.Fatalf("request line %q: %v", sent.URL.RequestURI(), err)
		}
		path := u.EscapedPath()
		if err := verifySigned("GET", path, u.RawQuery, nil, cfg.Key, cfg.Secret); err != nil {
			t.Fatalf("request %s for URL %q does not verify: %v", sent.URL.RequestURI(), raw, err)
		}
		rest, ok := strings.CutSuffix(path, "/channels")
		i := strings.LastIndex(rest, "/apps/")
		if !ok || i < 0 {
			t.Fatalf("request path %q", path)
		}
		if id, err := url.PathUnescape(rest[i+len("/apps/"):]); err != nil || id != cfg.AppID {
			t.Fatalf("request path %q names app %q (%v), want %q", path, id, err, cfg.AppID)
		}
	})
}

// FuzzResponses feeds each API call a fuzzed 200 answer: the SDK never
// panics, fails only with ErrInvalidResponse, and returns non-nil results.
func FuzzResponses(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"channels":{}}`, `{"channels":null}`, `{"channels":[]}`, `{"batch":[]}`, `{"batch":{}}`,
		`{"batch":[{},{"user_count":2}]}`, `{"channels":{"presence-room":{"user_count":2,"subscription_count":3}}}`,
		`{"occupied":true,"user_count":2,"subscription_count":1,"cache":{"event":"e","data":"{\"p\":1}","ttl":1785}}`,
		`{"occupied":true,"cache":{"ttl":1e300}}`, `{"users":[{"id":"1"},{"id":"2"}]}`, `{"users":null}`,
		``, ` `, `null`, `[]`, `"x"`, `{"channels":{"a":{"user_count":"2"}}}`, `{"channels": [ ] }`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: 200, Body: io.NopCloser(bytes.NewReader(body)), Request: r}, nil
		})
		c := fuzzClient(t, rt)
		ctx := context.Background()
		check := func(call string, err error) bool {
			t.Helper()
			if err != nil && !errors.Is(err, ErrInvalidResponse) {
				t.Fatalf("%s: error %v does not wrap ErrInvalidResponse", call, err)
			}
			return err == nil
		}
		if res, err := c.Trigger(ctx, TriggerParams{Channels: []string{"a", "presence-b"}, Event: "e", Data: "d",
			Info: []string{InfoUserCount}}); check("Trigger", err) && res.Channels == nil {
			t.Fatal("Trigger: nil channel map")
		}
		if res, err := c.TriggerBatch(ctx, []BatchEvent{{Channel: "a", Event: "e", Data: "d"}, {Channel: "b", Event: "e", Data: "d"}}); check("TriggerBatch", err) && len(res.Batch) < 2 {
			t.Fatalf("TriggerBatch: %d results for 2 events", len(res.Batch))
		}
		if res, err := c.Channels(ctx, ChannelsParams{}); check("Channels", err) && res.Channels == nil {
			t.Fatal("Channels: nil channel map")
		}
		_, err := c.Channel(ctx, "cache-x", ChannelParams{Info: []string{InfoCache}})
		check("Channel", err)
		if users, err := c.PresenceUsers(ctx, "presence-x"); check("PresenceUsers", err) && users == nil {
			t.Fatal("PresenceUsers: nil list")
		}
		check("SendToUser", c.SendToUser(ctx, SendToUserParams{UserID: "u", Event: "e", Data: "d"}))
		check("TerminateUserConnections", c.TerminateUserConnections(ctx, "u"))
	})
}
