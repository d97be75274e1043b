package test

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestNoDescriptorLeaksIntoChildren: every socket of the process is
// close-on-exec, the WebSocket connections the poller holds included, so a
// child process (herald bench starting a server, a test starting a helper)
// cannot keep a connection's socket alive after Herald closed it. A socket
// kept alive that way also kept reporting its events to the poller, under a
// descriptor number a new connection had taken since: that connection was
// then dropped without a close frame.
func TestNoDescriptorLeaksIntoChildren(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	for range 3 {
		c := connect(t, s)
		c.subscribe("room")
	}
	// The fork lock, exclusively: no descriptor is being created and marked
	// (Go and internal/nbiofix do both under its read lock) while we look.
	syscall.ForkLock.Lock()
	defer syscall.ForkLock.Unlock()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	for _, e := range entries {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd <= 2 {
			continue
		}
		flags, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_GETFD, 0)
		if errno != 0 {
			continue // closed since the directory was read (the listing's own descriptor)
		}
		// Sockets only: nbio's epoll and eventfd descriptors (and what the
		// test runner hands down) are not close-on-exec either, but a child
		// holding them keeps no connection alive.
		target, _ := os.Readlink("/proc/self/fd/" + e.Name())
		if flags&syscall.FD_CLOEXEC == 0 && strings.HasPrefix(target, "socket:") {
			t.Errorf("descriptor %d (%s) is not close-on-exec: a child process would inherit it", fd, target)
		}
	}
}
