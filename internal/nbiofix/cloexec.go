package nbiofix

import (
	"net"
	"syscall"

	"github.com/lesismal/nbio"
)

// nbio moves a net.Conn to its poller by duplicating the descriptor with
// dup(2), which does not set close-on-exec. A child process started while
// such a descriptor is open (herald bench starting a server, a test
// starting a helper) then keeps the socket open for its whole life: closing
// the connection here no longer ends it for the peer, and the poller keeps
// getting the dead socket's events under a descriptor number that a new
// connection may have taken since, which then gets closed in its stead.
// So every duplication happens under syscall.ForkLock (as Go's own net
// package does where it cannot create a descriptor close-on-exec at once)
// and is marked close-on-exec before the lock is released.

// NBConn is nbio.NBConn with the new descriptor marked close-on-exec.
func NBConn(c net.Conn) (*nbio.Conn, error) {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	nc, err := nbio.NBConn(c)
	if err == nil {
		syscall.CloseOnExec(nc.Hash())
	}
	return nc, err
}

// Duplicating runs dup, a call that makes nbio duplicate a descriptor (a
// WebSocket upgrade), under the fork lock, and marks the connection it
// returns close-on-exec. dup must not start processes or take the fork
// lock itself.
func Duplicating[T any](dup func() (T, error), conn func(T) *nbio.Conn) (T, error) {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	v, err := dup()
	if err == nil {
		if nc := conn(v); nc != nil {
			syscall.CloseOnExec(nc.Hash())
		}
	}
	return v, err
}
