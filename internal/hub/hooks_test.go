package hub

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/internal/apps"
	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/broker/memory"
	"github.com/heraldhq/herald/internal/metrics"
	"github.com/heraldhq/herald/internal/protocol"
)

// recorder is an Observer that keeps what it is told.
type recorder struct {
	mu     sync.Mutex
	events []Event
}

func (r *recorder) Observe(e Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *recorder) kinds() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		s := string(e.Kind) + " " + e.Channel
		if e.UserID != "" {
			s += " " + e.UserID
		}
		out = append(out, s)
	}
	return out
}

// queuingBroker wraps the memory broker as a broker with a shared hook
// queue would behave: results say HooksQueued when the request asked for
// hooks. It records the Hooks flag of each request.
type queuingBroker struct {
	broker.Broker
	queue bool

	mu    sync.Mutex
	flags []string // "join <channel> <hooks>", "leave ..."
}

func (b *queuingBroker) record(op, ch string, hooks bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := op + " " + ch + " no-hooks"
	if hooks {
		s = op + " " + ch + " hooks"
	}
	b.flags = append(b.flags, s)
}

func (b *queuingBroker) requests() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.flags)
}

func (b *queuingBroker) Join(ctx context.Context, r broker.JoinRequest) (broker.JoinResult, error) {
	b.record("join", r.Channel, r.Hooks)
	res, err := b.Broker.Join(ctx, r)
	res.HooksQueued = b.queue && r.Hooks
	return res, err
}

func (b *queuingBroker) Leave(ctx context.Context, r broker.LeaveRequest) (broker.LeaveResult, error) {
	b.record("leave", r.Channel, r.Hooks)
	res, err := b.Broker.Leave(ctx, r)
	res.HooksQueued = b.queue && r.Hooks
	return res, err
}

var hooksApp = func() *apps.App {
	a := *testApp
	a.Webhooks = []apps.Webhook{{URL: "http://127.0.0.1:1/hook"}}
	return &a
}()

func hooksHub(t *testing.T, queue bool, app *apps.App) (*Hub, *queuingBroker, *recorder) {
	t.Helper()
	qb := &queuingBroker{queue: queue}
	rec := &recorder{}
	store, err := apps.NewStatic([]apps.App{*app})
	if err != nil {
		t.Fatal(err)
	}
	h := New(Config{}, Deps{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: metrics.New(prometheus.NewRegistry()),
		Observer: rec, Apps: store,
		Broker: func(hd broker.Handler) broker.Broker { qb.Broker = memory.New(memory.Config{}, hd); return qb }})
	return h, qb, rec
}

// hooksScenario subscribes to a presence, a private and a cache channel,
// sends a client event, unsubscribes from one and disconnects.
func hooksScenario(t *testing.T, h *Hub, app *apps.App) {
	t.Helper()
	c, _ := connect(t, h, app)
	if err := h.Subscribe(ctx, c, presence(c, "presence-a", `{"user_id":"alice"}`)); err != nil {
		t.Fatal(err)
	}
	if err := h.Subscribe(ctx, c, protocol.SubscribeData{Channel: "cache-x"}); err != nil {
		t.Fatal(err)
	}
	if err := h.ClientEvent(ctx, c, protocol.Frame{Event: "client-x", Channel: "presence-a", Data: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	h.Unsubscribe(ctx, c, "cache-x")
	h.Disconnect(c)
}

// TestHooksQueuedByBroker: with a broker that queues the transitions'
// hooks, the hub asks for them in every Join and Leave (the disconnect's
// too) and reports only the other events to its Observer.
func TestHooksQueuedByBroker(t *testing.T) {
	h, qb, rec := hooksHub(t, true, hooksApp)
	hooksScenario(t, h, hooksApp)
	want := []string{"join presence-a hooks", "join cache-x hooks", "leave cache-x hooks", "leave presence-a hooks"}
	if got := qb.requests(); !slices.Equal(got, want) {
		t.Fatalf("requests %v, want %v", got, want)
	}
	if got, want := rec.kinds(), []string{"cache_miss cache-x", "client_event presence-a alice"}; !slices.Equal(got, want) {
		t.Fatalf("observed %v, want %v", got, want)
	}
}

// TestHooksNotQueued: a broker without a queue (memory) leaves the hooks
// to the hub, as on a single node.
func TestHooksNotQueued(t *testing.T) {
	h, _, rec := hooksHub(t, false, hooksApp)
	hooksScenario(t, h, hooksApp)
	want := []string{"channel_occupied presence-a", "member_added presence-a alice", "channel_occupied cache-x",
		"cache_miss cache-x", "client_event presence-a alice", "channel_vacated cache-x",
		"member_removed presence-a alice", "channel_vacated presence-a"}
	if got := rec.kinds(); !slices.Equal(got, want) {
		t.Fatalf("observed %v, want %v", got, want)
	}
}

// TestHooksOffWithoutWebhooks: an app without webhooks asks for none.
func TestHooksOffWithoutWebhooks(t *testing.T) {
	h, qb, rec := hooksHub(t, true, testApp)
	hooksScenario(t, h, testApp)
	want := []string{"join presence-a no-hooks", "join cache-x no-hooks", "leave cache-x no-hooks", "leave presence-a no-hooks"}
	if got := qb.requests(); !slices.Equal(got, want) {
		t.Fatalf("requests %v, want %v", got, want)
	}
	if got := rec.kinds(); len(got) != 0 {
		t.Fatalf("observed %v", got)
	}
}

// TestReapedHooksQueued: reaped changes whose hooks the broker queued are
// published but not reported; the others are reported as before.
func TestReapedHooksQueued(t *testing.T) {
	h, _, rec := hooksHub(t, true, hooksApp)
	c, s := connect(t, h, hooksApp)
	if err := h.Subscribe(ctx, c, presence(c, "presence-a", `{"user_id":"alice"}`)); err != nil {
		t.Fatal(err)
	}
	s.reset()
	h.Reaped(ctx, []broker.Change{
		{Kind: broker.MemberGone, App: hooksApp.ID, Channel: "presence-a", UserID: "bob", Version: 1 << 62, HooksQueued: true},
		{Kind: broker.Vacated, App: hooksApp.ID, Channel: "news", HooksQueued: true},
		{Kind: broker.MemberBack, App: hooksApp.ID, Channel: "presence-a", UserID: "carol", Version: 1<<62 + 1},
		{Kind: broker.Occupied, App: hooksApp.ID, Channel: "other"},
	})
	if got, want := rec.kinds(), []string{"member_added presence-a carol", "channel_occupied other"}; !slices.Equal(got, want) {
		t.Fatalf("observed %v, want %v", got, want)
	}
	if got := s.names(); !slices.Equal(got, []string{"pusher_internal:member_removed", "pusher_internal:member_added"}) {
		t.Fatalf("frames %v", got)
	}
}
