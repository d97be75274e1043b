package webhooks

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/hub"
)

// FuzzRecordRoundTrip: whatever stored bytes decode (a record is read back
// from bbolt after a restart) encode again to bytes that decode to the same
// record. FuzzDecodeRecords only checks that decoding does not panic.
func FuzzRecordRoundTrip(f *testing.F) {
	ep := endpointID{App: "app-1", Index: 3, URL: "https://example.test/h?x=<y>"}
	f.Add(eventRecord{ep: ep, timeMS: t0, json: []byte(`{"name":"client_event","data":"\u003c"}`)}.encode())
	f.Add(eventRecord{ep: endpointID{}, timeMS: -1}.encode())
	f.Add((&batch{seq: 9, ep: ep, body: []byte(`{"time_ms":1,"events":[]}`), count: 2, attempts: 4,
		first: time.UnixMilli(t0), next: time.UnixMilli(t0 + 1500), lastErr: "HTTP 500"}).encode())
	f.Add(leaveRecord{due: time.UnixMilli(t0 + 3000), ev: hub.Event{Kind: hub.MemberRemoved, AppID: "a", Channel: "presence-x", UserID: "u", TimeMS: t0}}.encode())
	f.Add(leaveRecord{due: time.UnixMilli(0), ev: hub.Event{Kind: hub.ChannelVacated, AppID: "a", Channel: "c"}}.encode())
	f.Add([]byte{recordVersion, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, err := decodeEvent(b); err == nil {
			again, err := decodeEvent(r.encode())
			if err != nil || !reflect.DeepEqual(again, r) {
				t.Fatalf("event %+v re-decoded as %+v, %v", r, again, err)
			}
		}
		if r, err := decodeBatch(7, b); err == nil {
			again, err := decodeBatch(7, r.encode())
			if err != nil || !reflect.DeepEqual(again, r) {
				t.Fatalf("batch %+v re-decoded as %+v, %v", r, again, err)
			}
		}
		if r, err := decodeLeave(b); err == nil {
			if k := r.ev.Kind; k != hub.ChannelVacated && k != hub.MemberRemoved {
				t.Fatalf("leave of kind %q accepted", k)
			}
			again, err := decodeLeave(r.encode())
			if err != nil || !reflect.DeepEqual(again, r) {
				t.Fatalf("leave %+v re-decoded as %+v, %v", r, again, err)
			}
		}
	})
}

// FuzzRecordEncode: every record the dispatcher can build survives the
// store unchanged, whatever its strings and numbers hold.
func FuzzRecordEncode(f *testing.F) {
	f.Add("app-1", 3, "https://example.test/h", int64(t0), []byte(`{"name":"channel_occupied","channel":"c"}`), 2, 1, int64(t0), int64(t0+1000), "HTTP 500", "presence-x", "u", true)
	f.Add("", -1, "", int64(-1<<63), []byte(nil), -5, 1<<62, int64(1<<62), int64(-1<<62), "", "", "", false)
	f.Fuzz(func(t *testing.T, app string, index int, url string, timeMS int64, body []byte, count, attempts int,
		first, next int64, lastErr, channel, userID string, member bool) {
		ep := endpointID{App: app, Index: index, URL: url}
		var wantJSON []byte
		if len(body) > 0 {
			wantJSON = body
		}
		ev := eventRecord{ep: ep, timeMS: timeMS, json: body}
		if got, err := decodeEvent(ev.encode()); err != nil || !reflect.DeepEqual(got, eventRecord{ep: ep, timeMS: timeMS, json: wantJSON}) {
			t.Fatalf("event %+v came back as %+v, %v", ev, got, err)
		}

		b := &batch{seq: 5, ep: ep, body: wantJSON, count: count, attempts: attempts,
			first: time.UnixMilli(first), next: time.UnixMilli(next), lastErr: lastErr}
		if got, err := decodeBatch(5, b.encode()); err != nil || !reflect.DeepEqual(got, b) {
			t.Fatalf("batch %+v came back as %+v, %v", b, got, err)
		}

		kind := hub.ChannelVacated
		if member {
			kind = hub.MemberRemoved
		}
		lv := leaveRecord{due: time.UnixMilli(first), ev: hub.Event{Kind: kind, AppID: app, Channel: channel, UserID: userID, TimeMS: timeMS}}
		if got, err := decodeLeave(lv.encode()); err != nil || !reflect.DeepEqual(got, lv) {
			t.Fatalf("leave %+v came back as %+v, %v", lv, got, err)
		}
	})
}

// FuzzWebhookBody: the body the dispatcher signs is valid JSON whose events
// carry, for each kind, the fields a receiver reads (the Go SDK's and
// pusher-http-node's view), with nothing a receiver would not expect.
func FuzzWebhookBody(f *testing.F) {
	f.Add(uint8(0), "my-channel", "", "", "", false, "", 0, int64(t0))
	f.Add(uint8(2), "presence-room", "10", "", "", false, "", 0, int64(t0))
	f.Add(uint8(4), "private-chat", "10", "client-typing", `{"typing":true}`, true, "123.456", 0, int64(t0))
	f.Add(uint8(4), "private-chat", "", "client-x", "", false, "1.1", 0, int64(0))
	f.Add(uint8(6), "room", "", "", "", false, "", -3, int64(-1))
	f.Add(uint8(4), "private-\u2028<&>", "\xff", "client-\x00", "\"\\\xc3", true, "", 0, int64(1)<<62)
	kinds := []hub.EventKind{hub.ChannelOccupied, hub.ChannelVacated, hub.MemberAdded, hub.MemberRemoved,
		hub.ClientEvent, hub.CacheMiss, hub.SubscriptionCount}
	f.Fuzz(func(t *testing.T, k uint8, channel, userID, event, data string, hasData bool, socketID string, count int, timeMS int64) {
		e := hub.Event{Kind: kinds[int(k)%len(kinds)], Channel: channel, UserID: userID, Event: event,
			Data: data, HasData: hasData, SocketID: socketID, SubscriptionCount: count}
		one := eventJSON(e)
		body := buildBody(timeMS, [][]byte{one, one})
		var got struct {
			TimeMS *int64                       `json:"time_ms"`
			Events []map[string]json.RawMessage `json:"events"`
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&got); err != nil || got.TimeMS == nil || *got.TimeMS != timeMS || len(got.Events) != 2 {
			t.Fatalf("body %q: %v", body, err)
		}
		m := got.Events[0]
		str := func(key string) (string, bool) {
			raw, ok := m[key]
			if !ok {
				return "", false
			}
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				t.Fatalf("%s = %s in %q is not a string", key, raw, one)
			}
			return s, true
		}
		want := map[string]string{"name": string(e.Kind), "channel": jsonRoundTrip(channel)}
		switch e.Kind {
		case hub.MemberAdded, hub.MemberRemoved:
			if userID != "" {
				want["user_id"] = jsonRoundTrip(userID)
			}
		case hub.ClientEvent:
			for key, v := range map[string]string{"event": event, "socket_id": socketID, "user_id": userID} {
				if v != "" {
					want[key] = jsonRoundTrip(v)
				}
			}
			if hasData {
				want["data"] = jsonRoundTrip(data)
			}
		case hub.SubscriptionCount:
			var n int
			if err := json.Unmarshal(m["subscription_count"], &n); err != nil || n != count {
				t.Fatalf("subscription_count %s, want %d", m["subscription_count"], count)
			}
		}
		for key := range m {
			if _, ok := want[key]; !ok && key != "subscription_count" {
				t.Fatalf("unexpected key %q in %s event %q", key, e.Kind, one)
			}
		}
		for key, v := range want {
			if s, ok := str(key); !ok || s != v {
				t.Fatalf("%s = %q (present %v), want %q in %q", key, s, ok, v, one)
			}
		}
	})
}

// jsonRoundTrip is what a JSON receiver reads back for s: invalid UTF-8
// becomes U+FFFD.
func jsonRoundTrip(s string) string {
	q, _ := json.Marshal(s)
	var back string
	_ = json.Unmarshal(q, &back)
	return back
}
