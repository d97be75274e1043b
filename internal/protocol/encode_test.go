package protocol

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// decodeFrame unmarshals an encoded frame, failing on invalid JSON or UTF-8.
func decodeFrame(t *testing.T, b []byte) map[string]any {
	t.Helper()
	if !utf8.Valid(b) {
		t.Fatalf("frame is not valid UTF-8: %q", b)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("frame %s: %v", b, err)
	}
	return m
}

// stringData returns the frame's data, which must be a string, decoded as JSON.
func stringData(t *testing.T, m map[string]any) any {
	t.Helper()
	s, ok := m["data"].(string)
	if !ok {
		t.Fatalf("data is %T, want a JSON string", m["data"])
	}
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("data string %q is not JSON: %v", s, err)
	}
	return v
}

// TestEncodersExactFrames compares encoders with frames quoted in the spec
// and recorded as accepted by pusher-js.
func TestEncodersExactFrames(t *testing.T) {
	tests := []struct {
		name string
		got  []byte
		want string
	}{
		{"subscription_succeeded", SubscriptionSucceeded("my-channel"),
			`{"event":"pusher_internal:subscription_succeeded","channel":"my-channel","data":"{}"}`},
		{"user channel subscription_succeeded", SubscriptionSucceeded("#server-to-user-12345"),
			`{"event":"pusher_internal:subscription_succeeded","channel":"#server-to-user-12345","data":"{}"}`},
		{"connection_established", ConnectionEstablished("123.456", 120),
			`{"event":"pusher:connection_established","data":"{\"socket_id\":\"123.456\",\"activity_timeout\":120}"}`},
		{"presence subscription_succeeded", PresenceSubscriptionSucceeded("presence-foobar", []string{"10", "11"},
			map[string]json.RawMessage{"10": json.RawMessage(`{"name":"Ten"}`), "11": json.RawMessage(`{"name":"Eleven"}`)}),
			`{"event":"pusher_internal:subscription_succeeded","channel":"presence-foobar","data":"{\"presence\":{\"ids\":[\"10\",\"11\"],\"hash\":{\"10\":{\"name\":\"Ten\"},\"11\":{\"name\":\"Eleven\"}},\"count\":2}}"}`},
		{"member_added", MemberAdded("presence-foobar", "12", json.RawMessage(`{"name":"Twelve"}`)),
			`{"event":"pusher_internal:member_added","channel":"presence-foobar","data":"{\"user_id\":\"12\",\"user_info\":{\"name\":\"Twelve\"}}"}`},
		{"member_added without info", MemberAdded("presence-foobar", "12", nil),
			`{"event":"pusher_internal:member_added","channel":"presence-foobar","data":"{\"user_id\":\"12\"}"}`},
		{"member_removed", MemberRemoved("presence-foobar", "11"),
			`{"event":"pusher_internal:member_removed","channel":"presence-foobar","data":"{\"user_id\":\"11\"}"}`},
		{"subscription_count", SubscriptionCount("my-channel", 5),
			`{"event":"pusher_internal:subscription_count","channel":"my-channel","data":"{\"subscription_count\":5}"}`},
		{"event JSON data", EncodeEvent("evt", "my-channel", `{"a":1}`),
			`{"event":"evt","channel":"my-channel","data":"{\"a\":1}"}`},
		{"event text data", EncodeEvent("evt", "my-channel", "not json"),
			`{"event":"evt","channel":"my-channel","data":"not json"}`},
		{"event without channel", EncodeEvent("evt", "", "x"), `{"event":"evt","data":"x"}`},
		{"user event", EncodeEvent("my-event", "#server-to-user-12345", `{"hello":"user"}`),
			`{"event":"my-event","channel":"#server-to-user-12345","data":"{\"hello\":\"user\"}"}`},
		{"encrypted event", EncodeEvent("secret-event", "private-encrypted-foobar", `{"nonce":"QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZX","ciphertext":"st/TrxSUmA9Ohhdm4ifASZw5S9pIl2OLUKMD1l19faMfpw893xM6SA=="}`),
			`{"event":"secret-event","channel":"private-encrypted-foobar","data":"{\"nonce\":\"QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZX\",\"ciphertext\":\"st/TrxSUmA9Ohhdm4ifASZw5S9pIl2OLUKMD1l19faMfpw893xM6SA==\"}"}`},
		{"client event", EncodeClientEvent("client-hello", "private-foobar", `{"msg":"hi"}`, true, ""),
			`{"event":"client-hello","channel":"private-foobar","data":"{\"msg\":\"hi\"}"}`},
		{"presence client event", EncodeClientEvent("client-typing", "presence-foobar", `{"typing":true}`, true, "12"),
			`{"event":"client-typing","channel":"presence-foobar","data":"{\"typing\":true}","user_id":"12"}`},
		{"client event without data", EncodeClientEvent("client-whisper", "private-x", "", false, ""),
			`{"event":"client-whisper","channel":"private-x"}`},
		{"error null code", ErrorFrame(0, "Invalid signature: Expected HMAC SHA256 hex digest of ..."),
			`{"event":"pusher:error","data":{"code":null,"message":"Invalid signature: Expected HMAC SHA256 hex digest of ..."}}`},
		{"error 4009", ErrorFrame(CodeUnauthorized, "nope"), `{"event":"pusher:error","data":{"code":4009,"message":"nope"}}`},
		{"subscription_error", SubscriptionError("private-bad", "AuthError", "Invalid signature", 401),
			`{"event":"pusher:subscription_error","channel":"private-bad","data":{"type":"AuthError","error":"Invalid signature","status":401}}`},
		{"cache_miss", CacheMiss("cache-prices"), `{"event":"pusher:cache_miss","channel":"cache-prices"}`},
		{"ping", Ping(), `{"event":"pusher:ping","data":"{}"}`},
		{"pong", Pong(), `{"event":"pusher:pong","data":"{}"}`},
		{"signin_success", SigninSuccess(`{"id":"12345","user_info":{"name":"John Smith"},"watchlist":["another_id_1","another_id_2"]}`),
			`{"event":"pusher:signin_success","data":"{\"user_data\":\"{\\\"id\\\":\\\"12345\\\",\\\"user_info\\\":{\\\"name\\\":\\\"John Smith\\\"},\\\"watchlist\\\":[\\\"another_id_1\\\",\\\"another_id_2\\\"]}\"}"}`},
		{"watchlist_events", WatchlistEvents([]string{"another_id_1"}, []string{"another_id_2"}),
			`{"event":"pusher_internal:watchlist_events","data":"{\"events\":[{\"name\":\"online\",\"user_ids\":[\"another_id_1\"]},{\"name\":\"offline\",\"user_ids\":[\"another_id_2\"]}]}"}`},
		{"watchlist offline only", WatchlistEvents(nil, []string{"a"}),
			`{"event":"pusher_internal:watchlist_events","data":"{\"events\":[{\"name\":\"offline\",\"user_ids\":[\"a\"]}]}"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if string(tc.got) != tc.want {
				t.Fatalf("got  %s\nwant %s", tc.got, tc.want)
			}
			decodeFrame(t, tc.got)
		})
	}
}

// TestEncodersMatchPusherJSRecording checks the encoders against the exact
// server frames pusher-js was observed to accept.
func TestEncodersMatchPusherJSRecording(t *testing.T) {
	v := loadPusherJS(t)
	tests := []struct {
		label string
		got   []byte
	}{
		{"subscription_succeeded for public channel (data \"{}\")", SubscriptionSucceeded("my-channel")},
		{"subscription_count", SubscriptionCount("my-channel", 5)},
		{"channel event, data = JSON string", EncodeEvent("evt", "my-channel", `{"a":1}`)},
		{"channel event, data = non-JSON string", EncodeEvent("evt", "my-channel", "not json")},
		{"presence subscription_succeeded", PresenceSubscriptionSucceeded("presence-foobar", []string{"10", "11"},
			map[string]json.RawMessage{"10": json.RawMessage(`{"name":"Ten"}`), "11": json.RawMessage(`{"name":"Eleven"}`)})},
		{"member_added", MemberAdded("presence-foobar", "12", json.RawMessage(`{"name":"Twelve"}`))},
		{"member_removed", MemberRemoved("presence-foobar", "11")},
		{"server sends pusher:subscription_error on the channel (soketi style)", SubscriptionError("private-bad", "AuthError", "Invalid signature", 401)},
		{"pusher:error without channel (connection stays open)", ErrorFrame(0, "Invalid signature: Expected HMAC SHA256 hex digest of ...")},
		{"cache_miss after subscription_succeeded", CacheMiss("cache-prices")},
		{"pusher:signin_success", SigninSuccess(`{"id":"12345","user_info":{"name":"John Smith"},"watchlist":["another_id_1","another_id_2"]}`)},
		{"event sent to user (sendToUser) on #server-to-user-<id>", EncodeEvent("my-event", "#server-to-user-12345", `{"hello":"user"}`)},
		{"watchlist events", WatchlistEvents([]string{"another_id_1"}, []string{"another_id_2"})},
		{"encrypted channel event (data = JSON string {nonce, ciphertext})", EncodeEvent("secret-event", "private-encrypted-foobar",
			`{"nonce":"QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZX","ciphertext":"st/TrxSUmA9Ohhdm4ifASZw5S9pIl2OLUKMD1l19faMfpw893xM6SA=="}`)},
	}
	for _, tc := range tests {
		t.Run(tc.label, func(t *testing.T) {
			if want := v.serverFrame(t, tc.label); string(tc.got) != want {
				t.Fatalf("got  %s\nwant %s", tc.got, want)
			}
		})
	}

	// The recording relays this client event with object data; we send the
	// string form (Java clients need it), which must decode to the same value.
	rec := decodeFrame(t, []byte(v.serverFrame(t, "client event relayed on presence channel with user_id")))
	got := decodeFrame(t, EncodeClientEvent("client-typing", "presence-foobar", `{"typing":true}`, true, "12"))
	if !reflect.DeepEqual(stringData(t, got), rec["data"]) || got["user_id"] != rec["user_id"] || got["event"] != rec["event"] {
		t.Fatalf("client event %v differs from recording %v", got, rec)
	}
}

// awkward strings exercise every escaping path of the encoders.
var awkward = []string{
	"",
	"plain",
	`quote " backslash \ slash /`,
	"controls \x00\x01\x1f\x7f \b\f\n\r\t",
	"html <script>&amp;</script>",
	"unicode \u00e9 \u4e16\u754c \U0001F600",
	"separators \u2028 \u2029",
	"invalid utf8 \xff\xfe \xc3",
	"truncated \xe4\xb8",
	`{"nested":"{\"deep\":\"\\\"\"}"}`,
	`App\Events\OrderShipped`,
}

func TestEncodersRoundTrip(t *testing.T) {
	for _, s := range awkward {
		want := s
		if !utf8.ValidString(s) {
			// encoding/json turns each invalid byte into U+FFFD, as we do.
			var back string
			q := appendString(nil, s)
			if err := json.Unmarshal(q, &back); err != nil {
				t.Fatal(err)
			}
			if !utf8.ValidString(back) || !strings.Contains(back, "\uFFFD") {
				t.Fatalf("invalid UTF-8 not replaced: %q", back)
			}
			want = back
		}

		m := decodeFrame(t, EncodeEvent(s, s, s))
		if m["event"] != want || m["data"] != want || (s != "" && m["channel"] != want) {
			t.Errorf("EncodeEvent(%q) round trip = %q", s, m)
		}

		m = decodeFrame(t, EncodeClientEvent(s, "c", s, true, s))
		if m["event"] != want || m["data"] != want || (s != "" && m["user_id"] != want) {
			t.Errorf("EncodeClientEvent(%q) round trip = %q", s, m)
		}

		m = decodeFrame(t, ErrorFrame(4301, s))
		if d := m["data"].(map[string]any); d["message"] != want || d["code"] != float64(4301) {
			t.Errorf("ErrorFrame(%q) round trip = %v", s, m)
		}

		m = decodeFrame(t, SubscriptionError(s, s, s, 403))
		if d := m["data"].(map[string]any); d["type"] != want || d["error"] != want || d["status"] != float64(403) || (s != "" && m["channel"] != want) {
			t.Errorf("SubscriptionError(%q) round trip = %v", s, m)
		}

		m = decodeFrame(t, SigninSuccess(s))
		if d := stringData(t, m).(map[string]any); d["user_data"] != want {
			t.Errorf("SigninSuccess(%q) round trip = %v", s, d)
		}

		m = decodeFrame(t, ConnectionEstablished(s, 30))
		if d := stringData(t, m).(map[string]any); d["socket_id"] != want || d["activity_timeout"] != float64(30) {
			t.Errorf("ConnectionEstablished(%q) round trip = %v", s, d)
		}

		m = decodeFrame(t, MemberRemoved(s, s))
		if d := stringData(t, m).(map[string]any); d["user_id"] != want {
			t.Errorf("MemberRemoved(%q) round trip = %v", s, d)
		}
		for _, f := range [][]byte{SubscriptionSucceeded(s), CacheMiss(s), SubscriptionCount(s, 0), WatchlistEvents([]string{s}, []string{s, "x"})} {
			decodeFrame(t, f)
		}
	}
}

func TestPresenceSubscriptionSucceeded(t *testing.T) {
	ids := []string{"1", "2", `we"ird`, "4"}
	hash := map[string]json.RawMessage{
		"1":       json.RawMessage(`{"name":"One","tags":["a","b"]}`),
		"2":       nil,                            // no info: key present, value null
		`we"ird`:  json.RawMessage(`"text info"`), // any JSON is fine
		"4":       json.RawMessage(`{"broken":`),  // invalid: null rather than a broken frame
		"ignored": json.RawMessage(`{"not":"listed"}`),
	}
	m := decodeFrame(t, PresenceSubscriptionSucceeded("presence-room", ids, hash))
	if m["event"] != EventSubscriptionSucceeded || m["channel"] != "presence-room" {
		t.Fatalf("frame %v", m)
	}
	p := stringData(t, m).(map[string]any)["presence"].(map[string]any)
	if p["count"] != float64(4) {
		t.Errorf("count = %v", p["count"])
	}
	if !reflect.DeepEqual(p["ids"], []any{"1", "2", `we"ird`, "4"}) {
		t.Errorf("ids = %v", p["ids"])
	}
	wantHash := map[string]any{
		"1":      map[string]any{"name": "One", "tags": []any{"a", "b"}},
		"2":      nil,
		`we"ird`: "text info",
		"4":      nil,
	}
	if !reflect.DeepEqual(p["hash"], wantHash) {
		t.Errorf("hash = %#v", p["hash"])
	}

	empty := PresenceSubscriptionSucceeded("presence-room", nil, nil)
	if want := `{"event":"pusher_internal:subscription_succeeded","channel":"presence-room","data":"{\"presence\":{\"ids\":[],\"hash\":{},\"count\":0}}"}`; string(empty) != want {
		t.Errorf("empty presence = %s", empty)
	}
}

func TestMemberAddedInvalidInfoOmitted(t *testing.T) {
	got := MemberAdded("presence-x", "1", json.RawMessage(`{"a":`))
	if want := `{"event":"pusher_internal:member_added","channel":"presence-x","data":"{\"user_id\":\"1\"}"}`; string(got) != want {
		t.Errorf("got %s", got)
	}
}

func TestEncodersReturnFreshSlices(t *testing.T) {
	a, b := Ping(), Ping()
	a[0] = 'x'
	if b[0] != '{' || Ping()[0] != '{' {
		t.Fatal("Ping shares its bytes")
	}
	p := Pong()
	p[0] = 'x'
	if Pong()[0] != '{' {
		t.Fatal("Pong shares its bytes")
	}
}

func TestErrorType(t *testing.T) {
	e := &Error{Code: CodeClientRateLimit, Message: "Too many client events"}
	if got := e.Error(); got != "pusher error 4301: Too many client events" {
		t.Errorf("Error() = %q", got)
	}
	if got := (&Error{Message: "Invalid JSON"}).Error(); got != "pusher error: Invalid JSON" {
		t.Errorf("Error() = %q", got)
	}
}
