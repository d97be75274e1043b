package webhooks

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// distinct counts the distinct client events (by seq) in 2xx requests and
// how many arrived more than once.
func distinct(t testing.TB, r *receiver) (n, dup int) {
	seen := map[int]bool{}
	for _, e := range r.events(t) {
		s := seqOf(t, e)
		if seen[s] {
			dup++
		}
		seen[s] = true
	}
	return len(seen), dup
}

// TestRetryUntilSuccess: the receiver fails the first 5 requests; every
// event still arrives exactly once, and each retry carried the identical
// bytes (same time_ms, same signature) as the attempt before it.
func TestRetryUntilSuccess(t *testing.T) {
	const failures, n = 5, 200
	rcv := newReceiver(t, func(i int, _ []byte) int {
		if i < failures {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	cfg := fast(dbPath(t))
	cfg.BatchMaxEvents = 50
	h := run(t, cfg, store(t, app("1", hook(rcv.URL))))
	for i := range n {
		h.d.Observe(clientEvent("1", "private-c", i))
	}
	waitFor(t, "all events", 10*time.Second, func() bool { got, _ := distinct(t, rcv); return got == n })
	got, dup := distinct(t, rcv)
	t.Logf("retry: %d of %d events arrived (%d duplicates) after %d failed requests", got, n, dup, failures)
	if dup != 0 {
		t.Errorf("%d duplicates", dup)
	}
	reqs := rcv.requests()
	for i := 1; i <= failures; i++ {
		if !bytes.Equal(reqs[i].Body, reqs[0].Body) || reqs[i].Header.Get("X-Pusher-Signature") != reqs[0].Header.Get("X-Pusher-Signature") {
			t.Fatalf("attempt %d differs from the first:\n%s\n%s", i+1, reqs[i].Body, reqs[0].Body)
		}
	}
	// Backoff grows: the gap before the 5th attempt exceeds the one before the 2nd.
	if g1, g4 := reqs[1].At.Sub(reqs[0].At), reqs[4].At.Sub(reqs[3].At); g4 <= g1 {
		t.Errorf("no backoff growth: %v then %v", g1, g4)
	}
	if got := value(h.m.Requests.WithLabelValues("1", "http_status")); got != failures {
		t.Errorf("failed requests metric = %v", got)
	}
	if got := value(h.m.Delivered.WithLabelValues("1")); got != n {
		t.Errorf("delivered metric = %v", got)
	}
}

// TestDeadAfterRetryWindow: an endpoint down for longer than the window
// loses its batch loudly (log + metric), other endpoints are unaffected,
// and once it is back its later events flow.
func TestDeadAfterRetryWindow(t *testing.T) {
	var down atomic.Bool
	down.Store(true)
	flaky := newReceiver(t, func(int, []byte) int {
		if down.Load() {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	healthy := newReceiver(t, nil)
	cfg := fast(dbPath(t))
	cfg.RetryWindow = 500 * time.Millisecond
	cfg.BatchWindow = 50 * time.Millisecond
	h := run(t, cfg, store(t, app("1", hook(flaky.URL+"/hook?token=s3cr3t"), hook(healthy.URL))))
	for i := range 3 {
		h.d.Observe(clientEvent("1", "private-c", i))
	}
	waitFor(t, "healthy endpoint", 5*time.Second, func() bool { return len(healthy.events(t)) == 3 })
	dead := h.m.DeadBatches.WithLabelValues("1", "http_status")
	waitFor(t, "dead batch", 5*time.Second, func() bool { return value(dead) == 1 })
	if got := value(h.m.DeadEvents.WithLabelValues("1", "http_status")); got != 3 {
		t.Errorf("dead events = %v, want 3", got)
	}
	if n := len(flaky.requests()); n < 3 {
		t.Errorf("only %d attempts within the window", n)
	}

	down.Store(false)
	h.d.Observe(clientEvent("1", "private-c", 3))
	waitFor(t, "later event", 5*time.Second, func() bool { return len(flaky.events(t)) == 1 })
	if got := seqOf(t, flaky.events(t)[0]); got != 3 {
		t.Errorf("got event %d", got)
	}
	// The drop is counted in the endpoint's lines (here the recovery: the
	// summary interval is longer than the test), not logged on its own.
	waitFor(t, "recovery line", 5*time.Second, func() bool { return strings.Contains(h.log.String(), msgRecovered) })
	logs := h.log.String()
	first, rec := logLines(logs, msgFailing), logLines(logs, msgRecovered)
	if len(first) != 1 || len(rec) != 1 {
		t.Fatalf("%d first-failure and %d recovery lines, want 1 and 1:\n%s", len(first), len(rec), logs)
	}
	for _, want := range []string{"level=WARN", "app_id=1", "endpoint=0", "url=" + flaky.URL + "/... ", "events=3",
		"reason=http_status", "status=500", `error="HTTP 500 Internal Server Error"`, `next="`} {
		if !strings.Contains(first[0], want) {
			t.Errorf("first-failure line lacks %q:\n%s", want, first[0])
		}
	}
	for _, want := range []string{"level=INFO", "app_id=1", "endpoint=0", "dropped_batches=1", "dropped_events=3"} {
		if !strings.Contains(rec[0], want) {
			t.Errorf("recovery line lacks %q:\n%s", want, rec[0])
		}
	}
	for _, secret := range []string{testSecret, "s3cr3t"} {
		if strings.Contains(logs, secret) {
			t.Errorf("log contains %q:\n%s", secret, logs)
		}
	}
}

// TestRedirectIsFailure: a 3xx is not followed.
func TestRedirectIsFailure(t *testing.T) {
	target := newReceiver(t, nil)
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL, http.StatusTemporaryRedirect)
	}))
	defer redirector.Close()
	cfg := fast(dbPath(t))
	cfg.RetryWindow = 100 * time.Millisecond
	h := run(t, cfg, store(t, app("1", hook(redirector.URL))))
	h.d.Observe(occupied("1", "c"))
	waitFor(t, "dead batch", 5*time.Second, func() bool { return value(h.m.DeadBatches.WithLabelValues("1", "http_status")) == 1 })
	if n := len(target.requests()); n != 0 {
		t.Errorf("redirect followed: target got %d requests", n)
	}
	if !strings.Contains(h.log.String(), "HTTP 307") {
		t.Errorf("log lacks the status:\n%s", h.log.String())
	}
}

// TestInvalidURLRefusedAtRuntime: a store may hand out what config
// validation would refuse; it is dead at once, with the reason.
func TestInvalidURLRefusedAtRuntime(t *testing.T) {
	h := run(t, fast(dbPath(t)), store(t, app("1", hook("ftp://example.test/hook"))))
	h.d.Observe(occupied("1", "c"))
	waitFor(t, "dead batch", 5*time.Second, func() bool { return value(h.m.DeadBatches.WithLabelValues("1", "invalid_url")) == 1 })
	if got := value(h.m.Requests.WithLabelValues("1", "invalid_url")); got != 1 {
		t.Errorf("attempts = %v, want 1 (no retries)", got)
	}
}

// TestSlowEndpointDoesNotDelayOthers: an endpoint that never answers (past
// the timeout) holds one worker; another app's deliveries go on.
func TestSlowEndpointDoesNotDelayOthers(t *testing.T) {
	release := make(chan struct{})
	var slowHits atomic.Int32
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		slowHits.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)
	fastRcv := newReceiver(t, nil)
	cfg := fast(dbPath(t))
	cfg.Timeout = 3 * time.Second
	other := app("fast", hook(fastRcv.URL))
	other.Key = "other-key"
	h := run(t, cfg, store(t, app("slow", hook(slow.URL)), other))
	h.d.Observe(occupied("slow", "c"))
	waitFor(t, "slow request in flight", 5*time.Second, func() bool { return slowHits.Load() == 1 })
	start := time.Now()
	for i := range 20 {
		h.d.Observe(clientEvent("fast", "private-c", i))
		h.d.Observe(clientEvent("slow", "private-c", i)) // queued behind the slow request
	}
	waitFor(t, "fast app's events", 5*time.Second, func() bool { return len(fastRcv.events(t)) == 20 })
	if el := time.Since(start); el > time.Second {
		t.Errorf("fast app waited %v", el)
	}
	if n := slowHits.Load(); n != 1 {
		t.Errorf("slow endpoint got %d concurrent requests, want 1 in flight", n)
	}
}

// TestTimeoutIsFailure: a request past the timeout fails and is retried.
func TestTimeoutIsFailure(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // lets the server notice the client hanging up
		if hits.Add(1) == 1 {
			select { // first attempt: answer far too late
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}
	}))
	defer srv.Close()
	cfg := fast(dbPath(t))
	cfg.Timeout = 200 * time.Millisecond
	h := run(t, cfg, store(t, app("1", hook(srv.URL))))
	h.d.Observe(occupied("1", "c"))
	waitFor(t, "delivery after a timeout", 5*time.Second, func() bool { return value(h.m.Delivered.WithLabelValues("1")) == 1 })
	if got := value(h.m.Requests.WithLabelValues("1", "timeout")); got != 1 {
		t.Errorf("timeouts = %v, want 1", got)
	}
}

// TestHugeResponseBody: an endpoint answering 200 with an endless body is a
// success after reading at most maxResponseBytes; deliveries continue.
func TestHugeResponseBody(t *testing.T) {
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := bytes.Repeat([]byte("x"), 32<<10)
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		for ctx.Err() == nil {
			if _, err := w.Write(chunk); err != nil {
				return
			}
			served.Add(int64(len(chunk)))
		}
	}))
	defer srv.Close()
	h := run(t, fast(dbPath(t)), store(t, app("1", hook(srv.URL))))
	h.d.Observe(occupied("1", "a"))
	waitFor(t, "first delivery", 5*time.Second, func() bool { return value(h.m.Delivered.WithLabelValues("1")) == 1 })
	h.d.Observe(occupied("1", "b"))
	waitFor(t, "second delivery", 5*time.Second, func() bool { return value(h.m.Delivered.WithLabelValues("1")) == 2 })
	t.Logf("server pushed %d KiB before the client hung up", served.Load()>>10)
}
