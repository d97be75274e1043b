package test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/config"
)

// The dashboard is served on the admin listener only: its login page is
// there, and nothing of it answers on the public port.
func TestDashboardOnlyOnAdminListener(t *testing.T) {
	t.Setenv("HERALD_ADMIN_TOKEN", adminToken)
	s := startServer(t, func(c *config.Config) { c.DataDir = t.TempDir() })
	noRedirect := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(base, path string) (int, string, http.Header) {
		t.Helper()
		resp, err := noRedirect.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	admin := "http://" + s.admin
	if code, body, _ := get(admin, "/login"); code != 200 || !strings.Contains(body, "<form") {
		t.Fatalf("admin /login: %d %.200s", code, body)
	}
	if code, _, h := get(admin, "/"); code/100 != 3 || !strings.Contains(h.Get("Location"), "/login") {
		t.Fatalf("admin / without a session: %d, Location %q", code, h.Get("Location"))
	}
	if code, _, _ := get(admin, "/metrics"); code != 200 {
		t.Fatalf("admin /metrics: %d", code)
	}
	for _, p := range []string{"/login", "/dashboard/", "/apps/new", "/assets/dashboard.css"} {
		if code, body, _ := get(s.baseURL(), p); code != 404 || strings.Contains(body, "<form") {
			t.Fatalf("public %s: %d %.200s", p, code, body)
		}
	}
}
