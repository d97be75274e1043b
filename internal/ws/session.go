package ws

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lesismal/nbio"
	"github.com/lesismal/nbio/nbhttp/websocket"

	"github.com/heraldhq/herald/internal/apps"
	"github.com/heraldhq/herald/internal/console"
	"github.com/heraldhq/herald/internal/hub"
	"github.com/heraldhq/herald/internal/logthrottle"
	"github.com/heraldhq/herald/internal/policy"
	"github.com/heraldhq/herald/internal/protocol"
)

// session is one connection: the hub's Sink and the frame dispatcher.
type session struct {
	srv    *Server
	conn   *websocket.Conn
	app    *apps.App
	client atomic.Pointer[hub.Client]
	// flags holds the state read without a lock (flagClosing...).
	flags atomic.Uint32
	// closeCode is the first close code sent or received (closedByPeer set
	// when received), for the debug console; 0 until then. Fits the padding
	// after flags.
	closeCode atomic.Int32
	// unsent is the bytes given to nbio that nbio has not written to the
	// socket yet (added in handLocked, taken off by Engine.OnWrittenSize);
	// it is bounded by Server.unsentMax.
	unsent atomic.Int64

	// Poller connections (raw != nil) write through the session's flusher
	// (writer.go), TLS ones through crypto/tls on top (tls.go); a TLS
	// connection that could not be moved to the poller stays in blocking
	// mode and writes through nbio's own send queue.
	raw     *nbio.Conn
	tls     *tls.Conn // set with raw for TLS connections
	pc      *pollConn // the transport under tls
	flusher *flusher
	writeMu sync.Mutex // held while taking and writing the pending bytes
	check   frameCheck // the peer's frame headers (framecheck.go); read side only

	outMu      sync.Mutex // guards out, closeFrame, queued and shut
	queued     bool       // on the flusher's queue (exactly once while true)
	shut       bool       // the close frame is written or pending: nothing may follow it
	out        *[]byte    // pending frames; nil while nothing is pending
	closeFrame *[]byte    // written after out (instead of it when over); nil until Close
}

// Session flags. A few bits in one word keep the per-connection state
// small (an idle connection costs about 2.5 KiB in all).
const (
	flagClosing uint32 = 1 << iota // Close was called, or the transport closed the connection
	// flagOver: the unsent bytes would have passed their bound; from then
	// on frames are dropped and only the close frame (4100) goes out.
	flagOver
	// flagFailed: the peer broke the WebSocket protocol; the rest of its
	// input is discarded while the close frame goes out.
	flagFailed
	flagSlotGate     // holds an admission slot (Gate.Connection): give it back when closed
	flagSlotRefusing // holds one of the slots of refusals in progress
	// flagReady: conn, raw and flusher are set. The poller may read a
	// connection before ServeHTTP has filled them in.
	flagReady
)

func (ss *session) has(f uint32) bool { return ss.flags.Load()&f != 0 }

// set sets f and reports whether it was set already.
func (ss *session) set(f uint32) (was bool) { return ss.flags.Or(f)&f != 0 }

var _ hub.Sink = (*session)(nil)

func (ss *session) setClient(c *hub.Client) { ss.client.Store(c) }

func (ss *session) touch() {
	if c := ss.client.Load(); c != nil {
		c.Touch()
	}
}

// Send writes one text frame: on this goroutine when nothing is pending for
// the connection (one syscall; nbio keeps what the socket does not take),
// otherwise behind the pending frames. It never blocks on the peer.
func (ss *session) Send(frame []byte) error { return ss.send(opText, frame, true) }

// Queue appends one text frame to the connection's pending bytes, written
// by the session's flusher; the caller makes no syscall.
func (ss *session) Queue(frame []byte) error { return ss.send(opText, frame, false) }

// pong answers a WebSocket ping. On poller connections it goes through the
// same writer as every other frame, so it counts against the connection's
// bound: a peer that floods pings and reads nothing is a slow consumer.
func (ss *session) pong(payload []byte) {
	if err := ss.send(opPong, payload, true); errors.Is(err, hub.ErrSlowConsumer) {
		ss.slow(err)
	}
}

// slow tells the hub that the connection is over its bound (the hub counts
// it and closes it with 4100); before admission there is no hub client, so
// the session closes itself.
func (ss *session) slow(err error) {
	if c := ss.client.Load(); c != nil {
		c.SlowConsumer(err)
		return
	}
	ss.Close(protocol.CodeOverCapacity, "Slow consumer: write buffer full")
}

func (ss *session) send(op byte, frame []byte, direct bool) error {
	if ss.has(flagClosing) {
		return errClosing
	}
	if ss.raw == nil {
		mt := websocket.TextMessage
		if op == opPong {
			mt = websocket.PongMessage
		}
		err := ss.conn.WriteMessage(mt, frame)
		if errors.Is(err, nbio.ErrOverflow) || errors.Is(err, websocket.ErrMessageSendQuqueIsFull) {
			return hub.ErrSlowConsumer
		}
		return err
	}
	if ss.has(flagOver) {
		return hub.ErrSlowConsumer
	}
	if direct && ss.writeMu.TryLock() {
		// Holding writeMu with nothing pending, no earlier frame can be
		// waiting for the flusher, so writing now keeps the order. If the
		// flusher holds writeMu, the frame is queued behind its write.
		ss.outMu.Lock()
		idle, shut := ss.out == nil, ss.shut
		ss.outMu.Unlock()
		if shut {
			ss.writeMu.Unlock()
			return errClosing
		}
		if idle {
			err := ss.writeNow(op, frame)
			ss.writeMu.Unlock()
			return err
		}
		ss.writeMu.Unlock()
	}
	ss.outMu.Lock()
	if ss.out != nil && len(*ss.out)+len(frame) > ss.srv.pendingMax {
		// A burst bigger than the coalescing buffer (a batch of large
		// events, or the flusher running behind): write what is pending
		// now, so only a peer that does not read (nbio's bound on unsent
		// bytes) counts as slow.
		ss.outMu.Unlock()
		ss.writeMu.Lock()
		err := ss.flushLocked(false)
		ss.writeMu.Unlock()
		if err != nil {
			return err
		}
		ss.outMu.Lock()
	}
	if ss.shut {
		ss.outMu.Unlock()
		return errClosing
	}
	if ss.out == nil {
		ss.out = outBufPool.Get().(*[]byte)
	}
	*ss.out = append(appendFrameHeader(*ss.out, op, len(frame)), frame...)
	ss.queueLocked()
	ss.outMu.Unlock()
	return nil
}

// writeNow frames and writes one payload; the caller holds writeMu.
func (ss *session) writeNow(op byte, frame []byte) error {
	buf := outBufPool.Get().(*[]byte)
	*buf = append(appendFrameHeader((*buf)[:0], op, len(frame)), frame...)
	err := ss.writeLocked(*buf)
	recycle(buf)
	return err
}

// writeLocked hands b to nbio unless that would leave more than the bound
// of unsent bytes on the connection; then it marks the connection over its
// bound and returns hub.ErrSlowConsumer. When nothing is unsent any frame
// may go, so one frame larger than the bound does not fail a peer that
// reads. The caller holds writeMu.
func (ss *session) writeLocked(b []byte) error {
	if ss.has(flagOver) {
		return hub.ErrSlowConsumer
	}
	if unsent := ss.unsent.Load(); unsent > 0 && unsent+int64(len(b)) > ss.srv.unsentMax {
		ss.set(flagOver)
		return hub.ErrSlowConsumer
	}
	return ss.handLocked(b)
}

// handLocked gives b to nbio, which writes what the socket takes and keeps
// the rest until the socket is writable. The caller holds writeMu.
func (ss *session) handLocked(b []byte) error {
	var err error
	if ss.tls != nil {
		_, err = ss.tls.Write(b) // one record per 16 KiB; pollConn counts the unsent bytes
	} else {
		ss.unsent.Add(int64(len(b)))
		_, err = ss.raw.Write(b)
	}
	if errors.Is(err, nbio.ErrOverflow) {
		return hub.ErrSlowConsumer
	}
	return err
}

// queueLocked puts the session on its flusher's queue unless it is there
// already; the caller holds outMu.
func (ss *session) queueLocked() {
	if !ss.queued {
		ss.queued = true
		ss.flusher.push(ss)
	}
}

func recycle(buf *[]byte) {
	if cap(*buf) <= maxPooledBuf {
		*buf = (*buf)[:0]
		outBufPool.Put(buf)
	}
}

// flushLocked writes the pending bytes with one syscall, then the close
// frame if Close has queued one. The caller holds writeMu, which makes
// taking the bytes and writing them one step, so no two writes of a
// connection can overtake each other. fromQueue is true for the flusher's
// call: only it takes the session off the queue, so a session is on its
// flusher's queue at most once.
func (ss *session) flushLocked(fromQueue bool) error {
	ss.outMu.Lock()
	buf, cf := ss.out, ss.closeFrame
	ss.out, ss.closeFrame = nil, nil
	if fromQueue {
		ss.queued = false
	}
	ss.outMu.Unlock()
	var err error
	if buf != nil {
		err = ss.writeLocked(*buf) // over the bound: dropped
		recycle(buf)
	}
	if cf != nil {
		// The close frame goes out even over the bound (the frames before
		// it were dropped instead): it is small, and it is how the peer
		// learns to back off and reconnect (4100) rather than see a reset.
		if cerr := ss.handLocked(*cf); err == nil {
			err = cerr
		}
	}
	return err
}

// flushQueued is the flusher's call.
func (ss *session) flushQueued() {
	ss.writeMu.Lock()
	err := ss.flushLocked(true)
	ss.writeMu.Unlock()
	if errors.Is(err, hub.ErrSlowConsumer) {
		ss.slow(err)
	}
}

var errClosing = errors.New("connection closing")

// logClient writes a log line the client caused, within the throttle's
// budgets for this connection (its socket id, or its address before
// admission) and its app.
func (ss *session) logClient(level slog.Level, msg string, args ...any) {
	key, app := logthrottle.AddrKey(ss.remoteAddr()), ""
	if c := ss.client.Load(); c != nil {
		key, app = c.SocketID(), c.App().ID
	} else if ss.app != nil {
		app = ss.app.ID
	}
	ss.srv.throttle.Log(ss.srv.log, level, key, app, msg, args...)
}

// remoteAddr is the peer's address, for logs ("" before the upgrade).
func (ss *session) remoteAddr() string {
	if ss.conn == nil {
		return ""
	}
	return ss.conn.RemoteAddr().String()
}

// Close sends a close frame and drops the TCP connection after a short
// grace period, so the close frame (and anything before it) can arrive.
// On a connection over its bound the frames still pending are dropped and
// only the close frame is written, behind what nbio already holds.
func (ss *session) Close(code int, reason string) {
	if ss.set(flagClosing) {
		return
	}
	ss.closeCode.CompareAndSwap(0, int32(code))
	delay := ss.srv.cfg.CloseDelay
	if ss.raw == nil {
		_ = ss.conn.WriteClose(code, closeReason(reason))
	} else {
		// Behind the frames already pending, so a pusher:error arrives
		// before the close frame that follows it; written now when no
		// other write is in progress, so a busy flusher cannot delay it
		// past the grace period below.
		ss.outMu.Lock()
		ss.shutLocked(appendCloseFrame(nil, code, reason), ss.has(flagOver))
		ss.queueLocked()
		ss.outMu.Unlock()
		if ss.writeMu.TryLock() {
			_ = ss.flushLocked(false)
			ss.writeMu.Unlock()
		}
		if ss.has(flagOver) {
			delay = ss.srv.cfg.SlowCloseDelay
			if c := ss.client.Load(); c != nil {
				// Leave the hub now (presence, counts) rather than after the
				// longer grace; not on this goroutine, which may hold a
				// shard lock (member events are queued under it).
				go ss.srv.hub.Disconnect(c)
			}
		}
	}
	var conn io.Closer = ss.conn
	if ss.tls != nil {
		// Not through nbio's websocket.Conn, which delays the close of a
		// connection it thinks blocking; crypto/tls sends close_notify.
		conn = ss.tls
	}
	time.AfterFunc(delay, func() { _ = conn.Close() })
}

// closeNow answers the peer's close frame with a close frame of payload,
// at once and as the last frame: the frames still pending are dropped
// (the peer has stopped reading them), and the transport closes the
// connection when this returns. When we have closed already, our own close
// frame is the answer: it is written now if it is still waiting.
func (ss *session) closeNow(payload []byte) {
	if ss.set(flagClosing) {
		if ss.raw != nil {
			ss.writeMu.Lock()
			_ = ss.flushLocked(false)
			ss.writeMu.Unlock()
		}
		return
	}
	if ss.raw == nil {
		_ = ss.conn.WriteMessage(websocket.CloseMessage, payload)
		return
	}
	ss.outMu.Lock()
	ss.shutLocked(append(appendFrameHeader(nil, opClose, len(payload)), payload...), true)
	ss.outMu.Unlock()
	ss.writeMu.Lock()
	_ = ss.flushLocked(false)
	ss.writeMu.Unlock()
}

// shutLocked makes cf the connection's last frame (nothing may be queued
// after it) and, when drop, drops the frames still pending before it; the
// caller holds outMu.
func (ss *session) shutLocked(cf []byte, drop bool) {
	ss.shut = true
	ss.closeFrame = &cf
	if drop && ss.out != nil {
		recycle(ss.out)
		ss.out = nil
	}
}

// refuse reports a connection-level error the way pusher-js expects:
// pusher:error with the code, then a close frame with the same code.
func (ss *session) refuse(perr *protocol.Error) {
	_ = ss.Send(protocol.ErrorFrame(perr.Code, perr.Message))
	ss.Close(perr.Code, perr.Message)
}

// releaseOnce gives back the admission or refusal slot the connection
// holds, once.
func (ss *session) releaseOnce() {
	old := ss.flags.And(^(flagSlotGate | flagSlotRefusing))
	if old&flagSlotGate != 0 {
		ss.srv.gate.Closed()
	}
	if old&flagSlotRefusing != 0 {
		ss.srv.refusing.Add(-1)
	}
}

// closed is the transport's close callback.
func (ss *session) closed() {
	ss.set(flagClosing)
	ss.releaseOnce()
	if c := ss.client.Load(); c != nil {
		ss.srv.hub.Disconnect(c)
		ss.showClosed(c)
	}
}

// closedByPeer marks a close code the peer sent (session.closeCode).
const closedByPeer = 1 << 16

// showClosed reports the end of an admitted connection to the debug console.
func (ss *session) showClosed(c *hub.Client) {
	appID := c.App().ID
	if !ss.srv.console.Watching(appID) {
		return
	}
	e := console.Event{Type: console.ConnectionClosed, SocketID: c.SocketID(), Remote: ss.remoteAddr()}
	switch code := ss.closeCode.Load(); {
	case code == 0:
		e.Code, e.Detail = 1006, "connection lost without a close frame"
	case code&closedByPeer != 0:
		e.Code, e.Detail = int(code&^closedByPeer), "closed by the client"
	default:
		e.Code, e.Detail = int(code), "closed by the server"
	}
	ss.srv.console.Emit(appID, e)
}

// handle dispatches one client frame.
func (ss *session) handle(data []byte) {
	c := ss.client.Load()
	if c == nil || ss.has(flagClosing) {
		return // not admitted (yet): pusher-js never sends before connection_established
	}
	c.Touch()
	s := ss.srv
	s.m.MessagesReceived.WithLabelValues(c.App().ID).Inc()

	f, err := protocol.DecodeFrame(data)
	if err != nil {
		ss.protocolError(c, err)
		return
	}
	switch {
	case f.Event == protocol.EventPing:
		_ = ss.Send(protocol.Pong())
	case f.Event == protocol.EventPong:
		// activity only
	case f.Event == protocol.EventSubscribe:
		d, err := protocol.ParseSubscribe(f.Data)
		if err != nil {
			ss.protocolError(c, err)
			return
		}
		if err := s.hub.Subscribe(context.Background(), c, d); err != nil {
			ss.subscribeError(c, d.Channel, err)
		}
	case f.Event == protocol.EventUnsubscribe:
		ch, err := protocol.ParseUnsubscribe(f.Data)
		if err != nil {
			ss.protocolError(c, err)
			return
		}
		s.hub.Unsubscribe(context.Background(), c, ch)
	case f.Event == protocol.EventSignin:
		d, err := protocol.ParseSignin(f.Data)
		if err != nil {
			ss.protocolError(c, &protocol.Error{Code: protocol.CodeUnauthorized, Message: protocol.MessageOf(err), Close: c.App().RequireSignin})
			return
		}
		if err := s.hub.Signin(context.Background(), c, d); err != nil {
			ss.logClient(slog.LevelWarn, "sign-in refused", "app_key", c.App().Key, "socket_id", c.SocketID(),
				"reason", truncate(err.Error(), 160), "remote", ss.remoteAddr())
			ss.protocolError(c, err)
		}
	case strings.HasPrefix(f.Event, protocol.ClientEventPrefix):
		if err := s.hub.ClientEvent(context.Background(), c, f); err != nil {
			ss.protocolError(c, err)
		}
	case strings.HasPrefix(f.Event, "pusher:"), strings.HasPrefix(f.Event, "pusher_internal:"):
		// Unknown protocol events are ignored, as the protocol asks.
	default:
		ss.protocolError(c, &protocol.Error{Code: 0, Message: "Unsupported event " + truncate(f.Event, 200) + ": client events must start with client-"})
	}
}

func (ss *session) protocolError(c *hub.Client, err error) {
	ss.srv.m.ProtocolErrors.WithLabelValues(c.App().ID).Inc()
	var perr *protocol.Error
	if !errors.As(err, &perr) {
		perr = &protocol.Error{Code: 0, Message: err.Error()}
	}
	if ss.srv.log.Enabled(context.Background(), slog.LevelDebug) {
		ss.logClient(slog.LevelDebug, "protocol error", "app_key", c.App().Key, "socket_id", c.SocketID(), "code", perr.Code, "reason", perr.Message)
	}
	_ = ss.Send(protocol.ErrorFrame(perr.Code, perr.Message))
	if perr.Close {
		c.Close(perr.Code, perr.Message)
	}
}

func (ss *session) subscribeError(c *hub.Client, channel string, err error) {
	var se *policy.SubscriptionError
	if !errors.As(err, &se) {
		ss.protocolError(c, err)
		return
	}
	level := slog.LevelInfo
	if se.Type == "AuthError" {
		level = slog.LevelWarn // the audit trail of failed authorizations
	}
	ss.logClient(level, "subscription refused", "app_key", c.App().Key,
		"socket_id", c.SocketID(), "channel", truncate(channel, 200), "type", se.Type,
		"reason", truncate(se.Message, 160), "remote", ss.remoteAddr())
	_ = ss.Send(protocol.ErrorFrame(0, se.Message))
	_ = ss.Send(protocol.SubscriptionError(channel, se.Type, se.Message, se.Status))
}
