package protocol

import (
	"errors"
	"strings"
	"testing"
)

func TestDecodeFrame(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Frame
		wantErr string // substring of the message; "" means success
	}{
		{"subscribe", `{"event":"pusher:subscribe","data":{"auth":"","channel":"my-channel"}}`,
			Frame{Event: "pusher:subscribe", Data: []byte(`{"auth":"","channel":"my-channel"}`)}, ""},
		{"client event with channel", `{"event":"client-hello","data":{"msg":"hi"},"channel":"private-foobar"}`,
			Frame{Event: "client-hello", Channel: "private-foobar", Data: []byte(`{"msg":"hi"}`)}, ""},
		{"data string", `{"event":"e","data":"{\"a\":1}"}`, Frame{Event: "e", Data: []byte(`"{\"a\":1}"`)}, ""},
		{"data absent", `{"event":"e"}`, Frame{Event: "e"}, ""},
		{"data null", `{"event":"e","data":null}`, Frame{Event: "e", Data: []byte("null")}, ""},
		{"data number", `{"event":"e","data":12.5}`, Frame{Event: "e", Data: []byte("12.5")}, ""},
		{"data array", `{"event":"e","data":[1,{"a":[]}]}`, Frame{Event: "e", Data: []byte(`[1,{"a":[]}]`)}, ""},
		{"whitespace kept inside data", " {\n\"event\" : \"e\" ,\t\"data\" : { \"a\" : 1 } }\r\n",
			Frame{Event: "e", Data: []byte(`{ "a" : 1 }`)}, ""},
		{"channel null", `{"event":"e","channel":null}`, Frame{Event: "e"}, ""},
		{"unknown keys ignored", `{"x":{"event":"no"},"event":"e","user_id":"1","y":[{"channel":"no"}]}`, Frame{Event: "e"}, ""},
		{"keys are case-sensitive", `{"event":"e","EVENT":"x","Channel":"c","Data":1}`, Frame{Event: "e"}, ""},
		{"escaped key", `{"ev\u0065nt":"e","ch\u0061nnel":"c"}`, Frame{Event: "e", Channel: "c"}, ""},
		{"escaped event", `{"event":"client-\u00e9\n"}`, Frame{Event: "client-\u00e9\n"}, ""},
		{"last duplicate wins", `{"event":"a","event":"b"}`, Frame{Event: "b"}, ""},
		{"laravel name", `{"event":"App\\Events\\X"}`, Frame{Event: `App\Events\X`}, ""},

		{"empty input", ``, Frame{}, "Invalid JSON"},
		{"garbage", `{"event":`, Frame{}, "Invalid JSON"},
		{"trailing garbage", `{"event":"e"} x`, Frame{}, "Invalid JSON"},
		{"two objects", `{"event":"e"}{"event":"f"}`, Frame{}, "Invalid JSON"},
		{"array", `[{"event":"e"}]`, Frame{}, "JSON object"},
		{"number", `42`, Frame{}, "JSON object"},
		{"string", `"pusher:ping"`, Frame{}, "JSON object"},
		{"null", `null`, Frame{}, "JSON object"},
		{"missing event", `{"data":{}}`, Frame{}, "Missing event"},
		{"empty object", `{}`, Frame{}, "Missing event"},
		{"event null", `{"event":null}`, Frame{}, "Missing event"},
		{"event empty", `{"event":""}`, Frame{}, "Missing event"},
		{"event number", `{"event":1}`, Frame{}, "Event name must be a string"},
		{"event object", `{"event":{"a":1}}`, Frame{}, "Event name must be a string"},
		{"channel number", `{"event":"e","channel":5}`, Frame{}, "Channel must be a string"},
		{"channel array", `{"event":"e","channel":["a"]}`, Frame{}, "Channel must be a string"},
		{"deep nesting", `{"event":"e","data":` + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + `}`, Frame{}, "Invalid JSON"},
		{"unterminated nesting", strings.Repeat(`{"a":`, 50000), Frame{}, "Invalid JSON"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeFrame([]byte(tc.in))
			if tc.wantErr != "" {
				var pe *Error
				if !errors.As(err, &pe) {
					t.Fatalf("err = %v, want *Error", err)
				}
				if pe.Code != 0 || pe.Close || !strings.Contains(pe.Message, tc.wantErr) {
					t.Fatalf("err = %+v, want code 0 message containing %q", pe, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Event != tc.want.Event || got.Channel != tc.want.Channel || string(got.Data) != string(tc.want.Data) ||
				(got.Data == nil) != (tc.want.Data == nil) {
				t.Fatalf("got %+v (data %q), want %+v (data %q)", got, got.Data, tc.want, tc.want.Data)
			}
		})
	}
}

func TestDecodeFrameDataIsACopy(t *testing.T) {
	in := []byte(`{"event":"e","data":{"a":1}}`)
	f, err := DecodeFrame(in)
	if err != nil {
		t.Fatal(err)
	}
	for i := range in {
		in[i] = 'x'
	}
	if string(f.Data) != `{"a":1}` {
		t.Fatalf("Data aliases the input: %q", f.Data)
	}
}

// TestDecodeFramePusherJS decodes every frame pusher-js 8.6.0 was recorded
// sending and parses the data of each pusher: event.
func TestDecodeFramePusherJS(t *testing.T) {
	v := loadPusherJS(t)
	n := 0
	for _, tc := range v.ClientToServer {
		if tc.Frame == nil {
			continue
		}
		n++
		t.Run(tc.Label, func(t *testing.T) {
			f, err := DecodeFrame([]byte(*tc.Frame))
			if err != nil {
				t.Fatal(err)
			}
			switch f.Event {
			case EventSubscribe:
				d, err := ParseSubscribe(f.Data)
				if err != nil {
					t.Fatal(err)
				}
				if strings.Contains(*tc.Frame, "channel_data") {
					if d.ChannelData == nil || !strings.Contains(*tc.Frame, strings.ReplaceAll(*d.ChannelData, `"`, `\"`)) {
						t.Fatalf("channel_data %v not the exact string sent", d.ChannelData)
					}
				} else if d.ChannelData != nil {
					t.Fatalf("channel_data %q invented", *d.ChannelData)
				}
			case EventUnsubscribe:
				if ch, err := ParseUnsubscribe(f.Data); err != nil || ch != "my-channel" {
					t.Fatalf("ParseUnsubscribe = %q, %v", ch, err)
				}
			case EventSignin:
				d, err := ParseSignin(f.Data)
				if err != nil {
					t.Fatal(err)
				}
				u, err := ParseUserData(d.UserData)
				if err != nil || u.ID != "12345" || len(u.Watchlist) != 2 {
					t.Fatalf("ParseUserData = %+v, %v", u, err)
				}
			case EventPing, EventPong:
			default:
				if !strings.HasPrefix(f.Event, ClientEventPrefix) || f.Channel == "" {
					t.Fatalf("unexpected frame %+v", f)
				}
				if s, ok := ClientEventData(f.Data); !ok || s != `{"msg":"hi"}` {
					t.Fatalf("ClientEventData = %q, %v", s, ok)
				}
			}
		})
	}
	if n < 10 {
		t.Errorf("only %d frames in vectors", n)
	}
}
