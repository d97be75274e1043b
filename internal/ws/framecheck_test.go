package ws

import (
	"testing"

	"github.com/heraldhq/herald/internal/wsraw"
)

// clientFrame builds a masked client frame (RFC 6455 §5.2).
func clientFrame(fin bool, op byte, payload []byte) []byte {
	return wsraw.ClientFrame(fin, op, payload)
}

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestFrameCheck(t *testing.T) {
	text := func(s string) []byte { return clientFrame(true, opText, []byte(s)) }
	unmasked := []byte{0x81, 0x02, 'h', 'i'}
	big := make([]byte, 70_000)
	cases := []struct {
		name string
		in   []byte
		code int // 0: no fault
		at   int
	}{
		{"one text frame", text(`{"event":"pusher:ping"}`), 0, 0},
		{"two frames", cat(text("a"), text("b")), 0, 0},
		{"ping pong close", cat(clientFrame(true, 0x9, []byte("p")), clientFrame(true, 0xA, nil), clientFrame(true, 0x8, []byte{3, 232})), 0, 0},
		{"fragmented text", cat(clientFrame(false, opText, []byte("he")), clientFrame(false, 0, []byte("ll")), clientFrame(true, 0, []byte("o"))), 0, 0},
		{"ping between fragments", cat(clientFrame(false, opText, []byte("he")), clientFrame(true, 0x9, nil), clientFrame(true, 0, []byte("llo"))), 0, 0},
		{"16-bit length", clientFrame(true, opText, make([]byte, 300)), 0, 0},
		{"64-bit length under the limit", clientFrame(true, opText, big), 0, 0},
		{"orphan continuation", cat(text("a"), clientFrame(true, 0, []byte("x"))), 1002, len(text("a"))},
		{"orphan continuation without fin", clientFrame(false, 0, []byte("x")), 1002, 0},
		{"fragmented ping", cat(text("a"), clientFrame(false, 0x9, []byte("x"))), 1002, len(text("a"))},
		{"fragmented close", clientFrame(false, 0x8, nil), 1002, 0},
		{"control frame over 125 bytes", clientFrame(true, 0x9, make([]byte, 126)), 1002, 0},
		{"reserved data opcode", clientFrame(true, 0x3, nil), 1002, 0},
		{"reserved control opcode", clientFrame(true, 0xB, nil), 1002, 0},
		{"rsv1 without compression", func() []byte { f := text("a"); f[0] |= 0x40; return f }(), 1002, 0},
		{"rsv3", func() []byte { f := text("a"); f[0] |= 0x10; return f }(), 1002, 0},
		{"unmasked", cat(text("ok"), unmasked), 1002, len(text("ok"))},
		{"text inside a fragmented message", cat(clientFrame(false, opText, []byte("a")), text("b")), 1002, len(clientFrame(false, opText, []byte("a")))},
		{"message over the limit in one frame", clientFrame(true, opText, make([]byte, 100_001)), 1009, 0},
		{"message over the limit in fragments", cat(clientFrame(false, opText, make([]byte, 60_000)), clientFrame(true, 0, make([]byte, 40_001))), 1009, 60_008},
		{"64-bit length with the top bit set", []byte{0x81, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4}, 1009, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Whole, and byte by byte: the verdict must not depend on how
			// the bytes are split into reads.
			for _, step := range []int{len(tc.in), 1, 3} {
				var fc frameCheck
				var fault *frameFault
				off := 0
				for off < len(tc.in) && fault == nil {
					end := min(off+step, len(tc.in))
					if fault = fc.feed(tc.in[off:end], 100_000); fault != nil {
						fault.at += off
					}
					off = end
				}
				switch {
				case tc.code == 0 && fault != nil:
					t.Fatalf("step %d: unexpected fault %d %q", step, fault.code, fault.reason)
				case tc.code != 0 && fault == nil:
					t.Fatalf("step %d: no fault, want %d", step, tc.code)
				case tc.code != 0 && fault.code != tc.code:
					t.Fatalf("step %d: fault %d %q, want %d", step, fault.code, fault.reason, tc.code)
				case tc.code != 0 && step == len(tc.in) && fault.at != tc.at:
					t.Fatalf("bad frame reported at %d, want %d", fault.at, tc.at)
				}
			}
		})
	}
}

// FuzzFrameCheck: any bytes, split anywhere, give the same verdict as in
// one read, and the check never panics.
func FuzzFrameCheck(f *testing.F) {
	f.Add(clientFrame(true, opText, []byte(`{"event":"pusher:ping"}`)), uint8(1))
	f.Add(cat(clientFrame(false, opText, []byte("he")), clientFrame(true, 0x9, nil), clientFrame(true, 0, []byte("llo"))), uint8(2))
	f.Add(clientFrame(true, 0, []byte("x")), uint8(3))
	f.Add([]byte{0x81, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}, uint8(4))
	f.Fuzz(func(t *testing.T, data []byte, step uint8) {
		var whole frameCheck
		want := whole.feed(data, 1000)
		var parts frameCheck
		var got *frameFault
		n := int(step%16) + 1
		for off := 0; off < len(data) && got == nil; off += n {
			got = parts.feed(data[off:min(off+n, len(data))], 1000)
		}
		if (want == nil) != (got == nil) || (want != nil && want.code != got.code) {
			t.Fatalf("split reads disagree: whole %+v, split by %d %+v", want, n, got)
		}
	})
}
