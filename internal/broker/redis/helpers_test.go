package redis

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/metrics"
	"github.com/heraldhq/herald/internal/redistest"
	"github.com/heraldhq/herald/internal/testlog"
)

// hub is a fake node-local handler: it records deliveries and reaped
// changes, and answers Local with what the test set.
type hub struct {
	mu         sync.Mutex
	msgs       []broker.Message
	changes    []broker.Change
	reapCalls  int
	local      broker.LocalState
	localCalls int
}

func (h *hub) Deliver(m broker.Message) {
	h.mu.Lock()
	h.msgs = append(h.msgs, m)
	h.mu.Unlock()
}

func (h *hub) Reaped(_ context.Context, changes []broker.Change) {
	h.mu.Lock()
	h.changes = append(h.changes, changes...)
	h.reapCalls++
	h.mu.Unlock()
}

func (h *hub) Local() broker.LocalState {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.localCalls++
	return h.local
}

func (h *hub) messages() []broker.Message {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.msgs)
}

func (h *hub) reaped() []broker.Change {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.changes)
}

// node is a broker under test with its hub and metrics.
type node struct {
	*Broker
	hub  *hub
	reg  *prometheus.Registry
	stop func() // cancels Run and waits for it (clean shutdown)
}

// fastConfig is a configuration with short liveness periods.
func fastConfig(url string) Config {
	return Config{
		URL:            url,
		LeaseTTL:       time.Second,
		Heartbeat:      200 * time.Millisecond,
		ReapEvery:      200 * time.Millisecond,
		CommandTimeout: time.Second,
		DialTimeout:    time.Second,
		WriteTimeout:   2 * time.Second,
	}
}

// startNode builds a broker on cfg and runs it until the test ends.
func startNode(t testing.TB, cfg Config) *node {
	t.Helper()
	n := newNode(t, cfg)
	n.run(t)
	return n
}

// newNode builds a broker without running it.
func newNode(t testing.TB, cfg Config) *node {
	t.Helper()
	h := &hub{}
	reg := prometheus.NewRegistry()
	logs := &testlog.Buffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	b, err := New(cfg, Deps{Metrics: metrics.NewRedis(reg), Logger: logger}, h)
	if err != nil {
		t.Fatal(err)
	}
	n := &node{Broker: b, hub: h, reg: reg, stop: func() {}}
	t.Cleanup(func() {
		n.stop()
		b.Close()
		if t.Failed() {
			t.Logf("log of node %s:\n%s", b.NodeID(), logs.String())
		}
	})
	return n
}

func (n *node) run(t testing.TB) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	var once sync.Once
	n.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Error("Run did not return")
			}
		})
	}
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// eventually polls cond until it holds or d passes.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func must[T any](t testing.TB) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func isUnavailable(err error) bool { return errors.Is(err, broker.ErrUnavailable) }

func startRedis(t testing.TB) *redistest.Server { return redistest.Start(t) }

func (h *hub) has(frame string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, m := range h.msgs {
		if string(m.Frame) == frame {
			return true
		}
	}
	return false
}
