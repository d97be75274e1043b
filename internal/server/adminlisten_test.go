package server

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/config"
)

// startAdmin runs the server with cfg and returns the public address and the
// admin listener's address ("" when OnAdminListen was not called).
func startAdmin(t *testing.T, cfg config.Config) (public, admin string) {
	t.Helper()
	adminCh := make(chan string, 1)
	publicCh := make(chan string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, cfg, Options{Stderr: io.Discard,
			OnAdminListen: func(a net.Addr) { adminCh <- a.String() },
			OnListen:      func(a net.Addr) { publicCh <- a.String() }})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case public = <-publicCh:
	case err := <-done:
		t.Fatalf("Run ended before listening: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("server did not start")
	}
	// OnAdminListen runs before OnListen, so it has been called by now or never will be.
	select {
	case admin = <-adminCh:
	default:
	}
	return public, admin
}

func get(t *testing.T, url string) (int, string, string) {
	t.Helper()
	c := &http.Client{Timeout: 20 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(body)
}

func TestAdminListenerServesPprofMetricsReady(t *testing.T) {
	cfg := appCfg(config.App{ID: "a", Key: "key-a", Secret: "secret-a"})
	cfg.AdminListen = "127.0.0.1:0"
	off := false
	cfg.Metrics.Enabled = &off // the admin listener serves /metrics anyway
	public, admin := startAdmin(t, cfg)
	if admin == "" {
		t.Fatal("OnAdminListen was not called")
	}
	if admin == public {
		t.Fatalf("admin listener shares the public address %s", public)
	}

	tests := []struct {
		path     string
		status   int
		contains string // "" = any body
	}{
		{"/debug/pprof/", 200, "goroutine"},
		{"/debug/pprof/goroutine?debug=1", 200, "goroutine profile:"},
		{"/debug/pprof/heap?debug=1", 200, "heap profile:"},
		{"/debug/pprof/allocs", 200, ""},
		{"/debug/pprof/block", 200, ""},
		{"/debug/pprof/mutex", 200, ""},
		{"/debug/pprof/threadcreate?debug=1", 200, "threadcreate profile:"},
		{"/debug/pprof/cmdline", 200, ""},
		{"/debug/pprof/symbol", 200, "num_symbols"},
		{"/debug/pprof/trace?seconds=0.1", 200, ""},
		{"/metrics", 200, "herald_"},
		{"/ready", 200, "READY"},
	}
	for _, tt := range tests {
		status, _, body := get(t, "http://"+admin+tt.path)
		if status != tt.status || !strings.Contains(body, tt.contains) {
			t.Errorf("admin GET %s: %d, want %d containing %q; body %.200q", tt.path, status, tt.status, tt.contains, body)
		}
	}

	status, _, body := get(t, "http://"+admin+"/debug/pprof/profile?seconds=1")
	if status != 200 || len(body) == 0 {
		t.Errorf("CPU profile: %d, %d bytes", status, len(body))
	}

	for _, path := range []string{"/nope", "/", "/app/key-a", "/apps/a/events"} {
		status, ctype, body := get(t, "http://"+admin+path)
		var e struct {
			Error string `json:"error"`
			Code  int    `json:"code"`
		}
		if status != 404 || ctype != "application/json" || json.Unmarshal([]byte(body), &e) != nil || e.Code != 404 {
			t.Errorf("admin GET %s: %d %s %q, want a JSON 404", path, status, ctype, body)
		}
	}

	// The public port never serves pprof, and metrics.enabled=false still holds there.
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/goroutine?debug=1", "/metrics"} {
		if status, _, _ := get(t, "http://"+public+path); status != 404 {
			t.Errorf("public GET %s: %d, want 404", path, status)
		}
	}
}

func TestAdminListenerOff(t *testing.T) {
	cfg := appCfg(config.App{ID: "a", Key: "key-a", Secret: "secret-a"})
	public, admin := startAdmin(t, cfg)
	if admin != "" {
		t.Fatalf("OnAdminListen called with %s while admin_listen is off", admin)
	}
	if status, _, _ := get(t, "http://"+public+"/debug/pprof/"); status != 404 {
		t.Errorf("public GET /debug/pprof/: %d, want 404", status)
	}
}

func TestAdminListenerCannotListen(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg := appCfg(config.App{ID: "a", Key: "key-a", Secret: "secret-a"})
	cfg.AdminListen = busy.Addr().String()
	started := false
	err = Run(context.Background(), cfg, Options{Stderr: io.Discard,
		OnListen: func(net.Addr) { started = true }})
	if err == nil || started {
		t.Fatalf("Run: err %v, started %v; want a start-up error", err, started)
	}
	if want := "admin listener on " + cfg.AdminListen; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}
}

// A running CPU profile does not hold shutdown until its deadline.
func TestAdminListenerShutdownEndsProfile(t *testing.T) {
	cfg := appCfg(config.App{ID: "a", Key: "key-a", Secret: "secret-a"})
	cfg.AdminListen = "127.0.0.1:0"
	cfg.ShutdownTimeout = config.Duration(20 * time.Second)
	adminCh := make(chan string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, cfg, Options{Stderr: io.Discard,
			OnAdminListen: func(a net.Addr) { adminCh <- a.String() }})
	}()
	admin := <-adminCh

	profiled := make(chan int, 1)
	go func() {
		resp, err := http.Get("http://" + admin + "/debug/pprof/profile?seconds=30")
		if err != nil {
			profiled <- 0
			return
		}
		resp.Body.Close()
		profiled <- resp.StatusCode
	}()
	// Wait until the profile handler is sleeping.
	for deadline := time.Now().Add(10 * time.Second); ; {
		_, _, stacks := get(t, "http://"+admin+"/debug/pprof/goroutine?debug=2")
		if strings.Contains(stacks, "net/http/pprof.Profile(") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the CPU profile did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("shutdown waited for the CPU profile")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("shutdown took %v", d)
	}
	if status := <-profiled; status != 200 {
		t.Errorf("profile cut short by shutdown: status %d, want 200 with what was sampled", status)
	}
}

func TestBannerAdminListen(t *testing.T) {
	cfg := config.Config{AdminListen: config.AdminListenOff}
	cfg.ApplyDefaults()
	if out := banner(cfg); strings.Contains(out, "Admin") {
		t.Errorf("banner mentions the admin listener while it is off:\n%s", out)
	}
	cfg.AdminListen = "127.0.0.1:6060"
	if out := banner(cfg); !strings.Contains(out, "Admin      http://127.0.0.1:6060/debug/pprof/") {
		t.Errorf("banner:\n%s", out)
	}
}
