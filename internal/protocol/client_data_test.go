package protocol

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// wantProtoErr fails unless err is a code-0 *Error mentioning msg.
func wantProtoErr(t *testing.T, err error, msg string) {
	t.Helper()
	var pe *Error
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v, want *Error", err)
	}
	if pe.Code != 0 || !strings.Contains(pe.Message, msg) {
		t.Fatalf("err = %+v, want code 0 and %q", pe, msg)
	}
}

func TestParseSubscribe(t *testing.T) {
	const cd = `{"user_id":"10","user_info":{"name":"Ten"}}`
	obj := `{"auth":"app-key:abc","channel_data":` + quote(cd) + `,"channel":"presence-foobar"}`
	tests := []struct {
		name    string
		data    string
		want    SubscribeData
		wantErr string
	}{
		{"object", obj, SubscribeData{Channel: "presence-foobar", Auth: "app-key:abc", ChannelData: ptr(cd)}, ""},
		{"string holding the object", quote(obj), SubscribeData{Channel: "presence-foobar", Auth: "app-key:abc", ChannelData: ptr(cd)}, ""},
		{"string with whitespace", " " + quote(" "+obj+" ") + " ", SubscribeData{Channel: "presence-foobar", Auth: "app-key:abc", ChannelData: ptr(cd)}, ""},
		{"public", `{"auth":"","channel":"my-channel"}`, SubscribeData{Channel: "my-channel"}, ""},
		{"auth missing", `{"channel":"my-channel"}`, SubscribeData{Channel: "my-channel"}, ""},
		{"auth null", `{"channel":"my-channel","auth":null}`, SubscribeData{Channel: "my-channel"}, ""},
		{"channel_data null is absent", `{"channel":"presence-x","channel_data":null}`, SubscribeData{Channel: "presence-x"}, ""},
		{"empty channel_data kept", `{"channel":"presence-x","channel_data":""}`, SubscribeData{Channel: "presence-x", ChannelData: ptr("")}, ""},
		{"channel_data exact bytes", `{"channel":"p","channel_data":"{ \"user_id\" : 10 ,\"x\":\"\\/\"}"}`,
			SubscribeData{Channel: "p", ChannelData: ptr(`{ "user_id" : 10 ,"x":"\/"}`)}, ""},
		{"user channel", `{"auth":"","channel":"#server-to-user-12345"}`, SubscribeData{Channel: "#server-to-user-12345"}, ""},

		{"absent", "", SubscribeData{}, "Missing data"},
		{"null", "null", SubscribeData{}, "Missing data"},
		{"number", "1", SubscribeData{}, "JSON object"},
		{"array", `[{"channel":"a"}]`, SubscribeData{}, "JSON object"},
		{"string not JSON", `"my-channel"`, SubscribeData{}, "JSON object"},
		{"string holding array", quote(`["a"]`), SubscribeData{}, "JSON object"},
		{"string holding string", quote(quote(`{"channel":"a"}`)), SubscribeData{}, "JSON object"},
		{"invalid JSON", `{"channel":`, SubscribeData{}, "Invalid JSON"},
		{"missing channel", `{"auth":""}`, SubscribeData{}, "Missing channel"},
		{"empty channel", `{"channel":""}`, SubscribeData{}, "Missing channel"},
		{"channel null", `{"channel":null}`, SubscribeData{}, "Missing channel"},
		{"channel number", `{"channel":5}`, SubscribeData{}, "channel must be a string"},
		{"channel_data object", `{"channel":"presence-x","channel_data":{"user_id":"1"}}`, SubscribeData{}, "channel_data must be a string"},
		{"auth number", `{"channel":"x","auth":1}`, SubscribeData{}, "auth must be a string"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var data json.RawMessage
			if tc.data != "" {
				data = json.RawMessage(tc.data)
			}
			got, err := ParseSubscribe(data)
			if tc.wantErr != "" {
				wantProtoErr(t, err, tc.wantErr)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Channel != tc.want.Channel || got.Auth != tc.want.Auth ||
				(got.ChannelData == nil) != (tc.want.ChannelData == nil) ||
				(got.ChannelData != nil && *got.ChannelData != *tc.want.ChannelData) {
				t.Fatalf("got %+v (cd %v), want %+v (cd %v)", got, deref(got.ChannelData), tc.want, deref(tc.want.ChannelData))
			}
		})
	}
}

func TestParseUnsubscribe(t *testing.T) {
	for _, in := range []string{`{"channel":"my-channel"}`, quote(`{"channel":"my-channel"}`)} {
		if ch, err := ParseUnsubscribe(json.RawMessage(in)); err != nil || ch != "my-channel" {
			t.Errorf("ParseUnsubscribe(%s) = %q, %v", in, ch, err)
		}
	}
	for in, msg := range map[string]string{"": "Missing data", `{}`: "Missing channel", `{"channel":1}`: "must be a string", `[]`: "JSON object"} {
		_, err := ParseUnsubscribe(json.RawMessage(in))
		wantProtoErr(t, err, msg)
	}
}

func TestParseSignin(t *testing.T) {
	const ud = `{"id":"12345"}`
	for _, in := range []string{`{"auth":"k:s","user_data":` + quote(ud) + `}`, quote(`{"user_data":` + quote(ud) + `,"auth":"k:s"}`)} {
		got, err := ParseSignin(json.RawMessage(in))
		if err != nil || got != (SigninData{Auth: "k:s", UserData: ud}) {
			t.Errorf("ParseSignin(%s) = %+v, %v", in, got, err)
		}
	}
	bad := map[string]string{
		"":                                      "Missing data",
		`{"user_data":"{}"}`:                    "Missing auth",
		`{"auth":"","user_data":"{}"}`:          "Missing auth",
		`{"auth":"k:s"}`:                        "Missing user_data",
		`{"auth":"k:s","user_data":{"id":"1"}}`: "user_data must be a string",
		`{"auth":1,"user_data":"{}"}`:           "auth must be a string",
	}
	for in, msg := range bad {
		_, err := ParseSignin(json.RawMessage(in))
		wantProtoErr(t, err, msg)
	}
}

func TestClientEventData(t *testing.T) {
	tests := []struct {
		in      json.RawMessage
		want    string
		present bool
	}{
		{nil, "", false},
		{json.RawMessage{}, "", false},
		{json.RawMessage(`"plain text"`), "plain text", true},
		{json.RawMessage(`"{\"a\":1}"`), `{"a":1}`, true},
		{json.RawMessage(`"\u00e9\n"`), "\u00e9\n", true},
		{json.RawMessage(`""`), "", true},
		{json.RawMessage(`{ "msg" : "hi there", "n" : [1, 2] }`), `{"msg":"hi there","n":[1,2]}`, true},
		{json.RawMessage(`{"s":"<&>\u2028"}`), `{"s":"<&>\u2028"}`, true},
		{json.RawMessage(`[1, 2]`), `[1,2]`, true},
		{json.RawMessage(`12.50`), `12.50`, true},
		{json.RawMessage(`true`), `true`, true},
		{json.RawMessage(`null`), `null`, true},
	}
	for _, tc := range tests {
		got, present := ClientEventData(tc.in)
		if got != tc.want || present != tc.present {
			t.Errorf("ClientEventData(%s) = %q, %v; want %q, %v", tc.in, got, present, tc.want, tc.present)
		}
	}
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func ptr(s string) *string { return &s }

func deref(p *string) any {
	if p == nil {
		return nil
	}
	return *p
}
