package deliver

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/heraldhq/herald/internal/beams/apns"
	"github.com/heraldhq/herald/internal/beams/devices"
	"github.com/heraldhq/herald/internal/beams/devices/sqldevices"
	"github.com/heraldhq/herald/internal/beams/instance"
	"github.com/heraldhq/herald/internal/beams/netguard"
	"github.com/heraldhq/herald/internal/beams/publish"
	"github.com/heraldhq/herald/internal/beams/pushtest"
	"github.com/heraldhq/herald/internal/beams/queue"
	"github.com/heraldhq/herald/internal/beams/webpush"
	"github.com/heraldhq/herald/internal/metrics"
)

// wait bounds every wait of these tests.
const wait = 10 * time.Second

// fakeQueue is an in-memory queue.Queue that records Progress and Done.
type fakeQueue struct {
	jobs chan queue.Job

	mu       sync.Mutex
	stored   map[string]bool
	progress map[string][]string
	done     []string
	doneCh   chan string
}

func newFakeQueue() *fakeQueue {
	return &fakeQueue{
		jobs:     make(chan queue.Job, 1000),
		stored:   map[string]bool{},
		progress: map[string][]string{},
		doneCh:   make(chan string, 1000),
	}
}

var _ queue.Queue = (*fakeQueue)(nil)

func (q *fakeQueue) Enqueue(_ context.Context, j queue.Job) error {
	q.mu.Lock()
	q.stored[j.PublishID] = true
	q.mu.Unlock()
	q.jobs <- j
	return nil
}

func (q *fakeQueue) Next(ctx context.Context) (queue.Job, error) {
	select {
	case j := <-q.jobs:
		return j, nil
	case <-ctx.Done():
		return queue.Job{}, ctx.Err()
	}
}

func (q *fakeQueue) Progress(_ context.Context, id, cursor string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.stored[id] {
		return fmt.Errorf("progress of unknown job %s", id)
	}
	q.progress[id] = append(q.progress[id], cursor)
	return nil
}

func (q *fakeQueue) Done(_ context.Context, id string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.stored[id] {
		return fmt.Errorf("done of unknown job %s", id)
	}
	delete(q.stored, id)
	q.done = append(q.done, id)
	q.doneCh <- id
	return nil
}

func (q *fakeQueue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.stored)
}

func (q *fakeQueue) Close() error { return nil }

func (q *fakeQueue) progressOf(id string) []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]string(nil), q.progress[id]...)
}

func (q *fakeQueue) doneList() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]string(nil), q.done...)
}

// waitDone waits until the job id is done.
func (q *fakeQueue) waitDone(t testing.TB, id string) {
	t.Helper()
	q.waitDoneWithin(t, id, wait)
}

func (q *fakeQueue) waitDoneWithin(t testing.TB, id string, wait time.Duration) {
	t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case got := <-q.doneCh:
			if got == id {
				return
			}
		case <-deadline:
			t.Fatalf("job %s not done within %v (done: %v)", id, wait, q.doneList())
		}
	}
}

// fakeFCM records FCM sends and answers Delivered.
type fakeFCM struct {
	mu    sync.Mutex
	sends []fcmSend
}

type fcmSend struct {
	token   string
	message string
}

func (f *fakeFCM) Send(_ context.Context, token string, message []byte) webpush.Result {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sends = append(f.sends, fcmSend{token, string(message)})
	return webpush.Result{Outcome: webpush.Delivered, Status: 200}
}

func (f *fakeFCM) recorded() []fcmSend {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fcmSend(nil), f.sends...)
}

// fakeAPNs records APNs sends and answers Delivered.
type fakeAPNs struct {
	mu    sync.Mutex
	sends []apnsSend
}

type apnsSend struct {
	token, topic string
	body         string
	h            apns.Headers
}

func (f *fakeAPNs) Send(_ context.Context, token, topic string, body []byte, h apns.Headers) webpush.Result {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sends = append(f.sends, apnsSend{token, topic, string(body), h})
	return webpush.Result{Outcome: webpush.Delivered, Status: 200}
}

func (f *fakeAPNs) recorded() []apnsSend {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]apnsSend(nil), f.sends...)
}

// env is a pipeline over a SQLite device store, the test push service
// with a real webpush.Sender, fake FCM/APNs senders and a fake queue.
type env struct {
	t     testing.TB
	ps    *pushtest.Service
	store *sqldevices.Store
	q     *fakeQueue
	inst  *instance.Instance
	fcm   *fakeFCM
	apns  *fakeAPNs
	m     *metrics.BeamsMetrics
	logs  *logRecorder
	cfg   Config
}

const instID = "inst-1"

func newEnv(t testing.TB, cfg Config) *env {
	t.Helper()
	store, err := sqldevices.Open(context.Background(), "sqlite:"+t.TempDir()+"/devices.db", sqldevices.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	key, err := webpush.NewVAPIDKey()
	if err != nil {
		t.Fatal(err)
	}
	e := &env{
		t:     t,
		ps:    pushtest.Start(t, nil),
		store: store,
		q:     newFakeQueue(),
		fcm:   &fakeFCM{},
		apns:  &fakeAPNs{},
		m:     metrics.NewBeams(prometheus.NewRegistry()),
		logs:  &logRecorder{},
		cfg:   cfg,
	}
	e.inst = &instance.Instance{
		ID:    instID,
		VAPID: key,
		Web:   &webpush.Sender{Key: key, Subject: "mailto:ops@example.com", Client: webClient(cfg.Workers), AllowPrivate: true},
		FCM:   e.fcm,
		APNs:  e.apns,
	}
	return e
}

// webClient is netguard's client with enough idle connections per host
// for every worker: netguard keeps 64, fewer than the default 128 workers,
// which makes connections to one push service churn.
func webClient(workers int) *http.Client {
	c := netguard.Client(true, 10*time.Second)
	tr := c.Transport.(*http.Transport)
	if workers <= 0 {
		workers = DefaultWorkers
	}
	tr.MaxIdleConnsPerHost = max(tr.MaxIdleConnsPerHost, workers)
	tr.MaxIdleConns = max(tr.MaxIdleConns, workers)
	return c
}

// start runs a pipeline until the test ends; stop cancels it and waits.
func (e *env) start() (p *Pipeline, stop func()) {
	e.t.Helper()
	return startPipeline(e.t, e.cfg, Deps{
		Queue: e.q, Devices: e.store, Instances: instance.NewStatic(e.inst),
		Logger: slog.New(e.logs), Metrics: e.m,
	})
}

func startPipeline(t testing.TB, cfg Config, deps Deps) (*Pipeline, func()) {
	t.Helper()
	p := New(cfg, deps)
	ctx, cancel := context.WithCancel(context.Background())
	ended := make(chan error, 1)
	go func() { ended <- p.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-ended:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(wait):
				t.Fatalf("Run did not return within %v of its context's end", wait)
			}
		})
	}
	t.Cleanup(stop)
	return p, stop
}

// webDevice registers a web device of a new subscription.
func (e *env) webDevice(interests []string, user string) (devices.Device, *pushtest.Subscription) {
	e.t.Helper()
	sub := e.ps.Subscribe(e.inst.VAPID.PublicString())
	d := e.register(devices.Device{Platform: devices.Web, Token: sub.Token(), Endpoint: sub.Endpoint, P256dh: sub.P256dh, Auth: sub.Auth}, interests, user)
	return d, sub
}

func (e *env) register(d devices.Device, interests []string, user string) devices.Device {
	e.t.Helper()
	ctx := context.Background()
	d.Instance = instID
	got, _, _, err := e.store.Register(ctx, d)
	if err != nil {
		e.t.Fatal(err)
	}
	if len(interests) > 0 {
		if err := e.store.SetInterests(ctx, instID, got.ID, interests); err != nil {
			e.t.Fatal(err)
		}
	}
	if user != "" {
		if err := e.store.SetUser(ctx, instID, got.ID, user, 0); err != nil {
			e.t.Fatal(err)
		}
	}
	return got
}

// publish enqueues a publish body on the route and returns its id.
func (e *env) publish(body string, toUsers bool) string {
	e.t.Helper()
	return e.publishJob(body, toUsers, "")
}

func (e *env) publishJob(body string, toUsers bool, cursor string) string {
	e.t.Helper()
	target := publish.ToInterests
	if toUsers {
		target = publish.ToUsers
	}
	if _, perr := publish.Parse([]byte(body), target); perr != nil {
		e.t.Fatalf("test publish does not parse: %v", perr)
	}
	id := publish.NewID()
	if err := e.q.Enqueue(context.Background(), queue.Job{
		PublishID: id, Instance: instID, ToUsers: toUsers, Body: json.RawMessage(body), Accepted: time.Now(), Cursor: cursor,
	}); err != nil {
		e.t.Fatal(err)
	}
	return id
}

// messages reads n messages from the push service, then checks that no
// more come for a short while.
func (e *env) messages(n int) []pushtest.Message {
	e.t.Helper()
	var out []pushtest.Message
	deadline := time.After(wait)
	for len(out) < n {
		select {
		case m := <-e.ps.Messages():
			out = append(out, m)
		case <-deadline:
			e.t.Fatalf("%d of %d messages within %v; rejections %+v", len(out), n, wait, e.ps.Rejected())
		}
	}
	select {
	case m := <-e.ps.Messages():
		e.t.Fatalf("message %d more than the %d expected: %s", len(out)+1, n, m.Plaintext)
	case <-time.After(100 * time.Millisecond):
	}
	return out
}

// pusherMeta is data.pusher of a web message.
type pusherMeta struct {
	InstanceID string `json:"instanceId"`
	PublishID  string `json:"publishId"`
}

func webMeta(t testing.TB, plain []byte) pusherMeta {
	t.Helper()
	var msg struct {
		Notification map[string]any `json:"notification"`
		Data         struct {
			Pusher pusherMeta `json:"pusher"`
		} `json:"data"`
	}
	if err := json.Unmarshal(plain, &msg); err != nil || msg.Notification == nil {
		t.Fatalf("web message %s: %v (or no notification)", plain, err)
	}
	return msg.Data.Pusher
}

// deliveries reads BeamsMetrics.Deliveries for the test instance.
func (e *env) deliveries(platform, outcome string) int {
	return int(testutil.ToFloat64(e.m.Deliveries.WithLabelValues(instID, platform, outcome)))
}

// samples is a histogram's sample count.
func samples(t testing.TB, h prometheus.Observer) uint64 {
	t.Helper()
	var m dto.Metric
	if err := h.(prometheus.Metric).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount()
}

// eventually polls cond until it holds or wait passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", wait, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// logRecorder is a slog handler keeping every record.
type logRecorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.records = append(l.records, r.Clone())
	l.mu.Unlock()
	return nil
}
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

func (l *logRecorder) count(msgPrefix string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.records {
		if strings.HasPrefix(r.Message, msgPrefix) {
			n++
		}
	}
	return n
}

// noPipelineGoroutines fails when a goroutine of the pipeline outlived Run.
func noPipelineGoroutines(t testing.TB) {
	t.Helper()
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "beams/deliver.(*Pipeline)") || strings.Contains(g, "beams/deliver.(*scheduler)") {
			t.Fatalf("a pipeline goroutine outlived Run:\n%s", g)
		}
	}
}
