// Package ws is the /app/{key} edge: it upgrades HTTP requests to
// WebSocket, checks the app and protocol version, reads frames and turns
// them into hub calls, and turns hub answers into Pusher frames and close
// codes. It is the only package that imports the WebSocket library (nbio:
// connections live on an epoll poller without a goroutine each; see
// docs/design.md).
package ws

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/lesismal/nbio"
	"github.com/lesismal/nbio/nbhttp"
	"github.com/lesismal/nbio/nbhttp/websocket"

	"github.com/heraldhq/herald/internal/admission"
	"github.com/heraldhq/herald/internal/apps"
	"github.com/heraldhq/herald/internal/console"
	"github.com/heraldhq/herald/internal/hub"
	"github.com/heraldhq/herald/internal/logthrottle"
	"github.com/heraldhq/herald/internal/metrics"
	"github.com/heraldhq/herald/internal/nbiofix"
	"github.com/heraldhq/herald/internal/protocol"
)

// Config bounds the edge. Zero values mean the documented default.
type Config struct {
	MaxFrameBytes    int // default 100 KiB; larger frames are closed with 1009
	WriteBufferBytes int // default 1 MiB of unsent bytes per connection before 4100
	MaxConnections   int // default 1,000,000: poller capacity of this node
	// MaxRefusing bounds the connections being refused at once (upgraded
	// to send 4100, then closed); past it a refusal is a plain HTTP 503,
	// so a flood of refused clients cannot hold descriptors. Default 64.
	MaxRefusing int
	// CloseDelay is how long we wait after our close frame for the client to
	// close before dropping the TCP connection. Default 1s.
	CloseDelay time.Duration
	// SlowCloseDelay is CloseDelay for a slow consumer (4100): its close
	// frame waits behind up to WriteBufferBytes that it has not read yet,
	// so a client that resumes reading within this time still sees 4100.
	// Default 5s; the connection has left the hub at once.
	SlowCloseDelay time.Duration
	// Flushers is the number of goroutines writing outgoing frames.
	// Default GOMAXPROCS.
	Flushers int
}

func (c *Config) setDefaults() {
	if c.MaxFrameBytes <= 0 {
		c.MaxFrameBytes = 100 << 10
	}
	if c.WriteBufferBytes <= 0 {
		c.WriteBufferBytes = 1 << 20
	}
	if c.MaxConnections <= 0 {
		c.MaxConnections = 1_000_000
	}
	if c.MaxRefusing <= 0 {
		c.MaxRefusing = 64
	}
	if c.CloseDelay <= 0 {
		c.CloseDelay = time.Second
	}
	if c.SlowCloseDelay <= 0 {
		c.SlowCloseDelay = 5 * time.Second
	}
}

// Deps are the edge's collaborators.
type Deps struct {
	Hub     *hub.Hub
	Apps    apps.Store
	Logger  *slog.Logger
	Metrics *metrics.Metrics
	// Throttle bounds the log lines clients can cause; nil writes them all.
	Throttle *logthrottle.Throttle
	// Gate admits new connections (max_connections, memory); nil admits all.
	Gate *admission.Gate
	// Console receives the debug console's events (connections opened and
	// closed, refused keys and origins); nil emits nothing.
	Console *console.Feed
}

// Server upgrades and serves WebSocket connections.
type Server struct {
	cfg      Config
	hub      *hub.Hub
	apps     apps.Store
	log      *slog.Logger
	throttle *logthrottle.Throttle
	gate     *admission.Gate
	m        *metrics.Metrics
	console  *console.Feed // nil: no debug console
	engine   *nbhttp.Engine
	upgrader *websocket.Upgrader

	// pending holds sessions between the upgrade and SetSession, keyed by
	// remote address, because nbio may deliver a first message before the
	// handler regains control.
	pending sync.Map

	flushers    []*flusher // one per core; a session sticks to one (writer.go)
	nextFlusher atomic.Uint32
	stopFlush   chan struct{}
	flushDone   sync.WaitGroup
	stopOnce    sync.Once
	pendingMax  int   // pending bytes per connection before a write-through
	unsentMax   int64 // bytes nbio may hold unsent per connection before 4100
	refusing    atomic.Int64
}

// maxPending bounds a connection's bytes waiting to be coalesced.
const maxPending = 64 << 10

// New builds the edge; Start must be called before serving.
func New(cfg Config, deps Deps) *Server {
	cfg.setDefaults()
	s := &Server{
		cfg:      cfg,
		hub:      deps.Hub,
		apps:     deps.Apps,
		log:      deps.Logger.With("component", "ws"),
		throttle: deps.Throttle,
		gate:     deps.Gate,
		m:        deps.Metrics,
		console:  deps.Console,
	}
	routeNbioLogs(deps.Logger)
	n := cfg.Flushers
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	s.stopFlush = make(chan struct{})
	// Bytes waiting to be coalesced come on top of nbio's bound on unsent
	// bytes (WriteBufferBytes), so they are kept small.
	s.pendingMax = min(cfg.WriteBufferBytes, maxPending)
	s.unsentMax = int64(cfg.WriteBufferBytes)
	for range n {
		s.flushers = append(s.flushers, newFlusher())
	}
	// nbio's own bound on unsent bytes is off: it drops the connection
	// without a close frame. The session counts what it hands to nbio and
	// what nbio writes (OnWrittenSize) and closes with 4100 past
	// WriteBufferBytes (session.writeLocked).
	s.engine = nbhttp.NewEngine(nbhttp.Config{
		Name:              "herald-ws",
		MaxLoad:           cfg.MaxConnections,
		SupportServerOnly: true, // no client connections: no client task pool (1 MiB)
	})
	s.engine.OnWrittenSize(func(c *nbio.Conn, _ []byte, n int) {
		if wsc, ok := c.Session().(*websocket.Conn); ok {
			if ss, ok := wsc.Session().(*session); ok {
				ss.unsent.Add(-int64(n))
			}
		}
	})
	s.engine.OnData(s.onData)                              // read.go: frame checks before nbio's parser
	s.engine.CheckUtf8 = func([]byte) bool { return true } // checked in onMessage, answered with 1007
	u := websocket.NewUpgrader()
	u.Engine = s.engine
	u.CheckOrigin = func(*http.Request) bool { return true }
	// frameCheck enforces MaxFrameBytes first (with 1009 behind the queued
	// frames); nbio's own check also counts a ping inside a fragmented
	// message, so it gets room for one control frame.
	u.MessageLengthLimit = cfg.MaxFrameBytes + 125
	u.KeepaliveTime = 0 // liveness is the hub's sweeper, not a per-connection timer
	u.BlockingModTrasferConnToPoller = true
	u.BlockingModSendQueueMaxSize = 4096 // TLS connections stay in blocking mode: bound their queue
	u.BlockingModHandleRead = false      // their read loop is readBlocking, with the frame checks
	u.OnOpen(s.onOpen)
	u.OnMessage(s.onMessage)
	u.OnClose(s.onClose)
	u.SetPingHandler(func(c *websocket.Conn, data string) {
		if ss := s.sessionOf(c); ss != nil && ss.has(flagReady) {
			ss.touch()
			ss.pong([]byte(data))
			return
		}
		_ = c.WriteMessage(websocket.PongMessage, []byte(data)) // before the session is ready
	})
	// The peer's close frame is answered here rather than by nbio's
	// default handler, because nbio's UTF-8 check is off (onMessage checks
	// text): a reason that is not UTF-8 gets 1007 instead of an echo of it.
	// nbio drops the connection right after this handler returns.
	u.SetCloseHandler(func(c *websocket.Conn, code int, reason string) {
		var payload []byte
		switch {
		case !utf8.ValidString(reason):
			payload = binary.BigEndian.AppendUint16(nil, closeInvalidData)
			payload = append(payload, "Close reason must be valid UTF-8"...)
		case code != 1005: // 1005: the peer sent no code, so none is echoed
			payload = append(binary.BigEndian.AppendUint16(nil, uint16(code)), reason...)
		}
		if ss := s.sessionOf(c); ss != nil && ss.has(flagReady) {
			answer := func() {
				ss.closeCode.CompareAndSwap(0, int32(code)|closedByPeer)
				ss.closeNow(payload)
			}
			if ss.tls != nil {
				// Behind the messages before it, which onMessage handed to
				// the connection's executor (closing first would drop them).
				ss.raw.Execute(answer)
				return
			}
			answer()
			return
		}
		_ = c.WriteMessage(websocket.CloseMessage, payload) // before the session is ready
	})
	u.SetPongHandler(func(c *websocket.Conn, _ string) {
		if ss := s.sessionOf(c); ss != nil {
			ss.touch()
		}
	})
	s.upgrader = u
	return s
}

// Start starts the poller and the flushers.
func (s *Server) Start() error {
	if err := s.engine.Start(); err != nil {
		return err
	}
	// Stop must not run before the pollers do (internal/nbiofix).
	if err := nbiofix.Await(s.engine.Engine, 10*time.Second); err != nil {
		_ = s.engine.Shutdown(context.Background())
		return err
	}
	for _, f := range s.flushers {
		s.flushDone.Add(1)
		go func() {
			defer s.flushDone.Done()
			f.run(s.stopFlush)
		}()
	}
	return nil
}

// Stop writes what is still pending (bounded passes; flushers never block,
// writes are non-blocking), then stops the poller; every remaining
// connection is dropped.
func (s *Server) Stop(ctx context.Context) error {
	s.stopOnce.Do(func() { close(s.stopFlush) })
	done := make(chan struct{})
	go func() { s.flushDone.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	return s.engine.Shutdown(ctx)
}

// ServeHTTP upgrades the request. Everything that is wrong with it is
// reported the Pusher way: upgrade, send pusher:error, close with the code.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request, path string) {
	ss := &session{srv: s}
	var capacity *protocol.Error
	if ok, reason := s.gate.Connection(); ok {
		ss.flags.Store(flagSlotGate)
	} else {
		if s.refusing.Add(1) > int64(s.cfg.MaxRefusing) {
			s.refusing.Add(-1)
			s.m.ConnectionsRejected.WithLabelValues("503").Inc()
			s.throttle.Log(s.log, slog.LevelWarn, logthrottle.AddrKey(r.RemoteAddr), "", "connection refused with 503: too many refusals in progress",
				"reason", reason, "remote", r.RemoteAddr)
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Retry-After", "1")
			w.Header().Set("Connection", "close")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"error":"Over capacity, try again later","code":503}`))
			return
		}
		ss.flags.Store(flagSlotRefusing)
		capacity = &protocol.Error{Code: protocol.CodeOverCapacity, Message: overCapacityMessage(reason), Close: true}
	}
	s.pending.Store(r.RemoteAddr, ss)
	hw := &hijackTracker{ResponseWriter: w}
	// nbio duplicates the connection's descriptor (internal/nbiofix).
	conn, err := nbiofix.Duplicating(func() (*websocket.Conn, error) { return s.upgrader.Upgrade(hw, r, nil) },
		func(c *websocket.Conn) *nbio.Conn { nc, _ := c.Conn.(*nbio.Conn); return nc })
	s.pending.Delete(r.RemoteAddr)
	if err != nil {
		ss.releaseOnce()
		if hw.conn != nil {
			// nbio failed after taking the connection over (its descriptor
			// could not be duplicated, at the open-files limit): close it,
			// or the client waits for an answer that never comes.
			_ = hw.conn.Close()
		}
		s.log.Debug("upgrade failed", "remote", r.RemoteAddr, "err", err)
		return
	}
	ss.conn = conn
	conn.SetSession(ss)
	if nc, ok := conn.Conn.(*nbio.Conn); ok {
		ss.raw = nc
		ss.flusher = s.flushers[s.nextFlusher.Add(1)%uint32(len(s.flushers))]
	} else if tc, ok := conn.Conn.(*tls.Conn); ok {
		// Ready before the poller can read it: moveTLS hands it over last.
		if err := s.moveTLS(ss, conn, tc); err != nil {
			if errors.Is(err, errEngineRefused) {
				s.log.Debug("TLS connection dropped: the poller refused it", "remote", r.RemoteAddr, "err", err)
				ss.releaseOnce()
				return
			}
			s.log.Debug("TLS connection kept in blocking mode", "remote", r.RemoteAddr, "err", err)
		}
	}
	// The poller may already be reading this connection (a client need not
	// wait for the 101): its callbacks use the fields above only once they
	// see flagReady (an atomic, so the writes above happen before).
	ss.set(flagReady)
	if ss.raw == nil {
		go s.readBlocking(ss, conn)
	}

	perr := capacity
	if perr == nil {
		perr = s.admit(ss, r, path)
	}
	if perr != nil {
		s.m.ConnectionsRejected.WithLabelValues(strconv.Itoa(perr.Code)).Inc()
		ss.logClient(slog.LevelInfo, "connection refused", "code", perr.Code, "reason", perr.Message,
			"app_key", appKeyOf(ss), "remote", r.RemoteAddr)
		ss.refuse(perr)
		return
	}
}

// hijackTracker remembers the connection nbio's Upgrade takes over, so that
// ServeHTTP can close it when Upgrade fails afterwards.
type hijackTracker struct {
	http.ResponseWriter
	conn net.Conn
}

func (h *hijackTracker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := h.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("response does not support hijacking")
	}
	c, rw, err := hj.Hijack()
	h.conn = c
	return c, rw, err
}

func overCapacityMessage(reason string) string {
	if reason == admission.ReasonMemory {
		return "Over capacity: this server is low on memory, reconnect later"
	}
	return "Over capacity: this server is at its connection limit, reconnect later"
}

// admit runs the connection checks of protocol §4 and, on success,
// registers the client and sends connection_established.
func (s *Server) admit(ss *session, r *http.Request, path string) *protocol.Error {
	key, ok := strings.CutPrefix(path, "/app/")
	if !ok || key == "" || strings.Contains(key, "/") {
		return &protocol.Error{Code: protocol.CodePathNotFound, Message: "Path not found: use /app/{key}", Close: true}
	}
	if perr := checkProtocol(r.URL.Query()); perr != nil {
		return perr
	}
	app, err := s.apps.ByKey(r.Context(), key)
	if err != nil {
		if errors.Is(err, apps.ErrNotFound) {
			s.m.AuthFailures.WithLabelValues("", metrics.AuthUnknownKey).Inc() // server-wide: never the key as a label
			console.AuditAuthFailure(s.log, s.throttle, s.console, console.AuthFailure{Key: key, Remote: r.RemoteAddr,
				Endpoint: "websocket", Reason: console.ReasonUnknownKey, Detail: "app key not found"})
			return &protocol.Error{Code: protocol.CodeAppNotFound, Message: "App key " + truncate(key, 64) + " not in this cluster. Did you forget to specify the cluster?", Close: true}
		}
		return &protocol.Error{Code: protocol.CodeReconnect, Message: "App lookup failed, try again", Close: true}
	}
	ss.app = app
	if !app.Enabled {
		return &protocol.Error{Code: protocol.CodeAppDisabled, Message: "App is disabled", Close: true}
	}
	if origin := r.Header.Get("Origin"); !originAllowed(origin, app.AllowedOrigins) {
		s.m.AuthFailures.WithLabelValues(app.ID, metrics.AuthOrigin).Inc()
		console.AuditAuthFailure(s.log, s.throttle, s.console, console.AuthFailure{AppID: app.ID, Key: app.Key, Remote: r.RemoteAddr,
			Endpoint: "websocket", Reason: console.ReasonOriginRefused, Detail: "origin " + strconv.Quote(truncate(origin, 100)) + " not allowed"})
		return &protocol.Error{Code: protocol.CodeUnauthorized, Message: "Origin not allowed: " + truncate(origin, 100), Close: true}
	}
	c, err := s.hub.Connect(context.Background(), app, ss, r.RemoteAddr)
	if err != nil {
		var perr *protocol.Error
		if errors.As(err, &perr) {
			return perr
		}
		return &protocol.Error{Code: protocol.CodeReconnect, Message: "Try again", Close: true}
	}
	ss.setClient(c)
	if ss.has(flagClosing) {
		// The peer may have gone between the upgrade and setClient; its
		// close callback then found no client to disconnect. closed() sets
		// closing before it loads the client, so one of the two sides
		// always sees the other (Disconnect is idempotent).
		s.hub.Disconnect(c)
		return nil
	}
	if err := ss.Send(protocol.ConnectionEstablished(c.SocketID(), s.hub.ActivityTimeoutSeconds())); err != nil {
		c.Close(protocol.CodeReconnect, "Write failed")
	}
	if s.console.Watching(app.ID) {
		s.console.Emit(app.ID, console.Event{Type: console.ConnectionOpened, SocketID: c.SocketID(), Remote: r.RemoteAddr})
	}
	return nil
}

// checkProtocol accepts protocol 5 to 7 and treats a missing version as 7,
// as lenient servers do; anything else closes with 4007.
func checkProtocol(q map[string][]string) *protocol.Error {
	vals, ok := q["protocol"]
	if !ok || len(vals) == 0 || vals[0] == "" {
		return nil
	}
	v, err := strconv.Atoi(vals[0])
	if err != nil || v < 5 || v > 7 {
		return &protocol.Error{Code: protocol.CodeUnsupportedProtocol, Message: "Unsupported protocol version " + truncate(vals[0], 16), Close: true}
	}
	return nil
}

func (s *Server) sessionOf(c *websocket.Conn) *session {
	if v, ok := c.Session().(*session); ok && v != nil {
		return v
	}
	if v, ok := s.pending.Load(c.RemoteAddr().String()); ok {
		ss := v.(*session)
		return ss
	}
	return nil
}

func (s *Server) onOpen(c *websocket.Conn) {
	if v, ok := s.pending.Load(c.RemoteAddr().String()); ok {
		ss := v.(*session)
		ss.conn = c
		c.SetSession(ss)
	}
}

func (s *Server) onMessage(c *websocket.Conn, mt websocket.MessageType, data []byte) {
	ss := s.sessionOf(c)
	if ss == nil {
		return
	}
	if ss.has(flagReady) && ss.tls != nil {
		// nbio runs the handlers of a connection it took over in blocking
		// mode on the reading goroutine, here a poller: hand the message to
		// the connection's executor, in order, as for plaintext ones (the
		// UTF-8 check too: failing it closes, which must come after the
		// messages before it).
		ss.raw.Execute(func() {
			if s.validText(ss, c, mt, data) {
				ss.handle(data)
			}
		})
		return
	}
	if s.validText(ss, c, mt, data) {
		ss.handle(data)
	}
}

func (s *Server) onClose(c *websocket.Conn, _ error) {
	if ss := s.sessionOf(c); ss != nil {
		ss.closed()
	}
}

func appKeyOf(ss *session) string {
	if ss.app != nil {
		return ss.app.Key
	}
	return ""
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
