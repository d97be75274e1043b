package protocol

import (
	"bytes"
	"encoding/json"
)

// dataObject returns the object carried by the data of a pusher: event.
// pusher-js sends an object; Reverb-style clients send a JSON string holding
// the object, which is accepted too (channels-protocol §3.2).
func dataObject(data json.RawMessage) (objectIter, error) {
	if len(data) == 0 {
		return objectIter{}, invalid("Missing data")
	}
	if !json.Valid(data) {
		return objectIter{}, invalid("Invalid JSON in data")
	}
	v := bytes.TrimLeft(data, " \t\r\n")
	switch v[0] {
	case 'n':
		return objectIter{}, invalid("Missing data")
	case '"':
		s, _ := decodeString(bytes.TrimRight(v, " \t\r\n"))
		inner := []byte(s)
		if !json.Valid(inner) {
			return objectIter{}, invalid("Data must be a JSON object")
		}
		v = inner
	}
	it, ok := newObjectIter(v)
	if !ok {
		return objectIter{}, invalid("Data must be a JSON object")
	}
	return it, nil
}

// stringField decodes an optional string member: null counts as absent,
// any other non-string value is an error naming the field.
func stringField(raw []byte, name string) (s string, present bool, err error) {
	if raw == nil || isNull(raw) {
		return "", false, nil
	}
	s, ok := decodeString(raw)
	if !ok {
		return "", false, invalid(name + " must be a string")
	}
	return s, true, nil
}

// requiredString decodes a string member that must be present and non-empty.
func requiredString(raw []byte, name string) (string, error) {
	s, present, err := stringField(raw, name)
	if err != nil {
		return "", err
	}
	if !present || s == "" {
		return "", invalid("Missing " + name)
	}
	return s, nil
}

// SubscribeData is the data of pusher:subscribe.
type SubscribeData struct {
	Channel     string
	Auth        string  // "" when absent
	ChannelData *string // nil when absent; the EXACT string received (never re-serialised)
}

// ParseSubscribe decodes pusher:subscribe data given as an object or as a
// JSON string holding the object. channel_data is kept as the exact string
// received because presence signatures cover its bytes.
func ParseSubscribe(data json.RawMessage) (SubscribeData, error) {
	it, err := dataObject(data)
	if err != nil {
		return SubscribeData{}, err
	}
	v := it.fields("channel", "auth", "channel_data")
	var d SubscribeData
	if d.Channel, err = requiredString(v[0], "channel"); err != nil {
		return SubscribeData{}, err
	}
	if d.Auth, _, err = stringField(v[1], "auth"); err != nil {
		return SubscribeData{}, err
	}
	cd, present, err := stringField(v[2], "channel_data")
	if err != nil {
		return SubscribeData{}, err
	}
	if present {
		d.ChannelData = &cd
	}
	return d, nil
}

// ParseUnsubscribe returns the channel named by pusher:unsubscribe data.
func ParseUnsubscribe(data json.RawMessage) (channel string, err error) {
	it, err := dataObject(data)
	if err != nil {
		return "", err
	}
	return requiredString(it.fields("channel")[0], "channel")
}

// SigninData is the data of pusher:signin. UserData is the exact string
// received, which is what the signature covers.
type SigninData struct{ Auth, UserData string }

// ParseSignin decodes pusher:signin data; auth and user_data are required.
func ParseSignin(data json.RawMessage) (SigninData, error) {
	it, err := dataObject(data)
	if err != nil {
		return SigninData{}, err
	}
	v := it.fields("auth", "user_data")
	var d SigninData
	if d.Auth, err = requiredString(v[0], "auth"); err != nil {
		return SigninData{}, err
	}
	if d.UserData, err = requiredString(v[1], "user_data"); err != nil {
		return SigninData{}, err
	}
	return d, nil
}

// ClientEventData returns the data string to relay for a client event. A
// JSON string is forwarded as its decoded content unchanged; any other value
// is forwarded as its compact serialisation, because some Java client
// releases throw on object-valued data. Absent data stays absent (Echo's
// whisper without payload).
func ClientEventData(data json.RawMessage) (s string, present bool) {
	if len(data) == 0 {
		return "", false
	}
	v := bytes.Trim(data, " \t\r\n")
	if len(v) > 0 && v[0] == '"' {
		if s, ok := decodeString(v); ok {
			return s, true
		}
	}
	var buf bytes.Buffer
	buf.Grow(len(v))
	if err := json.Compact(&buf, v); err != nil {
		// Not reachable for data from DecodeFrame; keep the bytes rather
		// than drop the event.
		return string(v), true
	}
	return buf.String(), true
}
