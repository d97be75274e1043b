package console

import (
	"errors"
	"strings"
	"time"
	"unicode/utf8"
)

// Type is what an Event reports.
type Type uint8

// The event types. Their names (String) are what the stream shows and what
// a filter names.
const (
	ConnectionOpened   Type = iota + 1 // a connection was admitted: SocketID, Remote
	ConnectionClosed                   // Code: the close code (1006 when the peer vanished without one)
	Subscribed                         // Channel, SocketID
	SubscriptionFailed                 // Channel, SocketID, Reason (the pusher:subscription_error type), Detail
	Unsubscribed                       // Channel, SocketID; Detail "disconnected" when the connection went
	APIMessage                         // Channel, Event, Bytes, Data (preview), SocketID (the excluded one)
	ClientEvent                        // Channel, Event, SocketID (sender), User, Bytes, Data (preview)
	MemberAdded                        // Channel, User
	MemberRemoved                      // Channel, User
	Webhook                            // Endpoint (URL host only), Status, Reason (outcome), Detail
	AuthFailed                         // Reason, Remote, SocketID, Channel or Endpoint, Detail
	numTypes
)

var typeNames = [numTypes]string{
	ConnectionOpened:   "connection_opened",
	ConnectionClosed:   "connection_closed",
	Subscribed:         "subscribed",
	SubscriptionFailed: "subscription_failed",
	Unsubscribed:       "unsubscribed",
	APIMessage:         "api_message",
	ClientEvent:        "client_event",
	MemberAdded:        "member_added",
	MemberRemoved:      "member_removed",
	Webhook:            "webhook",
	AuthFailed:         "auth_failed",
}

func (t Type) String() string {
	if t > 0 && t < numTypes {
		return typeNames[t]
	}
	return "unknown"
}

// MarshalText makes a Type its name in JSON.
func (t Type) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText reads a Type's name (an event forwarded by another node).
func (t *Type) UnmarshalText(b []byte) error {
	v, ok := ParseType(string(b))
	if !ok {
		return errors.New("console: unknown event type " + quoteShort(string(b)))
	}
	*t = v
	return nil
}

// ParseType is the Type named name.
func ParseType(name string) (Type, bool) {
	for t := Type(1); t < numTypes; t++ {
		if typeNames[t] == name {
			return t, true
		}
	}
	return 0, false
}

// Types is a set of event types; the zero value is every type.
type Types uint32

// TypesOf is the set of ts.
func TypesOf(ts ...Type) Types {
	var s Types
	for _, t := range ts {
		s |= 1 << t
	}
	return s
}

// Has reports whether t is in s (the zero set has every type).
func (s Types) Has(t Type) bool { return s == 0 || s&(1<<t) != 0 }

// ParseTypes reads a comma-separated list of type names ("" is every type).
func ParseTypes(list string) (Types, error) {
	var s Types
	for name := range strings.SplitSeq(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		t, ok := ParseType(name)
		if !ok {
			return 0, errors.New("unknown event type " + quoteShort(name))
		}
		s |= 1 << t
	}
	return s, nil
}

// Event is one thing that happened to an app, as a console viewer sees it.
// It is a plain value: call sites build it only when Feed.Watching says a
// viewer watches the app. Fields that do not apply to a Type are zero. It
// never holds a secret, a signature or more of a payload than a preview:
// Emit cuts Data to MaxPreview bytes and Detail to MaxDetail.
type Event struct {
	Time     time.Time `json:"time"` // set by Emit when zero
	Type     Type      `json:"type"`
	Channel  string    `json:"channel,omitempty"`
	SocketID string    `json:"socket_id,omitempty"`
	Event    string    `json:"event,omitempty"`   // the event name (api_message, client_event)
	User     string    `json:"user_id,omitempty"` // member events; client events on presence channels
	Code     int       `json:"code,omitempty"`    // connection_closed: the close code
	Status   int       `json:"status,omitempty"`  // webhook: the HTTP status (0: no response)
	Bytes    int       `json:"bytes,omitempty"`   // api_message, client_event: the data's full size
	Data     string    `json:"data,omitempty"`    // api_message, client_event: a preview of the data
	Remote   string    `json:"remote,omitempty"`  // the peer's address (connection_opened, auth_failed)
	Endpoint string    `json:"endpoint,omitempty"`
	Reason   string    `json:"reason,omitempty"`
	Detail   string    `json:"detail,omitempty"`
	// Node is the id of the cluster node where it happened (cluster mode
	// only: Config.Node).
	Node string `json:"node,omitempty"`
}

// Bounds of an event's free text, in bytes.
const (
	MaxPreview = 200 // Data: enough to recognise a payload, not to copy it
	MaxDetail  = 300
)

// cut returns s cut to at most n bytes, at a character boundary, with "…"
// when something was cut. The result never shares memory with s: an event
// kept in a viewer's buffer must not pin a 100 KiB frame.
func cut(s string, n int) string {
	if len(s) <= n {
		return strings.Clone(s)
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…" // the concatenation copies
}

// detached is e with every string copied (Data and Detail cut): the caller's
// strings may be views into large buffers.
func (e Event) detached() Event {
	e.Channel = strings.Clone(e.Channel)
	e.SocketID = strings.Clone(e.SocketID)
	e.Event = strings.Clone(e.Event)
	e.User = strings.Clone(e.User)
	e.Data = cut(e.Data, MaxPreview)
	e.Remote = strings.Clone(e.Remote)
	e.Endpoint = strings.Clone(e.Endpoint)
	e.Reason = strings.Clone(e.Reason)
	e.Detail = cut(e.Detail, MaxDetail)
	e.Node = strings.Clone(e.Node)
	return e
}

func quoteShort(s string) string {
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return `"` + strings.ToValidUTF8(s, "?") + `"`
}
