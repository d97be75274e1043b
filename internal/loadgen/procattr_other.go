//go:build !linux

package loadgen

import "syscall"

// serverProcAttr puts the server in its own process group. Pdeathsig is
// Linux-only: elsewhere a server started by a bench that is killed (rather
// than stopped) keeps running until it is stopped by hand.
func serverProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
