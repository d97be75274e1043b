package protocol

import "encoding/json"

// Frame is one decoded client frame.
type Frame struct {
	Event   string
	Channel string          // "" when absent
	Data    json.RawMessage // the raw JSON value as received; nil when the key is absent
}

// DecodeFrame decodes a client frame: a JSON object with a non-empty string
// "event", an optional "channel" that is a string or null, and any "data".
// Unknown keys are ignored; for a repeated key the last one wins, as with
// JSON.parse. Errors are *Error with Code 0. Data is a copy, so b may be
// reused by the caller (some WebSocket libraries recycle read buffers).
func DecodeFrame(b []byte) (Frame, error) {
	// json.Valid bounds nesting depth and does not recurse on the goroutine
	// stack, so hostile input cannot crash the reader.
	if !json.Valid(b) {
		return Frame{}, invalid("Invalid JSON")
	}
	it, ok := newObjectIter(b)
	if !ok {
		return Frame{}, invalid("Message must be a JSON object")
	}
	v := it.fields("event", "channel", "data")
	event, channel, data := v[0], v[1], v[2]

	var f Frame
	if event == nil || isNull(event) {
		return Frame{}, invalid("Missing event name")
	}
	if f.Event, ok = decodeString(event); !ok {
		return Frame{}, invalid("Event name must be a string")
	}
	if f.Event == "" {
		return Frame{}, invalid("Missing event name")
	}
	if channel != nil && !isNull(channel) {
		if f.Channel, ok = decodeString(channel); !ok {
			return Frame{}, invalid("Channel must be a string")
		}
	}
	if data != nil {
		f.Data = append(json.RawMessage(nil), data...)
	}
	return f, nil
}
