package pusher

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// Limits enforced before sending, the same the official SDKs and the
// server apply (http-api.md §11).
const (
	MaxChannelsPerEvent = 100
	MaxBatchEvents      = 10
	MaxNameLen          = 200   // channel names, event names, user ids
	MaxDataBytes        = 10240 // event data after encoding (and encryption)
)

func checkChannel(field, ch string) error {
	if ch == "" {
		return invalid(field, "channel name is empty")
	}
	if len(ch) > MaxNameLen {
		return invalid(field, "channel name is longer than "+strconv.Itoa(MaxNameLen)+" bytes")
	}
	if !validChannelName(ch, MaxNameLen) {
		return invalid(field, fmt.Sprintf("channel name %q has characters outside [-a-zA-Z0-9_=@,.;]", ch))
	}
	return nil
}

func checkEvent(field, name string) error { return checkName(field, "event name", name) }

func checkUserID(field, id string) error { return checkName(field, "user id", id) }

// checkName applies the one rule event names and user ids share: 1 to
// MaxNameLen bytes, any characters.
func checkName(field, what, s string) error {
	if s == "" {
		return invalid(field, what+" is empty")
	}
	if len(s) > MaxNameLen {
		return invalid(field, what+" is longer than "+strconv.Itoa(MaxNameLen)+" bytes")
	}
	return nil
}

// checkSocketID accepts "" when the socket id is optional.
func checkSocketID(field, id string, optional bool) error {
	if id == "" && optional {
		return nil
	}
	if !validSocketID(id) {
		return invalid(field, fmt.Sprintf("socket id %q does not match ^\\d+\\.\\d+$", id))
	}
	return nil
}

func checkDataSize(field string, data string) error {
	if len(data) > MaxDataBytes {
		return invalid(field, fmt.Sprintf("data is %d bytes, more than %d", len(data), MaxDataBytes))
	}
	return nil
}

// encodeData turns an event payload into the bytes sent: string, []byte and
// json.RawMessage as they are, anything else as compact JSON (without
// HTML escaping, like JSON.stringify).
func encodeData(field string, v any) ([]byte, error) {
	switch d := v.(type) {
	case string:
		return []byte(d), nil
	case []byte:
		return d, nil
	case json.RawMessage:
		return d, nil
	}
	b, err := marshal(v)
	if err != nil {
		return nil, &ValidationError{Field: field, Reason: "cannot encode data as JSON", Err: err}
	}
	return b, nil
}

// marshal is json.Marshal without HTML escaping, so payloads and signed
// strings match what the Node SDK produces for the same values.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
