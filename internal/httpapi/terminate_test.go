package httpapi

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/heraldhq/herald/internal/metrics"
	"github.com/heraldhq/herald/internal/signing"
)

// TestTerminateWithoutAppsPrefix: the Python SDK posts to
// /users/{id}/terminate_connections with no /apps/{app_id}; the app is the
// one whose key signed the request, the signature covers the path as sent,
// and the route answers, limits and counts like the /apps/{app_id} one.
func TestTerminateWithoutAppsPrefix(t *testing.T) {
	h := newHarness(t, Config{})
	const short = "/users/u1/terminate_connections"
	rec := h.do("POST", short, []byte(`{}`), cred1, testNow)
	if rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != `{}` {
		t.Fatalf("signed short path: %d %s, want 200 {}", rec.Code, rec.Body)
	}
	if rec := h.do("POST", "/users/u2/terminate_connections", []byte(`{}`), cred2, testNow); rec.Code != 200 {
		t.Fatalf("app 2's key: %d %s", rec.Code, rec.Body)
	}
	if !slices.Equal(h.b.terminated, []string{"u1", "u2"}) || !slices.Equal(h.b.termApps, []string{"1", "2"}) {
		t.Fatalf("terminated users %v of apps %v, want [u1 u2] of [1 2]", h.b.terminated, h.b.termApps)
	}
	if got := testutil.ToFloat64(h.m.APIRequests.WithLabelValues("terminate_connections", "200")); got != 2 {
		t.Errorf("terminate_connections 200 requests = %v, want 2", got)
	}
	if got := testutil.ToFloat64(h.m.APIAppRequests.WithLabelValues("1", "2xx")); got != 1 {
		t.Errorf("app 1 2xx requests = %v, want 1", got)
	}

	t.Run("wrong signature", func(t *testing.T) {
		expectError(t, h.do("POST", short, []byte(`{}`), signing.Credential{Key: cred1.Key, Secret: "wrong"}, testNow), 401)
		if got := testutil.ToFloat64(h.m.AuthFailures.WithLabelValues("1", metrics.AuthAPISignature)); got != 1 {
			t.Errorf("signature failures of app 1 = %v, want 1", got)
		}
	})
	t.Run("signed over the long path", func(t *testing.T) {
		// The string to sign uses the path exactly as received.
		q := signing.SignRequest(cred1, "POST", "/apps/1"+short, nil, []byte(`{}`), testNow)
		rec := httptest.NewRecorder()
		h.api.ServeHTTP(rec, httptest.NewRequest("POST", short+"?"+q.Encode(), strings.NewReader(`{}`)))
		expectError(t, rec, 401)
	})
	t.Run("unknown key like the long path", func(t *testing.T) {
		unknown := signing.Credential{Key: "key-9", Secret: "secret-9"}
		shortRec := h.do("POST", short, []byte(`{}`), unknown, testNow)
		expectError(t, shortRec, 401)
		longRec := h.do("POST", "/apps/1"+short, []byte(`{}`), unknown, testNow)
		expectError(t, longRec, 401)
		if shortRec.Body.String() != longRec.Body.String() {
			t.Errorf("unknown key: short path says %s, long path %s", shortRec.Body, longRec.Body)
		}
		// Counted like the long path's, but charged to no app: the key
		// names none.
		if got := testutil.ToFloat64(h.m.AuthFailures.WithLabelValues("", metrics.AuthUnknownKey)); got != 1 {
			t.Errorf("unknown-key failures of no app = %v, want 1", got)
		}
	})
	t.Run("unsigned", func(t *testing.T) {
		rec := httptest.NewRecorder()
		h.api.ServeHTTP(rec, httptest.NewRequest("POST", short, strings.NewReader(`{}`)))
		expectError(t, rec, 401)
	})
	t.Run("disabled app", func(t *testing.T) {
		expectError(t, h.do("POST", short, []byte(`{}`), signing.Credential{Key: "key-3", Secret: "secret-3"}, testNow), 403)
	})
	t.Run("wrong method", func(t *testing.T) {
		expectError(t, h.do("GET", short, nil, cred1, testNow), 405)
	})
	t.Run("invalid user id", func(t *testing.T) {
		expectError(t, h.do("POST", "/users/"+strings.Repeat("u", 129)+"/terminate_connections", []byte(`{}`), cred1, testNow), 400)
	})
	if !slices.Equal(h.b.terminated, []string{"u1", "u2"}) {
		t.Errorf("refused requests reached the backend: %v", h.b.terminated)
	}
}

// TestTerminateWithoutAppsPrefixUnderPathPrefix: behind path_prefix the
// server hands the API the path without it; a signature over the full path
// (an SDK told about the prefix) and over the stripped one both verify.
func TestTerminateWithoutAppsPrefixUnderPathPrefix(t *testing.T) {
	h := newHarness(t, Config{PathPrefix: "/rt"})
	const short = "/users/u1/terminate_connections"
	for _, signed := range []string{"/rt" + short, short} {
		q := signing.SignRequest(cred1, "POST", signed, nil, []byte(`{}`), testNow)
		rec := httptest.NewRecorder()
		h.api.ServeHTTP(rec, httptest.NewRequest("POST", short+"?"+q.Encode(), strings.NewReader(`{}`)))
		if rec.Code != 200 {
			t.Errorf("signed over %s: %d %s", signed, rec.Code, rec.Body)
		}
	}
	if len(h.b.terminated) != 2 {
		t.Errorf("terminated %v, want u1 twice", h.b.terminated)
	}
}

// TestUnknownEndpointLoggedAtDebug: unrouted API paths are a 404 and a
// debug line, never an info line (scanners probe them constantly).
func TestUnknownEndpointLoggedAtDebug(t *testing.T) {
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelDebug} {
		var logs bytes.Buffer
		h := newHarness(t, Config{})
		h.api = New(Config{}, Deps{Backend: h.b, Apps: h.api.apps, Metrics: h.m,
			Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: level})), Now: func() time.Time { return testNow }})
		for _, p := range []string{"/apps/1/nope", "/users/u1/nope", "/users/u1/terminate_connections/x"} {
			rec := httptest.NewRecorder()
			h.api.ServeHTTP(rec, httptest.NewRequest("POST", p+"?auth_signature=secretish", nil))
			expectError(t, rec, http.StatusNotFound)
			logged := strings.Contains(logs.String(), "unknown api endpoint") && strings.Contains(logs.String(), "path="+p)
			if logged != (level == slog.LevelDebug) {
				t.Errorf("level %v, %s: logged %v: %q", level, p, logged, logs.String())
			}
		}
		if strings.Contains(logs.String(), "secretish") || strings.Contains(logs.String(), "level=INFO") {
			t.Errorf("log: %q", logs.String())
		}
	}
}
