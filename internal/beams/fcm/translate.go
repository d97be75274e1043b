package fcm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// MaxData is FCM's limit on a message's data, counted as the bytes of its
// keys and values, Beams' "pusher" entry included (spec 1.9, 4.5).
const MaxData = 4096

// MaxTTL is the longest time_to_live FCM keeps a message (4 weeks).
const MaxTTL = 2419200

// ErrTooLarge is returned by Translate for data over MaxData.
var ErrTooLarge = fmt.Errorf("fcm.data is over %d bytes (keys and values, Beams metadata included)", MaxData)

// Translate turns a publish's legacy `fcm` object into an FCM HTTP v1
// request body {"message":{...}} for the device token (spec 4.5's table),
// with Beams' metadata in data.pusher as a JSON string. With token ""
// the body has no token: it is translated once per publish and Sender.Send
// puts each device's token in.
//
// Every error describes the publisher's payload (for a 422): a field of the
// wrong type, a reserved data key, data over MaxData (ErrTooLarge).
// Notification fields outside the table are ignored.
func Translate(fcm json.RawMessage, token, instanceID, publishID string) ([]byte, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(fcm, &top); err != nil || top == nil {
		return nil, errors.New("fcm must be a JSON object")
	}
	m := v1Message{Token: token}
	var android v1Android
	displayable := false

	if raw := top["notification"]; !isNull(raw) {
		var n map[string]json.RawMessage
		if json.Unmarshal(raw, &n) != nil {
			return nil, errors.New("fcm.notification must be an object")
		}
		var vn v1Notification
		var an v1AndroidNotification
		var err error
		for _, f := range []struct {
			name string
			to   *string
		}{
			{"image", &vn.Image}, {"icon", &an.Icon}, {"sound", &an.Sound}, {"tag", &an.Tag},
			{"color", &an.Color}, {"click_action", &an.ClickAction}, {"body_loc_key", &an.BodyLocKey},
			{"title_loc_key", &an.TitleLocKey}, {"android_channel_id", &an.ChannelID},
		} {
			if *f.to, _, err = optString(n[f.name], "notification."+f.name); err != nil {
				return nil, err
			}
		}
		for _, f := range []struct {
			name string
			to   **string
		}{{"title", &vn.Title}, {"body", &vn.Body}} {
			s, ok, err := optString(n[f.name], "notification."+f.name)
			if err != nil {
				return nil, err
			}
			if ok {
				*f.to = &s
				displayable = displayable || s != ""
			}
		}
		if an.BodyLocArgs, err = locArgs(n["body_loc_args"], "notification.body_loc_args"); err != nil {
			return nil, err
		}
		if an.TitleLocArgs, err = locArgs(n["title_loc_args"], "notification.title_loc_args"); err != nil {
			return nil, err
		}
		if vn != (v1Notification{}) {
			m.Notification = &vn
		}
		if !an.empty() {
			android.Notification = &an
		}
	}

	data, err := parseData(top["data"])
	if err != nil {
		return nil, err
	}
	meta, err := marshal(struct {
		InstanceID            string `json:"instanceId"`
		PublishID             string `json:"publishId"`
		HasDisplayableContent bool   `json:"hasDisplayableContent"`
		HasData               bool   `json:"hasData"`
	}{instanceID, publishID, displayable, len(data) > 0})
	if err != nil {
		return nil, err
	}
	m.Data = append(data, entry{"pusher", string(meta)})
	size := 0
	for _, e := range m.Data {
		size += len(e.key) + len(e.value)
	}
	if size > MaxData {
		return nil, ErrTooLarge
	}

	if raw := top["time_to_live"]; !isNull(raw) {
		var n json.Number
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if bytes.HasPrefix(bytes.TrimSpace(raw), []byte(`"`)) || dec.Decode(&n) != nil { // a json.Number would take "60"
			return nil, fmt.Errorf("fcm.time_to_live must be a whole number of seconds from 0 to %d", MaxTTL)
		}
		s, err := n.Int64()
		if err != nil || s < 0 || s > MaxTTL {
			return nil, fmt.Errorf("fcm.time_to_live must be a whole number of seconds from 0 to %d", MaxTTL)
		}
		android.TTL = fmt.Sprintf("%ds", s)
	}
	if android.CollapseKey, _, err = optString(top["collapse_key"], "collapse_key"); err != nil {
		return nil, err
	}
	p, _, err := optString(top["priority"], "priority")
	if err != nil {
		return nil, err
	}
	switch p {
	case "":
	case "normal", "high":
		android.Priority = strings.ToUpper(p)
	default:
		return nil, errors.New(`fcm.priority must be "normal" or "high"`)
	}
	if android != (v1Android{}) {
		m.Android = &android
	}
	return marshal(v1Body{Message: m})
}

// The v1 message, in the field order FCM documents (and the vector has).
type v1Body struct {
	Message v1Message `json:"message"`
}

type v1Message struct {
	Token        string          `json:"token,omitempty"`
	Notification *v1Notification `json:"notification,omitempty"`
	Data         entries         `json:"data,omitempty"`
	Android      *v1Android      `json:"android,omitempty"`
}

type v1Notification struct {
	Title *string `json:"title,omitempty"` // pointers: an empty title given is kept
	Body  *string `json:"body,omitempty"`
	Image string  `json:"image,omitempty"`
}

type v1Android struct {
	Priority     string                 `json:"priority,omitempty"`
	TTL          string                 `json:"ttl,omitempty"`
	CollapseKey  string                 `json:"collapse_key,omitempty"`
	Notification *v1AndroidNotification `json:"notification,omitempty"`
}

type v1AndroidNotification struct {
	Icon         string   `json:"icon,omitempty"`
	Sound        string   `json:"sound,omitempty"`
	Tag          string   `json:"tag,omitempty"`
	Color        string   `json:"color,omitempty"`
	ClickAction  string   `json:"click_action,omitempty"`
	BodyLocKey   string   `json:"body_loc_key,omitempty"`
	BodyLocArgs  []string `json:"body_loc_args,omitempty"`
	TitleLocKey  string   `json:"title_loc_key,omitempty"`
	TitleLocArgs []string `json:"title_loc_args,omitempty"`
	ChannelID    string   `json:"channel_id,omitempty"`
}

func (n *v1AndroidNotification) empty() bool {
	return n.Icon == "" && n.Sound == "" && n.Tag == "" && n.Color == "" && n.ClickAction == "" &&
		n.BodyLocKey == "" && len(n.BodyLocArgs) == 0 && n.TitleLocKey == "" && len(n.TitleLocArgs) == 0 && n.ChannelID == ""
}

// entries is message.data in the publisher's key order, "pusher" last.
type entries []entry

type entry struct{ key, value string }

func (es entries) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, e := range es {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := marshal(e.key) // strings always encode
		v, _ := marshal(e.value)
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// parseData reads the publisher's data object in its key order; values
// that are not strings become their compact JSON text (FCM takes strings only).
func parseData(raw json.RawMessage) (entries, error) {
	if isNull(raw) {
		return nil, nil
	}
	notObject := errors.New("fcm.data must be an object")
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, notObject
	}
	var out entries
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, notObject
		}
		k, _ := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, notObject
		}
		if err := checkDataKey(k); err != nil {
			return nil, err
		}
		if seen[k] {
			return nil, fmt.Errorf("fcm.data has the key %q twice", truncate(k, 100))
		}
		seen[k] = true
		var s string
		if v[0] == '"' {
			if err := json.Unmarshal(v, &s); err != nil {
				return nil, notObject
			}
		} else {
			var c bytes.Buffer
			if err := json.Compact(&c, v); err != nil {
				return nil, notObject
			}
			s = c.String()
		}
		out = append(out, entry{k, s})
	}
	if _, err := dec.Token(); err != nil {
		return nil, notObject
	}
	return out, nil
}

// checkDataKey refuses Beams' own key and the words FCM reserves.
func checkDataKey(k string) error {
	switch {
	case k == "pusher":
		return errors.New(`fcm.data must not contain the key "pusher": it is reserved for Beams`)
	case k == "from" || k == "message_type" || strings.HasPrefix(k, "google") || strings.HasPrefix(k, "gcm"):
		return fmt.Errorf(`fcm.data must not contain the key %q: FCM reserves "from", "message_type" and keys starting with "google" or "gcm"`, truncate(k, 100))
	}
	return nil
}

// optString reads a string field; null or absent is ("", false).
func optString(raw json.RawMessage, name string) (string, bool, error) {
	if isNull(raw) {
		return "", false, nil
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false, fmt.Errorf("fcm.%s must be a string", name)
	}
	return s, true, nil
}

// locArgs reads localisation arguments: a list, or (legacy HTTP) a string
// holding a JSON list. Items that are not strings become their JSON text.
func locArgs(raw json.RawMessage, name string) ([]string, error) {
	if isNull(raw) {
		return nil, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		raw = json.RawMessage(s)
	}
	var items []json.RawMessage
	if json.Unmarshal(raw, &items) != nil {
		return nil, fmt.Errorf("fcm.%s must be a list of strings", name)
	}
	out := make([]string, len(items))
	for i, it := range items {
		if json.Unmarshal(it, &out[i]) != nil {
			var c bytes.Buffer
			_ = json.Compact(&c, it)
			out[i] = c.String()
		}
	}
	return out, nil
}

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
}

// marshal is json.Marshal without HTML escaping (<, >, & stay as they
// are, as JavaScript's JSON.stringify leaves them).
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
