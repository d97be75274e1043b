// Package wsraw builds and reads WebSocket frames byte by byte (RFC 6455
// §5.2), for tests that must send what no WebSocket library would (orphan
// continuations, fragmented pings, unmasked or invalid UTF-8 frames) and
// see exactly what the server answers. Test code only; the server uses nbio.
package wsraw

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Opcodes.
const (
	OpContinuation = 0x0
	OpText         = 0x1
	OpBinary       = 0x2
	OpClose        = 0x8
	OpPing         = 0x9
	OpPong         = 0xA
)

// ClientFrame builds a masked client frame with the given FIN bit, opcode
// and payload (the shortest length encoding; a fixed mask).
func ClientFrame(fin bool, op byte, payload []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	b := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n <= 0xFFFF:
		b = binary.BigEndian.AppendUint16(append(b, 0x80|126), uint16(n))
	default:
		b = binary.BigEndian.AppendUint64(append(b, 0x80|127), uint64(n))
	}
	mask := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	b = append(b, mask[:]...)
	for i, c := range payload {
		b = append(b, c^mask[i%4])
	}
	return b
}

// Frame is one frame a server sent.
type Frame struct {
	Fin     bool
	Op      byte
	Payload []byte
}

// CloseCode is the code of a close frame (1005 when it carries none).
func (f Frame) CloseCode() int {
	if len(f.Payload) < 2 {
		return 1005
	}
	return int(binary.BigEndian.Uint16(f.Payload))
}

// MaxFrame bounds the frames ReadServerFrame accepts.
const MaxFrame = 16 << 20

// ReadServerFrame reads one (unmasked) server frame from br.
func ReadServerFrame(br *bufio.Reader) (Frame, error) {
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return Frame{}, err
	}
	if h[1]&0x80 != 0 {
		return Frame{}, errors.New("server frame is masked")
	}
	n := uint64(h[1] & 0x7F)
	switch n {
	case 126:
		var ext [2]byte
		if _, err := io.ReadFull(br, ext[:]); err != nil {
			return Frame{}, err
		}
		n = uint64(binary.BigEndian.Uint16(ext[:]))
	case 127:
		var ext [8]byte
		if _, err := io.ReadFull(br, ext[:]); err != nil {
			return Frame{}, err
		}
		n = binary.BigEndian.Uint64(ext[:])
	}
	if n > MaxFrame {
		return Frame{}, fmt.Errorf("server frame of %d bytes", n)
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(br, p); err != nil {
		return Frame{}, err
	}
	return Frame{Fin: h[0]&0x80 != 0, Op: h[0] & 0x0F, Payload: p}, nil
}
