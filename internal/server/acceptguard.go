package server

import (
	"errors"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/internal/metrics"
)

// acceptGuard keeps a listener alive when the process runs out of file
// descriptors. accept(2) then fails with EMFILE while the connection waits
// in the kernel's queue, so without care clients hang until they time out
// and the accept loop spins. The guard holds one spare descriptor: on
// EMFILE it frees it, accepts the waiting connections one after another,
// answers each with a 503 and closes it (the clients learn at once), takes
// the spare back and waits before accepting again, doubling the wait up to
// a second while the shortage lasts. It also sheds, the same way, plain
// HTTP connections past full(), so that idle or slow HTTP clients cannot
// take the descriptors kept for others. Connections it returns are the
// inner listener's own (*net.TCPConn), so the WebSocket upgrade can move
// them to the poller.
type acceptGuard struct {
	net.Listener
	name   string // "public" or "admin", for logs and metrics
	log    *slog.Logger
	errors prometheus.Counter
	shedC  prometheus.Counter
	// full, when set, reports that no more HTTP connections may be held.
	full func() bool

	mu     sync.Mutex
	spare  *os.File
	closed chan struct{}
	once   sync.Once

	// Accept's goroutine only: one log line per shortage, one when it ends.
	short bool
	shed  int
	// lastFullLog limits the "HTTP connections at their bound" line.
	lastFullLog time.Time
}

func newAcceptGuard(ln net.Listener, name string, log *slog.Logger, m *metrics.Metrics, full func() bool) *acceptGuard {
	g := &acceptGuard{Listener: ln, name: name, log: log, closed: make(chan struct{}), full: full,
		errors: m.AcceptErrors.WithLabelValues(name), shedC: m.ConnectionsShed.WithLabelValues(name)}
	g.spare, _ = os.Open(os.DevNull)
	return g
}

// Accept returns the next connection; on descriptor exhaustion it sheds
// and backs off instead of returning the error.
func (g *acceptGuard) Accept() (net.Conn, error) {
	wait := 5 * time.Millisecond
	for {
		c, err := g.Listener.Accept()
		if err == nil {
			if g.short {
				g.short = false
				g.log.Warn("accepting again after running out of file descriptors", "listener", g.name, "connections_shed", g.shed)
				g.shed = 0
			}
			if g.full != nil && g.full() {
				g.reject(c, overloadBusy)
				if now := time.Now(); now.Sub(g.lastFullLog) >= 10*time.Second {
					g.lastFullLog = now
					g.log.Warn("HTTP connections at their bound (descriptors are kept for WebSocket clients, the admin listener and webhooks): new ones get 503",
						"listener", g.name)
				}
				continue
			}
			return c, nil
		}
		if !fdExhausted(err) {
			return nil, err
		}
		g.errors.Inc()
		if !g.short {
			g.short = true
			g.log.Error("out of file descriptors: shedding new connections with 503 until some close (raise the open-files limit, or lower limits.max_connections)",
				"listener", g.name, "err", err)
		}
		g.shed += g.shedWaiting()
		select {
		case <-time.After(wait):
		case <-g.closed:
			return nil, net.ErrClosed
		}
		wait = min(wait*2, time.Second)
	}
}

// shedWaiting frees the spare descriptor, accepts the connections waiting
// in the kernel's queue one at a time, answers and closes each, and takes
// the spare back. It returns how many it shed.
func (g *acceptGuard) shedWaiting() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.closed:
		return 0 // Close has released the spare: do not take one again
	default:
	}
	if g.spare != nil {
		_ = g.spare.Close()
		g.spare = nil
	}
	defer func() { g.spare, _ = os.Open(os.DevNull) }()
	tl, ok := g.Listener.(*net.TCPListener)
	if !ok {
		return 0
	}
	n := 0
	for ; n < 1024; n++ {
		// Only connections already waiting: never block here.
		_ = tl.SetDeadline(time.Now().Add(time.Millisecond))
		c, err := tl.Accept()
		if err != nil {
			break
		}
		g.reject(c, overloadNoFD)
	}
	_ = tl.SetDeadline(time.Time{})
	return n
}

// reject answers c with a 503 and closes it.
func (g *acceptGuard) reject(c net.Conn, response string) {
	g.shedC.Inc()
	_ = c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
	_, _ = c.Write([]byte(response))
	_ = c.Close()
}

var (
	overloadNoFD = overloadResponse(`{"error":"Server is out of file descriptors, try again later","code":503}`)
	overloadBusy = overloadResponse(`{"error":"Server is at its connection limit, try again later","code":503}`)
)

func overloadResponse(body string) string {
	return "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\n\r\n" + body
}

func (g *acceptGuard) Close() error {
	g.once.Do(func() { close(g.closed) })
	g.mu.Lock()
	if g.spare != nil {
		_ = g.spare.Close()
		g.spare = nil
	}
	g.mu.Unlock()
	return g.Listener.Close()
}

// fdExhausted reports whether err is the process or system running out of
// descriptors.
func fdExhausted(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}
