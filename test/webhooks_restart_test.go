package test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/server"
	"github.com/heraldhq/herald/internal/testlog"
)

// Durability of the webhook queue across restarts: events generated while
// the receiver is down are delivered by the next server on the same
// data_dir, after a graceful stop and after a SIGKILL.

const (
	durableChannel = "private-durable"
	durableN       = 50
	// queuedMetric counts events stored for an endpoint, once committed.
	queuedMetric = `herald_webhook_events_total{app_id="1",outcome="queued"}`
)

// sendDurableEvents sends n client events {"i":k} on durableChannel and waits
// until the server has committed all of them to its queue.
func sendDurableEvents(t *testing.T, s *testServer, n int) *wsClient {
	t.Helper()
	a := connect(t, s)
	a.subscribePrivate(durableChannel)
	for i := range n {
		a.sendClientEvent(durableChannel, "client-d", fmt.Sprintf(`{"i":%d}`, i))
	}
	a.ping() // every event frame has been handled
	eventually(t, whWait, fmt.Sprintf("%d events queued", n), func() bool {
		return s.metricValue(queuedMetric) >= float64(n)
	})
	if v := s.metricValue(queuedMetric); v != float64(n) {
		t.Errorf("%s = %v, want %d", queuedMetric, v, n)
	}
	return a
}

// checkResentIdentical checks that the first request acknowledged after the
// restart is the batch that failed before it, byte for byte (same time_ms,
// same signature).
func checkResentIdentical(t *testing.T, r *whReceiver) {
	t.Helper()
	reqs := r.allRequests()
	if len(reqs) == 0 || reqs[0].status == http.StatusOK {
		t.Fatalf("want a failed first attempt, got %d requests", len(reqs))
	}
	for _, q := range reqs {
		if q.status == http.StatusOK {
			if string(q.body) != string(reqs[0].body) {
				t.Errorf("first request after the restart is not the stored batch resent byte for byte:\n%s\nvs the failed\n%s", q.body, reqs[0].body)
			}
			return
		}
	}
	t.Errorf("no request was acknowledged after the restart (%d requests, all failed)", len(reqs))
}

// durableCounts waits (bounded) until all n events {"i":k} arrived, then for
// a marker sent through s (so that late duplicates show), and returns how
// often each arrived.
func durableCounts(t *testing.T, s *testServer, r *whReceiver, n int, wait time.Duration) (distinct, dups int) {
	t.Helper()
	count := func() map[string]int {
		m := map[string]int{}
		for _, e := range r.matching("client_event", durableChannel) {
			if e.Event == "client-d" {
				m[e.Data]++
			}
		}
		return m
	}
	deadline := time.Now().Add(wait)
	for len(count()) < n && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if len(count()) == n {
		m := connect(t, s)
		m.subscribePrivate(durableChannel)
		clientMarker(t, m, r, durableChannel)
	}
	got := count()
	// Occurrence order is kept across the restart: first arrivals ascend.
	var order []int
	seen := map[string]bool{}
	for _, e := range r.matching("client_event", durableChannel) {
		if e.Event == "client-d" && !seen[e.Data] {
			seen[e.Data] = true
			var v struct{ I *int }
			if err := json.Unmarshal([]byte(e.Data), &v); err != nil || v.I == nil {
				t.Errorf("client-d data %q is not {\"i\":n}", e.Data)
				continue
			}
			order = append(order, *v.I)
		}
	}
	if !slices.IsSorted(order) {
		t.Errorf("events arrived out of order across the restart: %v", order)
	}
	for i := range n {
		c := got[fmt.Sprintf(`{"i":%d}`, i)]
		if c == 0 {
			t.Errorf(`event {"i":%d} never arrived`, i)
		}
		if c > 1 {
			dups += c - 1
		}
	}
	if len(got) != n {
		t.Errorf("%d distinct events arrived, want %d (within %v)", len(got), n, wait)
	}
	return len(got), dups
}

func TestWebhookRestartGraceful(t *testing.T) {
	t.Parallel()
	r := newReceiver(t, "a")
	r.setDown(true)
	dir := t.TempDir()
	hook := config.Webhook{URL: r.URL(), EventTypes: []string{"client_event"}}

	s1 := whServerIn(t, dir, nil, hook)
	sendDurableEvents(t, s1, durableN)
	eventually(t, whWait, "a first (failing) attempt", func() bool { return len(r.allRequests()) > 0 })
	if err := s1.stop(15 * time.Second); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}
	failed := len(r.allRequests())

	r.setDown(false)
	start := time.Now()
	s2 := whServerIn(t, dir, nil, hook)
	distinct, dups := durableCounts(t, s2, r, durableN, 30*time.Second)
	if dups > 0 {
		t.Errorf("%d duplicate deliveries after a graceful restart, want none", dups)
	}
	checkResentIdentical(t, r)
	t.Logf("graceful restart: %d of %d events delivered by the new server (%d duplicates) within %v; %d attempts failed while the receiver was down",
		distinct, durableN, dups, time.Since(start).Round(time.Millisecond), failed)
}

// heraldProc is the real binary running as a child process.
type heraldProc struct {
	cmd    *exec.Cmd
	addr   string
	admin  string // admin listener (metrics)
	exited chan struct{}
	logs   *testlog.Buffer
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// childEnv is the environment without HERALD_* and PUSHER_* variables, so
// that only the test's configuration applies.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "HERALD_") || strings.HasPrefix(kv, "PUSHER_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// startHerald runs `herald serve --config cfgPath --port <free>` and waits
// until /ready answers 200.
func startHerald(t *testing.T, bin, cfgPath string) *heraldProc {
	t.Helper()
	port, adminPort := freePort(t), freePort(t)
	p := &heraldProc{addr: "127.0.0.1:" + strconv.Itoa(port), admin: "127.0.0.1:" + strconv.Itoa(adminPort),
		exited: make(chan struct{}), logs: &testlog.Buffer{}}
	p.cmd = exec.Command(bin, "serve", "--config", cfgPath, "--port", strconv.Itoa(port), "--admin-listen", p.admin)
	p.cmd.Env = childEnv()
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("herald (pid %d) log tail:\n%s", p.cmd.Process.Pid, p.logs.Tail(8<<10))
		}
	})
	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-p.exited:
			t.Fatalf("herald exited before it was ready: %v\n%s", p.cmd.ProcessState, p.logs.Tail(8<<10))
		default:
		}
		if resp, err := hc.Get("http://" + p.addr + "/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("herald not ready on %s within 15s\n%s", p.addr, p.logs.Tail(8<<10))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill sends SIGKILL (no shutdown of any kind) and waits for the exit.
func (p *heraldProc) kill() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Kill()
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
	}
}

// server is a testServer view of the child so the WebSocket and API
// helpers work against it.
func (p *heraldProc) server(t *testing.T) *testServer {
	return &testServer{t: t, addr: p.addr, admin: p.admin, http: &http.Client{Timeout: readTimeout}, logs: p.logs}
}

func TestWebhookRestartHardKill(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go is not on PATH: cannot build the herald binary")
	}
	t.Parallel()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "herald")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/herald")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/herald: %v\n%s", err, out)
	}

	r := newReceiver(t, "a")
	r.setDown(true)
	dataDir := t.TempDir()
	cfgPath := filepath.Join(t.TempDir(), "herald.yaml")
	yaml := fmt.Sprintf(`host: 127.0.0.1
data_dir: %q
limits:
  client_events_per_sec: 1000
webhooks:
  leave_delay: 300ms
  batch_window: 20ms
apps:
  - id: "1"
    key: %s
    secret: %s
    enable_client_messages: true
    webhooks:
      - url: %q
        event_types: [client_event]
`, dataDir, appKey, appSecret, r.URL())
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}

	p1 := startHerald(t, bin, cfgPath)
	s1 := p1.server(t)
	sendDurableEvents(t, s1, durableN)
	eventually(t, whWait, "a first (failing) attempt", func() bool { return len(r.allRequests()) > 0 })
	p1.kill()
	select {
	case <-p1.exited:
	default:
		t.Fatal("herald did not exit within 10s of SIGKILL")
	}
	if ws, ok := p1.cmd.ProcessState.Sys().(interface{ Signaled() bool }); ok && !ws.Signaled() {
		t.Errorf("herald was not killed by a signal: %v", p1.cmd.ProcessState)
	}
	failed := len(r.allRequests())

	r.setDown(false)
	start := time.Now()
	p2 := startHerald(t, bin, cfgPath)
	distinct, dups := durableCounts(t, p2.server(t), r, durableN, 30*time.Second)
	if dups > 0 {
		t.Errorf("%d duplicate deliveries after SIGKILL, want none (nothing was acknowledged before the kill)", dups)
	}
	checkResentIdentical(t, r)
	t.Logf("SIGKILL restart: %d of %d events delivered by the new process (%d duplicates) within %v; %d attempts failed while the receiver was down",
		distinct, durableN, dups, time.Since(start).Round(time.Millisecond), failed)
}

// Leaves delayed at a graceful stop are stored: the next server sends them
// when due, unless the user or channel is back by then (on the new server).
func TestWebhookLeavesSurviveRestart(t *testing.T) {
	t.Parallel()
	r := newReceiver(t, "a")
	dir := t.TempDir()
	hook := config.Webhook{URL: r.URL(), EventTypes: []string{"channel_occupied", "channel_vacated", "member_added", "member_removed"}}
	mut := func(c *config.Config) { c.Webhooks.LeaveDelay = config.Duration(2 * time.Second) }

	s1 := whServerIn(t, dir, mut, hook)
	gone, back := connect(t, s1), connect(t, s1)
	gone.subscribe("wh-gone")
	back.subscribePresence("presence-back", `{"user_id":"u1"}`)
	r.waitFor(t, 1, "member_added", "presence-back")
	r.waitFor(t, 1, "channel_occupied", "wh-gone")
	if err := s1.stop(15 * time.Second); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}
	stopped := time.Now()

	s2 := whServerIn(t, dir, mut, hook)
	again := connect(t, s2) // the user reconnects to the new server
	again.subscribePresence("presence-back", `{"user_id":"u1"}`)
	if d := time.Since(stopped); d > 1500*time.Millisecond {
		t.Fatalf("restart took %v: too close to the 2s leave delay for this test", d)
	}
	leaveMarker(t, s2, r, "restart") // due after every leave of s1
	r.expectEvents(t, "", "wh-gone",
		`{"name":"channel_occupied","channel":"wh-gone"}`, `{"name":"channel_vacated","channel":"wh-gone"}`)
	r.expectEvents(t, "", "presence-back",
		`{"name":"channel_occupied","channel":"presence-back"}`,
		`{"name":"member_added","channel":"presence-back","user_id":"u1"}`)
}

// A second server on a data_dir whose webhook queue is in use fails to
// start (bbolt's file lock, bounded wait) instead of hanging or sharing it.
func TestWebhookDataDirInUse(t *testing.T) {
	t.Parallel()
	r := newReceiver(t, "a")
	dir := t.TempDir()
	hook := config.Webhook{URL: r.URL(), EventTypes: []string{"client_event"}}
	whServerIn(t, dir, nil, hook)

	cfg := config.Config{Host: "127.0.0.1", DataDir: dir, AdminListen: config.AdminListenOff,
		Apps: []config.App{{ID: appID, Key: appKey, Secret: appSecret, Webhooks: []config.Webhook{hook}}}}
	cfg.ApplyDefaults()
	cfg.Port = 0
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- server.Run(ctx, cfg, server.Options{Version: "test", Stderr: &testlog.Buffer{},
			OnListen: func(net.Addr) { t.Error("a second server on the same data_dir started listening") }})
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "webhooks") {
			t.Errorf("second server: %v, want a webhooks database error", err)
		}
	case <-time.After(10 * time.Second):
		cancel()
		<-done
		t.Fatal("a second server on the same data_dir neither failed nor returned within 10s")
	}
}
