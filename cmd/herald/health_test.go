package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/config"
)

// health exits 0 on 200 and 1 on anything else, never 2 (a container engine
// reserves it), including when nothing answers in time.
func TestHealth(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ready" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte("READY\n"))
	}))
	defer srv.Close()

	r := cli(t, nil, nil, "health", "--url", srv.URL+"/ready")
	if r.code != exitOK || !strings.Contains(r.stdout, "200 OK READY") {
		t.Errorf("ready: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	status = http.StatusServiceUnavailable
	r = cli(t, nil, nil, "health", "--url", srv.URL+"/ready")
	if r.code != exitFailure || !strings.Contains(r.stderr, "503") {
		t.Errorf("not ready: exit %d, stderr %q", r.code, r.stderr)
	}

	// A listener that accepts and never answers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	start := time.Now()
	r = cli(t, nil, nil, "health", "--url", "http://"+ln.Addr().String()+"/ready", "--timeout", "200ms")
	if r.code != exitFailure || !strings.Contains(r.stderr, "no answer within the timeout") {
		t.Errorf("silent server: exit %d, stderr %q", r.code, r.stderr)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("silent server: took %v with --timeout 200ms", d)
	}
}

// Without --url, health asks the port and prefix serve would use, from the
// config file and the environment.
func TestHealthAddressFromConfig(t *testing.T) {
	var asked string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked = r.URL.Path
		_, _ = w.Write([]byte("READY"))
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())

	file := write(t, "h.yaml", "port: 1\npath_prefix: /rt\n")
	r := cli(t, map[string]string{"HERALD_CONFIG": file, "HERALD_PORT": port, "HERALD_HOST": "0.0.0.0"}, nil, "health")
	if r.code != exitOK || asked != "/rt/ready" {
		t.Errorf("exit %d, asked %q, stdout %q, stderr %q", r.code, asked, r.stdout, r.stderr)
	}

	r = cli(t, map[string]string{"HERALD_PORT": "sixty"}, nil, "health")
	if r.code != exitFailure || !strings.Contains(r.stderr, "configuration") {
		t.Errorf("bad config: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestReadyURL(t *testing.T) {
	for _, c := range []struct {
		cfg  config.Config
		want string
	}{
		{config.Config{Host: "0.0.0.0", Port: 6001}, "http://127.0.0.1:6001/ready"},
		{config.Config{Host: "::", Port: 6001}, "http://127.0.0.1:6001/ready"},
		{config.Config{Host: "10.1.2.3", Port: 80, PathPrefix: "/ws"}, "http://10.1.2.3:80/ws/ready"},
		{config.Config{Host: "::1", Port: 443, TLS: config.TLSConfig{CertFile: "c", KeyFile: "k"}}, "https://[::1]:443/ready"},
	} {
		if got := readyURL(c.cfg); got != c.want {
			t.Errorf("%+v: got %s, want %s", c.cfg, got, c.want)
		}
	}
}
