// Package logthrottle bounds the log lines that clients can cause. A client
// that sends 10,000 refused subscriptions, bad signatures or malformed
// frames would otherwise write 10,000 lines: each line here belongs to a
// key (a connection, a remote address) and an app, both with a budget of
// lines per window; lines over budget are counted, and once per window a
// summary line reports how many were suppressed, per app and message.
// Every line a client caused is thus either written or counted in a
// summary, which keeps the audit trail of failed authorizations whole.
package logthrottle

import (
	"context"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Config sets the budgets. Zero values mean the defaults.
type Config struct {
	Window time.Duration // default 10s: budgets refill and summaries are written once per window
	PerKey int           // default 5: lines per key (connection, remote address) per window
	PerApp int           // default 100: lines per app per window (all its keys together)
	// MaxKeys bounds the keys tracked in one window (default 10,000); keys
	// beyond it share one budget, so a flood from many addresses is bounded too.
	MaxKeys int
}

func (c *Config) setDefaults() {
	if c.Window <= 0 {
		c.Window = 10 * time.Second
	}
	if c.PerKey <= 0 {
		c.PerKey = 5
	}
	if c.PerApp <= 0 {
		c.PerApp = 100
	}
	if c.MaxKeys <= 0 {
		c.MaxKeys = 10_000
	}
}

// Throttle is safe for concurrent use. A nil *Throttle writes every line.
type Throttle struct {
	cfg Config
	log *slog.Logger // for summaries

	mu   sync.Mutex
	keys map[string]int       // lines written per key this window
	apps map[string]*appCount // per app this window
}

type appCount struct {
	written    int
	suppressed map[string]int // by message; messages are constants of our code, so bounded
	level      slog.Level     // highest level suppressed
	keys       map[string]struct{}
}

// overflowKey is the shared budget of keys past MaxKeys.
const overflowKey = "\x00overflow"

// New builds a throttle; summaries go to log with component=logthrottle.
func New(cfg Config, log *slog.Logger) *Throttle {
	cfg.setDefaults()
	return &Throttle{
		cfg:  cfg,
		log:  log.With("component", "logthrottle"),
		keys: make(map[string]int),
		apps: make(map[string]*appCount),
	}
}

// Log writes msg with args to l at level, unless key or app has used its
// budget in this window; then the line is counted for the window's summary.
// app is the app id ("" when unknown: unknown apps share one budget, so a
// client inventing app ids cannot grow the state). Nothing is done when l
// does not log at level.
func (t *Throttle) Log(l *slog.Logger, level slog.Level, key, app, msg string, args ...any) {
	if !l.Enabled(context.Background(), level) {
		return
	}
	if t == nil || t.allow(level, key, app, msg) {
		l.Log(context.Background(), level, msg, args...)
	}
}

func (t *Throttle) allow(level slog.Level, key, app, msg string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.keys[key]; !ok && len(t.keys) >= t.cfg.MaxKeys {
		key = overflowKey
	}
	a := t.apps[app]
	if a == nil {
		a = &appCount{}
		t.apps[app] = a
	}
	if t.keys[key] < t.cfg.PerKey && a.written < t.cfg.PerApp {
		t.keys[key]++
		a.written++
		return true
	}
	if a.suppressed == nil {
		a.suppressed = make(map[string]int)
		a.keys = make(map[string]struct{})
		a.level = level
	}
	a.suppressed[msg]++
	a.level = max(a.level, level)
	if len(a.keys) < t.cfg.MaxKeys {
		a.keys[key] = struct{}{}
	}
	return false
}

// AddrKey is the budget key for a client address ("host:port"): the host,
// so that a client's successive connections share one budget.
func AddrKey(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

// Run writes the summary of each window until ctx ends, then a last one.
func (t *Throttle) Run(ctx context.Context) error {
	tick := time.NewTicker(t.cfg.Window)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			t.Flush()
			return nil
		case <-tick.C:
			t.Flush()
		}
	}
}

// Flush ends the window: budgets refill, and each app with suppressed lines
// gets one summary line, at the highest level it suppressed.
func (t *Throttle) Flush() {
	t.mu.Lock()
	apps := t.apps
	t.apps = make(map[string]*appCount, len(apps))
	clear(t.keys)
	t.mu.Unlock()
	for _, app := range slices.Sorted(maps.Keys(apps)) {
		a := apps[app]
		if len(a.suppressed) == 0 {
			continue
		}
		total := 0
		var parts []string
		for _, msg := range slices.Sorted(maps.Keys(a.suppressed)) {
			n := a.suppressed[msg]
			total += n
			parts = append(parts, msg+": "+strconv.Itoa(n))
		}
		appAttr := app
		if appAttr == "" {
			appAttr = "(unknown)"
		}
		t.log.Log(context.Background(), a.level, "similar log lines suppressed",
			"app_id", appAttr, "suppressed", total, "sources", len(a.keys),
			"lines", strings.Join(parts, "; "), "window", t.cfg.Window.String())
	}
}
