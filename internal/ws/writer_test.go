package ws

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestAppendFrameHeader(t *testing.T) {
	cases := []struct {
		n    int
		want []byte
	}{
		{0, []byte{0x81, 0}},
		{125, []byte{0x81, 125}},
		{126, []byte{0x81, 126, 0, 126}},
		{65535, []byte{0x81, 126, 0xFF, 0xFF}},
		{65536, []byte{0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0}},
	}
	for _, c := range cases {
		if got := appendFrameHeader(nil, opText, c.n); !bytes.Equal(got, c.want) {
			t.Errorf("length %d: header % x, want % x", c.n, got, c.want)
		}
	}
	if got := appendFrameHeader([]byte("x"), opClose, 2); !bytes.Equal(got, []byte{'x', 0x88, 2}) {
		t.Errorf("close header appended: % x", got)
	}
}

func TestAppendCloseFrame(t *testing.T) {
	f := appendCloseFrame(nil, 4100, "Slow consumer")
	if f[0] != 0x88 || int(f[1]) != 2+len("Slow consumer") {
		t.Fatalf("header % x", f[:2])
	}
	if code := binary.BigEndian.Uint16(f[2:4]); code != 4100 {
		t.Fatalf("code %d", code)
	}
	if string(f[4:]) != "Slow consumer" {
		t.Fatalf("reason %q", f[4:])
	}

	// A reason longer than a control frame allows is cut to 123 bytes,
	// never in the middle of a character.
	long := strings.Repeat("é", 100) // 200 bytes
	f = appendCloseFrame(nil, 4009, long)
	if n := int(f[1]); n > 125 || n != len(f)-2 {
		t.Fatalf("payload length %d (frame %d bytes)", n, len(f))
	}
	if !utf8.Valid(f[4:]) || len(f[4:]) != 122 {
		t.Fatalf("reason cut to %d bytes, valid UTF-8 %v", len(f[4:]), utf8.Valid(f[4:]))
	}
}

func TestCloseReasonValidUTF8(t *testing.T) {
	// Reasons can quote client input (an Origin header, an app key).
	if got := closeReason("bad origin \xff\xfe!"); !utf8.ValidString(got) || got != "bad origin ?!" {
		t.Fatalf("closeReason: %q", got)
	}
	if got := closeReason(strings.Repeat("a", 200)); len(got) != 123 {
		t.Fatalf("closeReason kept %d bytes", len(got))
	}
}
