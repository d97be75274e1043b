package netguard

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"
)

// server is a test server on 127.0.0.1 (the only real network target of
// these tests) that counts the requests it receives.
func server(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func ok(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }

func wantRefused(t *testing.T, err error) *RefusedError {
	t.Helper()
	re, found := errors.AsType[*RefusedError](err)
	if !found {
		t.Fatalf("error %v (%T) is not a *RefusedError", err, err)
	}
	return re
}

func TestClientRefusesLoopback(t *testing.T) {
	t.Parallel()
	srv, hits := server(t, ok)
	resp, err := Client(false, 5*time.Second).Get(srv.URL)
	if err == nil {
		resp.Body.Close()
		t.Fatal("request to 127.0.0.1 succeeded")
	}
	if _, isURLErr := errors.AsType[*url.Error](err); !isURLErr {
		t.Errorf("error %T is not a *url.Error", err)
	}
	if re := wantRefused(t, err); re.Reason != "loopback address" {
		t.Errorf("reason %q", re.Reason)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("server saw %d requests", n)
	}
}

func TestClientAllowPrivate(t *testing.T) {
	t.Parallel()
	srv, _ := server(t, ok)
	resp, err := Client(true, 5*time.Second).Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if body, _ := io.ReadAll(resp.Body); resp.StatusCode != 200 || string(body) != "ok" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
}

// A name is checked by what it resolves to, when connecting: "localhost"
// stands in for a hostile DNS answer (or a rebinding) pointing at loopback.
func TestNameResolvingToLoopback(t *testing.T) {
	t.Parallel()
	srv, hits := server(t, ok)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	conn, err := Dialer(false, 0).DialContext(ctx, "tcp", net.JoinHostPort("localhost", port))
	if err == nil {
		conn.Close()
		t.Fatal("dial to localhost succeeded")
	}
	if _, isOpErr := errors.AsType[*net.OpError](err); !isOpErr {
		t.Errorf("error %T is not a *net.OpError", err)
	}
	wantRefused(t, err)

	resp, err := Client(false, 5*time.Second).Get("http://localhost:" + port + "/")
	if err == nil {
		resp.Body.Close()
		t.Fatal("request to localhost succeeded")
	}
	wantRefused(t, err)
	if n := hits.Load(); n != 0 {
		t.Errorf("server saw %d requests", n)
	}
}

func TestClientDoesNotFollowRedirects(t *testing.T) {
	t.Parallel()
	target, targetHits := server(t, ok)
	redirector, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/internal", http.StatusFound)
	})
	resp, err := Client(true, 5*time.Second).Post(redirector.URL, "application/octet-stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != target.URL+"/internal" {
		t.Errorf("got %d Location %q, want the 302 itself", resp.StatusCode, resp.Header.Get("Location"))
	}
	if n := targetHits.Load(); n != 0 {
		t.Errorf("redirect followed: target saw %d requests", n)
	}
}

// Control fails closed and keeps the metadata addresses refused even with
// the switch on; called directly, so no packet leaves the machine.
func TestControl(t *testing.T) {
	t.Parallel()
	cases := []struct {
		network, address string
		allowPrivate     bool
		refused          bool
	}{
		{"tcp4", "8.8.8.8:443", false, false},
		{"tcp6", "[2606:4700::1111]:443", false, false},
		{"tcp4", "127.0.0.1:443", false, true},
		{"tcp6", "[::ffff:127.0.0.1]:443", false, true},
		{"tcp6", "[fe80::1%eth0]:443", false, true},
		{"tcp4", "127.0.0.1:443", true, false},
		{"tcp4", "169.254.169.254:80", true, true},
		{"tcp6", "[fd00:ec2::254]:80", true, true},
		{"unix", "/run/docker.sock", true, true},
		{"tcp4", "not-an-address", true, true},
	}
	for _, c := range cases {
		err := control(c.allowPrivate)(c.network, c.address, nil)
		if (err != nil) != c.refused {
			t.Errorf("control(%v)(%s, %s) = %v, want refused %v", c.allowPrivate, c.network, c.address, err, c.refused)
		}
		if err != nil {
			wantRefused(t, err)
		}
	}
}

func TestUnixSocketRefused(t *testing.T) {
	t.Parallel()
	// Control runs before connect, so the path need not exist.
	conn, err := Dialer(true, time.Second).Dial("unix", "/nonexistent/herald-netguard.sock")
	if err == nil {
		conn.Close()
		t.Fatal("unix dial succeeded")
	}
	wantRefused(t, err)
}

func TestTransportSettings(t *testing.T) {
	t.Parallel()
	tr := Transport(false)
	if tr.Proxy != nil {
		t.Error("transport takes a proxy")
	}
	if !tr.ForceAttemptHTTP2 {
		t.Error("HTTP/2 off")
	}
	if tr.DialContext == nil || tr.TLSHandshakeTimeout != 5*time.Second ||
		tr.ResponseHeaderTimeout != 10*time.Second || tr.MaxIdleConns == 0 || tr.IdleConnTimeout == 0 {
		t.Errorf("timeouts or bounds missing: %+v", tr)
	}
	if Dialer(false, 0).Timeout != DialTimeout {
		t.Error("zero dial timeout is not DialTimeout")
	}
}
