package test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/heraldhq/herald/internal/config"
)

func TestHealthEndpoints(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	if r := s.do(http.MethodGet, "/", nil); r.status != http.StatusOK {
		t.Errorf("GET / = %v, want 200", r)
	}
	if r := s.do(http.MethodGet, "/ready", nil); r.status != http.StatusOK {
		t.Errorf("GET /ready = %v, want 200 once started", r)
	}

	c := connect(t, s)
	c.subscribe("my-channel")
	r := s.metrics()
	if !strings.Contains(string(r.body), "herald_connections") {
		t.Errorf("/metrics has no herald_connections:\n%.2000s", r.body)
	}
	if v := s.metricValue(`herald_connections{app_id="1"}`); v != 1 {
		t.Errorf(`herald_connections{app_id="1"} = %v, want 1`, v)
	}
	c.close()
	eventually(t, readTimeout, "herald_connections to drop to 0", func() bool {
		return s.metricValue(`herald_connections{app_id="1"}`) == 0
	})
}

func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	const shutdownTimeout = 5 * time.Second
	s := startServer(t, func(c *config.Config) { c.ShutdownTimeout = config.Duration(shutdownTimeout) })
	c := connect(t, s)
	c.subscribe("my-channel")

	start := time.Now()
	stopped := make(chan error, 1)
	go func() { stopped <- s.stop(shutdownTimeout + 2*time.Second) }()

	c.expectClose(4200, shutdownTimeout)
	if err := <-stopped; err != nil {
		t.Fatalf("server.Run after cancel: %v", err)
	}
	if d := time.Since(start); d > shutdownTimeout+500*time.Millisecond {
		t.Errorf("Run returned after %v, want within the %v shutdown timeout", d, shutdownTimeout)
	}

	// Nothing listens any more.
	d := websocket.Dialer{HandshakeTimeout: time.Second}
	if conn, _, err := d.Dial("ws://"+s.addr+pusherPath(appKey), nil); err == nil {
		conn.Close()
		t.Error("the server still accepts connections after Run returned")
	}
}
