package ws

import (
	"errors"
	"log/slog"
	"net"
	"runtime/debug"
	"time"
	"unicode/utf8"

	"github.com/lesismal/nbio"
	"github.com/lesismal/nbio/nbhttp/websocket"

	"github.com/heraldhq/herald/internal/logthrottle"
	"github.com/heraldhq/herald/internal/nbiofix"
)

// The read side. Every byte a client sends passes frameCheck before nbio
// parses it, so a protocol violation is answered with a close frame (1002,
// 1009) written behind the frames already queued, and the rest of that
// client's input is discarded until the grace period drops the
// connection; reading on keeps the socket's receive queue empty, so the
// final close sends FIN rather than a reset that would destroy the close
// frame in flight.

// onData replaces nbhttp's per-connection data callback for connections
// on the poller (set with Engine.OnData before Start).
func (s *Server) onData(c *nbio.Conn, data []byte) {
	wsc, ok := c.Session().(*websocket.Conn)
	if !ok {
		if nbiofix.Seen(c) {
			return
		}
		if h := c.DataHandler(); h != nil {
			h(c, data)
		}
		return
	}
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("websocket parse panicked", "remote", c.RemoteAddr().String(), "panic", r, "stack", string(debug.Stack()))
			_ = c.Close()
		}
	}()
	ss := s.sessionOf(wsc)
	// A TLS session is ready before its socket reaches the poller (tls.go);
	// the flag is read first, so its fields are seen as written.
	if ss != nil && ss.has(flagReady) && ss.tls != nil {
		s.readTLS(c, ss, wsc, data)
		return
	}
	s.consume(ss, wsc, data, func(err error) { s.dropParse(c, err) })
}

// dropParse closes a connection whose bytes nbio's parser refused. The
// frame check should have caught whatever the parser refuses; say so when
// it did not, since the client sees only a dropped connection.
func (s *Server) dropParse(c *nbio.Conn, err error) {
	s.throttle.Log(s.log, slog.LevelWarn, logthrottle.AddrKey(c.RemoteAddr().String()), "", "websocket parse failed: connection dropped",
		"err", err, "remote", c.RemoteAddr().String())
	_ = c.CloseWithError(err)
}

// readBlocking is the read loop of a connection nbio keeps in blocking mode
// (a TLS connection that could not be moved to the poller): the same checks
// as onData, on the connection's own goroutine.
func (s *Server) readBlocking(ss *session, wsc *websocket.Conn) {
	buf := make([]byte, 16<<10)
	var err error
	defer func() { wsc.CloseAndClean(err) }()
	for {
		var n int
		n, err = wsc.Conn.Read(buf)
		if err != nil {
			return
		}
		failed := false
		s.consume(ss, wsc, buf[:n], func(e error) { err, failed = e, true })
		if failed {
			return
		}
	}
}

// consume checks and parses one read. drop is called when nbio's parser
// fails in a way the frame check did not foresee (the connection is then
// closed without more ado).
func (s *Server) consume(ss *session, wsc *websocket.Conn, data []byte, drop func(error)) {
	if ss == nil {
		// Not attached yet (cannot happen after Upgrade has returned):
		// parse as nbio would.
		if err := wsc.Parse(data); err != nil {
			drop(err)
		}
		return
	}
	if ss.has(flagFailed) {
		return
	}
	if fault := ss.check.feed(data, s.cfg.MaxFrameBytes); fault != nil {
		if fault.at > 0 {
			if err := wsc.Parse(data[:fault.at]); err != nil && !errors.Is(err, net.ErrClosed) {
				drop(err)
				return
			}
		}
		s.failProtocol(ss, wsc, fault.code, fault.reason)
		return
	}
	if err := wsc.Parse(data); err != nil && !errors.Is(err, net.ErrClosed) {
		drop(err)
	}
}

// failProtocol closes a connection whose peer broke the WebSocket protocol
// with code (RFC 6455 §7.4.1), behind what is already queued for it.
func (s *Server) failProtocol(ss *session, wsc *websocket.Conn, code int, reason string) {
	if ss.set(flagFailed) {
		return
	}
	s.m.WSProtocolFailures.WithLabelValues(closeCodeLabel(code)).Inc()
	if !ss.has(flagReady) {
		// Bytes that came before ServeHTTP finished with the session: no
		// writer yet, so nbio writes the close frame.
		ss.set(flagClosing)
		_ = wsc.WriteClose(code, closeReason(reason))
		time.AfterFunc(s.cfg.CloseDelay, func() { _ = wsc.Close() })
		return
	}
	ss.logClient(slog.LevelInfo, "websocket protocol error", "code", code, "reason", reason, "remote", ss.remoteAddr())
	if c := ss.client.Load(); c != nil {
		c.Close(code, reason)
		return
	}
	ss.Close(code, reason)
}

// validText reports whether a text message may be handled: nbio's own
// check is turned off (it answers with 1002 and drops the connection at
// once), so invalid UTF-8 is answered here with 1007.
func (s *Server) validText(ss *session, c *websocket.Conn, mt websocket.MessageType, data []byte) bool {
	if mt != websocket.TextMessage || utf8.Valid(data) {
		return true
	}
	s.failProtocol(ss, c, closeInvalidData, "Text frames must be valid UTF-8")
	return false
}

func closeCodeLabel(code int) string {
	switch code {
	case closeProtocolError:
		return "1002"
	case closeInvalidData:
		return "1007"
	case closeTooBig:
		return "1009"
	}
	return "other"
}
