package pushtest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/beams/webpush"
)

// send is a minimal Web Push sender: what the Beams sender does, with
// knobs to break each rule.
type send struct {
	key      *webpush.VAPIDKey
	aud, sub string
	exp      time.Time
	headers  map[string]string
	body     []byte // nil: encrypt msg for the subscription
}

func (o send) do(t *testing.T, sub *Subscription, msg string) *http.Response {
	t.Helper()
	body := o.body
	if body == nil {
		p256dh, _ := base64.RawURLEncoding.DecodeString(sub.P256dh)
		auth, _ := base64.RawURLEncoding.DecodeString(sub.Auth)
		var err error
		if body, err = webpush.Encrypt([]byte(msg), p256dh, auth); err != nil {
			t.Fatal(err)
		}
	}
	endpoint := sub.Endpoint
	if o.aud != "" {
		endpoint = o.aud + "/push/" + sub.ID
	}
	authz, err := o.key.Authorization(endpoint, o.sub, o.exp)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, sub.Endpoint, bytes.NewReader(body))
	req.Header.Set("Content-Encoding", "aes128gcm")
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("TTL", "60")
	req.Header.Set("Authorization", authz)
	for k, v := range o.headers {
		if v == "-" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func TestPushService(t *testing.T) {
	s := Start(t, nil)
	key, _ := webpush.NewVAPIDKey()
	other, _ := webpush.NewVAPIDKey()
	sub := s.Subscribe(key.PublicString())
	ok := send{key: key, sub: "mailto:ops@example.com", exp: time.Now().Add(12 * time.Hour)}

	resp := ok.do(t, sub, `{"notification":{"title":"hi"}}`)
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("Location") == "" {
		t.Fatalf("a good push: %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	select {
	case m := <-s.Messages():
		if string(m.Plaintext) != `{"notification":{"title":"hi"}}` || m.Subscription != sub.ID || m.Claims.Aud != s.URL {
			t.Fatalf("message %+v", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no message")
	}

	cases := []struct {
		name   string
		o      send
		sub    *Subscription
		status int
	}{
		{"signed with another key (k names it)", send{key: other, sub: ok.sub, exp: ok.exp}, sub, 403},
		{"audience of another origin", send{key: key, sub: ok.sub, exp: ok.exp, aud: "https://elsewhere.example"}, sub, 403},
		{"expired token", send{key: key, sub: ok.sub, exp: time.Now().Add(-time.Minute)}, sub, 403},
		{"token for more than 24 h", send{key: key, sub: ok.sub, exp: time.Now().Add(25 * time.Hour)}, sub, 403},
		{"sub without mailto/https", send{key: key, sub: "ops@example.com", exp: ok.exp}, sub, 403},
		{"no Content-Encoding", send{key: key, sub: ok.sub, exp: ok.exp, headers: map[string]string{"Content-Encoding": "-"}}, sub, 400},
		{"aesgcm (old draft)", send{key: key, sub: ok.sub, exp: ok.exp, headers: map[string]string{"Content-Encoding": "aesgcm"}}, sub, 400},
		{"no TTL", send{key: key, sub: ok.sub, exp: ok.exp, headers: map[string]string{"TTL": "-"}}, sub, 400},
		{"bad Urgency", send{key: key, sub: ok.sub, exp: ok.exp, headers: map[string]string{"Urgency": "now"}}, sub, 400},
		{"long Topic", send{key: key, sub: ok.sub, exp: ok.exp, headers: map[string]string{"Topic": strings.Repeat("a", 33)}}, sub, 400},
		{"no Authorization", send{key: key, sub: ok.sub, exp: ok.exp, headers: map[string]string{"Authorization": "-"}}, sub, 401},
		{"garbage body", send{key: key, sub: ok.sub, exp: ok.exp, body: bytes.Repeat([]byte{7}, 200)}, sub, 400},
		{"unknown subscription", ok, &Subscription{ID: "nope", Endpoint: s.URL + "/push/nope"}, 404},
	}
	for _, c := range cases {
		if c.sub.P256dh == "" { // the unknown one: encrypt to a throwaway subscription's keys
			tmp := s.Subscribe(key.PublicString())
			c.sub.P256dh, c.sub.Auth = tmp.P256dh, tmp.Auth
		}
		if resp := c.o.do(t, c.sub, "x"); resp.StatusCode != c.status {
			t.Errorf("%s: %d, want %d (rejections %+v)", c.name, resp.StatusCode, c.status, s.Rejected())
		}
	}
	if s.Accepted() != 1 {
		t.Fatalf("accepted %d, want 1", s.Accepted())
	}

	s.Inject(sub.ID, Injected{Status: 429, RetryAfter: "3"}, Injected{Status: 500})
	if resp := ok.do(t, sub, "x"); resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "3" {
		t.Fatalf("injected 429: %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if resp := ok.do(t, sub, "x"); resp.StatusCode != 500 {
		t.Fatalf("injected 500: %d", resp.StatusCode)
	}
	if resp := ok.do(t, sub, "x"); resp.StatusCode != 201 {
		t.Fatalf("after the injected answers: %d", resp.StatusCode)
	}
	s.Expire(sub.ID)
	if resp := ok.do(t, sub, "x"); resp.StatusCode != 410 {
		t.Fatalf("expired subscription: %d, want 410", resp.StatusCode)
	}
}

// The token is what the web SDK registers: std base64 of the subscription JSON.
func TestToken(t *testing.T) {
	s := Start(t, nil)
	sub := s.Subscribe("key")
	raw, err := base64.StdEncoding.DecodeString(sub.Token())
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Endpoint       string          `json:"endpoint"`
		ExpirationTime json.RawMessage `json:"expirationTime"`
		Keys           struct{ P256dh, Auth string }
	}
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	if got.Endpoint != sub.Endpoint || string(got.ExpirationTime) != "null" || got.Keys.P256dh != sub.P256dh || got.Keys.Auth != sub.Auth {
		t.Fatalf("token %s", raw)
	}
}
