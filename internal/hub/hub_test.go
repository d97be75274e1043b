package hub

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/internal/apps"
	"github.com/heraldhq/herald/internal/metrics"
	"github.com/heraldhq/herald/internal/policy"
	"github.com/heraldhq/herald/internal/protocol"
	"github.com/heraldhq/herald/internal/signing"
)

// fakeSink records frames; it can be told to fail like an overflowing buffer.
type fakeSink struct {
	mu        sync.Mutex
	frames    [][]byte
	closeCode int
	fail      bool
}

func (s *fakeSink) Send(b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail {
		return ErrSlowConsumer
	}
	s.frames = append(s.frames, append([]byte(nil), b...))
	return nil
}

func (s *fakeSink) Queue(b []byte) error { return s.Send(b) }

func (s *fakeSink) Close(code int, _ string) {
	s.mu.Lock()
	s.closeCode = code
	s.mu.Unlock()
}

func (s *fakeSink) events() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, f := range s.frames {
		var m map[string]any
		_ = json.Unmarshal(f, &m)
		out = append(out, m)
	}
	return out
}

func (s *fakeSink) names() []string {
	var out []string
	for _, e := range s.events() {
		out = append(out, e["event"].(string))
	}
	return out
}

func (s *fakeSink) reset() {
	s.mu.Lock()
	s.frames = nil
	s.mu.Unlock()
}

var ctx = context.Background()

var testApp = &apps.App{ID: "1", Key: "app-key", Secret: "app-secret", Enabled: true,
	EnableClientMessages: true, MaxPresenceMembers: 2, MaxEventPayloadBytes: 10240}

func newHub(t testing.TB, now func() time.Time) *Hub {
	t.Helper()
	return New(Config{ActivityTimeout: 10 * time.Second, PongTimeout: 5 * time.Second},
		Deps{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: metrics.New(prometheus.NewRegistry()), Now: now})
}

func connect(t testing.TB, h *Hub, app *apps.App) (*Client, *fakeSink) {
	t.Helper()
	s := &fakeSink{}
	c, err := h.Connect(ctx, app, s, "test")
	if err != nil {
		t.Fatal(err)
	}
	return c, s
}

func presence(c *Client, ch, data string) protocol.SubscribeData {
	return protocol.SubscribeData{Channel: ch, ChannelData: &data,
		Auth: signing.AuthorizeChannel(c.App().Key, c.App().Secret, c.socketID, ch, &data)}
}

func TestSocketIDFormatAndUniqueness(t *testing.T) {
	h := newHub(t, nil)
	seen := map[string]bool{}
	for range 1000 {
		c, _ := connect(t, h, testApp)
		if !protocol.ValidSocketID(c.SocketID()) {
			t.Fatalf("socket id %q", c.SocketID())
		}
		if seen[c.SocketID()] {
			t.Fatalf("duplicate socket id %q", c.SocketID())
		}
		seen[c.SocketID()] = true
	}
}

func TestConnectionQuota(t *testing.T) {
	h := newHub(t, nil)
	app := *testApp
	app.MaxConnections = 1
	c, _ := connect(t, h, &app)
	if _, err := h.Connect(ctx, &app, &fakeSink{}, "x"); err == nil {
		t.Fatal("second connection accepted over quota")
	} else if perr := (*protocol.Error)(nil); !errors.As(err, &perr) || perr.Code != 4004 {
		t.Fatalf("want 4004, got %v", err)
	}
	h.Disconnect(c)
	h.Disconnect(c) // idempotent
	if _, err := h.Connect(ctx, &app, &fakeSink{}, "x"); err != nil {
		t.Fatalf("after disconnect: %v", err)
	}
}

func TestPresenceMembership(t *testing.T) {
	h := newHub(t, nil)
	a, as := connect(t, h, testApp)
	b1, b1s := connect(t, h, testApp)
	b2, _ := connect(t, h, testApp)
	ch := "presence-room"
	if err := h.Subscribe(ctx, a, presence(a, ch, `{"user_id":"1","user_info":{"n":"A"}}`)); err != nil {
		t.Fatal(err)
	}
	if err := h.Subscribe(ctx, b1, presence(b1, ch, `{"user_id":2}`)); err != nil {
		t.Fatal(err)
	}
	ev := b1s.events()
	if ev[0]["event"] != "pusher_internal:subscription_succeeded" {
		t.Fatalf("first frame %v", ev[0])
	}
	var data struct {
		Presence struct {
			IDs   []string
			Hash  map[string]any
			Count int
		}
	}
	_ = json.Unmarshal([]byte(ev[0]["data"].(string)), &data)
	if data.Presence.Count != 2 || len(data.Presence.Hash) != 2 || data.Presence.IDs[1] != "2" {
		t.Fatalf("presence data %+v", data)
	}
	if got := as.names(); strings.Join(got, ",") != "pusher_internal:subscription_succeeded,pusher_internal:member_added" {
		t.Fatalf("A saw %v", got)
	}
	as.reset()
	// A second tab of user 2: no member_added, and the member limit (2) does not apply.
	if err := h.Subscribe(ctx, b2, presence(b2, ch, `{"user_id":"2"}`)); err != nil {
		t.Fatal(err)
	}
	if len(as.events()) != 0 {
		t.Fatalf("A saw %v for a second tab", as.names())
	}
	// A third distinct user is over max_presence_members.
	c, _ := connect(t, h, testApp)
	var se *policy.SubscriptionError
	if err := h.Subscribe(ctx, c, presence(c, ch, `{"user_id":"3"}`)); !errors.As(err, &se) || se.Type != "LimitReached" {
		t.Fatalf("third user: %v", err)
	}
	if st, _ := h.Channel(ctx, "1", ch); st.Users != 2 || st.Subscriptions != 3 {
		t.Fatalf("stats %+v", st)
	}
	h.Disconnect(b1)
	if len(as.events()) != 0 {
		t.Fatalf("member_removed while user 2 still has a tab: %v", as.names())
	}
	h.Unsubscribe(ctx, b2, ch)
	if got := as.events(); len(got) != 1 || got[0]["event"] != "pusher_internal:member_removed" || got[0]["data"] != `{"user_id":"2"}` {
		t.Fatalf("A saw %v", got)
	}
	if ids, _ := h.PresenceUsers(ctx, "1", ch); len(ids) != 1 || ids[0] != "1" {
		t.Fatalf("users %v", ids)
	}
}

func TestSubscribeRefusals(t *testing.T) {
	h := newHub(t, nil)
	c, _ := connect(t, h, testApp)
	other, _ := connect(t, h, testApp)
	cases := map[string]protocol.SubscribeData{
		"reserved":        {Channel: "#foo"},
		"user channel":    {Channel: "#server-to-user-1"},
		"bad chars":       {Channel: "a b"},
		"too long":        {Channel: strings.Repeat("a", 201)},
		"no auth":         {Channel: "private-x"},
		"other socket":    {Channel: "private-x", Auth: signing.AuthorizeChannel("app-key", "app-secret", other.socketID, "private-x", nil)},
		"wrong key":       {Channel: "private-x", Auth: "other:" + strings.SplitN(signing.AuthorizeChannel("app-key", "app-secret", c.socketID, "private-x", nil), ":", 2)[1]},
		"presence nodata": {Channel: "presence-x", Auth: signing.AuthorizeChannel("app-key", "app-secret", c.socketID, "presence-x", nil)},
	}
	for name, d := range cases {
		var se *policy.SubscriptionError
		if err := h.Subscribe(ctx, c, d); !errors.As(err, &se) {
			t.Errorf("%s: want SubscriptionError, got %v", name, err)
		}
	}
	if err := h.Subscribe(ctx, c, protocol.SubscribeData{Channel: strings.Repeat("a", 200)}); err != nil {
		t.Errorf("200-char name refused: %v", err)
	}
	if err := h.Subscribe(ctx, c, protocol.SubscribeData{Channel: "foo-private-x"}); err != nil {
		t.Errorf("foo-private-x is public: %v", err)
	}
}

func TestPublishExcludesSocketAndEncodesOnce(t *testing.T) {
	h := newHub(t, nil)
	a, as := connect(t, h, testApp)
	b, bs := connect(t, h, testApp)
	for _, c := range []*Client{a, b} {
		if err := h.Subscribe(ctx, c, protocol.SubscribeData{Channel: "news"}); err != nil {
			t.Fatal(err)
		}
	}
	as.reset()
	bs.reset()
	h.Publish(ctx, "1", "news", "ev", `{"x":1}`, a.socketID)
	if len(as.events()) != 0 {
		t.Fatal("excluded socket got the event")
	}
	if got := bs.events(); len(got) != 1 || got[0]["data"] != `{"x":1}` {
		t.Fatalf("b got %v", got)
	}
	h.Publish(ctx, "2", "news", "ev", "x", "") // another app's channel of the same name
	if len(bs.events()) != 1 {
		t.Fatal("event crossed apps")
	}
}

func TestClientEvents(t *testing.T) {
	now := time.Unix(1000, 0)
	h := newHub(t, func() time.Time { return now })
	a, as := connect(t, h, testApp)
	b, bs := connect(t, h, testApp)
	ch := "presence-chat"
	_ = h.Subscribe(ctx, a, presence(a, ch, `{"user_id":"a"}`))
	_ = h.Subscribe(ctx, b, presence(b, ch, `{"user_id":"b"}`))
	as.reset()
	bs.reset()
	f := protocol.Frame{Event: "client-typing", Channel: ch, Data: json.RawMessage(`{"typing":true}`)}
	if err := h.ClientEvent(ctx, a, f); err != nil {
		t.Fatal(err)
	}
	if len(as.events()) != 0 {
		t.Fatal("client event echoed to sender")
	}
	got := bs.events()
	if len(got) != 1 || got[0]["user_id"] != "a" || got[0]["data"] != `{"typing":true}` {
		t.Fatalf("b got %v", got)
	}
	// 10 per second: the burst is allowed, the 11th is refused with 4301.
	var perr *protocol.Error
	n := 1
	for ; n < 20; n++ {
		if err := h.ClientEvent(ctx, a, f); err != nil {
			if !errors.As(err, &perr) || perr.Code != 4301 || perr.Close {
				t.Fatalf("want 4301 without close, got %v", err)
			}
			break
		}
	}
	if n != 10 {
		t.Fatalf("rate limit after %d events, want 10", n)
	}
	now = now.Add(time.Second)
	if err := h.ClientEvent(ctx, a, f); err != nil {
		t.Fatalf("after refill: %v", err)
	}
	for name, fr := range map[string]protocol.Frame{
		"public":         {Event: "client-x", Channel: "public"},
		"encrypted":      {Event: "client-x", Channel: "private-encrypted-x"},
		"not subscribed": {Event: "client-x", Channel: "private-other"},
		"no channel":     {Event: "client-x"},
	} {
		if err := h.ClientEvent(ctx, a, fr); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	off := *testApp
	off.EnableClientMessages = false
	c, _ := connect(t, h, &off)
	if err := h.ClientEvent(ctx, c, f); err == nil {
		t.Error("client events accepted on an app that disabled them")
	}
}

func TestSlowConsumerClosedWith4100(t *testing.T) {
	h := newHub(t, nil)
	a, as := connect(t, h, testApp)
	b, bs := connect(t, h, testApp)
	_ = h.Subscribe(ctx, a, protocol.SubscribeData{Channel: "c"})
	_ = h.Subscribe(ctx, b, protocol.SubscribeData{Channel: "c"})
	as.mu.Lock()
	as.fail = true
	as.mu.Unlock()
	bs.reset()
	h.Publish(ctx, "1", "c", "e", "1", "")
	h.Publish(ctx, "1", "c", "e", "2", "")
	if as.closeCode != 4100 {
		t.Fatalf("slow consumer close code %d", as.closeCode)
	}
	if len(bs.events()) != 2 {
		t.Fatalf("healthy subscriber got %d events", len(bs.events()))
	}
}

func TestLivenessPingThen4201(t *testing.T) {
	now := time.Unix(1000, 0)
	h := newHub(t, func() time.Time { return now })
	quiet, qs := connect(t, h, testApp)
	chatty, cs := connect(t, h, testApp)
	_ = quiet
	now = now.Add(10 * time.Second)
	h.sweep()
	if qs.names()[0] != "pusher:ping" || cs.names()[0] != "pusher:ping" {
		t.Fatal("silent connections were not pinged")
	}
	chatty.Touch() // its pong
	now = now.Add(5 * time.Second)
	h.sweep()
	if qs.closeCode != 4201 {
		t.Fatalf("silent connection close code %d, want 4201", qs.closeCode)
	}
	if cs.closeCode != 0 {
		t.Fatal("connection that answered was closed")
	}
}

func TestCloseAllRefusesNewConnections(t *testing.T) {
	h := newHub(t, nil)
	_, s := connect(t, h, testApp)
	h.CloseAll(4200, "restart")
	if s.closeCode != 4200 {
		t.Fatalf("close code %d", s.closeCode)
	}
	if _, err := h.Connect(ctx, testApp, &fakeSink{}, "x"); err == nil {
		t.Fatal("connection accepted during shutdown")
	}
}

func TestConcurrentSubscribeDisconnectLeavesNoChannel(t *testing.T) {
	h := newHub(t, nil)
	var wg sync.WaitGroup
	for range 200 {
		c, _ := connect(t, h, testApp)
		wg.Add(2)
		go func() { defer wg.Done(); _ = h.Subscribe(ctx, c, protocol.SubscribeData{Channel: "race"}) }()
		go func() { defer wg.Done(); h.Disconnect(c) }()
	}
	wg.Wait()
	if st, _ := h.Channel(ctx, "1", "race"); st.Subscriptions > 0 {
		t.Fatalf("channel still has %d subscribers after every client left", st.Subscriptions)
	}
}
