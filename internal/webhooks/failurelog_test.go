package webhooks

import (
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/apps"
)

// The messages of the failure log, as the text handler writes them.
const (
	msgFailing      = `msg="webhook endpoint failing"`
	msgStillFailing = `msg="webhook endpoint still failing"`
	msgUnstable     = `msg="webhook endpoint unstable"`
	msgRecovered    = `msg="webhook endpoint recovered"`
)

// stepClock is the failure log's clock in tests: it moves only when told
// (by the test, or by a receiver per request), so which summaries are due
// does not depend on how fast the machine is.
type stepClock struct {
	mu  sync.Mutex
	now time.Time
}

func newStepClock() *stepClock { return &stepClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *stepClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// logLines returns the lines of logs that contain every one of parts.
func logLines(logs string, parts ...string) []string {
	var out []string
	for line := range strings.SplitSeq(logs, "\n") {
		ok := line != ""
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok {
			out = append(out, line)
		}
	}
	return out
}

// field returns the value of key in a text-handler line, unquoted.
func field(t testing.TB, line, key string) string {
	t.Helper()
	m := regexp.MustCompile(` ` + regexp.QuoteMeta(key) + `=("(?:[^"\\]|\\.)*"|\S*)`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("no %s in %s", key, line)
	}
	if v, err := strconv.Unquote(m[1]); err == nil {
		return v
	}
	return m[1]
}

func intField(t testing.TB, line, key string) int {
	t.Helper()
	n, err := strconv.Atoi(field(t, line, key))
	if err != nil {
		t.Fatalf("%s in %s: %v", key, line, err)
	}
	return n
}

// failedAttempts sums the failed attempts of app over the outcomes a receiver
// on 127.0.0.1 can cause.
func failedAttempts(h *harness, app string) int {
	n := 0
	for _, o := range []string{outcomeHTTPStatus, outcomeTimeout, outcomeNetwork} {
		n += int(value(h.m.Requests.WithLabelValues(app, o)))
	}
	return n
}

// slowMachine is the request timeout of the tests that count attempts: far
// above what a loaded CI machine needs, so every failure is the receiver's.
const slowMachine = 10 * time.Second

// secretURL is base with a user, a password, a path token, a query token
// and a fragment, none of which may reach the log.
func secretURL(t testing.TB, base string) string {
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword("user", "pa55")
	u.Path, u.RawQuery, u.Fragment = "/hook/p4thtok3n", "token=s3cr3t", "frag"
	return u.String()
}

// checkNoSecrets asserts that logs hold neither the app secret, nor a
// signature the receivers saw, nor the secret parts of secretURL.
func checkNoSecrets(t testing.TB, logs string, rcvs ...*receiver) {
	t.Helper()
	secrets := []string{testSecret, "pa55", "s3cr3t", "token=", "#frag", "p4thtok3n", base64.StdEncoding.EncodeToString([]byte("user:pa55"))}
	for _, r := range rcvs {
		for _, q := range r.requests() {
			if sig := q.Header.Get("X-Pusher-Signature"); sig != "" {
				secrets = append(secrets, sig, sig[:16])
			}
		}
	}
	if len(secrets) < 8 {
		t.Fatalf("no signatures to look for: %d requests", len(secrets)-6)
	}
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("log contains %q:\n%s", s, logs)
		}
	}
}

// TestFailureLogFailThenRecover: an endpoint fails 20 times, then accepts.
// Every request moves the log clock 10 s, so the outage lasts 200 s of log
// time: one first-failure line at once, a summary at most every 30 s (the
// default) while it fails (6: at 30, 60 ... 180 s), one recovery line.
func TestFailureLogFailThenRecover(t *testing.T) {
	const failures, step = 20, 10 * time.Second
	clock := newStepClock()
	rcv := newReceiver(t, func(n int, _ []byte) int {
		clock.Advance(step)
		if n < failures {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	cfg := fast(dbPath(t))
	cfg.RetryWindow = time.Minute // no drop: the retries take well under a second
	cfg.Timeout = slowMachine
	cfg.logClock = clock.Now
	h := run(t, cfg, store(t, app("1", hook(secretURL(t, rcv.URL)))))
	h.d.Observe(occupied("1", "c"))
	waitFor(t, "the recovery line", 10*time.Second, func() bool { return strings.Contains(h.log.String(), msgRecovered) })
	logs := h.log.String()

	first, summaries, rec := logLines(logs, msgFailing), logLines(logs, msgStillFailing), logLines(logs, msgRecovered)
	if len(first) != 1 || len(summaries) != 6 || len(rec) != 1 {
		t.Fatalf("%d first-failure, %d summary, %d recovery lines; want 1, 6, 1:\n%s", len(first), len(summaries), len(rec), logs)
	}
	if n := len(logLines(logs)); n != 8 {
		t.Errorf("%d lines in all, want 8:\n%s", n, logs)
	}
	endpoint := "app_id=1 app_key=" + testKey + " endpoint=0 url=" + rcv.URL + "/... "
	for _, line := range append(append(first, summaries...), rec...) {
		if !strings.Contains(line, "component=webhooks "+endpoint) {
			t.Errorf("line lacks %q:\n%s", endpoint, line)
		}
	}
	for _, want := range []string{"level=WARN", "attempt=1", "events=1", "reason=http_status", "status=503",
		`error="HTTP 503 Service Unavailable"`, `next="retry in `} {
		if !strings.Contains(first[0], want) {
			t.Errorf("first-failure line lacks %q:\n%s", want, first[0])
		}
	}
	sum := 0
	for i, line := range summaries {
		if got, want := field(t, line, "failing_for"), (time.Duration(i+1) * 30 * time.Second).String(); got != want {
			t.Errorf("summary %d: failing_for=%s, want %s", i, got, want)
		}
		for key, want := range map[string]string{"period": "30s", "waiting_batches": "1", "pending_events": "0",
			"dropped_batches": "0", "queue_full": "0", "last_reason": "http_status", "last_status": "503"} {
			if got := field(t, line, key); got != want {
				t.Errorf("summary %d: %s=%s, want %s", i, key, got, want)
			}
		}
		sum += intField(t, line, "failed")
	}
	// Attempts 2..19 fall in the summaries, the 19th only if it was
	// counted before the loop noticed the summary was due.
	if sum < 17 || sum > 18 {
		t.Errorf("summaries count %d failures, want 17 or 18", sum)
	}
	for key, want := range map[string]string{"level": "INFO", "outage": "3m20s", "failed": "20", "dropped_batches": "0", "dropped_events": "0"} {
		if got := field(t, " "+rec[0], key); got != want {
			t.Errorf("recovery: %s=%s, want %s\n%s", key, got, want, rec[0])
		}
	}
	checkNoSecrets(t, logs, rcv)
}

// TestFailureLogThousandFailures: 1,000 failed attempts over 100 s of log
// time give exactly 5 lines: the first failure, 3 summaries (30, 60, 90 s)
// and the recovery.
func TestFailureLogThousandFailures(t *testing.T) {
	const failures = 1000
	clock := newStepClock()
	rcv := newReceiver(t, func(n int, _ []byte) int {
		clock.Advance(100 * time.Millisecond)
		if n < failures {
			return http.StatusBadGateway
		}
		return http.StatusOK
	})
	cfg := fast(dbPath(t))
	cfg.RetryWindow = time.Minute
	cfg.Timeout = slowMachine
	cfg.backoffBase, cfg.backoffMax = 100*time.Microsecond, 200*time.Microsecond
	cfg.logClock = clock.Now
	h := run(t, cfg, store(t, app("1", hook(secretURL(t, rcv.URL)))))
	h.d.Observe(occupied("1", "c"))
	waitFor(t, "delivery after 1,000 failures", 60*time.Second, func() bool { return value(h.m.Delivered.WithLabelValues("1")) == 1 })
	waitFor(t, "the recovery line", 5*time.Second, func() bool { return strings.Contains(h.log.String(), msgRecovered) })
	failed := failedAttempts(h, "1")
	if failed < failures {
		t.Fatalf("%d failed attempts, want %d", failed, failures)
	}
	logs := h.log.String()
	lines := logLines(logs)
	t.Logf("%d failed attempts, %d log lines", failed, len(lines))
	if len(lines) != 5 {
		t.Fatalf("%d lines, want 5:\n%s", len(lines), logs)
	}
	for i, want := range []string{msgFailing, msgStillFailing, msgStillFailing, msgStillFailing, msgRecovered} {
		if !strings.Contains(lines[i], want) {
			t.Errorf("line %d is not %s:\n%s", i, want, lines[i])
		}
	}
	if got := intField(t, lines[4], "failed"); got != failed {
		t.Errorf("recovery counts %d failures, want %d", got, failed)
	}
	// From the first request to the last: 1,000 steps of 100 ms (1m40s).
	outage := time.Duration(len(rcv.requests())-1) * 100 * time.Millisecond
	if got := field(t, lines[4], "outage"); got != dur(outage).String() {
		t.Errorf("outage=%s, want %s", got, dur(outage))
	}
	checkNoSecrets(t, logs, rcv)
}

// TestFailureLogFlapping: every batch fails once, then succeeds (200
// times over 40 s of log time). Only the first outage is logged line by
// line; the flaps after it are summed up at most once per interval, and
// the summaries account for every failure.
func TestFailureLogFlapping(t *testing.T) {
	const batches = 200
	clock := newStepClock()
	rcv := newReceiver(t, func(n int, _ []byte) int {
		clock.Advance(100 * time.Millisecond)
		if n%2 == 0 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	cfg := fast(dbPath(t))
	cfg.BatchMaxEvents = 1
	cfg.RetryWindow = time.Minute
	cfg.Timeout = slowMachine
	cfg.backoffBase, cfg.backoffMax = 100*time.Microsecond, 200*time.Microsecond
	cfg.logClock = clock.Now
	h := run(t, cfg, store(t, app("1", hook(rcv.URL))))
	for i := range batches {
		h.d.Observe(clientEvent("1", "private-c", i))
	}
	waitFor(t, "every batch", 30*time.Second, func() bool { return value(h.m.Delivered.WithLabelValues("1")) == batches })
	h.stop(t) // logs the period not reported yet
	logs := h.log.String()
	lines := logLines(logs)
	t.Logf("%d failures (each followed by a success): %d log lines", batches, len(lines))
	// first + recovered at 0.1 s; at 30.2 s an "unstable" summary, or a
	// "still failing" one and its recovery; at the stop an "unstable" one.
	if len(lines) < 4 || len(lines) > 5 {
		t.Fatalf("%d lines, want 4 or 5:\n%s", len(lines), logs)
	}
	if n := len(logLines(logs, msgFailing)); n != 1 {
		t.Errorf("%d first-failure lines, want 1", n)
	}
	sum := 0
	for _, line := range append(logLines(logs, msgUnstable), logLines(logs, msgStillFailing)...) {
		sum += intField(t, line, "failed")
	}
	if sum != batches-1 {
		t.Errorf("summaries count %d failures, want %d (the first has its own line):\n%s", sum, batches-1, logs)
	}
}

// TestFailureLogCountsDrops: batches dropped at the end of the retry window
// and events refused because the queue is full are counted in the
// endpoint's summary and recovery lines, not logged one by one.
func TestFailureLogCountsDrops(t *testing.T) {
	var down atomic.Bool
	down.Store(true)
	rcv := failingReceiver(t, &down)
	clock := newStepClock()
	cfg := fast(dbPath(t))
	cfg.RetryWindow = 100 * time.Millisecond
	cfg.BatchMaxEvents = 1
	cfg.MaxQueue = 3
	cfg.logClock = clock.Now
	quiet := app("2") // no endpoints: its events only wake the loop
	quiet.Key = "key-2"
	h := run(t, cfg, store(t, app("1", hook(rcv.URL)), quiet))

	h.d.Observe(clientEvent("1", "private-c", 0))
	waitFor(t, "the first-failure line", 5*time.Second, func() bool { return strings.Contains(h.log.String(), msgFailing) })
	const more = 20
	for i := 1; i <= more; i++ {
		h.d.Observe(clientEvent("1", "private-c", i))
	}
	refused := h.m.Dropped.WithLabelValues("1", "queue_full")
	waitFor(t, "every event stored or refused", 5*time.Second, func() bool { return h.queued("1")+int(value(refused)) == more+1 })
	stored := h.queued("1")
	deadEvents := h.m.DeadEvents.WithLabelValues("1", "http_status")
	waitFor(t, "every stored batch dropped", 10*time.Second, func() bool { return int(value(deadEvents)) == stored })
	failed := failedAttempts(h, "1")

	clock.Advance(31 * time.Second)
	h.d.Observe(occupied("2", "c")) // a loop iteration: the summary is due
	waitFor(t, "the summary", 5*time.Second, func() bool { return strings.Contains(h.log.String(), msgStillFailing) })
	logs := h.log.String()
	first := logLines(logs, msgFailing)[0]
	deadFirst := 0 // the first attempt was dropped at once only on a very slow machine
	if strings.Contains(first, `next="dropped`) {
		deadFirst = 1
	}
	sum := logLines(logs, msgStillFailing)
	if len(sum) != 1 {
		t.Fatalf("%d summaries, want 1:\n%s", len(sum), logs)
	}
	for key, want := range map[string]int{"failed": failed - 1, "dropped_batches": stored - deadFirst, "dropped_events": stored - deadFirst,
		"queue_full": more + 1 - stored, "waiting_batches": 0, "pending_events": 0} {
		if got := intField(t, sum[0], key); got != want {
			t.Errorf("summary: %s=%d, want %d\n%s", key, got, want, sum[0])
		}
	}
	if got := field(t, sum[0], "failing_for"); got != "31s" {
		t.Errorf("failing_for=%s, want 31s", got)
	}
	// Besides the endpoint's lines, only the app-wide rate-limited warning
	// about refused events: no line per dropped batch or event.
	if n, w := len(logLines(logs)), len(logLines(logs, `msg="webhook events dropped"`)); n-w != 2 || w < 1 || w > 2 {
		t.Errorf("%d lines, %d of them \"webhook events dropped\"; want the first failure, the summary and 1 or 2 of those:\n%s", n, w, logs)
	}

	down.Store(false)
	h.d.Observe(clientEvent("1", "private-c", 100))
	waitFor(t, "the recovery line", 5*time.Second, func() bool { return strings.Contains(h.log.String(), msgRecovered) })
	rec := logLines(h.log.String(), msgRecovered)[0]
	for key, want := range map[string]int{"failed": failed, "dropped_batches": stored, "dropped_events": stored, "queue_full": more + 1 - stored} {
		if got := intField(t, rec, key); got != want {
			t.Errorf("recovery: %s=%d, want %d\n%s", key, got, want, rec)
		}
	}
	if got := field(t, rec, "outage"); got != "31s" {
		t.Errorf("outage=%s, want 31s", got)
	}
}

// TestFailureLogSummaryWithoutTraffic: failures and drops after the first
// line, with nothing else going on, are still reported: the loop wakes for
// the summary by itself (real clock, a short interval).
func TestFailureLogSummaryWithoutTraffic(t *testing.T) {
	rcv := newReceiver(t, func(int, []byte) int { return http.StatusServiceUnavailable })
	cfg := fast(dbPath(t))
	cfg.BatchMaxEvents = 1 // two batches: the second one's attempts fall after the first line
	cfg.RetryWindow = 100 * time.Millisecond
	cfg.FailureLogEvery = 500 * time.Millisecond
	h := run(t, cfg, store(t, app("1", hook(rcv.URL))))
	start := time.Now()
	h.d.Observe(clientEvent("1", "private-c", 0))
	h.d.Observe(clientEvent("1", "private-c", 1))
	waitFor(t, "both batches dropped", 5*time.Second, func() bool { return value(h.m.DeadBatches.WithLabelValues("1", "http_status")) == 2 })
	// Both drops reach the log: normally in one summary the loop wakes up
	// for; on a loaded machine a late attempt may trigger an earlier one.
	dropsLogged := func() int {
		logs := h.log.String()
		n := 0
		for _, line := range logLines(logs, msgStillFailing) {
			n += intField(t, line, "dropped_batches")
		}
		return n + len(logLines(logs, msgFailing, `next="dropped`))
	}
	waitFor(t, "the summary of both drops", 5*time.Second, func() bool { return dropsLogged() == 2 })
	if el := time.Since(start); el < cfg.FailureLogEvery {
		t.Errorf("summary after %v, before the interval", el)
	}
	if n := len(logLines(h.log.String(), msgFailing)); n != 1 {
		t.Errorf("%d first-failure lines, want 1:\n%s", n, h.log.String())
	}
}

// TestFailureLogPerEndpoint: six endpoints of three apps fail together
// under concurrent workers; each gets its own first-failure and recovery
// line, with its own counts.
func TestFailureLogPerEndpoint(t *testing.T) {
	const failures = 5
	var list []apps.App
	var rcvs []*receiver
	for a := range 3 {
		var hooks []apps.Webhook
		for range 2 {
			r := newReceiver(t, func(n int, _ []byte) int {
				if n < failures {
					return http.StatusInternalServerError
				}
				return http.StatusOK
			})
			rcvs = append(rcvs, r)
			hooks = append(hooks, hook(secretURL(t, r.URL)))
		}
		ap := app(strconv.Itoa(a), hooks...)
		ap.Key = fmt.Sprintf("key-%d", a)
		list = append(list, ap)
	}
	cfg := fast(dbPath(t))
	cfg.RetryWindow = time.Minute
	cfg.Timeout = slowMachine
	h := run(t, cfg, store(t, list...))
	for a := range 3 {
		for i := range 10 {
			h.d.Observe(clientEvent(strconv.Itoa(a), "private-c", i))
		}
	}
	waitFor(t, "six recovery lines", 10*time.Second, func() bool { return len(logLines(h.log.String(), msgRecovered)) == 6 })
	logs := h.log.String()
	for i, r := range rcvs {
		who := fmt.Sprintf("app_id=%d app_key=key-%d endpoint=%d url=%s/... ", i/2, i/2, i%2, r.URL)
		first, rec := logLines(logs, msgFailing, who), logLines(logs, msgRecovered, who)
		if len(first) != 1 || len(rec) != 1 {
			t.Errorf("%s: %d first-failure and %d recovery lines, want 1 and 1", who, len(first), len(rec))
			continue
		}
		if got := intField(t, rec[0], "failed"); got != failures {
			t.Errorf("%s: recovery counts %d failures, want %d", who, got, failures)
		}
	}
	if n := len(logLines(logs)); n != 12 {
		t.Errorf("%d lines, want 12:\n%s", n, logs)
	}
	checkNoSecrets(t, logs, rcvs...)
}

// TestFailureLogForgets: the state is bounded: entries go one interval
// after the recovery, or after the last failure of an endpoint with
// nothing left to deliver; an endpoint with a batch still waiting stays.
func TestFailureLogForgets(t *testing.T) {
	clock := newStepClock()
	waiting := map[endpointID]int{}
	buf := &logBuffer{}
	f := newFailureLog(time.Second, slog.New(slog.NewTextHandler(buf, nil)), clock.Now,
		func(ep endpointID) (int, int) { return waiting[ep], 0 })
	fail := func(ep endpointID, dead bool) {
		f.failed(failedAttempt{result: result{ep: ep, outcome: outcomeNetwork, err: "connection refused"},
			attempt: 1, events: 1, dead: dead, next: "retry in 1s"})
	}
	const n = 10_000
	for i := range n {
		ep := endpointID{App: "1", Index: i, URL: fmt.Sprintf("http://127.0.0.1:1/%d", i)}
		fail(ep, i%2 == 0)
		if i%3 == 0 {
			f.succeeded(ep)
		}
	}
	busy := endpointID{App: "2", URL: "http://127.0.0.1:1/busy"}
	waiting[busy] = 1
	fail(busy, false)
	if got := len(f.entries); got != n+1 {
		t.Fatalf("%d entries, want %d", got, n+1)
	}
	clock.Advance(999 * time.Millisecond)
	f.flush(false)
	if got := len(f.entries); got != n+1 {
		t.Fatalf("%d entries before the interval is over, want %d", got, n+1)
	}
	clock.Advance(time.Millisecond)
	f.flush(false)
	if got := len(f.entries); got != 1 {
		t.Fatalf("%d entries an interval later, want 1 (the endpoint with a batch waiting)", got)
	}
	if w, ok := f.wait(); !ok || w <= 0 {
		t.Errorf("wait = %v, %v: want a positive wait, not a busy loop", w, ok)
	}
	waiting[busy] = 0
	clock.Advance(time.Second)
	f.flush(false)
	if got := len(f.entries); got != 0 {
		t.Fatalf("%d entries, want 0", got)
	}
	if _, ok := f.wait(); ok {
		t.Error("wait with no entries")
	}
	if lines := len(logLines(buf.String())); lines != n+n/3+2 {
		t.Errorf("%d lines, want a first-failure line per endpoint and a recovery per third", lines)
	}
}

func TestLogURL(t *testing.T) {
	for raw, want := range map[string]string{
		"https://user:pa55@hooks.example.test:8443/a/b?token=s3cr3t#frag": "https://hooks.example.test:8443/...",
		"https://hooks.slack.example/services/T0/B0/t0k3n":                "https://hooks.slack.example/...",
		"https://webhook.example/0b7e5c2a-uuid-token":                     "https://webhook.example/...",
		"http://127.0.0.1:9/":                "http://127.0.0.1:9/",
		"http://127.0.0.1:9/hook?":           "http://127.0.0.1:9/...",
		"http://example.test":                "http://example.test",
		"http://exa mple.test/?token=s3cr3t": "(unparsable)",
	} {
		if got := logURL(raw); got != want {
			t.Errorf("logURL(%q) = %q, want %q", raw, got, want)
		}
	}
}
