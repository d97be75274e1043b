package webhooks

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/heraldhq/herald/internal/apps"
	"github.com/heraldhq/herald/internal/hub"
	"github.com/heraldhq/herald/internal/metrics"
	"github.com/heraldhq/herald/internal/signing"
)

const (
	testKey    = "app-key"
	testSecret = "app-secret"
	t0         = int64(1700000000000)
)

var allTypes = []string{"channel_occupied", "channel_vacated", "member_added", "member_removed", "client_event", "cache_miss", "subscription_count"}

// request is one webhook request as a receiver saw it.
type request struct {
	Header http.Header
	Body   []byte
	Status int // what the receiver answered
	At     time.Time
}

// payload is the decoded body.
type payload struct {
	TimeMS int64            `json:"time_ms"`
	Events []map[string]any `json:"events"`
}

func (r request) payload(t testing.TB) payload {
	t.Helper()
	var p payload
	if err := json.Unmarshal(r.Body, &p); err != nil {
		t.Fatalf("body %q: %v", r.Body, err)
	}
	return p
}

// receiver is a real HTTP server on 127.0.0.1 recording every request.
// status decides the answer to the n-th request (0-based); nil means 200.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	reqs   []request
	status func(n int, body []byte) int
}

func newReceiver(t testing.TB, status func(n int, body []byte) int) *receiver {
	r := &receiver{status: status}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		n := len(r.reqs)
		code := 200
		if r.status != nil {
			code = r.status(n, body)
		}
		r.reqs = append(r.reqs, request{Header: req.Header.Clone(), Body: body, Status: code, At: time.Now()})
		r.mu.Unlock()
		w.WriteHeader(code)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) requests() []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]request(nil), r.reqs...)
}

// ok returns the requests answered with a 2xx.
func (r *receiver) ok() []request {
	var out []request
	for _, q := range r.requests() {
		if q.Status/100 == 2 {
			out = append(out, q)
		}
	}
	return out
}

// events returns every event of the 2xx requests, in arrival order.
func (r *receiver) events(t testing.TB) []map[string]any {
	var out []map[string]any
	for _, q := range r.ok() {
		out = append(out, q.payload(t).Events...)
	}
	return out
}

func hook(url string, types ...string) apps.Webhook {
	if len(types) == 0 {
		types = allTypes
	}
	return apps.Webhook{URL: url, EventTypes: types}
}

func store(t testing.TB, list ...apps.App) *apps.Static {
	t.Helper()
	s, err := apps.NewStatic(list)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func app(id string, hooks ...apps.Webhook) apps.App {
	return apps.App{ID: id, Key: testKey, Secret: testSecret, Enabled: true, Webhooks: hooks}
}

// logBuffer is a concurrency-safe log sink.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// harness runs one Dispatcher and stops it at cleanup.
type harness struct {
	d      *Dispatcher
	m      *metrics.WebhookMetrics
	log    *logBuffer
	cancel context.CancelFunc
	done   chan error
}

// fast shrinks every delay so tests run in milliseconds.
func fast(path string) Config {
	return Config{
		LeaveDelay: 100 * time.Millisecond, BatchWindow: 10 * time.Millisecond, Timeout: time.Second,
		RetryWindow: 5 * time.Second, Path: path,
		backoffBase: 10 * time.Millisecond, backoffMax: 50 * time.Millisecond,
	}
}

func dbPath(t testing.TB) string { return filepath.Join(t.TempDir(), DBFile) }

// newDispatcher builds a Dispatcher without running it.
func newDispatcher(t testing.TB, cfg Config, s apps.Store) *harness {
	t.Helper()
	h := &harness{m: metrics.NewWebhooks(prometheus.NewRegistry()), log: &logBuffer{}}
	logger := slog.New(slog.NewTextHandler(h.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	d, err := New(cfg, Deps{Apps: s, Logger: logger, Metrics: h.m})
	if err != nil {
		t.Fatal(err)
	}
	h.d = d
	return h
}

func (h *harness) start(t testing.TB) *harness {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel, h.done = cancel, make(chan error, 1)
	go func() { h.done <- h.d.Run(ctx) }()
	t.Cleanup(func() { h.stop(t) })
	return h
}

// stop cancels Run gracefully and waits for it (bounded).
func (h *harness) stop(t testing.TB) {
	t.Helper()
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	select {
	case err := <-h.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10s of cancel")
	}
}

// crash stops Run through the test hook: no final flush, like a kill
// right after the last commit.
func (h *harness) crash(t testing.TB) {
	t.Helper()
	close(h.d.crash)
	select {
	case <-h.done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10s of the crash hook")
	}
	h.cancel()
	h.cancel = nil
}

func run(t testing.TB, cfg Config, s apps.Store) *harness {
	t.Helper()
	return newDispatcher(t, cfg, s).start(t)
}

// queued is how many event records have been committed so far.
func (h *harness) queued(appID string) int {
	return int(value(h.m.Events.WithLabelValues(appID, "queued")))
}

// value reads a counter or gauge.
func value(m prometheus.Metric) float64 {
	var out dto.Metric
	if err := m.Write(&out); err != nil {
		panic(err)
	}
	if out.Counter != nil {
		return out.Counter.GetValue()
	}
	return out.Gauge.GetValue()
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func occupied(app, ch string) hub.Event {
	return hub.Event{Kind: hub.ChannelOccupied, AppID: app, Channel: ch, TimeMS: t0}
}

func vacated(app, ch string) hub.Event {
	return hub.Event{Kind: hub.ChannelVacated, AppID: app, Channel: ch, TimeMS: t0}
}

func member(kind hub.EventKind, app, ch, user string) hub.Event {
	return hub.Event{Kind: kind, AppID: app, Channel: ch, UserID: user, TimeMS: t0}
}

// clientEvent carries n in its data so tests can check order and count.
func clientEvent(app, ch string, n int) hub.Event {
	data, _ := json.Marshal(map[string]int{"n": n})
	return hub.Event{Kind: hub.ClientEvent, AppID: app, Channel: ch, Event: "client-x", Data: string(data), HasData: true,
		SocketID: "1.2", TimeMS: t0 + int64(n)}
}

// seqOf extracts n from a client event delivered by clientEvent.
func seqOf(t testing.TB, ev map[string]any) int {
	t.Helper()
	var d struct{ N int }
	s, _ := ev["data"].(string)
	if err := json.Unmarshal([]byte(s), &d); err != nil {
		t.Fatalf("event %v: %v", ev, err)
	}
	return d.N
}

// checkSigned asserts the Pusher headers of r are right for its body.
func checkSigned(t testing.TB, r request) {
	t.Helper()
	if got := r.Header["Content-Type"]; len(got) != 1 || got[0] != "application/json" {
		t.Errorf("Content-Type = %q, want exactly application/json", got)
	}
	if got := r.Header.Get("X-Pusher-Key"); got != testKey {
		t.Errorf("X-Pusher-Key = %q", got)
	}
	if got, want := r.Header.Get("X-Pusher-Signature"), signing.SignWebhook(testSecret, r.Body); got != want {
		t.Errorf("X-Pusher-Signature = %q, want %q over %s", got, want, r.Body)
	}
}
