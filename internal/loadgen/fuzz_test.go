package loadgen

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"unicode/utf8"
)

// Fuzz targets for the load generator's read path, which parses whatever
// the server under test sends: WebSocket frame headers, Pusher envelopes
// and the benchmark payload inside them.

// FuzzParseFrame: a frame is parsed only when all of it has arrived, its
// payload lies inside the bytes read and never exceeds maxLen, a partial
// frame is never taken for a whole one, and frames the client writes parse
// back to their payload.
func FuzzParseFrame(f *testing.F) {
	for _, n := range []int{0, 5, 125, 126, 300} {
		p := bytes.Repeat([]byte{'x'}, n)
		f.Add(appendMaskedFrame(nil, 1, p), uint16(1000))
		f.Add(append([]byte{0x81, byte(n & 0x7f)}, p...), uint16(100))
	}
	f.Add([]byte{0x81, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, uint16(0xffff))
	f.Add([]byte{0x81, 0x7e, 0x00}, uint16(10))
	f.Add([]byte{0x88, 0x82, 1, 2, 3, 4, 5, 6}, uint16(125))
	f.Fuzz(func(t *testing.T, b []byte, maxLen uint16) {
		in := append([]byte(nil), b...) // parseFrame unmasks in place
		fin, op, payload, total, err := parseFrame(in, int(maxLen))
		if err != nil {
			if !errors.Is(err, errFrameTooBig) || total != 0 {
				t.Fatalf("parseFrame error %v (total %d)", err, total)
			}
			return
		}
		if total == 0 {
			if payload != nil {
				t.Fatalf("incomplete frame with payload %q", payload)
			}
			return
		}
		if total > len(b) || len(payload) > int(maxLen) || total < len(payload)+2 {
			t.Fatalf("total %d, payload %d bytes from %d bytes (max %d)", total, len(payload), len(b), maxLen)
		}
		if len(payload) > 0 && &payload[0] != &in[total-len(payload)] {
			t.Fatal("payload is not the end of the frame")
		}
		if fin != (b[0]&0x80 != 0) || op != b[0]&0x0f {
			t.Fatalf("fin %v op %d from header byte %#x", fin, op, b[0])
		}
		if _, _, _, n, _ := parseFrame(append([]byte(nil), b[:total-1]...), int(maxLen)); n != 0 {
			t.Fatalf("frame of %d bytes parsed from its first %d", total, total-1)
		}
		frame := appendMaskedFrame(nil, op, payload)
		_, op2, p2, total2, err := parseFrame(frame, int(maxLen))
		if err != nil || op2 != op || total2 != len(frame) || !bytes.Equal(p2, payload) {
			t.Fatalf("client frame of %q parsed as op %d %q (%d of %d bytes), %v", payload, op2, p2, total2, len(frame), err)
		}
	})
}

// FuzzParseEnvelope: any JSON object from the server parses, and event,
// channel, data and user_id are the values encoding/json sees (last key
// wins) for objects without escapes in their keys; DataString and the
// payload parser cope with whatever data holds.
func FuzzParseEnvelope(f *testing.F) {
	for _, s := range []string{
		`{"event":"pusher_internal:member_added","data":"{\"user_id\":\"12\"}","channel":"presence-x","extra":{"a":[1,"}"]}}`,
		`{"event":"pusher:error","data":{"code":null,"message":"x"}}`,
		`{"event":"herald-bench","channel":"bench-fanout-3","data":"` + makePayload(3, 12, 1700000000123456789, 120) + `"}`,
		`{"event":"e","data":"lg 1 99999999999999999999 1 x"}`, `{"event":"e","data":12.5e3 , "user_id" : "u" }`,
		`{"event":"a","event":"b"}`, `{}`, ` { } `, `{"a"}`, `{"a":}`, `{"a":"\"}`, `[]`, `"x"`, ``, `{`, `{"data":"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var m Message
		ok := parseEnvelope(b, &m)
		_ = m.DataString()
		parsePayload(m.dataInner())
		var ref map[string]json.RawMessage
		if json.Unmarshal(b, &ref) != nil || ref == nil {
			return
		}
		if !ok {
			t.Fatalf("JSON object %q not parsed", b)
		}
		if bytes.IndexByte(b, '\\') >= 0 {
			return // keys with escapes are compared raw, not decoded
		}
		unq := func(raw json.RawMessage) []byte {
			if len(raw) >= 2 && raw[0] == '"' {
				return raw[1 : len(raw)-1]
			}
			return raw
		}
		for _, c := range []struct {
			key       string
			got, want []byte
		}{
			{"event", m.Event, unq(ref["event"])}, {"channel", m.Channel, unq(ref["channel"])},
			{"data", m.Data, ref["data"]}, {"user_id", m.UserID, unq(ref["user_id"])},
		} {
			if !bytes.Equal(c.got, c.want) {
				t.Fatalf("%s = %q, encoding/json reads %q in %q", c.key, c.got, c.want, b)
			}
		}
		// Only valid UTF-8 is compared: DataString passes other bytes through
		// where encoding/json substitutes U+FFFD, and Herald sends only UTF-8.
		if d := ref["data"]; len(d) > 0 && d[0] == '"' && utf8.Valid(d) {
			var s string
			if err := json.Unmarshal(d, &s); err == nil && m.DataString() != s {
				t.Fatalf("DataString = %q, want %q", m.DataString(), s)
			}
		}
	})
}
