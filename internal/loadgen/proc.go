package loadgen

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, 100 on every Linux architecture Go supports.
const clockTicks = 100

// ProcStat is a process's CPU time (user+system) and resident set size.
type ProcStat struct {
	CPU time.Duration
	RSS uint64
	At  time.Time
}

// ReadProc reads /proc/<pid>/stat and /proc/<pid>/status.
func ReadProc(pid int) (ProcStat, error) {
	st := ProcStat{At: time.Now()}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return st, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return st, errors.New("malformed /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return st, errors.New("short /proc stat")
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	stt, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return st, errors.New("bad utime/stime in /proc stat")
	}
	st.CPU = time.Duration(ut+stt) * time.Second / clockTicks
	s, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return st, err
	}
	for _, line := range strings.Split(string(s), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return st, err
			}
			st.RSS = kb * 1024
		}
	}
	return st, nil
}

// procWatch samples a process (pid 0 = none) so scenarios can report deltas.
type procWatch struct{ pid int }

func (w procWatch) read() (ProcStat, bool) {
	if w.pid <= 0 {
		return ProcStat{}, false
	}
	st, err := ReadProc(w.pid)
	return st, err == nil
}

// RaiseFileLimit raises the soft RLIMIT_NOFILE to the hard limit and
// returns the resulting soft and hard limits.
func RaiseFileLimit() (soft, hard uint64, err error) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0, 0, err
	}
	if r.Cur < r.Max {
		r.Cur = r.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
			_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r)
			return r.Cur, r.Max, err
		}
	}
	return r.Cur, r.Max, nil
}

// openFiles counts this process's open file descriptors.
func openFiles() int {
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(es)
}
