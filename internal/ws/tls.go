package ws

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lesismal/nbio"
	"github.com/lesismal/nbio/nbhttp/websocket"

	"github.com/heraldhq/herald/internal/nbiofix"
)

// TLS connections on the pollers. Go's crypto/tls has no event-driven
// mode, but it keeps a connection usable after a read error that says it
// is temporary (a net.Error whose Temporary() is true): the bytes of a
// half-received record stay buffered and the next Read goes on from them.
// So a WebSocket connection over TLS is handshaken and upgraded by
// net/http as usual, on its own goroutine, over a pollConn; the upgrade
// then hands its socket to the poller and switches the pollConn: from then
// on the poller feeds it the ciphertext it reads and drains crypto/tls
// until crypto/tls asks for more (errWouldBlock), and writes go to the
// poller's non-blocking socket. The connection keeps no goroutine, its
// frames are coalesced by the flushers like plaintext ones (one TLS record
// per flush of up to 16 KiB), and the TLS code is the standard library's.

// TLSListener is tls.NewListener over ln whose connections can be moved to
// the poller when they upgrade to WebSocket.
func TLSListener(ln net.Listener, cfg *tls.Config) net.Listener {
	return tls.NewListener(pollListener{ln}, cfg)
}

type pollListener struct{ net.Listener }

func (l pollListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &pollConn{Conn: c}, nil
}

// errWouldBlock is what a moved pollConn's Read returns when the poller has
// delivered nothing more: temporary, so crypto/tls keeps the connection.
var errWouldBlock error = wouldBlock{}

type wouldBlock struct{}

func (wouldBlock) Error() string   { return "no more input (poller)" }
func (wouldBlock) Timeout() bool   { return false }
func (wouldBlock) Temporary() bool { return true }

// pollConn is the transport under a TLS connection: the accepted socket
// until the upgrade moves it to the poller, the poller's connection after.
type pollConn struct {
	net.Conn // the accepted connection until moved (then nil)
	nc       atomic.Pointer[nbio.Conn]
	unsent   *atomic.Int64 // the session's unsent bytes (session.unsent)

	// in is the ciphertext of the poller read being consumed; only the
	// poller goroutine of the connection touches it.
	in []byte
}

func (p *pollConn) Read(b []byte) (int, error) {
	if p.nc.Load() == nil {
		return p.Conn.Read(b)
	}
	if len(p.in) == 0 {
		return 0, errWouldBlock
	}
	n := copy(b, p.in)
	p.in = p.in[n:]
	return n, nil
}

// Write hands a TLS record to the poller's connection, which writes what the
// socket takes and keeps the rest; the bytes count against the session's
// bound like a plaintext connection's frames.
func (p *pollConn) Write(b []byte) (int, error) {
	nc := p.nc.Load()
	if nc == nil {
		return p.Conn.Write(b)
	}
	p.unsent.Add(int64(len(b)))
	return nc.Write(b)
}

// The addresses come from the poller's connection once moved: the accepted
// one is closed then and dropped, so it holds no memory.
func (p *pollConn) LocalAddr() net.Addr {
	if nc := p.nc.Load(); nc != nil {
		return nc.LocalAddr()
	}
	return p.Conn.LocalAddr()
}

func (p *pollConn) RemoteAddr() net.Addr {
	if nc := p.nc.Load(); nc != nil {
		return nc.RemoteAddr()
	}
	return p.Conn.RemoteAddr()
}

func (p *pollConn) Close() error {
	if nc := p.nc.Load(); nc != nil {
		return nc.Close()
	}
	return p.Conn.Close()
}

// Deadlines only matter before the move (the handshake, the HTTP request);
// on the poller nothing blocks. crypto/tls sets one to write close_notify.
func (p *pollConn) SetDeadline(t time.Time) error {
	if p.nc.Load() != nil {
		return nil
	}
	return p.Conn.SetDeadline(t)
}

func (p *pollConn) SetReadDeadline(t time.Time) error {
	if p.nc.Load() != nil {
		return nil
	}
	return p.Conn.SetReadDeadline(t)
}

func (p *pollConn) SetWriteDeadline(t time.Time) error {
	if p.nc.Load() != nil {
		return nil
	}
	return p.Conn.SetWriteDeadline(t)
}

var (
	errNotPollable   = errors.New("not a connection of TLSListener")
	errEngineRefused = errors.New("poller refused the connection")
)

// moveTLS puts an upgraded TLS connection on the poller: its socket is
// duplicated into the engine, the pollConn switched over, the session set
// up to write through the flusher and crypto/tls and marked ready, and
// only then is the socket handed to the poller. On errNotPollable or a
// failed duplication the connection is as it was (served in blocking
// mode); errEngineRefused means it is closed.
func (s *Server) moveTLS(ss *session, wsc *websocket.Conn, tc *tls.Conn) error {
	pc, ok := tc.NetConn().(*pollConn)
	if !ok {
		return errNotPollable
	}
	nc, err := nbiofix.NBConn(pc.Conn)
	if err != nil {
		return err
	}
	pc.unsent = &ss.unsent
	pc.nc.Store(nc)
	pc.Conn = nil // closed by the duplication; every method now uses nc
	ss.tls, ss.pc = tc, pc
	ss.raw = nc
	ss.flusher = s.flushers[s.nextFlusher.Add(1)%uint32(len(s.flushers))]
	nc.SetSession(wsc)
	ss.set(flagReady)
	if err := s.engine.AddTransferredConn(nc); err != nil {
		_ = nc.Close()
		return fmt.Errorf("%w: %w", errEngineRefused, err)
	}
	return nil
}

// tlsReadBufs hold the plaintext of one poller read; crypto/tls returns at
// most one record (16 KiB) per Read.
var tlsReadBufs = sync.Pool{New: func() any { b := make([]byte, 16<<10); return &b }}

// readTLS decrypts what the poller read for a TLS session and feeds the
// plaintext to the same checks and parser as a plaintext connection's.
func (s *Server) readTLS(c *nbio.Conn, ss *session, wsc *websocket.Conn, data []byte) {
	ss.pc.in = data
	defer func() { ss.pc.in = nil }() // data is the poller's buffer
	bp := tlsReadBufs.Get().(*[]byte)
	defer tlsReadBufs.Put(bp)
	for {
		n, err := ss.tls.Read(*bp)
		if n > 0 {
			failed := false
			s.consume(ss, wsc, (*bp)[:n], func(e error) { failed = true; s.dropParse(c, e) })
			if failed {
				return
			}
		}
		if err != nil {
			if !errors.Is(err, errWouldBlock) {
				// close_notify (EOF) or a TLS alert: nothing more can be read.
				_ = c.CloseWithError(err)
			}
			return
		}
	}
}
