package webhooks

import (
	"bytes"
	"encoding/json"
	"strconv"

	"github.com/heraldhq/herald/internal/hub"
	"github.com/heraldhq/herald/internal/protocol"
)

// wireEvent is one element of "events", fields in the order Pusher's
// examples (and the signed vectors) use.
type wireEvent struct {
	Name              string  `json:"name"`
	Channel           string  `json:"channel"`
	Event             string  `json:"event,omitempty"`
	Data              *string `json:"data,omitempty"` // a string, even when it holds JSON
	SocketID          string  `json:"socket_id,omitempty"`
	UserID            string  `json:"user_id,omitempty"`
	SubscriptionCount *int    `json:"subscription_count,omitempty"`
}

// eventJSON encodes e once; the bytes are stored and later spliced into
// request bodies unchanged.
func eventJSON(e hub.Event) []byte {
	w := wireEvent{Name: string(e.Kind), Channel: e.Channel}
	switch e.Kind {
	case hub.MemberAdded, hub.MemberRemoved:
		w.UserID = e.UserID
	case hub.ClientEvent:
		w.Event, w.SocketID, w.UserID = e.Event, e.SocketID, e.UserID
		if e.HasData {
			w.Data = &e.Data
		}
	case hub.SubscriptionCount:
		n := e.SubscriptionCount
		w.SubscriptionCount = &n
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // what JavaScript's JSON.stringify produces; "<" stays "<"
	_ = enc.Encode(w)        // cannot fail: strings and ints only
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// sentAlone reports whether an event travels in a request of its own: one
// on a private-encrypted- channel without data (every kind but client
// events, which encrypted channels refuse anyway). The official Go and PHP
// SDKs' webhook helpers try to decrypt every event of such a channel and
// fail on one with nothing to decrypt; batched, it would take the request's
// other events down with it.
func sentAlone(channel string, hasData bool) bool {
	return !hasData && protocol.Classify(channel).Type == protocol.Encrypted
}

// eventSentAlone is sentAlone for an event as the hub reported it.
func eventSentAlone(e hub.Event) bool {
	return sentAlone(e.Channel, e.Kind == hub.ClientEvent && e.HasData)
}

// jsonSentAlone is sentAlone for a stored event (eventJSON's bytes): events
// reloaded after a restart keep the rule.
func jsonSentAlone(b []byte) bool {
	var w struct {
		Channel string           `json:"channel"`
		Data    *json.RawMessage `json:"data"`
	}
	if json.Unmarshal(b, &w) != nil {
		return false
	}
	return sentAlone(w.Channel, w.Data != nil)
}

// buildBody is {"time_ms":…,"events":[…]}: serialised once, signed and sent
// as these exact bytes on every attempt.
func buildBody(timeMS int64, events [][]byte) []byte {
	n := 32
	for _, e := range events {
		n += len(e) + 1
	}
	b := make([]byte, 0, n)
	b = append(b, `{"time_ms":`...)
	b = strconv.AppendInt(b, timeMS, 10)
	b = append(b, `,"events":[`...)
	for i, e := range events {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, e...)
	}
	return append(b, "]}"...)
}
