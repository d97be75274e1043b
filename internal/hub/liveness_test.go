package hub

import (
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/internal/apps"
	"github.com/heraldhq/herald/internal/metrics"
)

// onWheel counts the connections on the liveness wheel.
func onWheel(h *Hub) int {
	n := 0
	for i := range h.live.shards {
		s := &h.live.shards[i]
		s.mu.Lock()
		for _, slot := range s.slots {
			n += len(slot)
		}
		s.mu.Unlock()
	}
	return n
}

// pings counts the pusher:ping frames a sink got.
func pings(s *fakeSink) int {
	n := 0
	for _, name := range s.names() {
		if name == "pusher:ping" {
			n++
		}
	}
	return n
}

// hubAt is a hub whose clock reads *now.
func hubAt(cfg Config, now *time.Time) *Hub {
	return New(cfg, Deps{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: metrics.New(prometheus.NewRegistry()),
		Now: func() time.Time { return *now }})
}

// clockHub is a hub on a fake clock the test moves with step.
func clockHub(t *testing.T, cfg Config) (*Hub, func(time.Duration)) {
	t.Helper()
	now := time.Unix(1_000_000, 0)
	h := hubAt(cfg, &now)
	return h, func(d time.Duration) {
		// One sweep per tick, as the ticker runs it.
		for end := now.Add(d); now.Before(end); {
			now = now.Add(min(h.cfg.SweepInterval, end.Sub(now)))
			h.sweep()
		}
	}
}

// TestWheelPingsAtTheActivityTimeout: a silent connection is pinged once the
// activity timeout has passed (not before) and closed with 4201 a pong
// timeout later; a connection that sends frames is never pinged; one that
// answers the ping is pinged again only after another silent period.
func TestWheelPingsAtTheActivityTimeout(t *testing.T) {
	h, step := clockHub(t, Config{ActivityTimeout: 120 * time.Second, PongTimeout: 30 * time.Second})
	_, silent := connect(t, h, testApp)
	chatty, cs := connect(t, h, testApp)
	answers, as := connect(t, h, testApp)

	for range 119 {
		step(time.Second)
		chatty.Touch()
	}
	if pings(silent) != 0 || pings(as) != 0 {
		t.Fatal("pinged before the activity timeout")
	}
	step(time.Second) // 120 s
	if pings(silent) != 1 || pings(as) != 1 {
		t.Fatalf("pings at the activity timeout: silent %d, answering %d", pings(silent), pings(as))
	}
	answers.Touch() // its pong
	for range 29 {
		step(time.Second)
		chatty.Touch()
	}
	if silent.closeCode != 0 {
		t.Fatal("closed before the pong timeout")
	}
	step(time.Second) // 150 s
	chatty.Touch()
	if silent.closeCode != 4201 {
		t.Fatalf("silent connection: close code %d, want 4201", silent.closeCode)
	}
	if as.closeCode != 0 || pings(as) != 1 {
		t.Fatalf("answering connection: close %d, pings %d", as.closeCode, pings(as))
	}
	step(89 * time.Second) // 239 s: 119 s after its pong
	if pings(as) != 1 {
		t.Fatal("answering connection pinged again too early")
	}
	step(time.Second) // 240 s
	if pings(as) != 2 {
		t.Fatalf("answering connection: %d pings after another silent period, want 2", pings(as))
	}
	if pings(cs) != 0 || cs.closeCode != 0 {
		t.Fatalf("active connection: %d pings, close %d", pings(cs), cs.closeCode)
	}
}

// TestWheelLooksOnlyAtDueConnections: a tick checks the connections due in
// it, not all of them, so most ticks touch nobody.
func TestWheelLooksOnlyAtDueConnections(t *testing.T) {
	h, step := clockHub(t, Config{ActivityTimeout: 120 * time.Second, PongTimeout: 30 * time.Second})
	const n = 1000
	for i := range n {
		connect(t, h, testApp)
		if i%10 == 9 {
			step(time.Second) // 100 connections over 100 s
		}
	}
	if got := onWheel(h); got != n {
		t.Fatalf("%d connections on the wheel, want %d", got, n)
	}
	// Count what each of the next ticks would look at, without checking.
	nowTick := h.now().UnixNano() / h.live.tick
	counts := map[int]int{}
	for tick := nowTick + 1; tick <= nowTick+wheelSlots; tick++ {
		due := 0
		for i := range h.live.shards {
			h.live.shards[i].due(tick, func(b []*Client) { due += len(b) })
		}
		if due > 0 {
			counts[int(tick-nowTick)] = due
		}
	}
	// Connected at seconds 0..99 (10 a second): due at 120 s after that.
	if len(counts) != 100 {
		t.Fatalf("due over %d ticks, want 100 (%v)", len(counts), counts)
	}
	for after, due := range counts {
		if due != 10 || after < 20 || after > 119 {
			t.Fatalf("%d connections due %d ticks from now; all: %v", due, after, counts)
		}
	}
}

// TestWheelForgetsDisconnected: Disconnect takes the connection off the
// wheel at once, wherever it sits (no memory kept for closed connections).
func TestWheelForgetsDisconnected(t *testing.T) {
	h, step := clockHub(t, Config{ActivityTimeout: 10 * time.Second, PongTimeout: 30 * time.Second})
	var cs []*Client
	for range 300 {
		c, _ := connect(t, h, testApp)
		cs = append(cs, c)
		step(100 * time.Millisecond)
	}
	step(5 * time.Second) // most pinged and waiting for a pong, none closed yet
	if got := onWheel(h); got != 300 {
		t.Fatalf("%d on the wheel, want 300", got)
	}
	for i, c := range cs {
		if i%2 == 0 {
			h.Disconnect(c)
		}
	}
	if got := onWheel(h); got != 150 {
		t.Fatalf("%d on the wheel after 150 of 300 left", got)
	}
	for _, c := range cs {
		h.Disconnect(c)
	}
	if got := onWheel(h); got != 0 {
		t.Fatalf("%d on the wheel after every connection left", got)
	}
}

// TestWheelBeyondItsHorizon: an activity timeout longer than the wheel's
// horizon still pings on time (the connection is parked and looked at
// again), and a clock jump past the horizon checks everyone once.
func TestWheelBeyondItsHorizon(t *testing.T) {
	h, step := clockHub(t, Config{ActivityTimeout: 1200 * time.Second, PongTimeout: 30 * time.Second, SweepInterval: time.Second})
	_, s := connect(t, h, testApp)
	step(1199 * time.Second)
	if pings(s) != 0 {
		t.Fatal("pinged early")
	}
	step(time.Second)
	if pings(s) != 1 {
		t.Fatalf("%d pings at 1200 s", pings(s))
	}

	h2, _ := clockHub(t, Config{ActivityTimeout: 60 * time.Second, PongTimeout: 30 * time.Second})
	var sinks []*fakeSink
	for range 50 {
		_, s := connect(t, h2, testApp)
		sinks = append(sinks, s)
	}
	// The process was stopped for an hour: one sweep after it.
	now := h2.now().Add(time.Hour)
	h2.now = func() time.Time { return now }
	h2.sweep()
	for i, s := range sinks {
		if pings(s) != 1 {
			t.Fatalf("connection %d: %d pings after the jump", i, pings(s))
		}
	}
}

// TestWheelSigninDeadline: a require_signin app's connection is closed at
// its sign-in deadline, well before its activity timeout; one that signed
// in is not; and an app switched to require_signin closes its old unsigned
// connections at their deadline.
func TestWheelSigninDeadline(t *testing.T) {
	h, step := clockHub(t, Config{ActivityTimeout: 120 * time.Second, PongTimeout: 30 * time.Second, SigninTimeout: 30 * time.Second})
	app := *testApp
	app.RequireSignin = true
	_, unsigned := connect(t, h, &app)
	signed, ss := connect(t, h, &app)
	signed.authorized.Store(true)
	step(29 * time.Second)
	if unsigned.closeCode != 0 {
		t.Fatal("closed before the sign-in deadline")
	}
	step(time.Second)
	if unsigned.closeCode != 4009 || ss.closeCode != 0 {
		t.Fatalf("close codes: unsigned %d (want 4009), signed %d", unsigned.closeCode, ss.closeCode)
	}

	h2, step2 := clockHub(t, Config{ActivityTimeout: 120 * time.Second, PongTimeout: 30 * time.Second, SigninTimeout: 30 * time.Second})
	open := *testApp
	_, old := connect(t, h2, &open)
	step2(40 * time.Second)
	strict := open
	strict.RequireSignin = true
	h2.UpdateApp(&strict)
	step2(time.Second)
	if old.closeCode != 4009 {
		t.Fatalf("old unsigned connection after the switch: close code %d, want 4009", old.closeCode)
	}
}

// BenchmarkLivenessIdleTick is one liveness tick with n idle connections
// that are not due: the cost the old sweep paid in full every second.
func BenchmarkLivenessIdleTick(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			now := time.Unix(1_000_000, 0)
			h := hubAt(Config{ActivityTimeout: 120 * time.Second}, &now)
			app := &apps.App{ID: "1", Key: "k", Secret: "s", Enabled: true}
			for range n {
				if _, err := h.Connect(ctx, app, &fakeSink{}, "bench"); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for b.Loop() {
				// Connections connected together are due together 120 s
				// later; stay inside those 120 s, one tick per call.
				now = now.Add(time.Second)
				if now.Sub(time.Unix(1_000_000, 0)) >= 119*time.Second {
					now = time.Unix(1_000_000, 0)
					for i := range h.live.shards {
						h.live.shards[i].cur = now.UnixNano() / h.live.tick
					}
				}
				h.sweep()
			}
		})
	}
}

// pongSink answers every frame at once, as a live client answers a ping.
type pongSink struct{ c *Client }

func (s *pongSink) Send([]byte) error {
	if s.c != nil {
		s.c.Touch()
	}
	return nil
}
func (s *pongSink) Queue(b []byte) error { return s.Send(b) }
func (s *pongSink) Close(int, string)    {}

// BenchmarkLivenessSteady is one liveness tick, averaged over the activity
// timeout, with n connections spread over it that answer every ping: each
// is looked at twice per period (ping, then its pong seen), so a tick
// costs about 2n/120 checks.
func BenchmarkLivenessSteady(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			now := time.Unix(1_000_000, 0)
			h := hubAt(Config{ActivityTimeout: 120 * time.Second}, &now)
			app := &apps.App{ID: "1", Key: "k", Secret: "s", Enabled: true}
			for i := range n {
				s := &pongSink{}
				c, err := h.Connect(ctx, app, s, "bench")
				if err != nil {
					b.Fatal(err)
				}
				s.c = c
				if i%(n/120) == 0 {
					now = now.Add(time.Second)
					h.sweep()
				}
			}
			for range 240 { // reach the steady state
				now = now.Add(time.Second)
				h.sweep()
			}
			b.ResetTimer()
			for b.Loop() {
				now = now.Add(time.Second)
				h.sweep()
			}
		})
	}
}

// TestWheelClockStepsBack: after the wall clock steps back an hour (NTP),
// liveness goes on at once: a connection made after the step is pinged at
// its activity timeout, not an hour later.
func TestWheelClockStepsBack(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	h := hubAt(Config{ActivityTimeout: 60 * time.Second, PongTimeout: 30 * time.Second}, &now)
	connect(t, h, testApp)
	for range 10 {
		now = now.Add(time.Second)
		h.sweep()
	}
	now = now.Add(-time.Hour)
	h.sweep()
	_, s := connect(t, h, testApp)
	for range 59 {
		now = now.Add(time.Second)
		h.sweep()
	}
	if pings(s) != 0 {
		t.Fatal("pinged before its activity timeout")
	}
	now = now.Add(time.Second)
	h.sweep()
	if pings(s) != 1 {
		t.Fatalf("%d pings at the activity timeout after the clock stepped back, want 1", pings(s))
	}
}
