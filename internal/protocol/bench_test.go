package protocol

import (
	"strings"
	"testing"
)

func BenchmarkDecodeFrame(b *testing.B) {
	frames := map[string][]byte{
		"subscribe_presence": []byte(`{"event":"pusher:subscribe","data":{"auth":"app-key:1d8acf29c7df958158728db296661fa7086942e2221f2f2a566c44650c384808","channel_data":"{\"user_id\":\"10\",\"user_info\":{\"name\":\"Ten\"}}","channel":"presence-foobar"}}`),
		"client_event":       []byte(`{"event":"client-hello","data":{"msg":"hi"},"channel":"private-foobar"}`),
		"ping":               []byte(`{"event":"pusher:ping","data":{}}`),
		"client_event_8KB":   []byte(`{"event":"client-big","channel":"private-foobar","data":{"blob":"` + strings.Repeat("x", 8<<10) + `"}}`),
	}
	for name, frame := range frames {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := DecodeFrame(frame); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkParseSubscribe(b *testing.B) {
	f, err := DecodeFrame([]byte(`{"event":"pusher:subscribe","data":{"auth":"app-key:1d8acf29c7df958158728db296661fa7086942e2221f2f2a566c44650c384808","channel_data":"{\"user_id\":\"10\",\"user_info\":{\"name\":\"Ten\"}}","channel":"presence-foobar"}}`))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseSubscribe(f.Data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeEvent(b *testing.B) {
	payloads := map[string]string{
		"small_json": `{"message":"hello world"}`,
		"text_1KB":   strings.Repeat("abcdefghij", 100),
		"json_10KB":  `{"items":[` + strings.TrimSuffix(strings.Repeat(`{"id":1,"name":"item"},`, 440), ",") + `]}`,
	}
	for name, data := range payloads {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				_ = EncodeEvent("my-event", "presence-room", data)
			}
		})
	}
}
