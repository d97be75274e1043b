package redis

import (
	"encoding/binary"
	"errors"

	"github.com/heraldhq/herald/internal/broker"
)

// A message travels on a topic as
//
//	kind     1 byte   (broker.Frame, broker.Terminate)
//	version  uvarint  (presence member events; 0 otherwise)
//	except   uvarint length, then the socket id ("" = none)
//	frame    the rest: the encoded Pusher frame, delivered as is
//
// The version sits between a fixed head (the kind) and a tail (except and
// frame) so that a Lua script that decides the version can splice it in
// without knowing the rest of the encoding.

// maxExcept bounds the except field; socket ids are ~30 bytes.
const maxExcept = 255

var errMalformed = errors.New("malformed message")

// encodeMessage returns the payload of m (its Topic travels as the pub/sub
// channel).
func encodeMessage(m broker.Message) []byte {
	b := make([]byte, 0, 1+binary.MaxVarintLen64+1+len(m.Except)+len(m.Frame))
	b = append(b, byte(m.Kind))
	b = binary.AppendUvarint(b, m.Version)
	return appendTail(b, m.Except, m.Frame)
}

// messageTail is what follows the version: a script splices a version it
// decided between the kind byte and this.
func messageTail(except string, frame []byte) string {
	return string(appendTail(make([]byte, 0, 1+len(except)+len(frame)), except, frame))
}

func appendTail(b []byte, except string, frame []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(except)))
	b = append(b, except...)
	return append(b, frame...)
}

// decodeMessage parses a payload; it never panics. Except points into p.
func decodeMessage(t broker.Topic, p string) (broker.Message, error) {
	if len(p) < 3 {
		return broker.Message{}, errMalformed
	}
	kind := broker.MessageKind(p[0])
	if kind != broker.Frame && kind != broker.Terminate {
		return broker.Message{}, errMalformed
	}
	version, n := uvarint(p[1:])
	if n <= 0 {
		return broker.Message{}, errMalformed
	}
	p = p[1+n:]
	el, n := uvarint(p)
	if n <= 0 || el > maxExcept || el > uint64(len(p)-n) {
		return broker.Message{}, errMalformed
	}
	p = p[n:]
	m := broker.Message{Topic: t, Kind: kind, Version: version, Except: p[:el]}
	if rest := p[el:]; len(rest) > 0 {
		// One copy per message and node (not per subscriber): cheaper than
		// proving an unsafe alias of rueidis's string is never written.
		m.Frame = []byte(rest)
	}
	return m, nil
}

// uvarint is binary.Uvarint over a string (no copy).
func uvarint(s string) (uint64, int) {
	var x uint64
	var shift uint
	for i := 0; i < len(s) && i < binary.MaxVarintLen64; i++ {
		c := s[i]
		if c < 0x80 {
			if i == binary.MaxVarintLen64-1 && c > 1 {
				return 0, -(i + 1) // overflow
			}
			return x | uint64(c)<<shift, i + 1
		}
		x |= uint64(c&0x7f) << shift
		shift += 7
	}
	return 0, 0
}

// encodeCache stores a cache channel's last event as uvarint(len(event))
// event data.
func encodeCache(event, data string) string {
	b := make([]byte, 0, binary.MaxVarintLen64+len(event)+len(data))
	b = binary.AppendUvarint(b, uint64(len(event)))
	b = append(b, event...)
	return string(append(b, data...))
}

func decodeCache(s string) (event, data string, ok bool) {
	l, n := uvarint(s)
	if n <= 0 || l > uint64(len(s)-n) {
		return "", "", false
	}
	return s[n : n+int(l)], s[n+int(l):], true
}
