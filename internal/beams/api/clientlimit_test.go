package api

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/heraldhq/herald/internal/beams/devices"
	"github.com/heraldhq/herald/internal/beams/token"
)

const (
	clientA = "198.51.100.7:5000"
	clientB = "198.51.100.8:5000"
)

// TestDeviceRateLimit: device and reporting writes take a token of their
// client address's bucket (default 20/s, burst 40); reads, preflights and
// the secret-key routes do not, and other addresses keep their own.
func TestDeviceRateLimit(t *testing.T) {
	e := newEnv(t)
	d := e.register(devices.Web, "tok")
	one := devBase + "/devices/web/" + d.ID
	for i := range DefaultDeviceBurst {
		wantStatus(t, e.doFrom(clientA, "POST", fmt.Sprintf("%s/interests/i%d", one, i), ""), 200)
	}
	rec := e.doFrom(clientA, "POST", one+"/interests/more", "", "Origin", "https://app.example.com")
	wantError(t, rec, 429, "Rate Limited")
	if rec.Header().Get("Retry-After") != "1" || rec.Header().Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("429 headers %v", rec.Header())
	}
	// Every write of the device and reporting APIs shares the bucket.
	tok := token.Generate(testID, testSecret, "alice", frozen)
	for _, w := range []struct{ method, path, body string }{
		{"POST", devBase + "/devices/fcm", `{"token":"t"}`},
		{"DELETE", one + "/interests/i0", ""},
		{"PUT", one + "/interests", `{"interests":[]}`},
		{"PUT", one + "/user", ""},
		{"PUT", one + "/metadata", `{}`},
		{"PUT", devBase + "/devices/fcm/fcm-x/token", `{"token":"t"}`},
		{"DELETE", one, ""},
		{"POST", "/reporting_api/v2/instances/" + testID + "/events", `{}`},
		{"POST", "/device_api/v1/instances/unknown/devices/web", `{}`}, // before the instance lookup
	} {
		rec := e.doFrom(clientA, w.method, w.path, w.body, "Authorization", "Bearer "+tok)
		wantError(t, rec, 429, "Rate Limited")
		if rec.Header().Get("Access-Control-Allow-Origin") != "*" {
			t.Fatalf("%s %s: no CORS on the 429", w.method, w.path)
		}
	}
	if got := testutil.ToFloat64(e.m.Refused.WithLabelValues(unknownInstance, "rate_limited")); got != 10 {
		t.Fatalf("rate_limited counted %v", got)
	}
	// Not limited: reads, preflights, the secret-key routes.
	wantStatus(t, e.doFrom(clientA, "GET", one, ""), 200)
	wantStatus(t, e.doFrom(clientA, "GET", one+"/interests", ""), 200)
	wantStatus(t, e.doFrom(clientA, "GET", devBase+"/web-vapid-public-key", ""), 200)
	if rec := e.doFrom(clientA, "OPTIONS", one+"/user", ""); rec.Code != 204 {
		t.Fatalf("preflight: %d", rec.Code)
	}
	for range 100 {
		wantStatus(t, e.doFrom(clientA, "POST", pubBase+"/publishes/interests", interestsBody, authJSON...), 200)
	}
	// Another address has its own bucket.
	wantStatus(t, e.doFrom(clientB, "POST", one+"/interests/b", ""), 200)
	wantStatus(t, e.doFrom(clientB, "POST", "/reporting_api/v2/instances/"+testID+"/events", `{}`), 200)

	// Recovery: a token every 50ms, up to the burst.
	e.clock.advance(50 * time.Millisecond)
	wantStatus(t, e.doFrom(clientA, "POST", one+"/interests/c", ""), 200)
	wantError(t, e.doFrom(clientA, "POST", one+"/interests/d", ""), 429, "Rate Limited")
	e.clock.advance(time.Minute)
	for i := range DefaultDeviceBurst {
		wantStatus(t, e.doFrom(clientA, "POST", fmt.Sprintf("%s/interests/j%d", one, i), ""), 200)
	}
	wantError(t, e.doFrom(clientA, "POST", one+"/interests/e", ""), 429, "Rate Limited")
}

func TestDeviceRateLimitConfig(t *testing.T) {
	e := newEnv(t, withConfig(Config{DeviceRate: 1, DeviceBurst: 2}))
	path := "/reporting_api/v2/instances/" + testID + "/events"
	for range 2 {
		wantStatus(t, e.doFrom(clientA, "POST", path, `{}`), 200)
	}
	rec := e.doFrom(clientA, "POST", path, `{}`)
	wantError(t, rec, 429, "Rate Limited")
	if rec.Header().Get("Retry-After") != "1" {
		t.Fatalf("Retry-After %q", rec.Header().Get("Retry-After"))
	}
	e.clock.advance(500 * time.Millisecond)
	wantError(t, e.doFrom(clientA, "POST", path, `{}`), 429, "Rate Limited")
	e.clock.advance(500 * time.Millisecond)
	wantStatus(t, e.doFrom(clientA, "POST", path, `{}`), 200)

	// IPv6 clients count by /64; IPv4-mapped addresses as IPv4.
	wantStatus(t, e.doFrom("[2001:db8::1]:443", "POST", path, `{}`), 200)
	wantStatus(t, e.doFrom("[2001:db8::2]:443", "POST", path, `{}`), 200)
	wantError(t, e.doFrom("[2001:db8::3]:443", "POST", path, `{}`), 429, "Rate Limited")
	wantStatus(t, e.doFrom("[2001:db8:0:1::1]:443", "POST", path, `{}`), 200)
	wantError(t, e.doFrom("[::ffff:198.51.100.7]:1", "POST", path, `{}`), 429, "Rate Limited")

	for _, cfg := range []Config{{DeviceRate: -1}, {DeviceBurst: -1}} {
		e := newEnv(t, withConfig(cfg))
		for range 300 {
			wantStatus(t, e.doFrom(clientA, "POST", path, `{}`), 200)
		}
	}
}

func TestClientAddr(t *testing.T) {
	for _, tc := range []struct{ remote, want string }{
		{"192.0.2.1:1234", "192.0.2.1"},
		{"[::ffff:192.0.2.1]:1234", "192.0.2.1"},
		{"[2001:db8:1:2:3:4:5:6]:1", "2001:db8:1:2::/64"},
		{"[fe80::1%eth0]:1", "fe80::/64"},
		{"192.0.2.1", "192.0.2.1"}, // no port
		{"@", "@"},                 // a unix socket
		{"", ""},
	} {
		r := httptestRequest(tc.remote)
		if got := clientAddr(r); got != tc.want {
			t.Errorf("clientAddr(%q) = %q, want %q", tc.remote, got, tc.want)
		}
	}
}

// TestClientLimiterBounded: the map never holds more than its bound; the
// addresses beyond share one bucket, tracked ones keep theirs, and idle
// ones make room again after a minute.
func TestClientLimiterBounded(t *testing.T) {
	const bound = 100
	l := newClientLimiter(1, 2, bound)
	now := frozen
	for i := range bound {
		if ok, _ := l.allow(fmt.Sprintf("10.0.0.%d", i), now); !ok {
			t.Fatal("a new address refused")
		}
	}
	// Full: newcomers share the overflow bucket (burst 2).
	for i, want := range []bool{true, true, false} {
		if ok, _ := l.allow(fmt.Sprintf("10.1.0.%d", i), now); ok != want {
			t.Fatalf("newcomer %d allowed %v", i, ok)
		}
	}
	if ok, _ := l.allow("10.0.0.0", now); !ok {
		t.Fatal("a tracked address lost its own bucket")
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			at := now
			for i := range 5000 {
				l.allow(fmt.Sprintf("10.%d.%d.%d", 2+g, i/256, i%256), at)
				at = at.Add(time.Millisecond)
			}
		}()
	}
	wg.Wait()
	if n := len(l.buckets); n > bound {
		t.Fatalf("%d addresses tracked, bound %d", n, bound)
	}
	// A minute later the idle ones are swept: a newcomer gets its own bucket.
	now = now.Add(time.Minute + 10*time.Second)
	for _, addr := range []string{"10.9.0.1", "10.9.0.1", "10.9.0.2", "10.9.0.2"} {
		if ok, _ := l.allow(addr, now); !ok {
			t.Fatalf("%s refused after the sweep", addr)
		}
	}
	if _, ok := l.buckets["10.9.0.1"]; !ok || len(l.buckets) > bound {
		t.Fatalf("after the sweep: tracked %v, %d addresses", ok, len(l.buckets))
	}
	if ok, wait := l.allow("10.9.0.1", now); ok || wait != time.Second {
		t.Fatalf("third request: allowed %v, wait %v", ok, wait)
	}
}
