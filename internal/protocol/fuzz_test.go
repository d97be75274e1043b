package protocol

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"unicode/utf8"
)

// seedFrames are the frames pusher-js was recorded sending (when the
// vectors are present) plus malformed inputs that have crashed other servers.
func seedFrames(f *testing.F) [][]byte {
	f.Helper()
	seeds := [][]byte{
		[]byte(`{"event":"pusher:subscribe"}`),
		[]byte(`{"event":"pusher:subscribe","data":null}`),
		[]byte(`{"event":"pusher:subscribe","data":"{\"channel\":\"a\",\"channel_data\":\"{}\"}"}`),
		[]byte(`{"event":"client-x","channel":null,"data":[1,"2",{"3":null}]}`),
		[]byte(`{"ev\u0065nt":"e","EVENT":1,"event":"f"}`),
		[]byte(`{"event":1}`), []byte(`[]`), []byte(`"x"`), []byte(`null`), []byte(`{`), []byte(``),
		[]byte("{\"event\":\"\xff\"}"),
		[]byte(strings.Repeat("[", 20000)),
		[]byte(`{"event":"e","data":` + strings.Repeat(`{"a":`, 200) + `1` + strings.Repeat(`}`, 200) + `}`),
	}
	if b, err := os.ReadFile(vectorsPath); err == nil {
		var v struct {
			PusherJS pusherJSVectors `json:"pusher_js"`
		}
		if err := json.Unmarshal(b, &v); err != nil {
			f.Fatal(err)
		}
		for _, fr := range v.PusherJS.ClientToServer {
			if fr.Frame != nil {
				seeds = append(seeds, []byte(*fr.Frame))
			}
		}
	}
	return seeds
}

func FuzzDecodeFrame(f *testing.F) {
	for _, s := range seedFrames(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := DecodeFrame(b)
		if err == nil && got.Event == "" {
			t.Fatal("decoded a frame without an event")
		}
		if err == nil && got.Data != nil && !json.Valid(got.Data) {
			t.Fatalf("Data %q is not valid JSON", got.Data)
		}

		// Differential check against encoding/json's (case-sensitive) map
		// decoding, which has the same last-key-wins rule.
		var m map[string]json.RawMessage
		want, wantOK := Frame{}, json.Unmarshal(b, &m) == nil && m != nil
		if wantOK {
			wantOK = json.Unmarshal(m["event"], &want.Event) == nil && want.Event != "" && m["event"][0] == '"'
		}
		if ch, ok := m["channel"]; wantOK && ok && string(ch) != "null" {
			wantOK = ch[0] == '"' && json.Unmarshal(ch, &want.Channel) == nil
		}
		if (err == nil) != wantOK {
			t.Fatalf("DecodeFrame(%q) err = %v, encoding/json says ok=%v", b, err, wantOK)
		}
		if err != nil {
			return
		}
		if got.Event != want.Event || got.Channel != want.Channel || !bytes.Equal(got.Data, m["data"]) {
			t.Fatalf("DecodeFrame(%q) = %+v, want %+v with data %q", b, got, want, m["data"])
		}
	})
}

func FuzzParseSubscribe(f *testing.F) {
	for _, s := range seedFrames(f) {
		if fr, err := DecodeFrame(s); err == nil && fr.Data != nil {
			f.Add([]byte(fr.Data))
		}
		f.Add(s)
	}
	f.Add([]byte(`"{\"channel\":\"x\"}"`))
	f.Add([]byte(`{"channel":"presence-x","channel_data":"{\"user_id\":1}","auth":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := ParseSubscribe(data)
		if err != nil {
			return
		}
		if d.Channel == "" {
			t.Fatal("parsed a subscribe without a channel")
		}
		// Whatever was accepted survives a re-encode unchanged (for valid
		// UTF-8; invalid bytes were already replaced on the way in).
		obj := map[string]any{"channel": d.Channel, "auth": d.Auth}
		if d.ChannelData != nil {
			obj["channel_data"] = *d.ChannelData
		}
		b, _ := json.Marshal(obj)
		again, err := ParseSubscribe(b)
		if err != nil || again.Channel != d.Channel || again.Auth != d.Auth || (again.ChannelData == nil) != (d.ChannelData == nil) ||
			(d.ChannelData != nil && *again.ChannelData != *d.ChannelData) {
			t.Fatalf("re-encoded %s parsed as %+v, %v; first %+v", b, again, err, d)
		}
		if d.ChannelData != nil {
			if m, err := ParseChannelData(*d.ChannelData); err == nil && m.UserID == "" {
				t.Fatal("member without user id")
			}
		}
	})
}

func FuzzParseChannelData(f *testing.F) {
	for _, s := range []string{`{"user_id":"10","user_info":{"name":"Ten"}}`, `{"user_id":10}`, `{"user_id":1e1}`,
		`{"user_id":-0.0}`, `{"user_id":1.5}`, `{"user_id":"","user_info":null}`, `[]`, ``} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseChannelData(s)
		if err != nil {
			return
		}
		if m.UserID == "" || (m.UserInfo != nil && !json.Valid(m.UserInfo)) {
			t.Fatalf("ParseChannelData(%q) = %+v", s, m)
		}
	})
}

func FuzzEncodeEvent(f *testing.F) {
	for _, s := range awkward {
		f.Add(s, "my-channel", s)
	}
	f.Fuzz(func(t *testing.T, event, channel, data string) {
		b := EncodeEvent(event, channel, data)
		if !utf8.Valid(b) {
			t.Fatalf("invalid UTF-8 frame %q", b)
		}
		var m map[string]string
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("frame %q: %v", b, err)
		}
		// encoding/json's own round trip is the reference for how invalid
		// UTF-8 degrades.
		ref := func(s string) string {
			q, _ := json.Marshal(s)
			var back string
			_ = json.Unmarshal(q, &back)
			return back
		}
		if m["event"] != ref(event) || m["data"] != ref(data) || m["channel"] != ref(channel) {
			t.Fatalf("round trip of %q/%q/%q = %q", event, channel, data, m)
		}
		if _, has := m["channel"]; has != (channel != "") {
			t.Fatalf("channel key present=%v for %q", has, channel)
		}
	})
}
