package api

import (
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/heraldhq/herald/internal/beams/devices"
	"github.com/heraldhq/herald/internal/beams/devices/sqldevices"
	"github.com/heraldhq/herald/internal/beams/instance"
	"github.com/heraldhq/herald/internal/beams/queue"
	"github.com/heraldhq/herald/internal/beams/webpush"
	"github.com/heraldhq/herald/internal/metrics"
	"github.com/heraldhq/herald/internal/testlog"
)

const (
	testID      = "00000000-0000-0000-0000-000000000001" // the vectors' instance
	testSecret  = "beams-secret"
	vectorsFile = "../../../testdata/beams-vectors.json"
)

// frozen is the vectors' frozen clock (their Beams tokens were made then).
var frozen = time.Unix(1700000000, 0).UTC()

// fakeQueue records jobs; err, when set, is what Enqueue returns. Faults
// come first, one a call. A PublishID already stored is ErrDuplicate, as
// in both real queues.
type fakeQueue struct {
	mu     sync.Mutex
	jobs   []queue.Job
	err    error
	faults []fault
	calls  int
}

// fault is one Enqueue call's failure; stored: the job is stored all the
// same (a write that took effect but whose answer was lost).
type fault struct {
	stored bool
	err    error
}

func (q *fakeQueue) Enqueue(_ context.Context, j queue.Job) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.calls++
	if len(q.faults) > 0 {
		f := q.faults[0]
		q.faults = q.faults[1:]
		if f.stored {
			q.jobs = append(q.jobs, j)
		}
		return f.err
	}
	if q.err != nil {
		return q.err
	}
	for _, old := range q.jobs {
		if old.PublishID == j.PublishID {
			return queue.ErrDuplicate
		}
	}
	q.jobs = append(q.jobs, j)
	return nil
}

// inject makes the next Enqueue calls fail with faults and resets the
// call count.
func (q *fakeQueue) inject(faults ...fault) {
	q.mu.Lock()
	q.faults, q.calls = faults, 0
	q.mu.Unlock()
}

func (q *fakeQueue) enqueueCalls() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.calls
}

func (q *fakeQueue) Next(ctx context.Context) (queue.Job, error) {
	<-ctx.Done()
	return queue.Job{}, ctx.Err()
}
func (q *fakeQueue) Progress(context.Context, string, string) error { return nil }
func (q *fakeQueue) Done(context.Context, string) error             { return nil }
func (q *fakeQueue) Close() error                                   { return nil }
func (q *fakeQueue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.jobs)
}

func (q *fakeQueue) setErr(err error) {
	q.mu.Lock()
	q.err = err
	q.mu.Unlock()
}

func (q *fakeQueue) last(t *testing.T) queue.Job {
	t.Helper()
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.jobs) == 0 {
		t.Fatal("no job queued")
	}
	return q.jobs[len(q.jobs)-1]
}

// clock is a settable Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	t      *testing.T
	h      http.Handler
	q      *fakeQueue
	store  *sqldevices.Store
	dbPath string
	in     *instance.Instance
	m      *metrics.BeamsMetrics
	clock  *clock
	logs   *testlog.Buffer
}

type option func(*setup)

// setup gathers what an env is built from.
type setup struct {
	cfg  Config
	in   *instance.Instance
	wrap func(instance.Registry) instance.Registry
}

func withConfig(cfg Config) option                   { return func(a *setup) { a.cfg = cfg } }
func withInstance(f func(*instance.Instance)) option { return func(a *setup) { f(a.in) } }

// withRegistry serves instances from wrap's result over the env's static
// registry.
func withRegistry(wrap func(instance.Registry) instance.Registry) option {
	return func(a *setup) { a.wrap = wrap }
}

func newEnv(t *testing.T, opts ...option) *env {
	t.Helper()
	key, err := webpush.NewVAPIDKey()
	if err != nil {
		t.Fatal(err)
	}
	a := &setup{in: &instance.Instance{ID: testID, Secrets: []instance.Secret{{Key: testSecret}}, VAPID: key}}
	for _, o := range opts {
		o(a)
	}
	dbPath := filepath.Join(t.TempDir(), "devices.db")
	store, err := sqldevices.Open(context.Background(), "sqlite:"+dbPath, sqldevices.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	e := &env{t: t, q: &fakeQueue{}, store: store, dbPath: dbPath, in: a.in, m: metrics.NewBeams(prometheus.NewRegistry()),
		clock: &clock{t: frozen}, logs: &testlog.Buffer{}}
	var reg instance.Registry = instance.NewStatic(a.in)
	if a.wrap != nil {
		reg = a.wrap(reg)
	}
	e.h = New(a.cfg, Deps{
		Instances: reg, Devices: store, Queue: e.q,
		Logger:  slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Metrics: e.m, Now: e.clock.Now,
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("handler log:\n%s", e.logs.Tail(4000))
		}
	})
	return e
}

// do serves one request; headers are name, value pairs.
func (e *env) do(method, target, body string, headers ...string) *httptest.ResponseRecorder {
	e.t.Helper()
	return e.doFrom("", method, target, body, headers...)
}

// doFrom serves one request from the client address remote (a RemoteAddr,
// host:port); "": httptest's 192.0.2.1:1234.
func (e *env) doFrom(remote, method, target, body string, headers ...string) *httptest.ResponseRecorder {
	e.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, r)
	if remote != "" {
		req.RemoteAddr = remote
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return rec
}

var (
	bearer   = []string{"Authorization", "Bearer " + testSecret}
	jsonType = []string{"Content-Type", "application/json"}
	authJSON = append(append([]string{}, bearer...), jsonType...)
)

const (
	pubBase = "/publish_api/v1/instances/" + testID
	devBase = "/device_api/v1/instances/" + testID
)

// wantStatus checks the status and, for a non-empty body, the JSON type.
func wantStatus(t *testing.T, rec *httptest.ResponseRecorder, status int) {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status %d, want %d; body %s", rec.Code, status, rec.Body)
	}
	if rec.Body.Len() > 0 && rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("Content-Type %q for body %s", rec.Header().Get("Content-Type"), rec.Body)
	}
}

// wantError checks a Beams error reply: status, JSON type and the exact
// title, with a non-empty description and nothing else.
func wantError(t *testing.T, rec *httptest.ResponseRecorder, status int, title string) string {
	t.Helper()
	wantStatus(t, rec, status)
	var body map[string]string
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("error body %q: %v", rec.Body, err)
	}
	if body["error"] != title || body["description"] == "" || len(body) != 2 {
		t.Fatalf("error body %s, want error %q with a description", rec.Body, title)
	}
	return body["description"]
}

// decode unmarshals a JSON reply.
func decode[T any](t *testing.T, rec *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("reply %q: %v", rec.Body, err)
	}
	return v
}

// register adds a device through the store (for tests of the calls after
// registration).
func (e *env) register(p devices.Platform, tok string) devices.Device {
	e.t.Helper()
	d, _, _, err := e.store.Register(context.Background(), devices.Device{Instance: testID, Platform: p, Token: tok,
		Endpoint: "https://push.example.com/x", P256dh: "k", Auth: "a"})
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

func (e *env) refused(reason string) float64 {
	return testutil.ToFloat64(e.m.Refused.WithLabelValues(testID, reason))
}

// loadVectors reads a block of the spec's vectors file.
func loadVectors(t *testing.T) map[string]json.RawMessage {
	t.Helper()
	raw, err := os.ReadFile(vectorsFile)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]json.RawMessage
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// countDevices counts the devices stored, of every instance and platform,
// reading the store's table (beams_device, documented in sqldevices).
func (e *env) countDevices() int {
	e.t.Helper()
	db, err := sql.Open("sqlite", e.dbPath)
	if err != nil {
		e.t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM beams_device`).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}
