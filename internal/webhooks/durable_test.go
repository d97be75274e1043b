package webhooks

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/hub"
)

// failingReceiver answers 503 while down is set.
func failingReceiver(t *testing.T, down *atomic.Bool) *receiver {
	return newReceiver(t, func(int, []byte) int {
		if down.Load() {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
}

// TestRestartMidDelivery: Run is cancelled while the receiver is failing
// and while events are still in the inbox; a new Dispatcher on the same
// file delivers every event, re-sending the stored batch byte for byte.
func TestRestartMidDelivery(t *testing.T) {
	var down atomic.Bool
	down.Store(true)
	rcv := failingReceiver(t, &down)
	path := dbPath(t)
	cfg := fast(path)
	cfg.BatchMaxEvents = 20
	s := store(t, app("1", hook(rcv.URL)))

	h1 := run(t, cfg, s)
	const first, second = 500, 100
	for i := range first {
		h1.d.Observe(clientEvent("1", fmt.Sprintf("private-%d", i%5), i))
	}
	waitFor(t, "some failed attempts", 5*time.Second, func() bool { return len(rcv.requests()) >= 3 })
	for i := first; i < first+second; i++ { // still in the inbox when the stop comes
		h1.d.Observe(clientEvent("1", fmt.Sprintf("private-%d", i%5), i))
	}
	h1.stop(t)
	failed := rcv.requests()
	lastFailed := failed[len(failed)-1]

	down.Store(false)
	h2 := run(t, cfg, s)
	const n = first + second
	waitFor(t, "all events after the restart", 10*time.Second, func() bool { got, _ := distinct(t, rcv); return got == n })
	got, dup := distinct(t, rcv)
	t.Logf("restart mid-delivery: %d of %d events arrived, %d duplicates, %d failed attempts before the stop", got, n, dup, len(failed))
	if dup != 0 {
		t.Errorf("%d duplicates", dup)
	}
	if firstOK := rcv.ok()[0]; !bytes.Equal(firstOK.Body, lastFailed.Body) {
		t.Errorf("stored batch not resent identically:\n%s\n%s", firstOK.Body, lastFailed.Body)
	}
	checkOrder(t, rcv)
	h2.stop(t)
}

// checkOrder asserts per-channel order of the delivered client events.
func checkOrder(t *testing.T, rcv *receiver) {
	t.Helper()
	last := map[string]int{}
	for _, e := range rcv.events(t) {
		ch, s := e["channel"].(string), seqOf(t, e)
		if prev, ok := last[ch]; ok && s <= prev {
			t.Fatalf("%s: %d after %d", ch, s, prev)
		}
		last[ch] = s
	}
}

// TestCrashWithoutFlush: the dispatcher stops right after its last commit
// (no graceful flush, no result bookkeeping, batches mid-retry); every
// committed event is delivered by the next one.
func TestCrashWithoutFlush(t *testing.T) {
	var down atomic.Bool
	down.Store(true)
	rcv := failingReceiver(t, &down)
	cfg := fast(dbPath(t))
	cfg.BatchMaxEvents = 25
	s := store(t, app("1", hook(rcv.URL)))
	h1 := run(t, cfg, s)
	const n = 400
	for i := range n {
		h1.d.Observe(clientEvent("1", "private-c", i))
	}
	waitFor(t, "all committed", 5*time.Second, func() bool { return h1.queued("1") == n })
	waitFor(t, "a failed attempt", 5*time.Second, func() bool { return len(rcv.requests()) >= 2 })
	h1.crash(t)

	down.Store(false)
	run(t, cfg, s)
	waitFor(t, "all events after the crash", 10*time.Second, func() bool { got, _ := distinct(t, rcv); return got == n })
	got, dup := distinct(t, rcv)
	t.Logf("crash (hook): %d of %d events arrived, %d duplicates", got, n, dup)
	checkOrder(t, rcv)
}

// TestDelayedLeaveSurvivesRestart: a leave still inside its delay at the
// stop is sent by the next run when due.
func TestDelayedLeaveSurvivesRestart(t *testing.T) {
	rcv := newReceiver(t, nil)
	cfg := fast(dbPath(t))
	cfg.LeaveDelay = 300 * time.Millisecond
	s := store(t, app("1", hook(rcv.URL)))
	h1 := run(t, cfg, s)
	h1.d.Observe(member(hub.MemberRemoved, "1", "presence-r", "u1"))
	h1.stop(t)
	if n := len(rcv.requests()); n != 0 {
		t.Fatalf("sent before its delay: %d", n)
	}
	run(t, cfg, s)
	waitFor(t, "member_removed", 5*time.Second, func() bool { return len(rcv.events(t)) == 1 })
	if got := fmt.Sprint(names(rcv.events(t))); got != "[member_removed@presence-r/u1]" {
		t.Errorf("events = %s", got)
	}
}

// Real crash: a child process (this test binary) accepts events, reports
// that they are committed, and is killed with SIGKILL mid-delivery while
// the receiver fails every other request.
const crashChildEnv = "HERALD_WEBHOOKS_CRASH_CHILD"

func TestKillDashNine(t *testing.T) {
	if os.Getenv(crashChildEnv) != "" {
		crashChild(t)
		return
	}
	if testing.Short() {
		t.Skip("spawns a process")
	}
	var down atomic.Bool
	down.Store(true)
	var calls atomic.Int32
	rcv := newReceiver(t, func(int, []byte) int {
		if down.Load() && calls.Add(1)%2 == 0 { // mid-delivery: some succeed, some fail
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	path := dbPath(t)
	const n = 1000
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillDashNine$", "-test.v")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path+"|"+rcv.URL+"|"+strconv.Itoa(n))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if sc.Text() == "COMMITTED" {
				ready <- true
				return
			}
		}
		ready <- false
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatal("child exited before committing")
		}
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatal("child did not commit in time")
	}
	waitFor(t, "deliveries in progress", 5*time.Second, func() bool { return len(rcv.requests()) >= 4 })
	if err := cmd.Process.Kill(); err != nil { // SIGKILL: no deferred code runs
		t.Fatal(err)
	}
	cmd.Wait()
	before, _ := distinct(t, rcv)

	down.Store(false)
	run(t, fast(path), store(t, app("1", hook(rcv.URL))))
	waitFor(t, "all events after kill -9", 10*time.Second, func() bool { got, _ := distinct(t, rcv); return got == n })
	got, dup := distinct(t, rcv)
	t.Logf("kill -9 mid-delivery: %d of %d events arrived (%d before the kill), %d duplicates", got, n, before, dup)
	checkOrder(t, rcv)
}

func crashChild(t *testing.T) {
	var path, url string
	var n int
	parts := bytes.Split([]byte(os.Getenv(crashChildEnv)), []byte("|"))
	path, url = string(parts[0]), string(parts[1])
	n, _ = strconv.Atoi(string(parts[2]))
	cfg := fast(path)
	cfg.BatchMaxEvents = 10
	cfg.backoffBase = 200 * time.Millisecond // keep failed batches pending at the kill
	h := run(t, cfg, store(t, app("1", hook(url))))
	for i := range n {
		h.d.Observe(clientEvent("1", "private-c", i))
	}
	waitFor(t, "committed", 10*time.Second, func() bool { return h.queued("1") == n })
	fmt.Println("COMMITTED")
	time.Sleep(time.Minute) // the parent kills us
}
