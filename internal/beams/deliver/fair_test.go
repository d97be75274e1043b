package deliver

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/heraldhq/herald/internal/beams/devices"
	"github.com/heraldhq/herald/internal/beams/instance"
	"github.com/heraldhq/herald/internal/beams/publish"
	"github.com/heraldhq/herald/internal/beams/queue"
	"github.com/heraldhq/herald/internal/beams/webpush"
)

// blackHole is a listener that accepts connections and never answers.
type blackHole struct {
	url      string
	accepted atomic.Int64
}

func startBlackHole(t *testing.T) *blackHole {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bh := &blackHole{url: "http://" + ln.Addr().String()}
	var mu sync.Mutex
	var conns []net.Conn
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			bh.accepted.Add(1)
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return bh
}

// webSender is a Web Push sender of inst with a client timing out after
// timeout.
func webSender(inst *instance.Instance, timeout time.Duration) *webpush.Sender {
	c := webClient(0)
	c.Timeout = timeout
	return &webpush.Sender{Key: inst.VAPID, Subject: "mailto:ops@example.com", Client: c, AllowPrivate: true}
}

// webDeviceAt registers in inst a web device whose endpoint is on base
// (keys from a test-service subscription, so the push can be encrypted).
func (e *env) webDeviceAt(inst *instance.Instance, base string, interests ...string) devices.Device {
	e.t.Helper()
	sub := e.ps.Subscribe(inst.VAPID.PublicString())
	return e.registerIn(inst.ID, devices.Device{Platform: devices.Web, Token: "tok-" + sub.ID,
		Endpoint: base + "/push/" + sub.ID, P256dh: sub.P256dh, Auth: sub.Auth}, interests...)
}

func (e *env) registerIn(inst string, d devices.Device, interests ...string) devices.Device {
	e.t.Helper()
	d.Instance = inst
	got, _, _, err := e.store.Register(context.Background(), d)
	if err == nil && len(interests) > 0 {
		err = e.store.SetInterests(context.Background(), inst, got.ID, interests)
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return got
}

// publishTo enqueues an interests publish of inst.
func (e *env) publishTo(inst, body string) string {
	e.t.Helper()
	id := publish.NewID()
	if err := e.q.Enqueue(context.Background(), queue.Job{PublishID: id, Instance: inst, Body: json.RawMessage(body), Accepted: time.Now()}); err != nil {
		e.t.Fatal(err)
	}
	return id
}

// startWith runs the pipeline over e's instance and others.
func (e *env) startWith(others ...*instance.Instance) {
	e.t.Helper()
	startPipeline(e.t, e.cfg, Deps{Queue: e.q, Devices: e.store, Instances: instance.NewStatic(append(others, e.inst)...),
		Logger: slog.New(e.logs), Metrics: e.m})
}

func (e *env) count(inst, platform, outcome string) int {
	return int(testutil.ToFloat64(e.m.Deliveries.WithLabelValues(inst, platform, outcome)))
}

// otherInstance is a second instance, "inst-2", whose web pushes go to
// e's test push service.
func (e *env) otherInstance() *instance.Instance {
	e.t.Helper()
	key, err := webpush.NewVAPIDKey()
	if err != nil {
		e.t.Fatal(err)
	}
	in := &instance.Instance{ID: "inst-2", VAPID: key}
	in.Web = webSender(in, 10*time.Second)
	return in
}

// An instance whose interest is full of endpoints that never answer (an
// attacker's, registered without authentication) publishes again and
// again: another instance's publish, queued once the first four hold
// every job slot, is delivered within a bound set by the breaker (five
// timeouts, PerOrigin at a time), not after every black-holed push timed
// out; and the black hole gets no more requests than that.
func TestBlackHoleDoesNotDelayOtherInstance(t *testing.T) {
	const timeout = 300 * time.Millisecond
	e := newEnv(t, Config{Jobs: 4, Workers: 8, PerOrigin: 2, PageSize: 10,
		BackoffBase: 50 * time.Millisecond, RetryWindow: time.Minute})
	bh := startBlackHole(t)
	e.inst.Web = webSender(e.inst, timeout)
	for range 40 {
		e.webDeviceAt(e.inst, bh.url, "news")
	}
	other := e.otherInstance()
	sub := e.ps.Subscribe(other.VAPID.PublicString())
	e.registerIn(other.ID, devices.Device{Platform: devices.Web, Token: sub.Token(), Endpoint: sub.Endpoint, P256dh: sub.P256dh, Auth: sub.Auth}, "news")
	e.startWith(other)

	var victims []string
	for range 6 {
		victims = append(victims, e.publish(webBody, false))
	}
	eventually(t, "the black hole holding pushes", func() bool { return bh.accepted.Load() >= 2 })
	start := time.Now()
	id := e.publishTo(other.ID, webBody)
	e.q.waitDone(t, id)
	msgs := e.messages(1)
	took := time.Since(start)
	if webMeta(t, msgs[0].Plaintext).PublishID != id {
		t.Fatal("the other instance's message is not its publish's")
	}
	// Five timeouts, two at a time, open the breaker after 0.9s, and the
	// victim's jobs end. Without the breaker and the cap, the 160 pushes of
	// the first four publishes time out 8 at a time: 6s before a slot frees.
	if bound := 3 * time.Second; took > bound {
		t.Fatalf("the other instance's publish took %v, over %v", took, bound)
	}
	t.Logf("the other instance's publish took %v", took)
	eventually(t, "the victim's publishes done", func() bool { return len(e.q.doneList()) == len(victims)+1 })
	if n := bh.accepted.Load(); n > 5+1 {
		t.Fatalf("the black hole got %d requests; want 5 to open the breaker and at most one more in flight", n)
	}
	if n := e.count(instID, "web", "breaker_open"); n < 6*40-6 {
		t.Fatalf("breaker_open %d, want nearly every one of the 240 pushes", n)
	}
	if n := e.count(other.ID, "web", "delivered"); n != 1 {
		t.Fatalf("the other instance delivered %d, want 1", n)
	}
}

// toggled is a push service that answers 201, or, while blackHole is
// set, holds every request until the client gives up. It counts requests
// and the answers per endpoint.
type toggled struct {
	blackHole atomic.Bool
	requests  atomic.Int64

	mu       sync.Mutex
	answered map[string]int
	cur, top int
	delay    time.Duration
}

func startToggled(t *testing.T, delay time.Duration) (*toggled, string) {
	t.Helper()
	s := &toggled{answered: map[string]int{}, delay: delay}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		io.Copy(io.Discard, r.Body) // then the server sees the client go
		if s.blackHole.Load() {
			<-r.Context().Done()
			return
		}
		s.mu.Lock()
		s.cur++
		s.top = max(s.top, s.cur)
		s.mu.Unlock()
		time.Sleep(s.delay)
		s.mu.Lock()
		s.cur--
		s.answered[r.URL.Path]++
		s.mu.Unlock()
		w.WriteHeader(http.StatusCreated)
	}))
	t.Cleanup(srv.Close)
	return s, srv.URL
}

func (s *toggled) stats() (answered map[string]int, top int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := map[string]int{}
	for k, v := range s.answered {
		m[k] = v
	}
	return m, s.top
}

// End to end: five pushes in a row without an answer open the breaker;
// the origin's other pushes are not made but wait for a retry (counted
// breaker_open); after the cool-down one probe goes, its answer closes the
// breaker and every device gets its message once.
func TestBreakerOpensAndCloses(t *testing.T) {
	e := newEnv(t, Config{Workers: 4, PerOrigin: 1, BreakerCooldown: 500 * time.Millisecond,
		BackoffBase: 20 * time.Millisecond, BackoffMax: 50 * time.Millisecond, RetryWindow: time.Minute})
	svc, url := startToggled(t, 0)
	svc.blackHole.Store(true)
	e.inst.Web = webSender(e.inst, 150*time.Millisecond)
	for range 20 {
		e.webDeviceAt(e.inst, url, "news")
	}
	p, _ := e.start()
	key := originOf(url)
	e.q.waitDone(t, e.publish(webBody, false))
	if open, _, _ := p.gate.state(key); !open {
		t.Fatal("the breaker is not open once the publish's first pass ended")
	}
	if n := svc.requests.Load(); n != 5 {
		t.Fatalf("%d requests before the breaker opened, want 5 (one at a time)", n)
	}
	if r, b := e.deliveries("web", "retry"), e.deliveries("web", "breaker_open"); r != 5 || b < 15 {
		t.Fatalf("retry %d breaker_open %d; want 5 and at least the 15 others", r, b)
	}
	if n := e.logs.count("push service not answering"); n != 1 {
		t.Fatalf("%d log lines for the opening, want 1", n)
	}
	svc.blackHole.Store(false)
	eventually(t, "every device delivered after the breaker closed", func() bool { return e.deliveries("web", "delivered") == 20 })
	if open, _, _ := p.gate.state(key); open {
		t.Fatal("the breaker is still open after deliveries")
	}
	answered, _ := svc.stats()
	if len(answered) != 20 {
		t.Fatalf("%d endpoints answered, want 20", len(answered))
	}
	for path, n := range answered {
		if n != 1 {
			t.Fatalf("%s answered %d pushes, want 1", path, n)
		}
	}
	eventually(t, "no retry left", func() bool { return testutil.ToFloat64(e.m.RetriesPending) == 0 })
}

// At most PerOrigin pushes are in flight to one slow origin, while the
// other workers serve another origin; each device gets one push.
func TestPerOriginCap(t *testing.T) {
	e := newEnv(t, Config{Workers: 16, PerOrigin: 3, PageSize: 50})
	svc, url := startToggled(t, 30*time.Millisecond)
	e.inst.Web = webSender(e.inst, 10*time.Second)
	for range 30 {
		e.webDeviceAt(e.inst, url, "news")
	}
	for range 5 {
		e.webDevice([]string{"news"}, "")
	}
	e.start()
	e.q.waitDone(t, e.publish(webBody, false))
	e.messages(5)
	answered, top := svc.stats()
	if top != 3 {
		t.Fatalf("%d pushes at once at the slow origin, want PerOrigin = 3", top)
	}
	if len(answered) != 30 {
		t.Fatalf("%d of 30 devices got a push", len(answered))
	}
	for path, n := range answered {
		if n != 1 {
			t.Fatalf("%s got %d pushes", path, n)
		}
	}
	if n := e.deliveries("web", "delivered"); n != 35 {
		t.Fatalf("delivered %d, want 35", n)
	}
}

// heldFCM holds every push until released, counting those it holds.
type heldFCM struct {
	held    atomic.Int64
	release chan struct{}
}

func (h *heldFCM) Send(ctx context.Context, _ string, _ []byte) webpush.Result {
	h.held.Add(1)
	defer h.held.Add(-1)
	select {
	case <-h.release:
		return webpush.Result{Outcome: webpush.Delivered, Status: 200}
	case <-ctx.Done():
		return webpush.Result{Outcome: webpush.Retry, Err: ctx.Err()}
	}
}

const fcmBody = `{"interests":["news"],"fcm":{"notification":{"title":"x"}}}`

// Job slots: an instance alone with work uses all four; once another
// instance's jobs wait, the slots that free go to them until each holds
// two; a slot freed when no other instance waits goes back to the first.
func TestFairJobSlots(t *testing.T) {
	e := newEnv(t, Config{Jobs: 4, Workers: 16})
	a := &heldFCM{release: make(chan struct{})}
	e.inst.FCM = a
	e.register(devices.Device{Platform: devices.FCM, Token: "a"}, []string{"news"}, "")
	other := e.otherInstance()
	b := &heldFCM{release: make(chan struct{})}
	other.FCM = b
	e.registerIn(other.ID, devices.Device{Platform: devices.FCM, Token: "b"}, "news")
	e.startWith(other)

	// One device a job: a job holds its slot while its push is held.
	running := func(wantA, wantB int64) {
		t.Helper()
		eventually(t, "jobs running as expected", func() bool { return a.held.Load() == wantA && b.held.Load() == wantB })
		time.Sleep(50 * time.Millisecond) // and no more start
		if na, nb := a.held.Load(), b.held.Load(); na != wantA || nb != wantB {
			t.Fatalf("running: %d of inst-1, %d of inst-2; want %d and %d", na, nb, wantA, wantB)
		}
	}
	for range 6 {
		e.publish(fcmBody, false)
	}
	running(4, 0) // alone: every slot
	e.publishTo(other.ID, fcmBody)
	e.publishTo(other.ID, fcmBody)
	running(4, 0) // nothing taken from a running job
	a.release <- struct{}{}
	running(3, 1) // the free slot goes to inst-2, not to inst-1's older job
	a.release <- struct{}{}
	running(2, 2) // inst-1 at its half while inst-2's job waited
	b.release <- struct{}{}
	running(3, 1) // nothing of inst-2 waits: inst-1's next job
	close(a.release)
	close(b.release)
	eventually(t, "every job done", func() bool { return len(e.q.doneList()) == 8 })
}

// At most JobBuffer jobs are taken from the queue ahead of a free slot.
func TestJobBufferBound(t *testing.T) {
	e := newEnv(t, Config{Jobs: 1, JobBuffer: 2})
	a := &heldFCM{release: make(chan struct{})}
	e.inst.FCM = a
	e.register(devices.Device{Platform: devices.FCM, Token: "a"}, []string{"news"}, "")
	e.start()
	for range 10 {
		e.publish(fcmBody, false)
	}
	eventually(t, "one job running", func() bool { return a.held.Load() == 1 })
	eventually(t, "two jobs buffered", func() bool { return len(e.q.jobs) == 10-1-2 })
	time.Sleep(50 * time.Millisecond)
	if n := len(e.q.jobs); n != 10-1-2 {
		t.Fatalf("%d jobs left in the queue, want 7: one running, two buffered", n)
	}
	close(a.release)
	eventually(t, "every job done", func() bool { return len(e.q.doneList()) == 10 })
}
