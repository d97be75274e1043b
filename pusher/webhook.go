package pusher

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// MaxWebhookBytes bounds the body ParseWebhookRequest reads.
const MaxWebhookBytes = 1 << 20

// Webhook is a verified webhook request.
type Webhook struct {
	TimeMS int64 // when the server created the webhook, Unix milliseconds
	Events []WebhookEvent
}

// Time returns TimeMS as a time.Time.
func (w *Webhook) Time() time.Time { return time.UnixMilli(w.TimeMS) }

// WebhookEvent is one event of a webhook; fields that do not apply to Name
// are empty.
type WebhookEvent struct {
	Name              string // channel_occupied, channel_vacated, member_added, member_removed, client_event, cache_miss, subscription_count
	Channel           string
	Event             string // client_event: the client event name
	Data              string // client_event: the payload (decrypted on encrypted channels when a master key is set)
	SocketID          string // client_event: the sender
	UserID            string // member_added, member_removed, client_event on presence channels
	SubscriptionCount int    // subscription_count
}

type webhookEventJSON struct {
	Name              string          `json:"name"`
	Channel           string          `json:"channel"`
	Event             string          `json:"event"`
	Data              json.RawMessage `json:"data"`
	SocketID          string          `json:"socket_id"`
	UserID            json.RawMessage `json:"user_id"`
	SubscriptionCount json.RawMessage `json:"subscription_count"`
}

// ParseWebhook verifies and decodes a webhook: X-Pusher-Key must be this
// client's key, X-Pusher-Signature the HMAC-SHA256 of body with the secret
// (compared in constant time), and the Content-Type media type
// application/json (parameters such as charset are tolerated). body must be
// the exact bytes received.
//
// Data of events on private-encrypted- channels is decrypted when a master
// key is configured and left as received otherwise; events without data
// (channel_occupied and the like) are never a decryption failure. Data that
// is not a JSON string (an object, from some servers) is returned in
// compact JSON form. Errors are *WebhookError.
func (c *Client) ParseWebhook(header http.Header, body []byte) (*Webhook, error) {
	ct := headerValue(header, "Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return nil, &WebhookError{Reason: "Content-Type " + strconv.Quote(ct) + " is not application/json"}
	}
	if key := headerValue(header, "X-Pusher-Key"); key != c.key {
		return nil, &WebhookError{Reason: "X-Pusher-Key " + strconv.Quote(key) + " is not this app's key"}
	}
	want := hmacHex(c.secret, string(body))
	got := headerValue(header, "X-Pusher-Signature")
	if subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		return nil, &WebhookError{Reason: "X-Pusher-Signature does not match the body"}
	}
	var raw struct {
		TimeMS int64              `json:"time_ms"`
		Events []webhookEventJSON `json:"events"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, &WebhookError{Reason: "body is not a webhook JSON object", Err: err}
	}
	wh := &Webhook{TimeMS: raw.TimeMS, Events: make([]WebhookEvent, 0, len(raw.Events))}
	for i, e := range raw.Events {
		ev := WebhookEvent{Name: e.Name, Channel: e.Channel, Event: e.Event, SocketID: e.SocketID}
		var ok bool
		if ev.Data, ok = stringOrJSON(e.Data); !ok {
			return nil, &WebhookError{Reason: "events[" + strconv.Itoa(i) + "].data is not valid JSON"}
		}
		ev.UserID, _ = stringOrJSON(e.UserID)
		ev.SubscriptionCount = flexInt(e.SubscriptionCount)
		if ev.Data != "" && c.masterKey != nil && isEncrypted(ev.Channel) {
			plain, err := Decrypt(sharedSecret(ev.Channel, c.masterKey), ev.Data)
			if err != nil {
				return nil, &WebhookError{Reason: "events[" + strconv.Itoa(i) + "] on " + ev.Channel, Err: err}
			}
			ev.Data = string(plain)
		}
		wh.Events = append(wh.Events, ev)
	}
	return wh, nil
}

// ParseWebhookRequest reads r's body (at most MaxWebhookBytes) and calls
// ParseWebhook with it.
func (c *Client) ParseWebhookRequest(r *http.Request) (*Webhook, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxWebhookBytes+1))
	if err != nil {
		return nil, &WebhookError{Reason: "reading body", Err: err}
	}
	if len(body) > MaxWebhookBytes {
		return nil, &WebhookError{Reason: "body larger than " + strconv.Itoa(MaxWebhookBytes) + " bytes"}
	}
	return c.ParseWebhook(r.Header, body)
}

// headerValue is Header.Get that also finds keys stored without
// canonicalisation (a map filled by hand or from another framework).
func headerValue(h http.Header, name string) string {
	if v := h.Get(name); v != "" {
		return v
	}
	for k, vs := range h {
		if strings.EqualFold(k, name) && len(vs) > 0 {
			return vs[0]
		}
	}
	return ""
}

// stringOrJSON returns a JSON string's value, "" for absent/null, and any
// other value as compact JSON.
func stringOrJSON(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", true
	}
	if raw[0] == '"' {
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err == nil
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return "", false
	}
	return b.String(), true
}

// flexInt reads a number or a numeric string; anything else is 0.
func flexInt(raw json.RawMessage) int {
	s, _ := stringOrJSON(raw)
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0
	}
	return n
}
