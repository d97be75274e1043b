package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/internal/apps"
	"github.com/heraldhq/herald/internal/broker/memory"
	"github.com/heraldhq/herald/internal/metrics"
	"github.com/heraldhq/herald/internal/signing"
)

// mapStore is an apps.Store whose apps a test can delete.
type mapStore struct {
	mu   sync.Mutex
	apps map[string]*apps.App // by id
}

func (s *mapStore) ByID(_ context.Context, id string) (*apps.App, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.apps[id]; a != nil {
		return a, nil
	}
	return nil, apps.ErrNotFound
}

func (s *mapStore) ByKey(_ context.Context, key string) (*apps.App, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.apps {
		if a.Key == key {
			return a, nil
		}
	}
	return nil, apps.ErrNotFound
}

func (s *mapStore) delete(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.apps, id)
}

// TestRateLimitDeletedApp: over its burst an app gets 429 with Retry-After;
// once deleted, its requests are refused before the limiter, so its bucket
// is never touched again (the memory broker drops it once refilled).
func TestRateLimitDeletedApp(t *testing.T) {
	cred := signing.Credential{Key: "key-5", Secret: "secret-5"}
	store := &mapStore{apps: map[string]*apps.App{
		"5": {ID: "5", Key: cred.Key, Secret: cred.Secret, Enabled: true, APIRateLimit: 0.5, APIRateBurst: 2},
	}}
	b := &fakeBackend{limits: memory.New(memory.Config{Now: func() time.Time { return testNow }}, nopHandler{})}
	h := &harness{b: b, api: New(Config{}, Deps{Backend: b, Apps: store, Metrics: metrics.New(prometheus.NewRegistry()),
		Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return testNow }})}

	for i := range 2 {
		if rec := h.do("GET", "/apps/5/channels", nil, cred, testNow); rec.Code != http.StatusOK {
			t.Fatalf("request %d: %d %s", i, rec.Code, rec.Body)
		}
	}
	rec := h.do("GET", "/apps/5/channels", nil, cred, testNow)
	expectError(t, rec, http.StatusTooManyRequests)
	if got := rec.Header().Get("Retry-After"); got != "3" { // 2s to a token at 0.5/s, +1
		t.Errorf("Retry-After = %q, want 3", got)
	}
	if !strings.Contains(rec.Body.String(), "Rate limit exceeded for this app; retry after 3s") {
		t.Errorf("body = %s", rec.Body)
	}

	store.delete("5")
	b.mu.Lock()
	before := len(b.allowed)
	b.mu.Unlock()
	if rec := h.do("GET", "/apps/5/channels", nil, cred, testNow); rec.Code != http.StatusNotFound {
		t.Errorf("deleted app: %d %s, want 404", rec.Code, rec.Body)
	}
	h.do("POST", "/users/u1/terminate_connections", []byte("{}"), cred, testNow) // by key
	b.mu.Lock()
	defer b.mu.Unlock()
	if before != 3 || len(b.allowed) != before || slices.ContainsFunc(b.allowed, func(k string) bool { return k != "api:5" }) {
		t.Errorf("Allow keys = %q (%d before the delete); want 3 of api:5, none after", b.allowed, before)
	}
}
