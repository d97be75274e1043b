package loadgen

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math/rand/v2"

	"github.com/heraldhq/herald/internal/protocol"
)

// appendMaskedFrame appends a masked client frame (FIN set) with opcode op.
func appendMaskedFrame(dst []byte, op byte, p []byte) []byte {
	dst = append(dst, 0x80|op)
	switch n := len(p); {
	case n <= 125:
		dst = append(dst, 0x80|byte(n))
	case n <= 0xffff:
		dst = append(dst, 0x80|126, byte(n>>8), byte(n))
	default:
		dst = append(dst, 0x80|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	var mask [4]byte
	binary.LittleEndian.PutUint32(mask[:], rand.Uint32())
	dst = append(dst, mask[:]...)
	start := len(dst)
	dst = append(dst, p...)
	for i := range p {
		dst[start+i] ^= mask[i&3]
	}
	return dst
}

var errFrameTooBig = errors.New("frame too large")

// parseFrame reads one frame header from b. It returns the payload bounds
// and the total frame length, or total 0 when b does not hold a whole frame.
// Server frames are unmasked; a masked one is unmasked in place.
func parseFrame(b []byte, maxLen int) (fin bool, op byte, payload []byte, total int, err error) {
	if len(b) < 2 {
		return
	}
	fin = b[0]&0x80 != 0
	op = b[0] & 0x0f
	masked := b[1]&0x80 != 0
	n := uint64(b[1] & 0x7f)
	h := 2
	switch n {
	case 126:
		if len(b) < 4 {
			return
		}
		n = uint64(binary.BigEndian.Uint16(b[2:]))
		h = 4
	case 127:
		if len(b) < 10 {
			return
		}
		n = binary.BigEndian.Uint64(b[2:])
		h = 10
	}
	if n > uint64(maxLen) {
		err = errFrameTooBig
		return
	}
	var mask []byte
	if masked {
		if len(b) < h+4 {
			return
		}
		mask = b[h : h+4]
		h += 4
	}
	if uint64(len(b)-h) < n {
		return
	}
	payload = b[h : h+int(n)]
	if masked {
		for i := range payload {
			payload[i] ^= mask[i&3]
		}
	}
	total = h + int(n)
	return
}

// Message is one Pusher envelope with raw JSON values (sub-slices of the
// frame, valid only during the callback).
type Message struct {
	Event   []byte // unquoted; event names carry no escapes in practice
	Channel []byte
	Data    []byte // raw JSON value: a quoted string or an object
	UserID  []byte
}

// DataString returns data as a Go string: the unquoted JSON string, or the
// raw JSON text when data is an object.
func (m *Message) DataString() string {
	if len(m.Data) > 0 && m.Data[0] == '"' {
		inner := m.Data[1 : len(m.Data)-1]
		if bytes.IndexByte(inner, '\\') < 0 {
			return string(inner)
		}
		var s string
		if json.Unmarshal(m.Data, &s) == nil {
			return s
		}
	}
	return string(m.Data)
}

// dataInner returns the bytes between the quotes of a string data value
// without unescaping, or nil if data is not a string.
func (m *Message) dataInner() []byte {
	if len(m.Data) >= 2 && m.Data[0] == '"' {
		return m.Data[1 : len(m.Data)-1]
	}
	return nil
}

// parseEnvelope picks event, channel, data and user_id from the top-level
// JSON object b without allocating (protocol's scanner). Unknown keys are
// skipped; keys are compared raw (Herald writes none with escapes).
func parseEnvelope(b []byte, m *Message) bool {
	*m = Message{}
	ok := protocol.ObjectMembers(b, func(key, v []byte) {
		switch string(key) {
		case `"event"`:
			m.Event = unq(v)
		case `"channel"`:
			m.Channel = unq(v)
		case `"data"`:
			m.Data = v
		case `"user_id"`:
			m.UserID = unq(v)
		}
	})
	if !ok {
		*m = Message{} // not a value cut short (a lone quote)
	}
	return ok
}

func unq(v []byte) []byte {
	if len(v) >= 2 && v[0] == '"' {
		return v[1 : len(v)-1]
	}
	return v
}
