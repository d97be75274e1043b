package test

import (
	"strings"
	"testing"
)

// TestWebSocketProtocolViolations: frames that break RFC 6455 are answered
// with the close code the RFC names, written as a close frame (not a
// dropped TCP connection), and nothing else on the server is disturbed.
func TestWebSocketProtocolViolations(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	bystander := connect(t, s)
	bystander.subscribe("room")
	ping := maskedFrame(true, 0x1, []byte(`{"event":"pusher:ping"}`))
	type row struct {
		name  string
		bytes []byte
		code  int
	}
	var cases []row
	for _, tc := range []row{
		{"orphan continuation", maskedFrame(true, 0x0, []byte("x")), 1002},
		{"orphan continuation after a good frame", append(append([]byte{}, ping...), maskedFrame(true, 0x0, []byte("x"))...), 1002},
		{"fragmented ping", maskedFrame(false, 0x9, []byte("x")), 1002},
		{"ping longer than 125 bytes", maskedFrame(true, 0x9, make([]byte, 126)), 1002},
		{"reserved opcode", maskedFrame(true, 0x3, []byte("x")), 1002},
		{"reserved bit", func() []byte { f := maskedFrame(true, 0x1, []byte("{}")); f[0] |= 0x40; return f }(), 1002},
		{"unmasked frame", []byte{0x81, 0x02, '{', '}'}, 1002},
		{"text frame inside a fragmented message", append(maskedFrame(false, 0x1, []byte("{")), maskedFrame(true, 0x1, []byte("{}"))...), 1002},
		{"invalid UTF-8", maskedFrame(true, 0x1, []byte("{\"event\":\"\xff\xfe\"}")), 1007},
		{"fragmented message over the frame limit", append(maskedFrame(false, 0x1, make([]byte, 60<<10)), maskedFrame(true, 0x0, make([]byte, 60<<10))...), 1009},
	} {
		cases = append(cases, tc)
	}
	// The rows run side by side (each waits out the close grace period);
	// the group returns when all are done.
	t.Run("rows", func(t *testing.T) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				c := connectRaw(t, s)
				c.write(tc.bytes)
				code, reason := c.expectClose()
				if code != tc.code {
					t.Fatalf("close code %d (%q), want %d", code, reason, tc.code)
				}
				c.expectEnd()
			})
		}
	})
	bystander.ping()
	s.trigger("room", "still-here", "ok")
	if f := bystander.next(); f.Event != "still-here" {
		t.Errorf("bystander: want still-here, got %s", f)
	}
	if v := s.metricValue(`herald_ws_protocol_failures_total{code="1002"}`); v != 8 {
		t.Errorf("herald_ws_protocol_failures_total{code=1002} = %v, want 8", v)
	}
}

// TestFragmentedMessageIsHandled: a pusher:ping split over a text frame
// and two continuations, with a WebSocket ping in between, is one message.
func TestFragmentedMessageIsHandled(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	c := connectRaw(t, s)
	msg := []byte(`{"event":"pusher:ping","data":{}}`)
	c.write(maskedFrame(false, 0x1, msg[:5]))
	c.write(maskedFrame(false, 0x0, msg[5:10]))
	c.write(maskedFrame(true, 0x9, []byte("hb")))
	c.write(maskedFrame(true, 0x0, msg[10:]))
	if f := c.read(); f.Op != 0xA || string(f.Payload) != "hb" {
		t.Fatalf("want pong hb, got op %d %q", f.Op, f.Payload)
	}
	if f := c.read(); f.Op != 0x1 || !strings.Contains(string(f.Payload), "pusher:pong") {
		t.Fatalf("want pusher:pong, got op %d %q", f.Op, f.Payload)
	}
}
