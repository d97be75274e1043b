package ws

import (
	"context"
	"errors"
	"log/slog"
	"strings"
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
}

var _ hub.Sink = (*session)(nil)

func (ss *session) setClient(c *hub.Client) { ss.client.Store(c) }

func (ss *session) touch() {
	if c := ss.client.Load(); c != nil {
		c.Touch()
	}
}

// Send queues one text frame. nbio writes without blocking and keeps unsent
// bytes per connection up to the configured bound, past which it errors.
func (ss *session) Send(frame []byte) error {
	if ss.closing.Load() {
		return errClosing
	}
	err := ss.conn.WriteMessage(websocket.TextMessage, frame)
	if errors.Is(err, nbio.ErrOverflow) {
		return hub.ErrSlowConsumer
	}
	return err
}

var errClosing = errors.New("connection closing")

// Close sends a close frame and drops the TCP connection after a short
// grace period, so the close frame (and anything before it) can arrive.
func (ss *session) Close(code int, reason string) {
	if !ss.closing.CompareAndSwap(false, true) {
		return
	}
	_ = ss.conn.WriteClose(code, reason)
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
	case f.Event == "pusher:ping":
		_ = ss.Send(protocol.Pong())
	case f.Event == "pusher:pong":
		// activity only
	case f.Event == "pusher:subscribe":
		d, err := protocol.ParseSubscribe(f.Data)
		if err != nil {
			ss.protocolError(c, err)
			return
		}
		if err := s.hub.Subscribe(c, d); err != nil {
			ss.subscribeError(c, d.Channel, err)
		}
	case f.Event == "pusher:unsubscribe":
		ch, err := protocol.ParseUnsubscribe(f.Data)
		if err != nil {
			ss.protocolError(c, err)
			return
		}
		s.hub.Unsubscribe(c, ch)
	case f.Event == "pusher:signin":
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
	case strings.HasPrefix(f.Event, "client-"):
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
