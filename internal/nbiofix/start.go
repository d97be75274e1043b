package nbiofix

import (
	"fmt"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/lesismal/nbio"
)

// Why an engine's pollers are awaited (issue 11): nbio v1.6.8's
// Engine.Start launches each poller with `go poller.start()` and returns at
// once, and the poller's event loop begins with `p.shutdown = false`.
// Engine.Stop sets p.shutdown = true and writes the poller's eventfd. If
// Stop runs before a poller goroutine has reached that first line (a bench
// pool closed right after a dial that failed in microseconds, as in
// `herald bench idle --port 1`, or a server stopped right after it
// started), the poller then clears the flag and loops forever:
// the eventfd, registered level-triggered and never read, makes every
// EpollWait return at once (a core busy, mostly system time), and Stop
// waits for the poller in WaitGroup.Wait for ever. nbio offers no way to
// see that a poller has started, so Await proves it: it makes one
// socket readable on every poller and waits until each poller has read it,
// which can only happen inside the loop, after the flag was cleared.

// pollerProbe is the session of a probe socket: a channel of capacity 1
// that the poller reading the probe's byte fills. A channel, not a struct
// holding one: the race detector cannot see nbio hand a connection to its
// poller through epoll, so the session must carry no plain memory written
// before AddConn.
type probe chan struct{}

// Seen is for the engine's OnData callback: it reports whether c is one of
// Await's probe sockets (and notes that its poller runs). The callback
// must call it for connections whose session it does not know.
func Seen(c *nbio.Conn) bool {
	pr, ok := c.Session().(probe)
	if ok {
		select {
		case pr <- struct{}{}:
		default:
		}
	}
	return ok
}

// Await returns once each of eng's poller goroutines (eng.NPoller, after
// Start) has delivered a read from inside its event loop, so that a later
// eng.Stop cannot be lost (see above). eng's OnData must call Seen.
func Await(eng *nbio.Engine, timeout time.Duration) error {
	n := eng.NPoller
	var ready []probe
	covered := make([]bool, n)
	var probes []*nbio.Conn
	defer func() {
		for _, c := range probes {
			_ = c.Close()
		}
	}()
	// nbio picks a connection's poller as fd % n. A socket pair holds two
	// fresh fds, and probes whose poller is already covered stay open until
	// the end, so the fds move on and reach every remainder; the bound only
	// guards against an fd layout that never does.
	for pairs, left := 0, n; left > 0; pairs++ {
		if pairs >= 4*n+64 {
			return fmt.Errorf("nbio pollers: no probe socket for %d of %d pollers after %d socket pairs", left, n, pairs)
		}
		pair, err := probePair()
		if err != nil {
			return fmt.Errorf("nbio pollers: probe socket: %w", err)
		}
		probes = append(probes, pair[0], pair[1])
		for _, c := range pair {
			i := c.Hash() % n
			if covered[i] {
				continue
			}
			covered[i], left = true, left-1
			pr := make(probe, 1)
			ready = append(ready, pr)
			c.SetSession(pr)
			if _, err := eng.AddConn(c); err != nil {
				return fmt.Errorf("nbio pollers: probe socket: %w", err)
			}
		}
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	for i, pr := range ready {
		select {
		case <-pr:
		case <-t.C:
			return fmt.Errorf("nbio pollers: %d of %d not running after %v", n-i, n, timeout)
		}
	}
	return nil
}

// probePair returns both ends of a connected Unix socket pair as nbio
// connections, each with one byte waiting to be read.
func probePair() (pair [2]*nbio.Conn, err error) {
	syscall.ForkLock.RLock() // no exec may inherit the fds before they are close-on-exec
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err == nil {
		syscall.CloseOnExec(fds[0])
		syscall.CloseOnExec(fds[1])
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return pair, err
	}
	files := [2]*os.File{os.NewFile(uintptr(fds[0]), "probe"), os.NewFile(uintptr(fds[1]), "probe")}
	defer func() {
		for _, f := range files {
			_ = f.Close() // FileConn and NBConn hold duplicates
		}
		if err != nil {
			for _, c := range pair {
				if c != nil {
					_ = c.Close()
				}
			}
		}
	}()
	for i, f := range files {
		if _, err := f.Write([]byte{0}); err != nil { // for the other end to read
			return pair, err
		}
		nc, err := net.FileConn(f)
		if err != nil {
			return pair, err
		}
		if pair[i], err = NBConn(nc); err != nil { // dups the fd and closes nc
			_ = nc.Close()
			return pair, err
		}
	}
	return pair, nil
}
