package apns

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Limits of an APNs notification (spec beams.md 4.4).
const (
	MaxBody       = 4096 // bytes of a body (alert and background pushes)
	MaxBodyVoIP   = 5120 // bytes of a voip push's body
	MaxCollapseID = 64   // bytes of apns-collapse-id
)

// Push types: the apns-push-type header.
const (
	PushAlert      = "alert"
	PushBackground = "background"
)

// ErrTooLarge: the body would exceed what APNs takes (MaxBody).
var ErrTooLarge = errors.New("apns: notification too large")

// Headers are the per-notification APNs request headers.
type Headers struct {
	// PushType is apns-push-type; "" means "alert".
	PushType string
	// Priority is apns-priority (10, 5 or 1); 0: the header is not sent
	// (APNs then uses 10).
	Priority int
	// Expiration is apns-expiration in epoch seconds; 0: deliver once,
	// never stored (the header is always sent).
	Expiration int64
	// CollapseID is apns-collapse-id; "": not sent.
	CollapseID string
	// ID is apns-id (a UUID); "": not sent, APNs assigns one.
	ID string
}

// Build turns a publish's apns payload (a JSON object) into the body and
// headers of the notification for one device. The body is the payload
// without the header-like keys collapse_id, expiration and priority, in the
// publisher's key order, with data.pusher = {"publishId","instanceId"}
// added to data (created when absent) — what the iOS SDK reads. Every
// error describes what is wrong with the payload (the publisher's fault);
// an oversize body is ErrTooLarge.
func Build(apns json.RawMessage, instanceID, publishID string) (body []byte, h Headers, err error) {
	fields, err := objectFields(apns, "apns")
	if err != nil {
		return nil, h, err
	}
	pusher, err := json.Marshal(struct {
		PublishID  string `json:"publishId"`
		InstanceID string `json:"instanceId"`
	}{publishID, instanceID})
	if err != nil {
		return nil, h, err
	}
	h.PushType = PushAlert
	var b bytes.Buffer
	b.WriteByte('{')
	hasData := false
	var priority *int
	for _, f := range fields {
		switch f.key {
		case "collapse_id":
			var s string
			if json.Unmarshal(f.value, &s) != nil {
				return nil, h, errors.New("apns.collapse_id must be a string")
			}
			if len(s) > MaxCollapseID {
				return nil, h, fmt.Errorf("apns.collapse_id must be at most %d bytes (it has %d)", MaxCollapseID, len(s))
			}
			h.CollapseID = s
			continue
		case "expiration":
			n, ok := wholeNumber(f.value)
			if !ok || n < 0 {
				return nil, h, errors.New("apns.expiration must be a whole number of epoch seconds (0: deliver once, never store)")
			}
			h.Expiration = n
			continue
		case "priority":
			n, ok := wholeNumber(f.value)
			if !ok || (n != 10 && n != 5 && n != 1) {
				return nil, h, errors.New("apns.priority must be 10, 5 or 1")
			}
			p := int(n)
			priority = &p
			continue
		case "aps":
			if f.value[0] != '{' {
				return nil, h, errors.New("apns.aps must be an object")
			}
			aps, err := objectFields(f.value, "apns.aps")
			if err != nil {
				return nil, h, err
			}
			if background(aps) {
				h.PushType = PushBackground
			}
		}
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		b.Write(f.rawKey)
		b.WriteByte(':')
		if f.key != "data" {
			b.Write(f.value)
			continue
		}
		hasData = true
		if err := writeData(&b, f.value, pusher); err != nil {
			return nil, h, err
		}
	}
	if !hasData {
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		b.WriteString(`"data":{"pusher":`)
		b.Write(pusher)
		b.WriteByte('}')
	}
	b.WriteByte('}')

	switch {
	case priority == nil && h.PushType == PushBackground:
		h.Priority = 5
	case priority == nil:
		h.Priority = 10
	case *priority == 10 && h.PushType == PushBackground:
		return nil, h, errors.New("apns.priority must be 5 or 1 for a background notification (aps with only content-available)")
	default:
		h.Priority = *priority
	}
	if b.Len() > MaxBody {
		return nil, h, fmt.Errorf("%w: %d bytes with Beams' data.pusher, at most %d", ErrTooLarge, b.Len(), MaxBody)
	}
	return b.Bytes(), h, nil
}

// background reports whether aps asks only for a background update:
// content-available (1) without alert, badge or sound.
func background(aps []field) bool {
	ca := false
	for _, f := range aps {
		switch f.key {
		case "content-available":
			ca = string(f.value) == "1"
		case "alert", "badge", "sound":
			return false
		}
	}
	return ca
}

// writeData writes the publisher's data object with "pusher" appended.
func writeData(b *bytes.Buffer, data, pusher []byte) error {
	if data[0] != '{' {
		return errors.New("apns.data must be an object")
	}
	fields, err := objectFields(data, "apns.data")
	if err != nil {
		return err
	}
	b.WriteByte('{')
	for _, f := range fields {
		if f.key == "pusher" {
			return errors.New(`apns.data must not contain the key "pusher": it is reserved for Beams`)
		}
		b.Write(f.rawKey)
		b.WriteByte(':')
		b.Write(f.value)
		b.WriteByte(',')
	}
	b.WriteString(`"pusher":`)
	b.Write(pusher)
	b.WriteByte('}')
	return nil
}

// field is one member of a JSON object: its key (decoded, and encoded
// again) and its value, compact.
type field struct {
	key    string
	rawKey []byte
	value  json.RawMessage
}

// objectFields reads a JSON object's members in order; a duplicate key is
// an error (receivers would disagree on which one counts).
func objectFields(raw []byte, name string) ([]field, error) {
	notObject := fmt.Errorf("%s must be a JSON object", name)
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, notObject
	}
	var fields []field
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, notObject
		}
		key := t.(string) // inside an object, Token returns keys as strings
		if seen[key] {
			return nil, fmt.Errorf("%s has the key %q twice", name, key)
		}
		seen[key] = true
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, notObject
		}
		var c bytes.Buffer
		if err := json.Compact(&c, v); err != nil {
			return nil, notObject
		}
		fields = append(fields, field{key: key, rawKey: encodeKey(key), value: c.Bytes()})
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return nil, notObject
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, notObject
	}
	return fields, nil
}

func encodeKey(k string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(k) // a string always encodes
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

func wholeNumber(raw json.RawMessage) (int64, bool) {
	n, err := strconv.ParseInt(string(raw), 10, 64)
	return n, err == nil
}
