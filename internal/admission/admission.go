// Package admission decides whether this node takes on more work: a new
// WebSocket connection (bounded by max_connections, itself derived from
// the open-files limit) and a new API publish (bounded by memory). Refusing
// at the door keeps the node answering: at the open-files limit the
// listeners would otherwise stop accepting anything, API and metrics
// included, and past the memory limit the kernel kills the process and
// every connection with it.
package admission

import (
	"context"
	"log/slog"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Config bounds the node. Zero values mean "no bound" except where noted.
type Config struct {
	// MaxConnections is the most WebSocket connections open at once
	// (including those refused after admission, e.g. for a bad app key,
	// while they close; capacity refusals have slots of their own in the
	// WebSocket edge). 0: no bound.
	MaxConnections int
	// MaxMemoryBytes is the memory the process may use (Go's mapped memory
	// not returned to the OS). New connections and publishes are refused
	// from HighWater of it until use falls under LowWater. 0: no bound.
	MaxMemoryBytes uint64
	// Interval between memory samples. Default 250ms.
	Interval time.Duration
	// When the connection count falls by half of its peak, and by at
	// least FreeMinDrop (default 1,000), memory is returned to the OS once
	// the drop has settled.
	FreeMinDrop int
	// FreeEvery bounds how often memory is returned to the OS. Default 30s.
	FreeEvery time.Duration
}

// Memory thresholds, as fractions of MaxMemoryBytes: refusing starts at
// HighWater and stops under LowWater, so a node near the limit does not
// flap between the two on every sample.
const (
	HighWater = 0.90
	LowWater  = 0.80
)

func (c *Config) setDefaults() {
	if c.Interval <= 0 {
		c.Interval = 250 * time.Millisecond
	}
	if c.FreeMinDrop <= 0 {
		c.FreeMinDrop = 1000
	}
	if c.FreeEvery <= 0 {
		c.FreeEvery = 30 * time.Second
	}
}

// Refusal reasons, also the values of the metric's reason label.
const (
	ReasonMaxConnections = "max_connections"
	ReasonMemory         = "memory"
)

// Gate is safe for concurrent use. A nil *Gate admits everything.
type Gate struct {
	cfg    Config
	log    *slog.Logger
	m      *gateMetrics
	sample func() uint64 // memory in use; runtime/metrics by default

	conns   atomic.Int64
	overMem atomic.Bool

	// Run's goroutine only:
	peak     int64     // highest connection count since the last free
	settling time.Time // when the current drop was first seen
	lastFree time.Time // last return of memory after a drop
	lastGC   time.Time // last collection forced near the limit
}

// New builds a gate; its collectors go on reg (nil: none).
func New(cfg Config, log *slog.Logger, reg prometheus.Registerer) *Gate {
	cfg.setDefaults()
	g := &Gate{cfg: cfg, log: log.With("component", "admission"), sample: memoryInUse}
	g.m = newGateMetrics(reg, g)
	return g
}

// Connection reports whether a new WebSocket connection may open and, when
// it may, counts it: the caller must call Closed exactly once when it
// closes. When it may not, reason says why and nothing is counted.
func (g *Gate) Connection() (ok bool, reason string) {
	if g == nil {
		return true, ""
	}
	if g.overMem.Load() {
		g.m.connMemory.Inc()
		return false, ReasonMemory
	}
	n := g.conns.Add(1)
	if g.cfg.MaxConnections > 0 && n > int64(g.cfg.MaxConnections) {
		g.conns.Add(-1)
		g.m.connMax.Inc()
		return false, ReasonMaxConnections
	}
	return true, ""
}

// Closed releases a connection counted by Connection.
func (g *Gate) Closed() {
	if g != nil {
		g.conns.Add(-1)
	}
}

// Open is the number of connections counted now.
func (g *Gate) Open() int {
	if g == nil {
		return 0
	}
	return int(g.conns.Load())
}

// Publish reports whether an API publish may be accepted now.
func (g *Gate) Publish() (ok bool, reason string) {
	if g == nil || !g.overMem.Load() {
		return true, ""
	}
	g.m.publishMemory.Inc()
	return false, ReasonMemory
}

// Run samples memory and returns memory to the OS after large drops, until
// ctx ends.
func (g *Gate) Run(ctx context.Context) error {
	t := time.NewTicker(g.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			g.step(now)
		}
	}
}

// step is one sample: the memory state with hysteresis, then the
// return-to-OS check.
func (g *Gate) step(now time.Time) {
	if g.cfg.MaxMemoryBytes > 0 {
		limit := float64(g.cfg.MaxMemoryBytes)
		used := g.sample()
		prev := g.overMem.Load()
		if (prev || float64(used) >= HighWater*limit) && now.Sub(g.lastGC) >= 5*time.Second {
			// Before refusing, and every 5 s while refusing: the collector
			// may be behind, and freed memory goes back to the OS slowly,
			// so collect and return it first (at most every 5 s: a full
			// collection is not free either).
			g.lastGC = now
			debug.FreeOSMemory()
			used = g.sample()
		}
		over := float64(used) >= HighWater*limit || (prev && float64(used) >= LowWater*limit)
		g.overMem.Store(over)
		switch {
		case over && !prev:
			g.log.Warn("memory near the limit: refusing new connections (4100) and API publishes (503)",
				"in_use_mb", used>>20, "limit_mb", g.cfg.MaxMemoryBytes>>20)
		case !over && prev:
			g.log.Info("memory back under the limit: accepting again", "in_use_mb", used>>20, "limit_mb", g.cfg.MaxMemoryBytes>>20)
		}
	}
	g.freeAfterDrop(now)
}

// freeAfterDrop returns memory to the OS once the connection count has
// fallen by half of its peak and stayed down for a few samples: Go keeps
// freed heap mapped for reuse and returns it slowly, so without this a node
// stays at its peak size long after the peak.
func (g *Gate) freeAfterDrop(now time.Time) {
	n := g.conns.Load()
	if n > g.peak {
		g.peak = n
		g.settling = time.Time{}
		return
	}
	drop := g.peak - n
	if drop < int64(g.cfg.FreeMinDrop) || n > g.peak/2 {
		g.settling = time.Time{}
		return
	}
	if g.settling.IsZero() {
		g.settling = now
		return
	}
	const settle = 2 * time.Second // closing connections release their buffers over a moment
	if now.Sub(g.settling) < settle || now.Sub(g.lastFree) < g.cfg.FreeEvery {
		return
	}
	before := g.sample()
	debug.FreeOSMemory()
	after := g.sample()
	g.lastFree = now
	g.log.Info("returned memory to the OS after connections dropped", "connections", n, "peak", g.peak,
		"before_mb", before>>20, "after_mb", after>>20)
	g.m.frees.Inc()
	if before > after {
		g.m.freed.Add(float64(before - after))
	}
	g.peak = n
	g.settling = time.Time{}
}
