package ws

import (
	"encoding/binary"
	"math"
	"strconv"
)

// frameCheck validates the headers of a client's frames as the bytes
// arrive, before nbio parses them. nbio drops the TCP connection without a
// close frame on some protocol violations (an orphan continuation frame, a
// fragmented ping) and answers others in ways clients cannot read; RFC 6455
// §7.4.1 asks for close 1002 (protocol error) and 1009 (too big), written
// behind whatever is already queued for the connection. Only headers are
// looked at: payloads are skipped, so the cost is a few comparisons per
// frame. A connection's reads are handled by one goroutine at a time, so
// the state needs no lock.
type frameCheck struct {
	hdr   [14]byte // the header being collected (2 + up to 8 + 4 bytes)
	have  uint8    // bytes of hdr collected
	inMsg bool     // a fragmented data message is open
	// Payload bytes of the current frame still to pass over, and of the
	// open message so far. Both stay under maxMsg (a larger frame is a
	// fault), so 32 bits do, with maxMsg below 4 GiB.
	skip   uint32
	msgLen uint32
}

// frameFault is a frame the connection must be failed for.
type frameFault struct {
	code   int    // close code: 1002 or 1009
	reason string // close reason
	at     int    // offset in the fed bytes where the bad frame starts (0 if it began in an earlier read)
}

const (
	closeProtocolError = 1002
	closeInvalidData   = 1007 // text that is not UTF-8
	closeTooBig        = 1009
)

// feed scans data and returns the first bad frame, or nil. maxMsg bounds a
// message's payload (all its fragments); 0 means 4 GiB. After a fault the
// state is undefined: the connection is being closed.
func (f *frameCheck) feed(data []byte, maxMsg int) *frameFault {
	i := 0
	for i < len(data) {
		if f.skip > 0 {
			n := min(len(data)-i, int(f.skip))
			i += n
			f.skip -= uint32(n)
			continue
		}
		start := max(i-int(f.have), 0)
		need := f.headerLen()
		for int(f.have) < need && i < len(data) {
			f.hdr[f.have] = data[i]
			f.have++
			i++
			need = f.headerLen()
		}
		if int(f.have) < need {
			return nil // the rest of the header comes in a later read
		}
		if fault := f.check(maxMsg); fault != nil {
			fault.at = start
			return fault
		}
		f.have = 0
	}
	return nil
}

// headerLen is the length of the header being collected, as far as the
// bytes collected so far tell (2 until the length byte is known).
func (f *frameCheck) headerLen() int {
	if f.have < 2 {
		return 2
	}
	n := 2
	switch f.hdr[1] & 0x7F {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if f.hdr[1]&0x80 != 0 {
		n += 4
	}
	return n
}

// check judges the complete header in hdr and, when it is good, sets up
// skipping its payload and the message state.
func (f *frameCheck) check(maxMsg int) *frameFault {
	b0, b1 := f.hdr[0], f.hdr[1]
	fin, rsv, op := b0&0x80 != 0, b0&0x70, b0&0x0F
	var length uint64
	switch n := b1 & 0x7F; n {
	case 126:
		length = uint64(binary.BigEndian.Uint16(f.hdr[2:4]))
	case 127:
		length = binary.BigEndian.Uint64(f.hdr[2:10])
	default:
		length = uint64(n)
	}
	bad := func(reason string) *frameFault { return &frameFault{code: closeProtocolError, reason: reason} }
	switch {
	case rsv != 0:
		return bad("Reserved bits set (no extension was negotiated)")
	case b1&0x80 == 0:
		return bad("Client frames must be masked")
	case op >= 0x8: // control frame
		switch {
		case op > 0xA:
			return bad("Reserved opcode")
		case !fin:
			return bad("Control frames must not be fragmented")
		case length > 125:
			return bad("Control frame longer than 125 bytes")
		}
	case op == 0x0:
		if !f.inMsg {
			return bad("Continuation frame without a message to continue")
		}
	case op == 0x1 || op == 0x2:
		if f.inMsg {
			return bad("New message before the fragmented one ended")
		}
		f.msgLen = 0
	default:
		return bad("Reserved opcode")
	}
	limit := uint64(min(uint(maxMsg), math.MaxUint32))
	if maxMsg <= 0 {
		limit = math.MaxUint32
	}
	if op < 0x8 {
		if length > limit || uint64(f.msgLen)+length > limit {
			return &frameFault{code: closeTooBig, reason: "Message larger than " + strconv.FormatUint(limit, 10) + " bytes"}
		}
		f.msgLen += uint32(length)
		f.inMsg = !fin
	}
	f.skip = uint32(length) // <= 125 for control frames
	return nil
}
