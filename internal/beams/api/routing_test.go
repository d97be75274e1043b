package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/heraldhq/herald/internal/beams/devices"
	"github.com/heraldhq/herald/internal/beams/instance"
	"github.com/heraldhq/herald/internal/metrics"
	"github.com/heraldhq/herald/internal/testlog"
)

func TestUnknownPathsAndMethods(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{
		"/publish_api/v2/instances/" + testID + "/publishes/interests",
		"/publish_api/v1/instances/" + testID + "/publishes/topics",
		"/publish_api/",
		"/device_api/v1/instances/" + testID + "/unknown",
		"/device_api/v1/instances/" + testID + "/devices/web/x/y/z/w",
		"/reporting_api/v1/instances/" + testID + "/events",
		"/somewhere",
		"/publish_api/v1/instances/" + testID + "//publishes/interests", // not canonical: no redirect
		"/publish_api/v1/instances/" + testID + "/publishes/./interests",
	} {
		rec := e.do("POST", path, interestsBody, authJSON...)
		wantError(t, rec, 404, "Not Found")
		if rec.Header().Get("Location") != "" || rec.Header().Get("X-Content-Type-Options") != "" {
			t.Fatalf("%s: the mux's headers leaked: %v", path, rec.Header())
		}
	}
	for _, tc := range []struct{ method, path, allow string }{
		{"GET", pubBase + "/publishes/interests", "POST"},
		{"PUT", pubBase + "/publishes/users", "POST"},
		{"POST", "/customer_api/v1/instances/" + testID + "/users/u", "DELETE"},
		{"POST", devBase + "/web-vapid-public-key", "GET, HEAD, OPTIONS"},
		{"PATCH", devBase + "/devices/web/web-1/interests", "GET, HEAD, PUT, OPTIONS"},
		{"GET", "/reporting_api/v2/instances/" + testID + "/events", "POST, OPTIONS"},
	} {
		rec := e.do(tc.method, tc.path, "", bearer...)
		wantError(t, rec, 405, "Method Not Allowed")
		if got := rec.Header().Get("Allow"); got != tc.allow {
			t.Fatalf("%s %s: Allow %q, want %q", tc.method, tc.path, got, tc.allow)
		}
	}
	if got := testutil.ToFloat64(e.m.Requests.WithLabelValues(unknownInstance, groupOther, "404")); got != 1 {
		t.Fatalf("other-route 404s counted %v", got)
	}
}

func TestCORS(t *testing.T) {
	e := newEnv(t)
	d := e.register(devices.Web, "tok")
	for _, path := range []string{
		devBase + "/devices/web/" + d.ID + "/user",
		devBase + "/devices/web",
		"/reporting_api/v2/instances/" + testID + "/events",
		"/device_api/v1/instances/unknown/web-vapid-public-key",
		"/device_api/anything",
	} {
		rec := e.do("OPTIONS", path, "", "Origin", "https://app.example.com",
			"Access-Control-Request-Method", "PUT", "Access-Control-Request-Headers", "authorization,content-type")
		h := rec.Header()
		if rec.Code != 204 || rec.Body.Len() != 0 || h.Get("Access-Control-Allow-Origin") != "*" ||
			h.Get("Access-Control-Allow-Methods") != "GET, POST, PUT, DELETE, OPTIONS" ||
			h.Get("Access-Control-Allow-Headers") != "Content-Type, Authorization" || h.Get("Access-Control-Max-Age") != "600" {
			t.Fatalf("preflight %s: %d %v", path, rec.Code, h)
		}
	}
	// Every device and reporting answer carries it, errors included.
	for _, tc := range []struct {
		method, path, body string
		status             int
	}{
		{"GET", devBase + "/web-vapid-public-key", "", 200},
		{"GET", devBase + "/devices/web/" + d.ID, "", 200},
		{"GET", devBase + "/devices/web/web-nope", "", 404},
		{"GET", "/device_api/v1/instances/unknown/web-vapid-public-key", "", 404},
		{"POST", devBase + "/devices/web", "x", 400},
		{"PUT", devBase + "/devices/web/" + d.ID + "/user", "", 401},
		{"PATCH", devBase + "/devices/web/" + d.ID, "", 405},
		{"GET", "/device_api/nothing", "", 404},
		{"POST", "/reporting_api/v2/instances/" + testID + "/events", `{"event":"open"}`, 200},
		{"POST", "/reporting_api/v2/instances/unknown/events", `{}`, 404},
	} {
		rec := e.do(tc.method, tc.path, tc.body, "Origin", "https://app.example.com")
		if rec.Code != tc.status || rec.Header().Get("Access-Control-Allow-Origin") != "*" {
			t.Fatalf("%s %s: %d %v", tc.method, tc.path, rec.Code, rec.Header())
		}
	}
	// Never on the secret-key routes, not even a preflight.
	for _, tc := range []struct {
		method, path string
		hdr          []string
		status       int
	}{
		{"POST", pubBase + "/publishes/interests", authJSON, 200},
		{"POST", pubBase + "/publishes/interests", nil, 400},
		{"POST", pubBase + "/publishes/users", []string{"Authorization", "Bearer x"}, 401},
		{"OPTIONS", pubBase + "/publishes/interests", nil, 405},
		{"DELETE", "/customer_api/v1/instances/" + testID + "/users/u", bearer, 200},
		{"OPTIONS", "/user_api/v1/instances/" + testID + "/users/u", nil, 405},
		{"POST", "/publish_api/v1/instances/unknown/publishes", nil, 404},
	} {
		rec := e.do(tc.method, tc.path, interestsBody, append([]string{"Origin", "https://app.example.com"}, tc.hdr...)...)
		if rec.Code != tc.status {
			t.Fatalf("%s %s: %d %s", tc.method, tc.path, rec.Code, rec.Body)
		}
		for k := range rec.Header() {
			if strings.HasPrefix(k, "Access-Control-") {
				t.Fatalf("%s %s: CORS header %s", tc.method, tc.path, k)
			}
		}
	}
}

func TestReporting(t *testing.T) {
	e := newEnv(t)
	path := "/reporting_api/v2/instances/" + testID + "/events"
	for _, body := range []string{
		`{"publishId":"pubid-1","event":"delivery","deviceId":"web-1","userId":null,"timestampSecs":1700000000,"appInBackground":true,"hasDisplayableContent":true,"hasData":false}`,
		`{"event":"Open","instanceId":"` + testID + `","publishId":"pubid-1","deviceId":"fcm-1","userId":"u","timestampSecs":1700000000}`,
	} {
		rec := e.do("POST", path, body, jsonType...)
		if rec.Code != 200 || rec.Body.Len() != 0 {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
	wantStatus(t, e.do("POST", path, `{}`, "Content-Type", "text/plain;charset=UTF-8"), 200)
	for _, body := range []string{``, `[]`, `x`, `{"a":"` + strings.Repeat("x", 16<<10) + `"}`} {
		wantError(t, e.do("POST", path, body, jsonType...), 400, "Bad Request")
	}
	if got := testutil.ToFloat64(e.m.Requests.WithLabelValues(testID, groupReporting, "200")); got != 3 {
		t.Fatalf("reporting requests counted %v", got)
	}
}

// TestMetricsLabels: an instance id from the path is a label only when the
// instance exists.
func TestMetricsLabels(t *testing.T) {
	e := newEnv(t)
	for i := range 50 {
		e.do("GET", "/device_api/v1/instances/random-"+strings.Repeat("x", i)+"/web-vapid-public-key", "")
	}
	e.do("GET", devBase+"/web-vapid-public-key", "")
	if n := testutil.CollectAndCount(e.m.Requests); n != 2 {
		t.Fatalf("%d request series, want 2 (unknown and the instance)", n)
	}
	if got := testutil.ToFloat64(e.m.Requests.WithLabelValues(unknownInstance, groupDevice, "404")); got != 50 {
		t.Fatalf("unknown counted %v", got)
	}
}

// countingRegistry counts the lookups it passes on.
type countingRegistry struct {
	next  instance.Registry
	calls atomic.Int64
}

func (c *countingRegistry) Get(ctx context.Context, id string) (*instance.Instance, error) {
	c.calls.Add(1)
	return c.next.Get(ctx, id)
}

// TestInstanceIDNotUUID: an id that is not a UUID is "Instance not found"
// on every route without a registry lookup (ids come from any client, and
// a registry may remember the ids it did not find).
func TestInstanceIDNotUUID(t *testing.T) {
	reg := &countingRegistry{}
	e := newEnv(t, withConfig(Config{DeviceRate: -1}), withRegistry(func(r instance.Registry) instance.Registry {
		reg.next = r
		return reg
	}))
	long := strings.Repeat("x", 30<<10)
	for i := range 50 {
		for _, id := range []string{
			fmt.Sprintf("%s%d", long, i),
			fmt.Sprintf("unknown-%d", i),
			fmt.Sprintf("%s%d", testID, i%10),               // a UUID and more
			fmt.Sprintf("%s%d", testID[:35], i%10)[:35],     // one digit short
			fmt.Sprintf("0000000g-0000-0000-0000-%012d", i), // not hexadecimal
			fmt.Sprintf("00000000000000000000%016d", i),     // no dashes
		} {
			for _, r := range []struct {
				method, path string
				cors         bool
			}{
				{"POST", "/publish_api/v1/instances/" + id + "/publishes/interests", false},
				{"DELETE", "/customer_api/v1/instances/" + id + "/users/u", false},
				{"GET", "/device_api/v1/instances/" + id + "/web-vapid-public-key", true},
				{"POST", "/device_api/v1/instances/" + id + "/devices/web", true},
				{"POST", "/reporting_api/v2/instances/" + id + "/events", true},
			} {
				rec := e.do(r.method, r.path, interestsBody, authJSON...)
				wantError(t, rec, 404, "Instance not found")
				if got := rec.Header().Get("Access-Control-Allow-Origin") == "*"; got != r.cors {
					t.Fatalf("%s %s: CORS %v", r.method, r.path[:60], got)
				}
			}
		}
	}
	if n := reg.calls.Load(); n != 0 {
		t.Fatalf("%d registry lookups for ids that are not UUIDs", n)
	}
	// UUIDs are looked up, in either case.
	wantError(t, e.do("GET", "/device_api/v1/instances/11111111-0000-0000-0000-00000000000A/web-vapid-public-key", ""), 404, "Instance not found")
	wantStatus(t, e.do("GET", devBase+"/web-vapid-public-key", ""), 200)
	if n := reg.calls.Load(); n != 2 {
		t.Fatalf("%d registry lookups for 2 UUIDs", n)
	}
}

// failingRegistry fails every lookup with an infrastructure error.
type failingRegistry struct{}

func (failingRegistry) Get(context.Context, string) (*instance.Instance, error) {
	return nil, errors.New("app store unreachable")
}

// TestInfrastructureErrors: store and registry failures are a 500
// "Something went wrong" and a log line, never a refusal.
func TestInfrastructureErrors(t *testing.T) {
	e := newEnv(t)
	d := e.register(devices.Web, "tok")
	e.store.Close()
	for _, r := range []struct{ method, path, body string }{
		{"GET", devBase + "/devices/web/" + d.ID, ""},
		{"POST", devBase + "/devices/fcm", `{"token":"t"}`},
		{"PUT", devBase + "/devices/web/" + d.ID + "/interests", `{"interests":["a"]}`},
		{"DELETE", "/customer_api/v1/instances/" + testID + "/users/u", ""},
	} {
		wantError(t, e.do(r.method, r.path, r.body, bearer...), 500, "Something went wrong")
	}
	if n := strings.Count(e.logs.String(), "level=ERROR"); n != 4 {
		t.Fatalf("%d error lines:\n%s", n, e.logs)
	}
	if strings.Contains(e.logs.String(), testSecret) {
		t.Fatalf("the secret is in the log:\n%s", e.logs)
	}
	if got := testutil.CollectAndCount(e.m.Refused); got != 0 {
		t.Fatalf("failures counted as refusals (%d series)", got)
	}

	var logs testlog.Buffer
	h := New(Config{}, Deps{Instances: failingRegistry{}, Devices: e.store, Queue: e.q,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)), Metrics: metrics.NewBeams(prometheus.NewRegistry())})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", devBase+"/web-vapid-public-key", nil))
	wantError(t, rec, 500, "Something went wrong")
	if !strings.Contains(logs.String(), "app store unreachable") {
		t.Fatalf("not logged: %s", logs.String())
	}
}
