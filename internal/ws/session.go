package ws

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lesismal/nbio"
	"github.com/lesismal/nbio/nbhttp/websocket"

	"github.com/heraldhq/herald/internal/apps"
	"github.com/heraldhq/herald/internal/hub"
	"github.com/heraldhq/herald/internal/protocol"
)

// session is one connection: the hub's Sink and the frame dispatcher.
type session struct {
	srv     *Server
	conn    *websocket.Conn
	remote  string
	app     *apps.App
	client  atomic.Pointer[hub.Client]
	closing atomic.Bool

	// Poller connections (raw != nil) write through the session's flusher
	// (writer.go); blocking-mode ones (TLS) through nbio's own send queue.
	raw     *nbio.Conn
	flusher *flusher
	writeMu sync.Mutex // held while taking and writing the pending bytes
	outMu   sync.Mutex // guards out, queued and shut
	out     *[]byte    // pending frames; nil while nothing is pending
	queued  bool       // on the flusher's queue (exactly once while true)
	shut    bool       // the close frame is written or pending: nothing may follow it
}

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
func (ss *session) Send(frame []byte) error { return ss.send(frame, true) }

// Queue appends one text frame to the connection's pending bytes, written
// by the session's flusher; the caller makes no syscall.
func (ss *session) Queue(frame []byte) error { return ss.send(frame, false) }

func (ss *session) send(frame []byte, direct bool) error {
	if ss.closing.Load() {
		return errClosing
	}
	if ss.raw == nil {
		err := ss.conn.WriteMessage(websocket.TextMessage, frame)
		if errors.Is(err, nbio.ErrOverflow) || errors.Is(err, websocket.ErrMessageSendQuqueIsFull) {
			return hub.ErrSlowConsumer
		}
		return err
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
			err := ss.writeNow(frame)
			ss.writeMu.Unlock()
			if errors.Is(err, nbio.ErrOverflow) {
				return hub.ErrSlowConsumer
			}
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
			if errors.Is(err, nbio.ErrOverflow) {
				return hub.ErrSlowConsumer
			}
			return err
		}
		ss.outMu.Lock()
	}
	if ss.shut {
		ss.outMu.Unlock()
		return errClosing
	}
	ss.appendLocked(func(b []byte) []byte {
		return append(appendFrameHeader(b, opText, len(frame)), frame...)
	})
	ss.outMu.Unlock()
	return nil
}

// writeNow frames and writes one payload; the caller holds writeMu.
func (ss *session) writeNow(frame []byte) error {
	buf := outBufPool.Get().(*[]byte)
	*buf = append(appendFrameHeader((*buf)[:0], opText, len(frame)), frame...)
	_, err := ss.raw.Write(*buf)
	if cap(*buf) <= maxPooledBuf {
		*buf = (*buf)[:0]
		outBufPool.Put(buf)
	}
	return err
}

// appendLocked appends to the pending bytes and queues the session on its
// flusher if it is not queued already; the caller holds outMu.
func (ss *session) appendLocked(add func([]byte) []byte) {
	if ss.out == nil {
		ss.out = outBufPool.Get().(*[]byte)
	}
	*ss.out = add(*ss.out)
	if !ss.queued {
		ss.queued = true
		ss.flusher.push(ss)
	}
}

// flushLocked writes the pending bytes with one syscall (nbio keeps what
// the socket does not take and writes it when the socket is writable). The
// caller holds writeMu, which makes taking the bytes and writing them one
// step, so no two writes of a connection can overtake each other. fromQueue
// is true for the flusher's call: only it takes the session off the queue,
// so a session is on its flusher's queue at most once.
func (ss *session) flushLocked(fromQueue bool) error {
	ss.outMu.Lock()
	buf := ss.out
	ss.out = nil
	if fromQueue {
		ss.queued = false
	}
	ss.outMu.Unlock()
	if buf == nil {
		return nil
	}
	_, err := ss.raw.Write(*buf)
	if cap(*buf) <= maxPooledBuf {
		*buf = (*buf)[:0]
		outBufPool.Put(buf)
	}
	return err
}

// flushQueued is the flusher's call.
func (ss *session) flushQueued() {
	ss.writeMu.Lock()
	err := ss.flushLocked(true)
	ss.writeMu.Unlock()
	if errors.Is(err, nbio.ErrOverflow) {
		// nbio has dropped the connection: its unsent bytes passed the bound.
		if c := ss.client.Load(); c != nil {
			c.SlowConsumer(err)
		}
	}
}

var errClosing = errors.New("connection closing")

// Close sends a close frame and drops the TCP connection after a short
// grace period, so the close frame (and anything before it) can arrive.
func (ss *session) Close(code int, reason string) {
	if !ss.closing.CompareAndSwap(false, true) {
		return
	}
	if ss.raw == nil {
		_ = ss.conn.WriteClose(code, closeReason(reason))
	} else {
		// Behind the frames already pending, so a pusher:error arrives
		// before the close frame that follows it; written now when no
		// other write is in progress, so a busy flusher cannot delay it
		// past the grace period below.
		ss.outMu.Lock()
		ss.shut = true
		ss.appendLocked(func(b []byte) []byte { return appendCloseFrame(b, code, reason) })
		ss.outMu.Unlock()
		if ss.writeMu.TryLock() {
			_ = ss.flushLocked(false)
			ss.writeMu.Unlock()
		}
	}
	conn := ss.conn
	time.AfterFunc(ss.srv.cfg.CloseDelay, func() { _ = conn.Close() })
}

// refuse reports a connection-level error the way pusher-js expects:
// pusher:error with the code, then a close frame with the same code.
func (ss *session) refuse(perr *protocol.Error) {
	_ = ss.Send(protocol.ErrorFrame(perr.Code, perr.Message))
	ss.Close(perr.Code, perr.Message)
}

// closed is the transport's close callback.
func (ss *session) closed() {
	ss.closing.Store(true)
	if c := ss.client.Load(); c != nil {
		ss.srv.hub.Disconnect(c)
	}
}

// handle dispatches one client frame.
func (ss *session) handle(data []byte) {
	c := ss.client.Load()
	if c == nil || ss.closing.Load() {
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
		if err := s.hub.Subscribe(c, d); err != nil {
			ss.subscribeError(c, d.Channel, err)
		}
	case f.Event == protocol.EventUnsubscribe:
		ch, err := protocol.ParseUnsubscribe(f.Data)
		if err != nil {
			ss.protocolError(c, err)
			return
		}
		s.hub.Unsubscribe(c, ch)
	case f.Event == protocol.EventSignin:
		d, err := protocol.ParseSignin(f.Data)
		if err != nil {
			ss.protocolError(c, &protocol.Error{Code: protocol.CodeUnauthorized, Message: err.Error(), Close: c.App().RequireSignin})
			return
		}
		if err := s.hub.Signin(c, d); err != nil {
			s.log.Warn("sign-in refused", "app_key", c.App().Key, "socket_id", c.SocketID(),
				"reason", truncate(err.Error(), 160), "remote", ss.remote)
			ss.protocolError(c, err)
		}
	case strings.HasPrefix(f.Event, protocol.ClientEventPrefix):
		if err := s.hub.ClientEvent(c, f); err != nil {
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
		ss.srv.log.Debug("protocol error", "app_key", c.App().Key, "socket_id", c.SocketID(), "code", perr.Code, "reason", perr.Message)
	}
	_ = ss.Send(protocol.ErrorFrame(perr.Code, perr.Message))
	if perr.Close {
		c.Close(perr.Code, perr.Message)
	}
}

func (ss *session) subscribeError(c *hub.Client, channel string, err error) {
	var se *hub.SubscriptionError
	if !errors.As(err, &se) {
		ss.protocolError(c, err)
		return
	}
	level := slog.LevelInfo
	if se.Type == "AuthError" {
		level = slog.LevelWarn // the audit trail of failed authorizations
	}
	ss.srv.log.Log(context.Background(), level, "subscription refused", "app_key", c.App().Key,
		"socket_id", c.SocketID(), "channel", truncate(channel, 200), "type", se.Type,
		"reason", truncate(se.Message, 160), "remote", ss.remote)
	_ = ss.Send(protocol.ErrorFrame(0, se.Message))
	_ = ss.Send(protocol.SubscriptionError(channel, se.Type, se.Message, se.Status))
}
