package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/heraldhq/herald/internal/beams/devices"
	"github.com/heraldhq/herald/internal/beams/instance"
	"github.com/heraldhq/herald/internal/beams/queue"
)

var publishIDReply = regexp.MustCompile(`^\{"publishId":"pubid-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"\}$`)

const (
	interestsBody = `{"interests":["hello"],"web":{"notification":{"title":"t"}}}`
	usersBody     = `{"users":["u1"],"web":{"notification":{"title":"t"}}}`
)

func TestPublishSuccess(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		path, body string
		toUsers    bool
	}{
		{pubBase + "/publishes/interests", interestsBody, false},
		{pubBase + "/publishes", interestsBody, false}, // legacy alias
		{pubBase + "/publishes/users", usersBody, true},
	} {
		rec := e.do("POST", tc.path, tc.body, authJSON...)
		wantStatus(t, rec, http.StatusOK)
		if !publishIDReply.Match(rec.Body.Bytes()) {
			t.Fatalf("%s: reply %s", tc.path, rec.Body)
		}
		if rec.Header().Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("%s: CORS on a secret-key route", tc.path)
		}
		j := e.q.last(t)
		id := decode[map[string]string](t, rec)["publishId"]
		if j.PublishID != id || j.Instance != testID || j.ToUsers != tc.toUsers || string(j.Body) != tc.body || !j.Accepted.Equal(frozen) {
			t.Fatalf("%s: job %+v", tc.path, j)
		}
	}
	if got := testutil.ToFloat64(e.m.Publishes.WithLabelValues(testID, "interests")); got != 2 {
		t.Fatalf("interests publishes counted %v", got)
	}
	if got := testutil.ToFloat64(e.m.Publishes.WithLabelValues(testID, "users")); got != 1 {
		t.Fatalf("users publishes counted %v", got)
	}
	if got := testutil.ToFloat64(e.m.Requests.WithLabelValues(testID, "publish", "200")); got != 3 {
		t.Fatalf("requests counted %v", got)
	}
}

// nodeCase is one serverSdkNode case of the vectors.
type nodeCase struct {
	Name                     string `json:"name"`
	ClientSideValidationOnly bool   `json:"clientSideValidationOnly"`
	Input                    struct {
		UserID string `json:"userId"`
	} `json:"input"`
	Requests []struct {
		Method  string      `json:"method"`
		Path    string      `json:"path"`
		Headers [][2]string `json:"headersInWireOrder"`
		Body    *string     `json:"body"`
	} `json:"requests"`
	Canned *struct {
		Status int `json:"status"`
	} `json:"cannedServerResponse"`
}

// TestNodeSDKRequests replays the node server SDK's captured requests (those
// the fake server answered 200) over real HTTP: each must be accepted, a
// publish queued with the body byte for byte, a user deleted.
func TestNodeSDKRequests(t *testing.T) {
	var block struct {
		Cases []nodeCase `json:"cases"`
	}
	if err := json.Unmarshal(loadVectors(t)["serverSdkNode"], &block); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	srv := httptest.NewServer(e.h)
	defer srv.Close()
	replayed := 0
	for _, c := range block.Cases {
		if c.ClientSideValidationOnly || c.Canned == nil || c.Canned.Status != 200 {
			continue
		}
		var dev devices.Device
		if c.Input.UserID != "" { // a device of the user, which the delete must remove
			dev = e.register(devices.Web, "tok-"+c.Name)
			if err := e.store.SetUser(context.Background(), testID, dev.ID, c.Input.UserID, 0); err != nil {
				t.Fatal(err)
			}
		}
		for _, r := range c.Requests {
			var body io.Reader
			if r.Body != nil {
				body = strings.NewReader(*r.Body)
			}
			req, err := http.NewRequest(r.Method, srv.URL+r.Path, body)
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range r.Headers {
				switch h[0] {
				case "Host", "Connection", "Content-Length": // set by the transport
				default:
					req.Header.Set(h[0], h[1])
				}
			}
			res, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != 200 {
				t.Fatalf("%s: status %d %s", c.Name, res.StatusCode, got)
			}
			replayed++
			if r.Body != nil {
				if !publishIDReply.Match(got) || res.Header.Get("Content-Type") != "application/json" {
					t.Fatalf("%s: reply %s", c.Name, got)
				}
				if j := e.q.last(t); string(j.Body) != *r.Body || j.ToUsers != strings.HasSuffix(r.Path, "/users") {
					t.Fatalf("%s: queued %+v", c.Name, j)
				}
				continue
			}
			if len(got) != 0 {
				t.Fatalf("%s: delete-user body %q, want empty", c.Name, got)
			}
			if _, err := e.store.Get(context.Background(), testID, dev.ID); !errors.Is(err, devices.ErrNotFound) {
				t.Fatalf("%s: user %q's device survived: %v", c.Name, c.Input.UserID, err)
			}
		}
	}
	if replayed != 5 {
		t.Fatalf("replayed %d requests, want 5 (3 publishes, 2 user deletions)", replayed)
	}
}

func TestPublishAuth(t *testing.T) {
	old, current := "old-secret", "new-secret"
	e := newEnv(t, withInstance(func(in *instance.Instance) {
		in.Secrets = []instance.Secret{{Key: current}, {Key: old, Until: frozen.Add(time.Hour)}}
	}))
	path := pubBase + "/publishes/interests"
	wantError(t, e.do("POST", path, interestsBody, jsonType...), 400, "Incomplete Request")
	for _, auth := range []string{"Bearer wrong", "Bearer ", "Bearer", "Basic " + current, current} {
		wantError(t, e.do("POST", path, interestsBody, "Authorization", auth, "Content-Type", "application/json"), 401, "Unauthorized")
	}
	if got := e.refused("auth"); got != 6 {
		t.Fatalf("auth refusals counted %v", got)
	}
	wantStatus(t, e.do("POST", path, interestsBody, "Authorization", "Bearer "+current, "Content-Type", "application/json"), 200)
	wantStatus(t, e.do("POST", path, interestsBody, "Authorization", "bearer "+old, "Content-Type", "application/json"), 200)
	e.clock.advance(time.Hour) // the old key's grace ends
	wantError(t, e.do("POST", path, interestsBody, "Authorization", "Bearer "+old, "Content-Type", "application/json"), 401, "Unauthorized")
	wantStatus(t, e.do("POST", path, interestsBody, "Authorization", "Bearer "+current, "Content-Type", "application/json"), 200)
	// Authentication comes before the body is looked at.
	wantError(t, e.do("POST", path, "not json", "Authorization", "Bearer wrong"), 401, "Unauthorized")
}

func TestUnknownInstance(t *testing.T) {
	e := newEnv(t)
	other := "/publish_api/v1/instances/11111111-0000-0000-0000-000000000000/publishes/interests"
	wantError(t, e.do("POST", other, interestsBody, authJSON...), 404, "Instance not found")
	wantError(t, e.do("POST", other, "", jsonType...), 404, "Instance not found") // before auth
	wantError(t, e.do("DELETE", "/customer_api/v1/instances/nope/users/u", "", bearer...), 404, "Instance not found")
	if got := testutil.ToFloat64(e.m.Requests.WithLabelValues(unknownInstance, "publish", "404")); got != 2 {
		t.Fatalf("unknown-instance requests counted %v under %q", got, unknownInstance)
	}
	if got := testutil.ToFloat64(e.m.Refused.WithLabelValues(unknownInstance, "not_found")); got != 3 {
		t.Fatalf("not_found refusals counted %v", got)
	}
}

func TestPublishRateLimit(t *testing.T) {
	e := newEnv(t, withInstance(func(in *instance.Instance) { in.PublishRate = 3 }))
	path := pubBase + "/publishes/interests"
	// Refused authentication takes no token.
	for range 10 {
		wantError(t, e.do("POST", path, interestsBody, "Authorization", "Bearer wrong"), 401, "Unauthorized")
	}
	for range 2 {
		wantStatus(t, e.do("POST", path, interestsBody, authJSON...), 200)
	}
	wantStatus(t, e.do("DELETE", "/customer_api/v1/instances/"+testID+"/users/u", "", bearer...), 200) // same budget
	rec := e.do("POST", path, interestsBody, authJSON...)
	wantError(t, rec, 429, "Rate Limited")
	if rec.Header().Get("Retry-After") != "1" {
		t.Fatalf("Retry-After %q", rec.Header().Get("Retry-After"))
	}
	wantError(t, e.do("DELETE", "/user_api/v1/instances/"+testID+"/users/u", "", bearer...), 429, "Rate Limited")
	if got := e.refused("rate_limited"); got != 2 {
		t.Fatalf("rate_limited counted %v", got)
	}
	e.clock.advance(time.Second/3 + time.Millisecond) // one token back
	wantStatus(t, e.do("POST", path, interestsBody, authJSON...), 200)
	wantError(t, e.do("POST", path, interestsBody, authJSON...), 429, "Rate Limited")
	e.clock.advance(time.Minute) // full again: a burst of the rate, no more
	for range 3 {
		wantStatus(t, e.do("POST", path, interestsBody, authJSON...), 200)
	}
	wantError(t, e.do("POST", path, interestsBody, authJSON...), 429, "Rate Limited")
}

func TestPublishNoRateLimit(t *testing.T) {
	e := newEnv(t) // PublishRate 0: none
	for range 300 {
		wantStatus(t, e.do("POST", pubBase+"/publishes/interests", interestsBody, authJSON...), 200)
	}
}

func TestLimiterBounded(t *testing.T) {
	l := newLimiter()
	now := frozen
	for i := range maxBuckets * 3 {
		if !l.allow(fmt.Sprint(i), 1, now) {
			t.Fatal("a new bucket refused")
		}
		now = now.Add(time.Millisecond)
	}
	if len(l.buckets) > maxBuckets+1000 {
		t.Fatalf("%d buckets kept", len(l.buckets))
	}
}

func TestPublishValidation(t *testing.T) {
	e := newEnv(t)
	path := pubBase + "/publishes/interests"
	for _, ct := range []string{"", "text/plain", "application/x-www-form-urlencoded", "application/jsonx", "json"} {
		wantError(t, e.do("POST", path, interestsBody, "Authorization", "Bearer "+testSecret, "Content-Type", ct), 400, "Invalid content type")
	}
	wantStatus(t, e.do("POST", path, interestsBody, "Authorization", "Bearer "+testSecret, "Content-Type", "application/json; charset=UTF-8"), 200)
	wantStatus(t, e.do("POST", path, interestsBody, "Authorization", "Bearer "+testSecret, "Content-Type", "Application/JSON"), 200)

	// Exactly 10 KiB is accepted, one byte more is not.
	// (padded with white space: a payload that large could not be sent)
	pad := func(n int) string {
		b := `{"interests":["a"],"web":{"data":{"p":"x"}}`
		end := `}`
		return b + strings.Repeat(" ", n-len(b)-len(end)) + end
	}
	wantStatus(t, e.do("POST", path, pad(10240), authJSON...), 200)
	d := wantError(t, e.do("POST", path, pad(10241), authJSON...), 400, "Bad Request")
	if d != "Request body size is too large (max 10KiB)." {
		t.Fatalf("too large: %q", d)
	}
	// Also when the length is not announced (chunked).
	req := httptest.NewRequest("POST", path, io.MultiReader(strings.NewReader(pad(10241))))
	req.ContentLength = -1
	req.Header.Set("Authorization", "Bearer "+testSecret)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	wantError(t, rec, 400, "Bad Request")

	many := make([]string, 101)
	for i := range many {
		many[i] = fmt.Sprintf("%q", fmt.Sprint("i", i))
	}
	for _, tc := range []struct {
		path, body, title string
		status            int
	}{
		{path, `not json`, "Bad Request", 400},
		{path, `[1]`, "Bad Request", 400},
		{path, `{"web":{"notification":{}}}`, "Unprocessable Entity", 422},
		{path, `{"interests":[],"web":{}}`, "Unprocessable Entity", 422},
		{path, `{"interests":["a:b"],"web":{}}`, "Unprocessable Entity", 422},
		{path, `{"interests":[` + strings.Join(many, ",") + `],"web":{}}`, "Unprocessable Entity", 422},
		{path, `{"interests":["a"]}`, "Unprocessable Entity", 422},
		{path, `{"interests":["a"],"users":["u"],"web":{}}`, "Unprocessable Entity", 422},
		{path, `{"interests":["a"],"web":{"data":{"pusher":1}}}`, "Unprocessable Entity", 422},
		{pubBase + "/publishes/users", `{"users":["` + strings.Repeat("ü", 165) + `"],"web":{}}`, "Unprocessable Entity", 422},
		{pubBase + "/publishes/users", `{"interests":["a"],"web":{}}`, "Unprocessable Entity", 422},
		// Under 10 KiB, but over what a push service takes once built.
		{path, `{"interests":["a"],"web":{"notification":{"body":"` + strings.Repeat("x", 4000) + `"}}}`, "Unprocessable Entity", 422},
		{path, `{"interests":["a"],"apns":{"aps":{"alert":"` + strings.Repeat("x", 4100) + `"}}}`, "Unprocessable Entity", 422},
		{path, `{"interests":["a"],"fcm":{"data":{"k":"` + strings.Repeat("x", 4100) + `"}}}`, "Unprocessable Entity", 422},
	} {
		rec := e.do("POST", tc.path, tc.body, authJSON...)
		if rec.Code != tc.status {
			t.Fatalf("%s: status %d %s", tc.body, rec.Code, rec.Body)
		}
		wantError(t, rec, tc.status, tc.title)
	}
	if got := e.refused("invalid"); got != 5+1+1+14 {
		t.Fatalf("invalid refusals counted %v", got)
	}
}

func TestPublishQueueErrors(t *testing.T) {
	e := newEnv(t)
	path := pubBase + "/publishes/users"
	e.q.setErr(fmt.Errorf("bolt: %w", queue.ErrFull))
	rec := e.do("POST", path, usersBody, authJSON...)
	wantError(t, rec, 503, "Service Unavailable")
	if e.refused("queue_full") != 1 || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("queue_full not counted or no Retry-After")
	}
	e.q.setErr(errors.New("disk on fire"))
	wantError(t, e.do("POST", path, usersBody, authJSON...), 500, "Something went wrong")
	if !strings.Contains(e.logs.String(), "disk on fire") {
		t.Fatalf("the failure is not logged: %s", e.logs)
	}
	if got := testutil.ToFloat64(e.m.Publishes.WithLabelValues(testID, "users")); got != 0 {
		t.Fatalf("a refused publish was counted")
	}
}

// TestPublishEnqueueRetried: an enqueue that fails other than by a full
// or closed queue may have stored the job; it is tried once more with the
// same publish id, and ErrDuplicate then means stored: one 200, one job.
func TestPublishEnqueueRetried(t *testing.T) {
	e := newEnv(t)
	path := pubBase + "/publishes/interests"
	timeout := errors.New("beams queue: redis enqueue: i/o timeout")
	published := func() float64 { return testutil.ToFloat64(e.m.Publishes.WithLabelValues(testID, "interests")) }

	// Stored, but the answer was lost: the retry finds the duplicate.
	e.q.inject(fault{stored: true, err: timeout})
	rec := e.do("POST", path, interestsBody, authJSON...)
	wantStatus(t, rec, 200)
	id := decode[map[string]string](t, rec)["publishId"]
	if e.q.enqueueCalls() != 2 || e.q.Len() != 1 || e.q.last(t).PublishID != id {
		t.Fatalf("%d calls, %d jobs, publishId %s", e.q.enqueueCalls(), e.q.Len(), id)
	}
	if published() != 1 || !strings.Contains(e.logs.String(), "i/o timeout") {
		t.Fatalf("publishes counted %v; log %s", published(), e.logs)
	}

	// Not stored: the retry stores it.
	e.q.inject(fault{err: timeout})
	rec = e.do("POST", path, interestsBody, authJSON...)
	wantStatus(t, rec, 200)
	if id := decode[map[string]string](t, rec)["publishId"]; e.q.enqueueCalls() != 2 || e.q.Len() != 2 || e.q.last(t).PublishID != id {
		t.Fatalf("%d calls, %d jobs", e.q.enqueueCalls(), e.q.Len())
	}

	// Failing twice is a 500; the retry finding the queue full a 503.
	e.q.inject(fault{err: timeout}, fault{err: errors.New("connection reset")})
	wantError(t, e.do("POST", path, interestsBody, authJSON...), 500, "Something went wrong")
	e.q.inject(fault{err: timeout}, fault{err: queue.ErrFull})
	wantError(t, e.do("POST", path, interestsBody, authJSON...), 503, "Service Unavailable")
	if e.q.Len() != 2 || published() != 2 {
		t.Fatalf("%d jobs, %v publishes counted", e.q.Len(), published())
	}

	// No retry of a full or closed queue, nor of a duplicate at the first
	// try (publish ids are fresh: that is a bug, not a lost answer).
	for _, tc := range []struct {
		err    error
		status int
	}{{queue.ErrFull, 503}, {queue.ErrClosed, 500}, {queue.ErrDuplicate, 500}} {
		e.q.inject(fault{err: fmt.Errorf("wrapped: %w", tc.err)}, fault{})
		if rec := e.do("POST", path, interestsBody, authJSON...); rec.Code != tc.status || e.q.enqueueCalls() != 1 {
			t.Fatalf("%v: %d after %d calls", tc.err, rec.Code, e.q.enqueueCalls())
		}
	}
	if e.q.Len() != 2 {
		t.Fatalf("%d jobs", e.q.Len())
	}
}

func TestDeleteUser(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	user := func(u string) devices.Device {
		d := e.register(devices.FCM, "tok-"+u)
		if err := e.store.SetUser(ctx, testID, d.ID, u, 0); err != nil {
			t.Fatal(err)
		}
		return d
	}
	gone := func(d devices.Device) {
		t.Helper()
		if _, err := e.store.Get(ctx, testID, d.ID); !errors.Is(err, devices.ErrNotFound) {
			t.Fatalf("device %s survived: %v", d.ID, err)
		}
	}
	for _, tc := range []struct{ prefix, user, path string }{
		{"customer_api", "alice", "alice"},
		{"user_api", "bob", "bob"},
		{"customer_api", "alice bob/ü@x+y", "alice%20bob%2F%C3%BC%40x%2By"}, // node, go
		{"customer_api", "a/b", "a/b"},                                      // python leaves "/" raw
		{"user_api", "c+d", "c+d"},                                          // "+" is a plus
	} {
		d := user(tc.user)
		rec := e.do("DELETE", "/"+tc.prefix+"/v1/instances/"+testID+"/users/"+tc.path, "", bearer...)
		if rec.Code != 200 || rec.Body.Len() != 0 {
			t.Fatalf("%s: %d %q", tc.user, rec.Code, rec.Body)
		}
		gone(d)
	}
	// Unknown users are a 200 too (the web SDK's tests expect it).
	wantStatus(t, e.do("DELETE", "/customer_api/v1/instances/"+testID+"/users/nobody", "", bearer...), 200)
	wantError(t, e.do("DELETE", "/customer_api/v1/instances/"+testID+"/users/x", ""), 400, "Incomplete Request")
	wantError(t, e.do("DELETE", "/customer_api/v1/instances/"+testID+"/users/x", "", "Authorization", "Bearer no"), 401, "Unauthorized")
	wantError(t, e.do("DELETE", "/customer_api/v1/instances/"+testID+"/users/"+strings.Repeat("u", 165), "", bearer...), 422, "Unprocessable Entity")
	wantError(t, e.do("DELETE", "/customer_api/v1/instances/"+testID+"/users/", "", bearer...), 422, "Unprocessable Entity")
	wantError(t, e.do("DELETE", "/customer_api/v1/instances/"+testID+"/users/%FF", "", bearer...), 422, "Unprocessable Entity")
	rec := e.do("DELETE", "/user_api/v1/instances/"+testID+"/users/x", "", bearer...)
	if rec.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("CORS on a secret-key route")
	}
}
