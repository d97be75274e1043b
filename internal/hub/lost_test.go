package hub

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/internal/apps"
	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/broker/memory"
	"github.com/heraldhq/herald/internal/metrics"
)

// outageBroker wraps the memory broker as a shared state that is lost
// while it is down: a Leave made meanwhile fails, and the member is gone
// from the state without any member_removed (what an empty Redis restart
// leaves behind).
type outageBroker struct {
	broker.Broker
	mu   sync.Mutex
	down bool
}

func (b *outageBroker) setDown(d bool) {
	b.mu.Lock()
	b.down = d
	b.mu.Unlock()
}

func (b *outageBroker) isDown() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.down
}

func (b *outageBroker) Ready() error {
	if b.isDown() {
		return broker.ErrUnavailable
	}
	return nil
}

func (b *outageBroker) Leave(ctx context.Context, r broker.LeaveRequest) (broker.LeaveResult, error) {
	if b.isDown() {
		r.MemberRemoved = nil // the state forgets the member; nobody is told
		_, _ = b.Broker.Leave(ctx, r)
		return broker.LeaveResult{}, broker.ErrUnavailable
	}
	return b.Broker.Leave(ctx, r)
}

func lostHub(t *testing.T) (*Hub, *outageBroker, *recorder, func(time.Duration)) {
	t.Helper()
	var mu sync.Mutex
	clock := time.Unix(1_700_000_000, 0)
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	advance := func(d time.Duration) { mu.Lock(); clock = clock.Add(d); mu.Unlock() }
	ob := &outageBroker{}
	rec := &recorder{}
	app := *hooksApp
	app.MaxPresenceMembers = 0
	store, err := apps.NewStatic([]apps.App{app})
	if err != nil {
		t.Fatal(err)
	}
	h := New(Config{LostLeaveGrace: 5 * time.Second}, Deps{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Metrics: metrics.New(prometheus.NewRegistry()), Observer: rec, Apps: store, Now: now,
		Broker: func(hd broker.Handler) broker.Broker { ob.Broker = memory.New(memory.Config{}, hd); return ob }})
	return h, ob, rec, advance
}

// lostApp is hooksApp without the member limit.
var lostApp = func() *apps.App { a := *hooksApp; a.MaxPresenceMembers = 0; return &a }()

func removals(s *fakeSink) []string {
	var out []string
	for _, e := range s.events() {
		if e["event"] == "pusher_internal:member_removed" {
			out = append(out, e["data"].(string))
		}
	}
	return out
}

// A member that left while the shared state was unreachable, and that the
// state no longer holds afterwards, is announced gone once the grace after
// the recovery passed: once to the clients, once as a webhook.
func TestLostLeaveAnnouncedAfterRecovery(t *testing.T) {
	h, ob, rec, advance := lostHub(t)
	stay, staySink := connect(t, h, lostApp)
	gone, _ := connect(t, h, lostApp)
	twice1, _ := connect(t, h, lostApp)
	twice2, _ := connect(t, h, lostApp)
	for c, id := range map[*Client]string{stay: "stay", gone: "gone", twice1: "twice"} {
		if err := h.Subscribe(ctx, c, presence(c, "presence-room", `{"user_id":"`+id+`"}`)); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.Subscribe(ctx, twice2, presence(twice2, "presence-room", `{"user_id":"twice"}`)); err != nil {
		t.Fatal(err)
	}
	staySink.reset()
	before := len(rec.kinds())

	ob.setDown(true)
	h.Disconnect(gone)   // its only connection: the member is gone
	h.Disconnect(twice1) // twice stays a member through twice2
	h.announceLost(ctx)
	advance(time.Minute)
	h.announceLost(ctx) // still down: nothing
	if got := removals(staySink); len(got) != 0 {
		t.Fatalf("member_removed while the state is unreachable: %v", got)
	}

	ob.setDown(false)
	h.announceLost(ctx) // recovery seen: the grace starts
	advance(4 * time.Second)
	h.announceLost(ctx)
	if got := removals(staySink); len(got) != 0 {
		t.Fatalf("member_removed before the grace passed: %v", got)
	}
	advance(2 * time.Second)
	h.announceLost(ctx)
	h.announceLost(ctx) // once only
	got := removals(staySink)
	if want := []string{`{"user_id":"gone"}`}; !slices.Equal(got, want) {
		t.Fatalf("member_removed after the grace = %v, want %v", got, want)
	}
	hooks := rec.kinds()[before:]
	if want := []string{"member_removed presence-room gone"}; !slices.Equal(hooks, want) {
		t.Fatalf("webhooks = %v, want %v", hooks, want)
	}
}

// A lost leave the broker's re-sync reported itself is not announced again.
func TestLostLeaveReportedByResync(t *testing.T) {
	h, ob, _, advance := lostHub(t)
	stay, staySink := connect(t, h, lostApp)
	gone, _ := connect(t, h, lostApp)
	// Stay joins last, so its snapshot holds version 2; the re-sync's
	// removal comes after everything it saw (a real broker numbers it so).
	for _, j := range []struct {
		c  *Client
		id string
	}{{gone, "gone"}, {stay, "stay"}} {
		if err := h.Subscribe(ctx, j.c, presence(j.c, "presence-room", `{"user_id":"`+j.id+`"}`)); err != nil {
			t.Fatal(err)
		}
	}
	staySink.reset()
	ob.setDown(true)
	h.Disconnect(gone)
	ob.setDown(false)
	h.Reaped(ctx, []broker.Change{{Kind: broker.MemberGone, App: hooksApp.ID, Channel: "presence-room", UserID: "gone", Version: 4}})
	h.announceLost(ctx)
	advance(10 * time.Second)
	h.announceLost(ctx)
	if got := removals(staySink); len(got) != 1 {
		t.Fatalf("member_removed = %v, want exactly the one of the re-sync", got)
	}
}
