package pusher

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func signedHeader(body string) http.Header {
	return http.Header{
		"Content-Type":       {"application/json"},
		"X-Pusher-Key":       {testKey},
		"X-Pusher-Signature": {oracleHMAC(testSecret, body)},
	}
}

func TestWebhookVectors(t *testing.T) {
	v := loadVectors(t)
	c := newTestClient(t, failTransport(t))
	if len(v.Webhooks) < 8 {
		t.Fatalf("only %d webhook vectors", len(v.Webhooks))
	}
	for _, tc := range v.Webhooks {
		t.Run(tc.Label, func(t *testing.T) {
			h := http.Header{}
			for k, val := range tc.Headers {
				h.Set(k, val)
			}
			body := []byte(tc.RawBody)
			wh, err := c.ParseWebhook(h, body)
			if err != nil {
				t.Fatal(err)
			}
			var want struct {
				TimeMS int64 `json:"time_ms"`
				Events []struct {
					Name, Channel, Event, Data string
					SocketID                   string `json:"socket_id"`
					UserID                     string `json:"user_id"`
					SubscriptionCount          int    `json:"subscription_count"`
				}
			}
			if err := json.Unmarshal(body, &want); err != nil {
				t.Fatal(err)
			}
			if wh.TimeMS != want.TimeMS || wh.Time().UnixMilli() != want.TimeMS || len(wh.Events) != len(want.Events) {
				t.Fatalf("webhook %+v, want %+v", wh, want)
			}
			for i, e := range want.Events {
				if got := wh.Events[i]; got != (WebhookEvent(e)) {
					t.Errorf("event %d = %+v, want %+v", i, got, e)
				}
			}

			// Our ParseWebhook accepts the media type with a charset (the
			// Node SDK does not; the signature is what matters).
			h2 := h.Clone()
			h2.Set("Content-Type", "application/json; charset=utf-8")
			if _, err := c.ParseWebhook(h2, body); err != nil {
				t.Errorf("with charset: %v", err)
			}
			// Lower-case header keys stored without canonicalisation.
			raw := http.Header{}
			for k, val := range tc.Headers {
				raw[strings.ToLower(k)] = []string{val}
			}
			if _, err := c.ParseWebhook(raw, body); err != nil {
				t.Errorf("lower-case header map: %v", err)
			}

			bad := map[string]func() (http.Header, []byte){
				"wrong signature": func() (http.Header, []byte) {
					h := h.Clone()
					h.Set("X-Pusher-Signature", oracleHMAC("other-secret", string(body)))
					return h, body
				},
				"upper-case signature": func() (http.Header, []byte) {
					h := h.Clone()
					h.Set("X-Pusher-Signature", strings.ToUpper(h.Get("X-Pusher-Signature")))
					return h, body
				},
				"no signature": func() (http.Header, []byte) { h := h.Clone(); h.Del("X-Pusher-Signature"); return h, body },
				"wrong key":    func() (http.Header, []byte) { h := h.Clone(); h.Set("X-Pusher-Key", "other-key"); return h, body },
				"no key":       func() (http.Header, []byte) { h := h.Clone(); h.Del("X-Pusher-Key"); return h, body },
				"body changed": func() (http.Header, []byte) { return h, append(bytes.Clone(body), ' ') },
				"text/plain":   func() (http.Header, []byte) { h := h.Clone(); h.Set("Content-Type", "text/plain"); return h, body },
				"no content type": func() (http.Header, []byte) {
					h := h.Clone()
					h.Del("Content-Type")
					return h, body
				},
			}
			for name, mk := range bad {
				hh, bb := mk()
				_, err := c.ParseWebhook(hh, bb)
				var we *WebhookError
				if !errors.As(err, &we) || !errors.Is(err, ErrInvalidWebhook) {
					t.Errorf("%s: err = %v, want *WebhookError", name, err)
				}
			}
		})
	}
}

func TestWebhookEncryptedChannels(t *testing.T) {
	c := newTestClient(t, failTransport(t))
	noKey, err := New(Config{AppID: "1", Key: testKey, Secret: testSecret, Host: "h"})
	if err != nil {
		t.Fatal(err)
	}
	// Existence events on encrypted channels carry no data and never fail
	// (pusher-http-go fails them; see sdk_parsing_checks_go).
	occupied := `{"time_ms":1700000000000,"events":[{"name":"channel_occupied","channel":"private-encrypted-foobar"}]}`
	for _, cl := range []*Client{c, noKey} {
		wh, err := cl.ParseWebhook(signedHeader(occupied), []byte(occupied))
		if err != nil || len(wh.Events) != 1 || wh.Events[0].Channel != "private-encrypted-foobar" {
			t.Errorf("channel_occupied on encrypted channel: %+v, %v", wh, err)
		}
	}

	sealed, err := c.encrypt("Data", "private-encrypted-foobar", []byte(`{"typing":true}`))
	if err != nil {
		t.Fatal(err)
	}
	ev, _ := json.Marshal(map[string]any{"time_ms": 1, "events": []map[string]any{{
		"name": "client_event", "channel": "private-encrypted-foobar", "event": "client-x", "data": sealed, "socket_id": "1.2",
	}}})
	wh, err := c.ParseWebhook(signedHeader(string(ev)), ev)
	if err != nil || wh.Events[0].Data != `{"typing":true}` {
		t.Errorf("decrypted data: %+v, %v", wh, err)
	}
	wh, err = noKey.ParseWebhook(signedHeader(string(ev)), ev)
	if err != nil || wh.Events[0].Data != sealed {
		t.Errorf("without a master key data is left as is: %+v, %v", wh, err)
	}
	other, _ := New(Config{AppID: "1", Key: testKey, Secret: testSecret, Host: "h", EncryptionMasterKeyBase64: "AQECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="})
	if _, err := other.ParseWebhook(signedHeader(string(ev)), ev); !errors.Is(err, ErrInvalidWebhook) || !errors.Is(err, ErrDecrypt) {
		t.Errorf("wrong master key: %v", err)
	}
}

func TestWebhookLenientFields(t *testing.T) {
	c := newTestClient(t, failTransport(t))
	// Object data (soketi), numeric user id and string subscription_count.
	body := `{"time_ms":5,"events":[{"name":"client_event","channel":"presence-x","event":"client-a","data":{"a": 1},"socket_id":"1.1","user_id":10},` +
		`{"name":"subscription_count","channel":"c","subscription_count":"3"}]}`
	wh, err := c.ParseWebhook(signedHeader(body), []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if e := wh.Events[0]; e.Data != `{"a":1}` || e.UserID != "10" {
		t.Errorf("event 0 = %+v", e)
	}
	if e := wh.Events[1]; e.SubscriptionCount != 3 {
		t.Errorf("event 1 = %+v", e)
	}
	if _, err := c.ParseWebhook(signedHeader("[]"), []byte("[]")); !errors.Is(err, ErrInvalidWebhook) {
		t.Errorf("array body: %v", err)
	}
}

func TestParseWebhookRequest(t *testing.T) {
	c := newTestClient(t, failTransport(t))
	body := `{"time_ms":1700000000000,"events":[{"name":"member_added","channel":"presence-room","user_id":"10"}]}`
	r := httptest.NewRequestWithContext(context.Background(), "POST", "/webhook", strings.NewReader(body))
	r.Header = signedHeader(body)
	wh, err := c.ParseWebhookRequest(r)
	if err != nil || wh.Events[0].UserID != "10" {
		t.Errorf("ParseWebhookRequest = %+v, %v", wh, err)
	}
	big := strings.Repeat(" ", MaxWebhookBytes+1)
	r = httptest.NewRequestWithContext(context.Background(), "POST", "/webhook", strings.NewReader(big))
	r.Header = signedHeader(big)
	if _, err := c.ParseWebhookRequest(r); !errors.Is(err, ErrInvalidWebhook) {
		t.Errorf("oversized body: %v", err)
	}
}
