package deliver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/heraldhq/herald/internal/beams/apns"
	"github.com/heraldhq/herald/internal/beams/devices"
	"github.com/heraldhq/herald/internal/beams/fcm"
	"github.com/heraldhq/herald/internal/beams/instance"
	"github.com/heraldhq/herald/internal/beams/pushtest"
	"github.com/heraldhq/herald/internal/beams/queue"
	"github.com/heraldhq/herald/internal/beams/webpush"
)

const webBody = `{"interests":["news"],"web":{"time_to_live":3600,"notification":{"title":"Hello","body":"World"},"data":{"k":"v"}}}`

// An interest of 25 web devices read 10 at a time: each device gets one
// decrypted message carrying the job's publish id; Progress after each
// page but the last, then Done.
func TestInterestPublishWeb(t *testing.T) {
	e := newEnv(t, Config{PageSize: 10, Workers: 8})
	subs := map[string]string{} // subscription id → device id
	for range 25 {
		d, sub := e.webDevice([]string{"news"}, "")
		subs[sub.ID] = d.ID
	}
	e.webDevice([]string{"sport"}, "") // not targeted
	e.start()
	id := e.publish(webBody, false)
	e.q.waitDone(t, id)

	got := map[string]int{}
	for _, m := range e.messages(25) {
		got[m.Subscription]++
		meta := webMeta(t, m.Plaintext)
		if meta.PublishID != id || meta.InstanceID != instID {
			t.Fatalf("data.pusher %+v, want publish %s of %s", meta, id, instID)
		}
		if m.Header.Get("TTL") != "3600" {
			t.Fatalf("TTL %q, want 3600", m.Header.Get("TTL"))
		}
	}
	for sub, n := range got {
		if _, ok := subs[sub]; !ok || n != 1 {
			t.Fatalf("subscription %s got %d messages (targeted: %v)", sub, n, ok)
		}
	}
	if len(got) != 25 {
		t.Fatalf("%d devices got a message, want 25", len(got))
	}
	// Progress after pages 1 and 2 with the store's cursors; page 3 is the last.
	_, c1, err1 := e.store.ByInterests(context.Background(), instID, []string{"news"}, "", 10)
	_, c2, err2 := e.store.ByInterests(context.Background(), instID, []string{"news"}, c1, 10)
	if err := errors.Join(err1, err2); err != nil {
		t.Fatal(err)
	}
	if p := e.q.progressOf(id); !slices.Equal(p, []string{c1, c2}) {
		t.Fatalf("Progress calls %q, want %q (pages of 10, 10, 5)", p, []string{c1, c2})
	}
	if n := e.deliveries("web", "delivered"); n != 25 {
		t.Fatalf("delivered counted %d, want 25", n)
	}
	if n := samples(t, e.m.SendDuration.WithLabelValues("web")); n != 25 {
		t.Fatalf("SendDuration{web} has %d samples, want 25", n)
	}
	if n := samples(t, e.m.PublishLatency); n != 1 {
		t.Fatalf("PublishLatency has %d samples, want 1", n)
	}
	if e.logs.count("publish delivered") != 1 {
		t.Fatal("no summary line for the publish")
	}
}

// A device on several of the listed interests gets one message, also when
// the pages are smaller than the interests.
func TestDeviceInSeveralInterests(t *testing.T) {
	e := newEnv(t, Config{PageSize: 3, Workers: 4})
	var want []string
	for i := range 12 {
		interests := [][]string{{"a"}, {"a", "b"}, {"b", "c"}, {"a", "b", "c"}}[i%4]
		_, sub := e.webDevice(interests, "")
		want = append(want, sub.ID)
	}
	e.webDevice([]string{"d"}, "")
	e.start()
	id := e.publish(`{"interests":["a","b","c"],"web":{"notification":{"title":"x"}}}`, false)
	e.q.waitDone(t, id)
	var got []string
	for _, m := range e.messages(12) {
		got = append(got, m.Subscription)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("messages to %v, want one to each of %v", got, want)
	}
}

func TestUsersPublish(t *testing.T) {
	e := newEnv(t, Config{PageSize: 2})
	want := map[string]bool{}
	for i := range 6 {
		user := fmt.Sprintf("user-%d", i%3) // user-2's devices are not targeted
		_, sub := e.webDevice(nil, user)
		if i%3 != 2 {
			want[sub.ID] = true
		}
	}
	e.webDevice([]string{"news"}, "") // no user
	e.start()
	id := e.publish(`{"users":["user-0","user-1","nobody"],"web":{"notification":{"title":"x"}}}`, true)
	e.q.waitDone(t, id)
	got := map[string]bool{}
	for _, m := range e.messages(4) {
		got[m.Subscription] = true
		if webMeta(t, m.Plaintext).PublishID != id {
			t.Fatal("wrong publish id")
		}
	}
	if !maps.Equal(got, want) {
		t.Fatalf("messages to %v, want %v", got, want)
	}
}

const allPlatforms = `{"interests":["news"],
	"web":{"notification":{"title":"w"}},
	"fcm":{"notification":{"title":"f","body":"b"},"data":{"n":1}},
	"apns":{"aps":{"alert":{"title":"a"}},"collapse_id":"c1"}}`

// FCM and APNs devices get their platform's message; APNs uses the
// device's bundle id as its topic.
func TestFCMAndAPNs(t *testing.T) {
	e := newEnv(t, Config{})
	fcmDev := e.register(devices.Device{Platform: devices.FCM, Token: "fcm-token-1"}, []string{"news"}, "")
	e.register(devices.Device{Platform: devices.APNS, Token: "aabbcc", BundleID: "com.example.app"}, []string{"news"}, "")
	e.register(devices.Device{Platform: devices.APNS, Token: "ddeeff"}, []string{"news"}, "")
	_, sub := e.webDevice([]string{"news"}, "")
	e.start()
	id := e.publish(allPlatforms, false)
	e.q.waitDone(t, id)

	if m := e.messages(1); m[0].Subscription != sub.ID {
		t.Fatal("web message to the wrong subscription")
	}
	var req struct {
		FCM  json.RawMessage `json:"fcm"`
		APNs json.RawMessage `json:"apns"`
	}
	if err := json.Unmarshal([]byte(allPlatforms), &req); err != nil {
		t.Fatal(err)
	}
	wantFCM, err := fcm.Translate(req.FCM, "", instID, id)
	if err != nil {
		t.Fatal(err)
	}
	fs := e.fcm.recorded()
	if len(fs) != 1 || fs[0].token != fcmDev.Token || fs[0].message != string(wantFCM) {
		t.Fatalf("FCM sends %+v, want one to %s of %s", fs, fcmDev.Token, wantFCM)
	}
	wantBody, wantH, err := apns.Build(req.APNs, instID, id)
	if err != nil {
		t.Fatal(err)
	}
	as := e.apns.recorded()
	slices.SortFunc(as, func(a, b apnsSend) int { return strings.Compare(a.token, b.token) })
	if len(as) != 2 || as[0].token != "aabbcc" || as[0].topic != "com.example.app" || as[1].token != "ddeeff" || as[1].topic != "" {
		t.Fatalf("APNs sends %+v, want aabbcc on com.example.app and ddeeff on the default topic", as)
	}
	for _, s := range as {
		if s.body != string(wantBody) || s.h != wantH || s.h.CollapseID != "c1" {
			t.Fatalf("APNs send %+v, want body %s headers %+v", s, wantBody, wantH)
		}
	}
	for pl, n := range map[string]int{"web": 1, "fcm": 1, "apns": 2} {
		if got := e.deliveries(pl, "delivered"); got != n {
			t.Fatalf("%s delivered %d, want %d", pl, got, n)
		}
	}
}

// Devices whose platform has no payload in the publish, or no sender in
// the instance, are skipped and counted.
func TestSkipped(t *testing.T) {
	e := newEnv(t, Config{})
	e.inst.APNs = nil // an instance without APNs credentials
	e.register(devices.Device{Platform: devices.FCM, Token: "f1"}, []string{"news"}, "")
	e.register(devices.Device{Platform: devices.FCM, Token: "f2"}, []string{"news"}, "")
	e.register(devices.Device{Platform: devices.APNS, Token: "aa"}, []string{"news"}, "")
	e.webDevice([]string{"news"}, "")
	e.start()
	id := e.publish(`{"interests":["news"],"web":{"notification":{"title":"w"}},"apns":{"aps":{"alert":"a"}}}`, false)
	e.q.waitDone(t, id)
	e.messages(1)
	if len(e.fcm.recorded()) != 0 {
		t.Fatal("FCM devices got a publish without an fcm payload")
	}
	if f, a := e.deliveries("fcm", "skipped"), e.deliveries("apns", "skipped"); f != 2 || a != 1 {
		t.Fatalf("skipped: fcm %d, apns %d; want 2 and 1", f, a)
	}
}

// A payload that cannot be built (too large once Beams' metadata is in)
// rejects its platform's devices without a send; other platforms go on.
func TestBuildErrorRejects(t *testing.T) {
	e := newEnv(t, Config{})
	e.webDevice([]string{"news"}, "")
	e.webDevice([]string{"news"}, "")
	e.register(devices.Device{Platform: devices.FCM, Token: "f1"}, []string{"news"}, "")
	e.start()
	big := strings.Repeat("x", 3990)
	id := e.publish(`{"interests":["news"],"web":{"data":{"big":"`+big+`"}},"fcm":{"notification":{"title":"f"}}}`, false)
	e.q.waitDone(t, id)
	if n := e.deliveries("web", "rejected"); n != 2 {
		t.Fatalf("web rejected %d, want 2", n)
	}
	if e.ps.Accepted() != 0 || len(e.ps.Rejected()) != 0 {
		t.Fatal("a web message that cannot be built was sent")
	}
	if len(e.fcm.recorded()) != 1 {
		t.Fatal("the FCM device did not get its message")
	}
}

// A subscription the push service calls gone (410) deletes its device.
func TestGoneDeletesDevice(t *testing.T) {
	e := newEnv(t, Config{})
	gone, goneSub := e.webDevice([]string{"news"}, "")
	kept, _ := e.webDevice([]string{"news"}, "")
	e.ps.Expire(goneSub.ID)
	e.start()
	id := e.publish(webBody, false)
	e.q.waitDone(t, id)
	e.messages(1)
	if _, err := e.store.Get(context.Background(), instID, gone.ID); !errors.Is(err, devices.ErrNotFound) {
		t.Fatalf("gone device: Get = %v, want ErrNotFound", err)
	}
	if _, err := e.store.Get(context.Background(), instID, kept.ID); err != nil {
		t.Fatalf("other device: %v", err)
	}
	if n := testutil.ToFloat64(e.m.DevicesDeleted.WithLabelValues(instID, "web")); n != 1 {
		t.Fatalf("DevicesDeleted %v, want 1", n)
	}
	if n := e.deliveries("web", "gone"); n != 1 {
		t.Fatalf("gone counted %d", n)
	}
}

// 429 with Retry-After, then success: delivered once, no sooner than
// Retry-After after the first attempt. The job is done without waiting
// for the retry.
func TestRetryAfterThenDelivered(t *testing.T) {
	e := newEnv(t, Config{BackoffBase: time.Millisecond, BackoffMax: 2 * time.Millisecond, RetryWindow: time.Minute})
	_, sub := e.webDevice([]string{"news"}, "")
	e.ps.Inject(sub.ID, pushtest.Injected{Status: 429, RetryAfter: "1"})
	e.start()
	before := time.Now()
	id := e.publish(webBody, false)
	e.q.waitDone(t, id)
	msgs := e.messages(1)
	if d := time.Since(before); d < time.Second {
		t.Fatalf("delivered %v after the publish, before its Retry-After of 1s", d)
	}
	if webMeta(t, msgs[0].Plaintext).PublishID != id || e.ps.Accepted() != 1 {
		t.Fatal("wrong message, or more than one")
	}
	if r, d := e.deliveries("web", "retry"), e.deliveries("web", "delivered"); r != 1 || d != 1 {
		t.Fatalf("retry %d delivered %d, want 1 and 1", r, d)
	}
	eventually(t, "RetriesPending back to 0", func() bool { return testutil.ToFloat64(e.m.RetriesPending) == 0 })
}

// A push service answering 500 for good: retried with backoff until the
// window is over, then given up.
func TestPersistentFailureGivenUp(t *testing.T) {
	e := newEnv(t, Config{BackoffBase: 5 * time.Millisecond, BackoffMax: 40 * time.Millisecond, RetryWindow: 300 * time.Millisecond})
	_, sub := e.webDevice([]string{"news"}, "")
	answers := make([]pushtest.Injected, 1000)
	for i := range answers {
		answers[i] = pushtest.Injected{Status: 500}
	}
	e.ps.Inject(sub.ID, answers...)
	e.start()
	start := time.Now()
	id := e.publish(webBody, false)
	e.q.waitDone(t, id)
	eventually(t, "given up", func() bool { return e.deliveries("web", "given_up") == 1 })
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Fatalf("given up after %v, before the 300ms window", d)
	}
	tries := len(e.ps.Rejected())
	if retries := e.deliveries("web", "retry"); tries < 3 || retries != tries-1 {
		t.Fatalf("%d attempts, %d counted retry: want several attempts, all but the last a retry", tries, retries)
	}
	time.Sleep(100 * time.Millisecond)
	if n := len(e.ps.Rejected()); n != tries || e.ps.Accepted() != 0 {
		t.Fatalf("attempts after giving up (%d → %d)", tries, n)
	}
}

// At most MaxRetries deliveries wait; the ones beyond are given up.
func TestMaxRetries(t *testing.T) {
	e := newEnv(t, Config{MaxRetries: 2, BackoffBase: time.Hour, BackoffMax: time.Hour, RetryWindow: 24 * time.Hour})
	for range 5 {
		_, sub := e.webDevice([]string{"news"}, "")
		e.ps.Inject(sub.ID, pushtest.Injected{Status: 503, RetryAfter: "3600"})
	}
	p, stop := e.start()
	id := e.publish(webBody, false)
	e.q.waitDone(t, id)
	if r, g := e.deliveries("web", "retry"), e.deliveries("web", "given_up"); r != 2 || g != 3 {
		t.Fatalf("retry %d given_up %d, want 2 and 3", r, g)
	}
	if n := testutil.ToFloat64(e.m.RetriesPending); n != 2 || p.retries.Len() != 2 {
		t.Fatalf("RetriesPending %v, scheduler %d; want 2", n, p.retries.Len())
	}
	stop() // the waiting ones are dropped, and counted
	if g := e.deliveries("web", "given_up"); g != 5 {
		t.Fatalf("given_up %d after shutdown, want 5", g)
	}
	if n := testutil.ToFloat64(e.m.RetriesPending); n != 0 {
		t.Fatalf("RetriesPending %v after shutdown", n)
	}
}

// A job with a cursor (a restart) skips the devices before it.
func TestResumeFromCursor(t *testing.T) {
	e := newEnv(t, Config{PageSize: 4})
	for range 10 {
		e.webDevice([]string{"news"}, "")
	}
	first, cursor, err := e.store.ByInterests(context.Background(), instID, []string{"news"}, "", 4)
	if err != nil || cursor == "" {
		t.Fatal(err)
	}
	skipped := map[string]bool{}
	for _, d := range first {
		skipped[d.Endpoint[strings.LastIndex(d.Endpoint, "/")+1:]] = true
	}
	e.start()
	id := e.publishJob(webBody, false, cursor)
	e.q.waitDone(t, id)
	for _, m := range e.messages(6) {
		if skipped[m.Subscription] {
			t.Fatalf("device %s before the cursor got a message", m.Subscription)
		}
	}
	if p := e.q.progressOf(id); len(p) != 1 {
		t.Fatalf("Progress %q, want one call (pages of 4 and 2 after the cursor)", p)
	}
}

// Jobs that no longer parse, or of an instance that is gone, are done
// without sends.
func TestDroppedJobs(t *testing.T) {
	e := newEnv(t, Config{})
	e.webDevice([]string{"news"}, "")
	e.start()
	bad := "pubid-bad"
	e.q.Enqueue(context.Background(), queue.Job{PublishID: bad, Instance: instID, Body: json.RawMessage(`{"interests":[]}`)})
	orphan := "pubid-orphan"
	e.q.Enqueue(context.Background(), queue.Job{PublishID: orphan, Instance: "no-such-instance", Body: json.RawMessage(webBody)})
	eventually(t, "both done", func() bool { return len(e.q.doneList()) == 2 })
	if e.ps.Accepted() != 0 {
		t.Fatal("a dropped job was sent")
	}
}

// blockingWeb is a web sender that holds every push until its context ends.
type blockingWeb struct{ started chan struct{} }

func (b *blockingWeb) Send(ctx context.Context, _ webpush.Subscription, _ webpush.Message) webpush.Result {
	select {
	case b.started <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return webpush.Result{Outcome: webpush.Retry, Err: ctx.Err()}
}

// Cancelling Run's context cancels the pushes in flight; Run returns
// promptly, with no goroutine left, and the job stays queued.
func TestCancelStopsRun(t *testing.T) {
	e := newEnv(t, Config{PageSize: 2, Workers: 4})
	bw := &blockingWeb{started: make(chan struct{}, 1)}
	e.inst.Web = bw
	for range 5 {
		e.webDevice([]string{"news"}, "")
	}
	_, stop := e.start()
	id := e.publish(webBody, false)
	select {
	case <-bw.started:
	case <-time.After(wait):
		t.Fatal("no push started")
	}
	start := time.Now()
	stop()
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Run took %v to return", d)
	}
	if len(e.q.doneList()) != 0 || len(e.q.progressOf(id)) != 0 {
		t.Fatalf("job done %v / progress %v after a cancelled first page", e.q.doneList(), e.q.progressOf(id))
	}
	noPipelineGoroutines(t)
}

// slowWeb is a web sender taking a while for every push.
type slowWeb struct{ delay time.Duration }

func (s slowWeb) Send(ctx context.Context, _ webpush.Subscription, _ webpush.Message) webpush.Result {
	select {
	case <-ctx.Done():
		return webpush.Result{Outcome: webpush.Retry, Err: ctx.Err()}
	case <-time.After(s.delay):
		return webpush.Result{Outcome: webpush.Delivered, Status: 201}
	}
}

// A large publish does not hold up a small one queued after it: the small
// one's pushes join the workers' queue beside the large one's.
func TestJobsRunConcurrently(t *testing.T) {
	e := newEnv(t, Config{Jobs: 2, Workers: 2, PageSize: 10})
	e.inst.Web = slowWeb{20 * time.Millisecond} // the large publish takes 40×20ms / 2 = 400ms
	for range 40 {
		e.webDevice([]string{"big"}, "")
	}
	e.register(devices.Device{Platform: devices.FCM, Token: "f1"}, []string{"small"}, "")
	e.start()
	big := e.publish(`{"interests":["big"],"web":{"notification":{"title":"x"}}}`, false)
	eventually(t, "the large publish under way", func() bool { return e.deliveries("web", "delivered") > 0 })
	small := e.publish(`{"interests":["small"],"fcm":{"notification":{"title":"x"}}}`, false)
	e.q.waitDone(t, small)
	if slices.Contains(e.q.doneList(), big) || e.deliveries("web", "delivered") > 20 {
		t.Fatalf("the small publish waited for the large one (%d of its 40 pushes made)", e.deliveries("web", "delivered"))
	}
	e.q.waitDone(t, big)
}

// ConfigError (a subscription bound to another VAPID key: 403) keeps the
// devices and logs once per instance per minute.
func TestConfigErrorThrottled(t *testing.T) {
	e := newEnv(t, Config{})
	var ids []string
	for range 5 {
		sub := e.ps.Subscribe("another-instance-key")
		d := e.register(devices.Device{Platform: devices.Web, Token: sub.Token(), Endpoint: sub.Endpoint, P256dh: sub.P256dh, Auth: sub.Auth}, []string{"news"}, "")
		ids = append(ids, d.ID)
	}
	e.start()
	e.q.waitDone(t, e.publish(webBody, false))
	e.q.waitDone(t, e.publish(webBody, false))
	if n := e.deliveries("web", "config_error"); n != 10 {
		t.Fatalf("config_error %d, want 10", n)
	}
	if n := e.logs.count("push refused the instance's credentials"); n != 1 {
		t.Fatalf("%d log lines for config errors, want 1", n)
	}
	for _, id := range ids {
		if _, err := e.store.Get(context.Background(), instID, id); err != nil {
			t.Fatalf("device deleted on a config error: %v", err)
		}
	}
}

// flakyStore fails its first reads: the job waits and goes on.
type flakyStore struct {
	devices.Store
	fails atomic.Int64
}

func (f *flakyStore) ByInterests(ctx context.Context, instance string, interests []string, cursor string, limit int) ([]devices.Device, string, error) {
	if f.fails.Add(-1) >= 0 {
		return nil, "", errors.New("database is locked")
	}
	return f.Store.ByInterests(ctx, instance, interests, cursor, limit)
}

func TestStoreFailureRetried(t *testing.T) {
	e := newEnv(t, Config{BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond})
	e.webDevice([]string{"news"}, "")
	fs := &flakyStore{Store: e.store}
	fs.fails.Store(3)
	startPipeline(t, e.cfg, Deps{Queue: e.q, Devices: fs, Instances: instance.NewStatic(e.inst), Metrics: e.m})
	id := e.publish(webBody, false)
	e.q.waitDone(t, id)
	e.messages(1)
}

func TestBackoffDelay(t *testing.T) {
	p := New(Config{BackoffBase: 100 * time.Millisecond, BackoffMax: time.Second}, Deps{})
	for attempts, ceil := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 4: 800 * time.Millisecond, 5: time.Second, 80: time.Second} {
		var top time.Duration
		for range 2000 {
			d := p.backoffDelay(attempts)
			if d < 0 || d > ceil {
				t.Fatalf("backoffDelay(%d) = %v, want within [0, %v]", attempts, d, ceil)
			}
			top = max(top, d)
		}
		if top < ceil*8/10 {
			t.Fatalf("backoffDelay(%d) never above %v of [0, %v]: no full jitter", attempts, top, ceil)
		}
	}
}

// The scheduler hands deliveries back in due order.
func TestSchedulerOrder(t *testing.T) {
	p := New(Config{MaxRetries: 100}, Deps{})
	s := p.retries
	base := time.Now()
	for _, ms := range []int{50, 10, 30, 20, 40, 0} {
		s.add(task{device: fmt.Sprint(ms)}, base.Add(time.Duration(ms)*time.Millisecond))
	}
	work := make(chan task)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { s.run(ctx, work, time.Now) })
	var got []string
	for range 6 {
		select {
		case tk := <-work:
			got = append(got, tk.device)
		case <-time.After(wait):
			t.Fatal("scheduler stalled")
		}
	}
	cancel()
	wg.Wait()
	if want := []string{"0", "10", "20", "30", "40", "50"}; !slices.Equal(got, want) {
		t.Fatalf("order %v, want %v", got, want)
	}
	if time.Since(base) < 50*time.Millisecond {
		t.Fatal("handed out before due")
	}
}
