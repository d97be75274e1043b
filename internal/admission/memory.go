package admission

import (
	"math"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
)

// memoryInUse is the memory the Go runtime holds from the OS and has not
// returned: close to the process's resident size for a pure-Go program.
func memoryInUse() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(s)
	total, released := s[0].Value.Uint64(), s[1].Value.Uint64()
	if released > total {
		return 0
	}
	return total - released
}

// DefaultMemoryLimit is the limit to use when none is configured: Go's
// soft memory limit when GOMEMLIMIT (or debug.SetMemoryLimit) set one,
// otherwise the cgroup's memory limit (containers), otherwise 0 (none).
// source says which.
func DefaultMemoryLimit() (limit uint64, source string) {
	// Only when the environment set it: an earlier server in this process
	// may have set the soft limit from its own max_memory_mb.
	if v, ok := os.LookupEnv("GOMEMLIMIT"); ok && v != "" && v != "off" {
		if l := debug.SetMemoryLimit(-1); l > 0 && l < math.MaxInt64 {
			return uint64(l), "GOMEMLIMIT"
		}
	}
	if l := cgroupMemoryLimit(); l > 0 {
		return l, "cgroup"
	}
	return 0, ""
}

// cgroupMemoryLimit reads cgroup v2's memory.max, then v1's
// memory.limit_in_bytes; 0 when there is none (or it is "max", or
// absurdly large as v1 reports "unlimited").
func cgroupMemoryLimit() uint64 {
	for _, p := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if err != nil || v == 0 || v >= 1<<60 {
			return 0
		}
		return v
	}
	return 0
}
