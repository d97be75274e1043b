package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/apps"
	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/broker/memory"
	"github.com/heraldhq/herald/internal/metrics"
	"github.com/heraldhq/herald/internal/signing"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// fakeBackend records what the API asks of the hub; rate limits are the
// memory broker's (the single-node default).
type fakeBackend struct {
	mu         sync.Mutex
	published  []string
	terminated []string
	termApps   []string // the app of each terminated user
	limits     *memory.Broker
	allowed    []string // the key of every Allow call
	down       error    // every call fails with it when set
}

func (f *fakeBackend) Publish(_ context.Context, appID, channel, event, data, exceptSocketID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down != nil {
		return f.down
	}
	f.published = append(f.published, channel)
	return nil
}
func (f *fakeBackend) Channel(context.Context, string, string) (broker.ChannelStats, error) {
	return broker.ChannelStats{}, f.down
}
func (f *fakeBackend) Channels(context.Context, string, string) (map[string]broker.ChannelStats, error) {
	return map[string]broker.ChannelStats{}, f.down
}
func (f *fakeBackend) PresenceUsers(context.Context, string, string) ([]string, error) {
	return nil, f.down
}
func (f *fakeBackend) Cached(context.Context, string, string) (broker.CacheEntry, bool, error) {
	return broker.CacheEntry{}, false, f.down
}
func (f *fakeBackend) TerminateUser(_ context.Context, appID, userID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.terminated = append(f.terminated, userID)
	f.termApps = append(f.termApps, appID)
	return f.down
}
func (f *fakeBackend) Allow(ctx context.Context, key string, rate float64, burst int) (time.Duration, bool, error) {
	f.mu.Lock()
	f.allowed = append(f.allowed, key)
	f.mu.Unlock()
	if f.down != nil {
		return 0, false, f.down
	}
	return f.limits.Allow(ctx, key, rate, burst)
}

type nopHandler struct{}

func (nopHandler) Deliver(broker.Message)                  {}
func (nopHandler) Reaped(context.Context, []broker.Change) {}
func (nopHandler) Local() broker.LocalState                { return broker.LocalState{} }

var (
	testNow = time.Unix(1700000000, 0)
	cred1   = signing.Credential{Key: "key-1", Secret: "secret-1"}
	cred2   = signing.Credential{Key: "key-2", Secret: "secret-2"}
)

type harness struct {
	api  *API
	b    *fakeBackend
	logs *bytes.Buffer
	m    *metrics.Metrics
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	store, err := apps.NewStatic([]apps.App{
		{ID: "1", Key: cred1.Key, Secret: cred1.Secret, Enabled: true, MaxEventPayloadBytes: 10 << 10},
		{ID: "2", Key: cred2.Key, Secret: cred2.Secret, Enabled: true},
		{ID: "3", Key: "key-3", Secret: "secret-3"},
	})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{b: &fakeBackend{limits: memory.New(memory.Config{Now: func() time.Time { return testNow }}, nopHandler{})}, logs: &bytes.Buffer{}}
	h.m = metrics.New(prometheus.NewRegistry())
	h.api = New(cfg, Deps{
		Backend: h.b, Apps: store, Metrics: h.m,
		Logger: slog.New(slog.NewTextHandler(h.logs, nil)), Now: func() time.Time { return testNow },
	})
	return h
}

// do sends a request signed with cred at ts.
func (h *harness) do(method, path string, body []byte, cred signing.Credential, ts time.Time) *httptest.ResponseRecorder {
	q := signing.SignRequest(cred, method, path, nil, body, ts)
	req := httptest.NewRequest(method, path+"?"+q.Encode(), bytes.NewReader(body))
	rec := httptest.NewRecorder()
	h.api.ServeHTTP(rec, req)
	return rec
}

// expectError checks the status and the JSON error body every refusal has.
func expectError(t *testing.T, rec *httptest.ResponseRecorder, status int) {
	t.Helper()
	if rec.Code != status {
		t.Errorf("status = %d, want %d (body %s)", rec.Code, status, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	var e struct {
		Error string `json:"error"`
		Code  int    `json:"code"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == "" || e.Code != status {
		t.Errorf("body %q is not {\"error\":...,\"code\":%d}", rec.Body, status)
	}
}

func TestRefusals(t *testing.T) {
	h := newHarness(t, Config{MaxBodyBytes: 64 << 10})
	ev := func(name, data string, channels ...string) []byte {
		b, _ := json.Marshal(map[string]any{"name": name, "data": data, "channels": channels})
		return b
	}
	many := make([]string, 101)
	for i := range many {
		many[i] = "c" + strings.Repeat("x", i%3)
	}
	for _, tc := range []struct {
		name   string
		method string
		path   string
		body   []byte
		cred   signing.Credential
		ts     time.Time
		status int
	}{
		{"bad JSON", "POST", "/apps/1/events", []byte(`{"name":"e",`), cred1, testNow, 400},
		{"JSON of the wrong type", "POST", "/apps/1/events", []byte(`{"name":1,"data":"x","channels":["c"]}`), cred1, testNow, 400},
		{"body over MaxBodyBytes", "POST", "/apps/1/events", ev("e", strings.Repeat("d", 65<<10), "c"), cred1, testNow, 413},
		{"data over the app limit", "POST", "/apps/1/events", ev("e", strings.Repeat("d", 10<<10+1), "c"), cred1, testNow, 413},
		{"bad channel name", "POST", "/apps/1/events", ev("e", "x", "a b"), cred1, testNow, 400},
		{"channel name too long", "POST", "/apps/1/events", ev("e", "x", strings.Repeat("c", 201)), cred1, testNow, 400},
		{"user channel id too long", "POST", "/apps/1/events", ev("e", "x", "#server-to-user-"+strings.Repeat("u", 129)), cred1, testNow, 400},
		{"event name too long", "POST", "/apps/1/events", ev(strings.Repeat("n", 201), "x", "c"), cred1, testNow, 400},
		{"101 channels", "POST", "/apps/1/events", ev("e", "x", many...), cred1, testNow, 400},
		{"11 batch events", "POST", "/apps/1/batch_events", []byte(`{"batch":[` + strings.Repeat(`{"name":"e","data":"x","channel":"c"},`, 10) +
			`{"name":"e","data":"x","channel":"c"}]}`), cred1, testNow, 400},
		{"wrong signature", "POST", "/apps/1/events", ev("e", "x", "c"), signing.Credential{Key: cred1.Key, Secret: "wrong"}, testNow, 401},
		{"stale timestamp", "POST", "/apps/1/events", ev("e", "x", "c"), cred1, testNow.Add(-600 * time.Second), 401},
		{"credentials of another app", "POST", "/apps/1/events", ev("e", "x", "c"), cred2, testNow, 401},
		{"unknown app", "POST", "/apps/9/events", ev("e", "x", "c"), cred1, testNow, 404},
		{"disabled app", "POST", "/apps/3/events", ev("e", "x", "c"), signing.Credential{Key: "key-3", Secret: "secret-3"}, testNow, 403},
		{"wrong method", "GET", "/apps/1/events", nil, cred1, testNow, 405},
		{"bad channel in path", "GET", "/apps/1/channels/a*b", nil, cred1, testNow, 400},
		{"user id too long to sign in", "POST", "/apps/1/users/" + strings.Repeat("u", 129) + "/terminate_connections", []byte(`{}`), cred1, testNow, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expectError(t, h.do(tc.method, tc.path, tc.body, tc.cred, tc.ts), tc.status)
		})
	}
	if len(h.b.published) != 0 || len(h.b.terminated) != 0 {
		t.Errorf("refused requests reached the backend: published %v, terminated %v", h.b.published, h.b.terminated)
	}

	// Controls: the same shapes, valid, succeed.
	if rec := h.do("POST", "/apps/1/events", ev("e", "x", "#server-to-user-"+strings.Repeat("u", 128)), cred1, testNow); rec.Code != 200 {
		t.Errorf("user channel with a 128-byte id: %d %s", rec.Code, rec.Body)
	}
	if rec := h.do("POST", "/apps/1/users/"+strings.Repeat("u", 128)+"/terminate_connections", []byte(`{}`), cred1, testNow); rec.Code != 200 {
		t.Errorf("terminate a 128-byte id: %d %s", rec.Code, rec.Body)
	}
	if rec := h.do("POST", "/apps/1/events", ev("e", "x", "c"), cred1, testNow.Add(-599*time.Second)); rec.Code != 200 {
		t.Errorf("timestamp 599 s old: %d %s", rec.Code, rec.Body)
	}
}

// TestRefusalLogsNoSignature: the 401 body echoes the signature the client
// sent (hosted wording), the log must not carry it, nor any secret.
func TestRefusalLogsNoSignature(t *testing.T) {
	h := newHarness(t, Config{})
	// A short string to sign, so that not even the log's truncation hides it.
	q := signing.SignRequest(signing.Credential{Key: cred1.Key, Secret: "old-secret"}, "GET", "/apps/1/channels", nil, nil, testNow)
	sig := q.Get("auth_signature")
	req := httptest.NewRequest("GET", "/apps/1/channels?"+q.Encode(), nil)
	rec := httptest.NewRecorder()
	h.api.ServeHTTP(rec, req)
	expectError(t, rec, http.StatusUnauthorized)
	if !strings.Contains(rec.Body.String(), sig) {
		t.Errorf("401 body does not echo the signature sent: %s", rec.Body)
	}
	logs := h.logs.String()
	if !strings.Contains(logs, "Invalid signature") {
		t.Errorf("refusal not logged with its reason: %s", logs)
	}
	for _, leak := range []string{sig[:12], cred1.Secret, "old-secret"} {
		if strings.Contains(logs, leak) {
			t.Errorf("log contains %q: %s", leak, logs)
		}
	}
}

// TestClusterStateUnavailable: when the backend cannot reach the cluster's
// shared state, every endpoint that needs it answers 503 with a JSON
// error and Retry-After, never a 200.
func TestClusterStateUnavailable(t *testing.T) {
	h := newHarness(t, Config{})
	h.b.down = fmt.Errorf("redis: dial: %w", broker.ErrUnavailable)
	cases := []struct {
		method, path string
		body         []byte
	}{
		{http.MethodPost, "/apps/1/events", []byte(`{"name":"e","channels":["a"],"data":"{}"}`)},
		{http.MethodPost, "/apps/1/batch_events", []byte(`{"batch":[{"name":"e","channel":"a","data":"{}"}]}`)},
		{http.MethodGet, "/apps/1/channels", nil},
		{http.MethodGet, "/apps/1/channels/a", nil},
		{http.MethodGet, "/apps/1/channels/presence-a/users", nil},
		{http.MethodPost, "/apps/1/users/u1/terminate_connections", []byte(`{}`)},
	}
	for _, c := range cases {
		rec := h.do(c.method, c.path, c.body, cred1, testNow)
		var body struct {
			Error string `json:"error"`
			Code  int    `json:"code"`
		}
		if rec.Code != http.StatusServiceUnavailable || json.Unmarshal(rec.Body.Bytes(), &body) != nil || body.Code != 503 ||
			rec.Header().Get("Retry-After") == "" {
			t.Errorf("%s %s: %d %q (Retry-After %q), want 503 with a JSON error", c.method, c.path, rec.Code, rec.Body.String(), rec.Header().Get("Retry-After"))
		}
	}
}

// TestAuthFailureKinds: failed authorizations are counted by what failed
// (the dashboard charts them by reason), and known apps' requests by class.
func TestAuthFailureKinds(t *testing.T) {
	h := newHarness(t, Config{MaxBodyBytes: 64 << 10})
	body := []byte(`{"name":"e","data":"x","channels":["c"]}`)
	h.do("POST", "/apps/1/events", body, signing.Credential{Key: cred1.Key, Secret: "wrong"}, testNow)
	h.do("POST", "/apps/1/events", body, cred1, testNow.Add(-time.Hour))
	h.do("POST", "/apps/1/events", body, cred2, testNow)
	h.do("POST", "/apps/1/events", body, cred1, testNow)
	for kind, want := range map[string]float64{metrics.AuthAPISignature: 1, metrics.AuthAPITimestamp: 1, metrics.AuthUnknownKey: 1} {
		if got := testutil.ToFloat64(h.m.AuthFailures.WithLabelValues("1", kind)); got != want {
			t.Errorf("auth failures %s = %v, want %v", kind, got, want)
		}
	}
	if got := testutil.ToFloat64(h.m.APIAppRequests.WithLabelValues("1", "4xx")); got != 3 {
		t.Errorf("4xx requests of app 1 = %v, want 3", got)
	}
	if got := testutil.ToFloat64(h.m.APIAppRequests.WithLabelValues("1", "2xx")); got != 1 {
		t.Errorf("2xx requests of app 1 = %v, want 1", got)
	}
}
