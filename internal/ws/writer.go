package ws

import (
	"encoding/binary"
	"strings"
	"sync"
	"unicode/utf8"
)

// Outgoing frames on poller connections do not go straight to the socket.
// Send appends the WebSocket frame to the session's pending buffer and, if
// the session is not queued yet, queues it on its flusher; the flusher
// writes everything pending for a session with one syscall. A broadcast to
// 10,000 subscribers therefore costs the publisher 10,000 appends (well
// under a millisecond) instead of 10,000 write syscalls, the writes run on
// every core, and when the flushers fall behind, the frames that piled up
// for a connection go out together: the busier the server, the fewer
// syscalls per delivery. Each session always uses the same flusher, which
// handles its queue in order, so a connection's frames keep their order.

// maxPooledBuf caps the buffers kept for reuse, so one burst to a slow
// connection does not pin a large buffer forever.
const maxPooledBuf = 64 << 10

var outBufPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// flusher owns a queue of sessions with pending bytes. Publishers never
// block on it: a session is on it at most once (session.queued), so the
// queue is bounded by the number of connections.
type flusher struct {
	mu    sync.Mutex
	queue []*session
	spare []*session
	wake  chan struct{} // capacity 1: "the queue is not empty"
}

func newFlusher() *flusher { return &flusher{wake: make(chan struct{}, 1)} }

func (f *flusher) push(ss *session) {
	f.mu.Lock()
	f.queue = append(f.queue, ss)
	first := len(f.queue) == 1
	f.mu.Unlock()
	if first {
		select {
		case f.wake <- struct{}{}:
		default:
		}
	}
}

// run flushes queued sessions until stop is closed; then it flushes what is
// still queued (close frames of a graceful shutdown) and returns.
func (f *flusher) run(stop <-chan struct{}) {
	for {
		select {
		case <-f.wake:
			f.drain(0, stop)
		case <-stop:
			f.drain(stopPasses, nil)
			return
		}
	}
}

// stopPasses bounds the final drain, so a peer that keeps generating
// frames (client events) cannot hold shutdown.
const stopPasses = 4

// drain flushes queued sessions until the queue is empty, or for at most
// maxPasses swaps of the queue when maxPasses > 0, or until stop is closed
// (checked between passes).
func (f *flusher) drain(maxPasses int, stop <-chan struct{}) {
	for pass := 0; maxPasses <= 0 || pass < maxPasses; pass++ {
		select {
		case <-stop:
			return // run's final, bounded drain takes over
		default:
		}
		f.mu.Lock()
		batch := f.queue
		f.queue = f.spare[:0]
		f.spare = nil
		f.mu.Unlock()
		if len(batch) == 0 {
			f.mu.Lock()
			f.spare = batch
			f.mu.Unlock()
			return
		}
		for i, ss := range batch {
			ss.flushQueued()
			batch[i] = nil
		}
		f.mu.Lock()
		if f.spare == nil || cap(batch) > cap(f.spare) {
			f.spare = batch[:0]
		}
		f.mu.Unlock()
	}
}

// appendFrameHeader appends the header of an unmasked, unfragmented server
// frame (RFC 6455 §5.2) with the given opcode and payload length. Encoding
// it here lets a broadcast copy one prepared payload into each pending
// buffer; nbio has no call that frames into a caller's buffer.
func appendFrameHeader(b []byte, opcode byte, n int) []byte {
	b = append(b, 0x80|opcode)
	switch {
	case n < 126:
		return append(b, byte(n))
	case n <= 0xFFFF:
		return binary.BigEndian.AppendUint16(append(b, 126), uint16(n))
	default:
		return binary.BigEndian.AppendUint64(append(b, 127), uint64(n))
	}
}

const (
	opText  = 0x1
	opClose = 0x8
	opPong  = 0xA
)

// closePayloadMax is the longest close payload (RFC 6455 §5.5): 2 bytes of
// code and at most 123 bytes of reason.
const closePayloadMax = 125

// closeReason makes reason fit a close frame: valid UTF-8 (it may quote
// client input) and at most 123 bytes, never cut inside a character.
func closeReason(reason string) string {
	reason = strings.ToValidUTF8(reason, "?")
	if len(reason) > closePayloadMax-2 {
		n := closePayloadMax - 2
		for n > 0 && !utf8.RuneStart(reason[n]) {
			n--
		}
		reason = reason[:n]
	}
	return reason
}

func appendCloseFrame(b []byte, code int, reason string) []byte {
	reason = closeReason(reason)
	b = appendFrameHeader(b, opClose, 2+len(reason))
	b = binary.BigEndian.AppendUint16(b, uint16(code))
	return append(b, reason...)
}
