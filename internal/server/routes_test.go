package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/config"
)

func request(t *testing.T, method, url, auth string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	c := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func isJSONError(body string, code int) bool {
	var e struct {
		Error string `json:"error"`
		Code  int    `json:"code"`
	}
	return json.Unmarshal([]byte(body), &e) == nil && e.Code == code && e.Error != ""
}

// TestMetricsNotPublicByDefault: /metrics is on the admin listener only,
// unless a bearer token opens it on the public port.
func TestMetricsNotPublicByDefault(t *testing.T) {
	cfg := appCfg(config.App{ID: "a", Key: "key-a", Secret: "secret-a"})
	cfg.AdminListen = "127.0.0.1:0"
	public, admin := startAdmin(t, cfg)
	if resp, body := request(t, "GET", "http://"+public+"/metrics", ""); resp.StatusCode != 404 || strings.Contains(body, "herald_") {
		t.Errorf("public /metrics: %d %.100q, want a 404 without metrics", resp.StatusCode, body)
	}
	if resp, body := request(t, "GET", "http://"+admin+"/metrics", ""); resp.StatusCode != 200 || !strings.Contains(body, "herald_connections") {
		t.Errorf("admin /metrics: %d", resp.StatusCode)
	}
}

func TestMetricsPublicWithToken(t *testing.T) {
	const token = "s3cret-metrics-token-0123"
	cfg := appCfg(config.App{ID: "a", Key: "key-a", Secret: "secret-a"})
	cfg.Metrics.PublicToken = token
	public, _ := startAdmin(t, cfg)
	for _, auth := range []string{"", "Bearer wrong-token-wrong-token", "Bearer " + token + "x", "Basic " + token, token} {
		resp, body := request(t, "GET", "http://"+public+"/metrics", auth)
		if resp.StatusCode != 401 || !isJSONError(body, 401) || strings.Contains(body, "herald_") {
			t.Errorf("Authorization %q: %d %.100q, want a JSON 401", auth, resp.StatusCode, body)
		}
	}
	resp, body := request(t, "GET", "http://"+public+"/metrics", "Bearer "+token)
	if resp.StatusCode != 200 || !strings.Contains(body, "herald_connections") {
		t.Errorf("with the token: %d", resp.StatusCode)
	}
	// metrics.enabled=false closes the public port even with a token.
	off := false
	cfg.Metrics.Enabled = &off
	public, _ = startAdmin(t, cfg)
	if resp, _ := request(t, "GET", "http://"+public+"/metrics", "Bearer "+token); resp.StatusCode != 404 {
		t.Errorf("metrics disabled: %d, want 404", resp.StatusCode)
	}
}

// TestDotSegmentsAre404: paths with "." or ".." segments get a JSON 404,
// never a redirect that would repeat a signed query string.
func TestDotSegmentsAre404(t *testing.T) {
	cfg := appCfg(config.App{ID: "a", Key: "key-a", Secret: "secret-a"})
	cfg.AdminListen = "127.0.0.1:0"
	public, admin := startAdmin(t, cfg)
	const q = "?auth_key=key-a&auth_timestamp=1&auth_version=1.0&auth_signature=abcdef0123456789"
	for _, p := range []string{
		"/apps/a/../a/channels", "/apps/./a/channels", "/apps/a/channels/.", "/apps/a/channels/..",
		"/apps//a/channels", "/./", "/../ready", "/app/../apps/a/channels",
	} {
		for _, method := range []string{"GET", "POST"} {
			resp, body := request(t, method, "http://"+public+p+q, "")
			if resp.StatusCode != 404 || resp.Header.Get("Location") != "" || !isJSONError(body, 404) {
				t.Errorf("%s %s: %d Location %q %.100q, want a JSON 404", method, p, resp.StatusCode, resp.Header.Get("Location"), body)
			}
		}
	}
	for _, p := range []string{"/debug/pprof/../pprof/", "/./metrics", "/metrics/.."} {
		resp, body := request(t, "GET", "http://"+admin+p, "")
		if resp.StatusCode != 404 || resp.Header.Get("Location") != "" || !isJSONError(body, 404) {
			t.Errorf("admin GET %s: %d Location %q, want a JSON 404", p, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
}

// TestDefaultAdminAddressTaken: when the default admin address is taken
// the server starts without the admin listener and says so; a configured
// address that is taken stays a start-up error (TestAdminListenerCannotListen).
func TestDefaultAdminAddressTaken(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg := appCfg(config.App{ID: "a", Key: "key-a", Secret: "secret-a"})
	cfg.AdminListen, cfg.AdminListenDefaulted = busy.Addr().String(), true
	var logs bytes.Buffer
	lb := &lockedBuffer{b: &logs}
	ctx, cancel := context.WithCancel(context.Background())
	listening := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, cfg, Options{Stderr: lb,
			OnAdminListen: func(net.Addr) { t.Error("admin listener started on a taken address") },
			OnListen:      func(net.Addr) { close(listening) }})
	}()
	select {
	case <-listening:
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("server did not start")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	lb.mu.Lock()
	out := logs.String()
	lb.mu.Unlock()
	if !strings.Contains(out, "admin listener (metrics, pprof) not started") {
		t.Errorf("no warning about the admin listener:\n%s", out)
	}
}

// lockedBuffer is a bytes.Buffer the server's log goroutines may share.
type lockedBuffer struct {
	mu sync.Mutex
	b  *bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
