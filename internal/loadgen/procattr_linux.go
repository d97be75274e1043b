package loadgen

import "syscall"

// serverProcAttr puts the server in its own process group; on Linux it also
// gets SIGTERM if the bench dies.
func serverProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
