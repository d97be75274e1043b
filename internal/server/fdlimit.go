package server

import (
	"os"
	"syscall"
)

// fdBudget is what the open-files limit allows: every WebSocket connection
// holds a descriptor, and when they take the last ones the listeners cannot
// accept anything, API and metrics included. So a reserve is kept for the
// API, the admin listener, webhooks, the app store and logs, and WebSocket
// connections are bounded by what is left.
type fdBudget struct {
	limit       uint64 // RLIMIT_NOFILE (soft, raised to the hard limit)
	openAtStart int    // descriptors open when the budget was made
	reserve     int    // kept for everything but WebSocket connections
	maxConns    int    // limit - openAtStart - reserve, at least 1
}

// newFDBudget raises the soft open-files limit to the hard limit (Go does
// this at start-up on Linux too; doing it here makes it explicit and covers
// other systems) and derives the WebSocket connection bound.
func newFDBudget() fdBudget {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return fdBudget{}
	}
	if rl.Cur < rl.Max {
		raised := rl
		raised.Cur = rl.Max
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised) == nil {
			rl = raised
		}
	}
	return budgetFor(rl.Cur, countOpenFDs())
}

// budgetFor derives the bound from a limit and the descriptors in use:
// the reserve is 5% of the limit, at least 64 and at most 1,024.
func budgetFor(limit uint64, open int) fdBudget {
	b := fdBudget{limit: limit, openAtStart: open}
	if limit == 0 || limit > 1<<40 {
		return fdBudget{} // unknown or unlimited: no bound from here
	}
	b.reserve = min(max(int(limit/20), 64), 1024)
	b.maxConns = max(int(limit)-open-b.reserve, 1)
	return b
}

// countOpenFDs counts this process's open descriptors (0 where /proc is
// not there).
func countOpenFDs() int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0
	}
	return len(entries)
}
