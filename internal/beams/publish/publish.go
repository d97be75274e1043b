// Package publish is a Beams publish request: its validation (spec
// beams.md sections 1.4, 1.5, 1.9) with the exact statuses and error
// texts, and the messages built from it for each platform (section 4.2).
package publish

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/heraldhq/herald/internal/beams/webpush"
)

// Limits of the publish API (spec 1.5).
const (
	MaxBody        = 10 << 10 // bytes of a request body
	MaxInterests   = 100
	MaxUsers       = 1000
	MaxInterestLen = 164
	MaxUserIDLen   = 164     // Unicode code points
	MaxWebTTL      = 2419200 // seconds (4 weeks): also the default
)

// Target says which route a publish came in on.
type Target int

const (
	ToInterests Target = iota + 1 // /publishes/interests and the legacy /publishes
	ToUsers                       // /publishes/users
)

// Error is a refusal: HTTP status, the Beams error title and a description
// (both always non-empty: SDKs reject a reply missing either).
type Error struct {
	Status      int
	Title       string
	Description string
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s - %s", e.Status, e.Title, e.Description) }

func unprocessable(format string, args ...any) *Error {
	return &Error{Status: 422, Title: "Unprocessable Entity", Description: fmt.Sprintf(format, args...)}
}

// Request is a validated publish.
type Request struct {
	Target     Target
	Interests  []string // ToInterests: 1..100 names
	Users      []string // ToUsers: 1..1000 ids
	WebhookURL string
	Web        *Web            // nil: web devices get nothing
	FCM        json.RawMessage // nil: none (a JSON object otherwise)
	APNs       json.RawMessage
}

// Web is the web payload of a publish.
type Web struct {
	TTL          int             // seconds the push service keeps it for an offline browser
	Notification json.RawMessage // a JSON object (compact); "{}" when the publish had none
	Data         json.RawMessage // a JSON object (compact) without "pusher"; nil when none
	displayable  bool
	hasData      bool
}

// Parse validates body (at most MaxBody bytes, already read) for the route.
func Parse(body []byte, target Target) (*Request, *Error) {
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&raw); err != nil || raw == nil || dec.More() {
		return nil, &Error{Status: 400, Title: "Bad Request", Description: "Failed to read body as a JSON object."}
	}
	r := &Request{Target: target}
	switch target {
	case ToInterests:
		if _, ok := raw["users"]; ok {
			return nil, unprocessable("A publish to interests cannot have users: publish to users on /publishes/users.")
		}
		list, err := stringList(raw["interests"], "interests", 1, MaxInterests)
		if err != nil {
			return nil, err
		}
		for _, in := range list {
			if !ValidInterest(in) {
				return nil, unprocessable("Interest %q is not valid: 1 to %d characters of A-Z a-z 0-9 _ - = @ , . ;", truncate(in, 200), MaxInterestLen)
			}
		}
		r.Interests = list
	case ToUsers:
		if _, ok := raw["interests"]; ok {
			return nil, unprocessable("A publish to users cannot have interests: publish to interests on /publishes/interests.")
		}
		list, err := stringList(raw["users"], "users", 1, MaxUsers)
		if err != nil {
			return nil, err
		}
		for _, u := range list {
			if !ValidUserID(u) {
				return nil, unprocessable("User id %q is not valid: 1 to %d characters of UTF-8", truncate(u, 200), MaxUserIDLen)
			}
		}
		r.Users = list
	}
	if w, ok := raw["webhookUrl"]; ok {
		var s string
		if json.Unmarshal(w, &s) != nil {
			return nil, unprocessable("webhookUrl must be a string.")
		}
		if u, err := url.Parse(s); s != "" && (err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "") {
			return nil, unprocessable("webhookUrl must be an absolute http(s) URL.")
		}
		r.WebhookURL = s
	}
	var err *Error
	if r.APNs, err = object(raw["apns"], "apns"); err != nil {
		return nil, err
	}
	if r.FCM, err = object(raw["fcm"], "fcm"); err != nil {
		return nil, err
	}
	if w, ok := raw["web"]; ok {
		if r.Web, err = parseWeb(w); err != nil {
			return nil, err
		}
	}
	if r.APNs == nil && r.FCM == nil && r.Web == nil {
		return nil, unprocessable("A publish needs at least one of the apns, fcm and web payloads.")
	}
	return r, nil
}

func parseWeb(raw json.RawMessage) (*Web, *Error) {
	var w struct {
		TTL          *json.Number               `json:"time_to_live"`
		Notification map[string]json.RawMessage `json:"notification"`
		Data         map[string]json.RawMessage `json:"data"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&w); err != nil || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return nil, unprocessable("web must be an object with time_to_live, notification and data.")
	}
	out := &Web{TTL: MaxWebTTL, Notification: json.RawMessage("{}")}
	if w.TTL != nil {
		n, err := w.TTL.Int64()
		if err != nil || n < 0 || n > MaxWebTTL {
			return nil, unprocessable("web.time_to_live must be a whole number of seconds from 0 to %d.", MaxWebTTL)
		}
		out.TTL = int(n)
	}
	if w.Notification != nil {
		for _, k := range []string{"title", "body", "icon", "deep_link"} {
			if v, ok := w.Notification[k]; ok {
				var s string
				if json.Unmarshal(v, &s) != nil {
					return nil, unprocessable("web.notification.%s must be a string.", k)
				}
				if (k == "title" || k == "body") && s != "" {
					out.displayable = true
				}
			}
		}
		if v, ok := w.Notification["hide_notification_if_site_has_focus"]; ok {
			var b bool
			if json.Unmarshal(v, &b) != nil {
				return nil, unprocessable("web.notification.hide_notification_if_site_has_focus must be true or false.")
			}
		}
		out.Notification = compactField(raw, "notification")
	}
	if w.Data != nil {
		if _, ok := w.Data["pusher"]; ok {
			return nil, unprocessable("web.data must not contain the key \"pusher\": it is reserved for Beams.")
		}
		out.Data = compactField(raw, "data")
		out.hasData = len(w.Data) > 0
	}
	return out, nil
}

// compactField is field name of the JSON object raw, compact, in the
// publisher's own key order.
func compactField(raw json.RawMessage, name string) json.RawMessage {
	var m map[string]json.RawMessage
	_ = json.Unmarshal(raw, &m)
	var b bytes.Buffer
	if json.Compact(&b, m[name]) != nil {
		return nil
	}
	return b.Bytes()
}

func object(raw json.RawMessage, name string) (json.RawMessage, *Error) {
	if raw == nil {
		return nil, nil
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil || m == nil {
		return nil, unprocessable("%s must be a JSON object.", name)
	}
	var b bytes.Buffer
	_ = json.Compact(&b, raw)
	return b.Bytes(), nil
}

func stringList(raw json.RawMessage, name string, lo, hi int) ([]string, *Error) {
	if raw == nil {
		return nil, unprocessable("%s is required: a list of %d to %d strings.", name, lo, hi)
	}
	var list []string
	if json.Unmarshal(raw, &list) != nil {
		return nil, unprocessable("%s must be a list of strings.", name)
	}
	if len(list) < lo || len(list) > hi {
		return nil, unprocessable("%s must hold %d to %d entries (got %d).", name, lo, hi, len(list))
	}
	return list, nil
}

// ValidInterest: 1..164 characters of A-Z a-z 0-9 _ - = @ , . ;
func ValidInterest(s string) bool {
	if s == "" || len(s) > MaxInterestLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("_-=@,.;", c) >= 0) {
			return false
		}
	}
	return true
}

// ValidUserID: 1..164 Unicode code points of valid UTF-8 (the most lenient
// of the SDKs' measures).
func ValidUserID(s string) bool {
	return s != "" && utf8.ValidString(s) && utf8.RuneCountInString(s) <= MaxUserIDLen
}

// NewID returns a publish id: "pubid-" and a random (v4) UUID.
func NewID() string { return "pubid-" + uuid.NewString() }

// WebPlaintext is the message a web device gets (before encryption): the
// notification (always an object: the service worker reads it
// unconditionally) and the publisher's data with the "pusher" metadata the
// service worker requires. It fails with webpush.ErrTooLarge when the
// message would not fit one push.
func (r *Request) WebPlaintext(instanceID, publishID string) ([]byte, error) {
	w := r.Web
	meta, err := json.Marshal(struct {
		InstanceID            string `json:"instanceId"`
		PublishID             string `json:"publishId"`
		HasDisplayableContent bool   `json:"hasDisplayableContent"`
		HasData               bool   `json:"hasData"`
	}{instanceID, publishID, w.displayable, w.hasData})
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString(`{"notification":`)
	b.Write(w.Notification)
	b.WriteString(`,"data":`)
	if w.hasData {
		b.Write(w.Data[:len(w.Data)-1]) // the object without its closing brace
		b.WriteString(`,"pusher":`)
	} else {
		b.WriteString(`{"pusher":`)
	}
	b.Write(meta)
	b.WriteString("}}")
	if b.Len() > webpush.MaxPlaintext {
		return nil, webpush.ErrTooLarge
	}
	return b.Bytes(), nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
