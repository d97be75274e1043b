package protocol

import (
	"bytes"
	"encoding/json"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// Fuzz targets for the data carried by client frames: unsubscribe, sign-in,
// the user_data a sign-in carries, client-event payloads and the name rules
// every channel and socket id passes. The frame envelope, subscribe data and
// channel_data have their own targets in fuzz_test.go.

// addDataSeeds adds every frame seed and its data value, so each target
// starts from what pusher-js really sends.
func addDataSeeds(f *testing.F, extra ...string) {
	f.Helper()
	for _, s := range seedFrames(f) {
		f.Add(s)
		if fr, err := DecodeFrame(s); err == nil && fr.Data != nil {
			f.Add([]byte(fr.Data))
		}
	}
	for _, s := range extra {
		f.Add([]byte(s))
	}
}

func FuzzParseUnsubscribe(f *testing.F) {
	addDataSeeds(f, `{"channel":"my-channel"}`, quote(`{"channel":"my-channel"}`), `{"channel":1}`,
		`{"channel":"a","channel":"b"}`, `{"chann\u0065l":"esc"}`, `{}`, `[]`)
	f.Fuzz(func(t *testing.T, data []byte) {
		ch, err := ParseUnsubscribe(data)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error %T is not *Error", err)
			}
			// Whatever unsubscribe refuses, subscribe refuses too: both
			// read the same channel member.
			if _, serr := ParseSubscribe(data); serr == nil {
				t.Fatalf("ParseSubscribe accepts %q, ParseUnsubscribe says %v", data, err)
			}
			return
		}
		if ch == "" || !utf8.ValidString(ch) {
			t.Fatalf("ParseUnsubscribe(%q) = %q", data, ch)
		}
		if d, serr := ParseSubscribe(data); serr == nil && d.Channel != ch {
			t.Fatalf("subscribe reads channel %q, unsubscribe %q", d.Channel, ch)
		}
		again, err := ParseUnsubscribe(json.RawMessage(`{"channel":` + quote(ch) + `}`))
		if err != nil || again != ch {
			t.Fatalf("re-encoded channel %q parsed as %q, %v", ch, again, err)
		}
	})
}

func FuzzParseSignin(f *testing.F) {
	const ud = `{"id":"12345","user_info":{"name":"Ann"},"watchlist":["1","2"]}`
	addDataSeeds(f, `{"auth":"app-key:abc","user_data":`+quote(ud)+`}`,
		quote(`{"user_data":`+quote(ud)+`,"auth":"k:s"}`),
		`{"auth":"k:s","user_data":{"id":"1"}}`, `{"auth":"","user_data":"{}"}`, `{"auth":null,"user_data":null}`)
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := ParseSignin(data)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error %T is not *Error", err)
			}
			return
		}
		if d.Auth == "" || d.UserData == "" {
			t.Fatalf("ParseSignin(%q) = %+v", data, d)
		}
		b, _ := json.Marshal(map[string]string{"auth": d.Auth, "user_data": d.UserData})
		again, err := ParseSignin(b)
		if err != nil || again != d {
			t.Fatalf("re-encoded %s parsed as %+v, %v; first %+v", b, again, err, d)
		}
	})
}

func FuzzParseUserData(f *testing.F) {
	for _, s := range []string{
		`{"id":"12345"}`,
		`{"id":"12345","user_info":{"name":"Mr. Channels"},"watchlist":["1","2","3"]}`,
		`{"id":"a\"b\u00e9","user_info":null,"watchlist":null}`,
		`{"id":"u","watchlist":[]}`, `{"id":"u","watchlist":[1]}`, `{"id":"u","watchlist":"1"}`,
		`{"id":"u","user_info":[1]}`, `{"id":"u","user_info":"x"}`, `{"id":1}`, `{"id":""}`,
		`{ "id" : "u" , "user_info" : { "a" : [ 1 , 2 ] } }`, `{"id":"u","id":"v"}`,
		"{\"id\":\"\xff\"}", `[]`, ``, `{`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseUserData(s)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error %T is not *Error", err)
			}
			return
		}
		if u.ID == "" || !utf8.ValidString(u.ID) {
			t.Fatalf("ParseUserData(%q): id %q", s, u.ID)
		}
		if u.UserInfo != nil {
			if !json.Valid(u.UserInfo) || u.UserInfo[0] != '{' || len(u.UserInfo) > len(s) {
				t.Fatalf("ParseUserData(%q): user_info %q", s, u.UserInfo)
			}
		}
		// The parsed form re-encodes to user_data that parses the same:
		// presence info and watchlists survive a node-to-node hop.
		var b strings.Builder
		b.WriteString(`{"id":` + quote(u.ID))
		if u.UserInfo != nil {
			b.WriteString(`,"user_info":` + string(u.UserInfo))
		}
		if u.Watchlist != nil {
			w, _ := json.Marshal(u.Watchlist)
			b.WriteString(`,"watchlist":` + string(w))
		}
		b.WriteString("}")
		again, err := ParseUserData(b.String())
		if err != nil || again.ID != u.ID || !bytes.Equal(again.UserInfo, u.UserInfo) ||
			!reflect.DeepEqual(again.Watchlist, u.Watchlist) {
			t.Fatalf("re-encoded %s parsed as %+v, %v; first %+v", b.String(), again, err, u)
		}
	})
}

// FuzzClientEventData takes a whole client frame, as the read loop does, and
// checks the relayed payload and the frame built from it.
func FuzzClientEventData(f *testing.F) {
	addDataSeeds(f,
		`{"event":"client-typing","channel":"private-chat","data":{"typing":true}}`,
		`{"event":"client-x","channel":"presence-x","data":"{\"a\":1}"}`,
		`{"event":"client-x","channel":"private-x"}`,
		`{"event":"client-x","channel":"private-x","data":[1, 2.50, "\u2028", null]}`,
		"{\"event\":\"client-x\",\"channel\":\"private-x\",\"data\":\"\xff\\u00e9\"}",
		`{"event":"client-x","channel":"private-x","data":  12e3  }`)
	f.Fuzz(func(t *testing.T, frame []byte) {
		fr, err := DecodeFrame(frame)
		if err != nil {
			return
		}
		data, present := ClientEventData(fr.Data)
		if present != (fr.Data != nil) {
			t.Fatalf("present = %v for data %q", present, fr.Data)
		}
		if present {
			raw := bytes.TrimSpace(fr.Data)
			if raw[0] == '"' {
				var want string
				if err := json.Unmarshal(raw, &want); err != nil || data != want {
					t.Fatalf("string data %q relayed as %q, want %q", raw, data, want)
				}
			} else if !json.Valid([]byte(data)) || len(data) > len(raw) || !sameJSON(t, raw, []byte(data)) {
				t.Fatalf("data %q relayed as %q", raw, data)
			}
		}

		const userID = "u-1"
		out := EncodeClientEvent(fr.Event, fr.Channel, data, present, userID)
		if !utf8.Valid(out) {
			t.Fatalf("invalid UTF-8 frame %q", out)
		}
		var m map[string]string
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatalf("relayed frame %q: %v", out, err)
		}
		if d, ok := m["data"]; ok != present || d != jsonRoundTrip(data) {
			t.Fatalf("relayed data %q (present %v), want %q (present %v)", d, ok, jsonRoundTrip(data), present)
		}
		if m["event"] != fr.Event || m["user_id"] != userID {
			t.Fatalf("relayed frame %q for event %q", out, fr.Event)
		}
	})
}

// sameJSON reports whether a and b hold the same JSON value, numbers
// compared by their text.
func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	dec := func(x []byte) any {
		d := json.NewDecoder(bytes.NewReader(x))
		d.UseNumber()
		var v any
		if err := d.Decode(&v); err != nil {
			t.Fatalf("decode %q: %v", x, err)
		}
		return v
	}
	return reflect.DeepEqual(dec(a), dec(b))
}

// jsonRoundTrip is what a JSON client reads back for s: invalid UTF-8
// becomes U+FFFD, as encoding/json does it.
func jsonRoundTrip(s string) string {
	q, _ := json.Marshal(s)
	var back string
	_ = json.Unmarshal(q, &back)
	return back
}

var socketIDPattern = regexp.MustCompile(`^[0-9]+\.[0-9]+$`)

// FuzzChannelName checks the name rules against their specification:
// ValidChannelName never accepts a name over its limit or outside the
// character set, Classify and UserChannelID agree with the prefixes, and
// ValidSocketID is exactly ^\d+\.\d+$.
func FuzzChannelName(f *testing.F) {
	for _, s := range []string{"my-channel", "private-x", "presence-cache-room", "private-encrypted-cache-x",
		"#server-to-user-12345", "#server-to-user-", "#other", "cache-x", "a b", "é", "123.456", "1.", ".1",
		"١.٢", strings.Repeat("c", 200), strings.Repeat("c", 201), "foo-private-x", ""} {
		f.Add(s, 0)
	}
	f.Add("abc", 2)
	f.Add("abc", 3)
	f.Add("abc", -1)
	f.Fuzz(func(t *testing.T, name string, maxLen int) {
		limit := maxLen
		if limit <= 0 {
			limit = DefaultMaxChannelNameLen
		}
		if ValidChannelName(name, maxLen) {
			if name == "" || len(name) > limit {
				t.Fatalf("ValidChannelName(%q, %d) accepted %d bytes", name, maxLen, len(name))
			}
			for i := 0; i < len(name); i++ {
				if !strings.ContainsRune("-_=@,.;", rune(name[i])) &&
					!('a' <= name[i] && name[i] <= 'z' || 'A' <= name[i] && name[i] <= 'Z' || '0' <= name[i] && name[i] <= '9') {
					t.Fatalf("ValidChannelName(%q) accepted byte %q", name, name[i])
				}
			}
			if typ := Classify(name).Type; typ == Reserved || typ == UserChannel {
				t.Fatalf("valid name %q classified %v", name, typ)
			}
		}
		info := Classify(name)
		if info.Type.RequiresAuth() != (strings.HasPrefix(name, "private-") || strings.HasPrefix(name, "presence-")) {
			t.Fatalf("Classify(%q) = %+v", name, info)
		}
		if id, ok := UserChannelID(name); ok && (id == "" || name != UserChannelPrefix+id || info.Type != UserChannel) {
			t.Fatalf("UserChannelID(%q) = %q (type %v)", name, id, info.Type)
		}
		if got, want := ValidSocketID(name), socketIDPattern.MatchString(name); got != want {
			t.Fatalf("ValidSocketID(%q) = %v, want %v", name, got, want)
		}
	})
}
