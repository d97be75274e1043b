package server

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strings"
	"sync/atomic"

	"github.com/heraldhq/herald/internal/admission"
	"github.com/heraldhq/herald/internal/config"
)

// capacity is what this node admits: WebSocket connections (bounded by the
// open-files limit unless configured lower) and memory.
type capacity struct {
	fds       fdBudget
	maxConns  int    // 0: unbounded (no open-files limit known)
	lowered   bool   // limits.max_connections was above what the descriptors allow
	memLimit  uint64 // bytes; 0: none
	memSource string // "limits.max_memory_mb", "GOMEMLIMIT", "cgroup"
}

// planCapacity derives the bounds from the configuration and the process's
// limits. A configured memory limit also becomes Go's soft memory limit
// (unless GOMEMLIMIT is set), so the collector works harder before
// admission has to refuse; restore puts the previous soft limit back (the
// limit is process-wide, and Run may run again in the same process).
func planCapacity(l config.LimitsConfig, log *slog.Logger) (c capacity, restore func()) {
	restore = func() {}
	c = capacity{fds: newFDBudget()}
	c.maxConns = c.fds.maxConns
	if l.MaxConnections > 0 {
		if c.maxConns > 0 && l.MaxConnections > c.maxConns {
			c.lowered = true
			log.Warn("limits.max_connections is more than the open-files limit allows; lowered",
				"configured", l.MaxConnections, "max_connections", c.maxConns, "open_files_limit", c.fds.limit,
				"reserve", c.fds.reserve)
		} else {
			c.maxConns = l.MaxConnections
		}
	}
	if l.MaxMemoryMB > 0 {
		c.memLimit, c.memSource = uint64(l.MaxMemoryMB)<<20, "limits.max_memory_mb"
		if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
			prev := debug.SetMemoryLimit(int64(c.memLimit))
			restore = func() { debug.SetMemoryLimit(prev) }
		}
	} else {
		c.memLimit, c.memSource = admission.DefaultMemoryLimit()
	}
	return c, restore
}

// pollerLoad is the poller's connection capacity: every admitted
// connection plus those being refused.
func (c capacity) pollerLoad() int {
	if c.maxConns <= 0 {
		return 0 // the poller's own default
	}
	// Slack: a slot given back to the gate when a connection closes is
	// free a moment before the poller forgets the connection.
	return c.maxConns + c.maxRefusing() + 256
}

// maxRefusing bounds the connections being refused at once: a quarter of
// the descriptor reserve, so refusals cannot eat it.
func (c capacity) maxRefusing() int {
	if c.fds.reserve <= 0 {
		return 0 // the edge's default
	}
	return max(c.fds.reserve/4, 16)
}

// banner is the capacity part of the start-up summary.
func (c capacity) banner() string {
	b := &strings.Builder{}
	b.WriteString("\nCapacity:\n")
	switch {
	case c.maxConns > 0 && c.fds.limit > 0:
		fmt.Fprintf(b, "  Connections  up to %d WebSocket connections (open-files limit %d; %d kept for the API, admin, webhooks and store)\n",
			c.maxConns, c.fds.limit, c.fds.reserve)
	case c.maxConns > 0:
		fmt.Fprintf(b, "  Connections  up to %d WebSocket connections\n", c.maxConns)
	default:
		b.WriteString("  Connections  no bound (open-files limit unknown)\n")
	}
	if c.lowered {
		b.WriteString("               (limits.max_connections was lowered to this: raise the open-files limit, e.g. ulimit -n or LimitNOFILE)\n")
	}
	if c.memLimit > 0 {
		fmt.Fprintf(b, "  Memory       %d MiB (%s): new connections and publishes are refused above %.0f%% of it\n",
			c.memLimit>>20, c.memSource, admission.HighWater*100)
	} else {
		b.WriteString("  Memory       no limit (set limits.max_memory_mb or GOMEMLIMIT to refuse work before the kernel kills the process)\n")
	}
	return b.String()
}

// httpConns counts the plain HTTP connections of the public listener (fed
// by http.Server.ConnState; an upgraded connection counts with the
// admission gate from its hijacking on). They may use what WebSocket
// connections leave of the descriptor budget, plus half the reserve.
type httpConns struct {
	open   atomic.Int64
	budget int // maxConns + reserve/2; 0: no bound
	gate   *admission.Gate
}

func (c capacity) httpConns(gate *admission.Gate) *httpConns {
	h := &httpConns{gate: gate}
	if c.fds.maxConns > 0 {
		h.budget = c.fds.maxConns + c.fds.reserve/2
	}
	return h
}

// track is an http.Server ConnState hook.
func (h *httpConns) track(_ net.Conn, st http.ConnState) {
	switch st {
	case http.StateNew:
		h.open.Add(1)
	case http.StateHijacked, http.StateClosed:
		h.open.Add(-1)
	}
}

// full reports that no more HTTP connections may be held (acceptGuard).
func (h *httpConns) full() bool {
	return h.budget > 0 && int(h.open.Load())+h.gate.Open() >= h.budget
}
