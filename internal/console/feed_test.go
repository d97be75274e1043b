package console

import (
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/heraldhq/herald/internal/metrics"
)

func newFeed(t testing.TB, cfg Config) (*Feed, *metrics.ConsoleMetrics) {
	t.Helper()
	m := metrics.NewConsole(prometheus.NewRegistry())
	return New(cfg, Deps{Metrics: m}), m
}

func watch(t testing.TB, f *Feed, appID string, filter Filter) *Viewer {
	t.Helper()
	v, cancel, err := f.Watch(appID, filter)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cancel)
	return v
}

// drain takes what is waiting in v's buffer.
func drain(v *Viewer) []Event {
	var out []Event
	for {
		select {
		case e := <-v.Events():
			out = append(out, e)
		default:
			return out
		}
	}
}

func types(es []Event) string {
	var names []string
	for _, e := range es {
		names = append(names, e.Type.String())
	}
	return strings.Join(names, ",")
}

// TestNoWatchersNoEvents: without a viewer of the app nothing is built or
// kept, Emit allocates nothing (none watching at all, or only other apps),
// and a nil feed is a feed no one watches.
func TestNoWatchersNoEvents(t *testing.T) {
	f, _ := newFeed(t, Config{})
	if f.Watching("1") {
		t.Fatal("Watching with no viewer")
	}
	e := Event{Type: ClientEvent, Channel: "private-a", Data: strings.Repeat("x", 1000)}
	if n := testing.AllocsPerRun(1000, func() { f.Emit("1", e) }); n != 0 {
		t.Errorf("Emit with no viewer: %v allocs", n)
	}
	other := watch(t, f, "2", Filter{})
	if f.Watching("1") || !f.Watching("2") {
		t.Fatal("Watching does not follow the app")
	}
	if n := testing.AllocsPerRun(1000, func() { f.Emit("1", e) }); n != 0 {
		t.Errorf("Emit for an app no one watches: %v allocs", n)
	}
	if got := drain(other); len(got) != 0 {
		t.Errorf("a viewer of app 2 got app 1's events: %v", got)
	}

	var nilFeed *Feed
	nilFeed.Emit("1", e)
	nilFeed.Close()
	if nilFeed.Watching("1") {
		t.Error("a nil feed watches")
	}
	if _, cancel, err := nilFeed.Watch("1", Filter{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Watch on a nil feed: %v", err)
	} else {
		cancel()
	}
}

func TestEmitDetachesAndCuts(t *testing.T) {
	now := time.Unix(1700000000, 0)
	f := New(Config{}, Deps{Now: func() time.Time { return now }})
	v := watch(t, f, "1", Filter{})
	big := strings.Repeat("é", 300) // 600 bytes
	f.Emit("1", Event{Type: APIMessage, Channel: "c", Event: "ev", Bytes: len(big), Data: big, Detail: strings.Repeat("d", 1000)})
	got := drain(v)
	if len(got) != 1 {
		t.Fatalf("%d events", len(got))
	}
	e := got[0]
	if !e.Time.Equal(now) {
		t.Errorf("time %v, want the feed's clock", e.Time)
	}
	if !utf8.ValidString(e.Data) || !strings.HasSuffix(e.Data, "…") || len(e.Data) > MaxPreview+len("…") {
		t.Errorf("data preview %d bytes, valid UTF-8 %v: %q", len(e.Data), utf8.ValidString(e.Data), e.Data)
	}
	if e.Bytes != 600 {
		t.Errorf("bytes %d, want the full size", e.Bytes)
	}
	if len(e.Detail) > MaxDetail+len("…") {
		t.Errorf("detail %d bytes", len(e.Detail))
	}
	// A given time is kept.
	at := now.Add(-time.Minute)
	f.Emit("1", Event{Type: Subscribed, Time: at})
	if got := drain(v); len(got) != 1 || !got[0].Time.Equal(at) {
		t.Errorf("time not kept: %v", got)
	}
}

func TestFilters(t *testing.T) {
	f, _ := newFeed(t, Config{})
	all := watch(t, f, "1", Filter{})
	exact := watch(t, f, "1", Filter{Channel: "private-a"})
	prefix := watch(t, f, "1", Filter{Channel: "presence-", Prefix: true})
	subs := watch(t, f, "1", Filter{Types: TypesOf(Subscribed, Unsubscribed)})
	both := watch(t, f, "1", Filter{Channel: "private-", Prefix: true, Types: TypesOf(ClientEvent)})

	f.Emit("1", Event{Type: ConnectionOpened, SocketID: "1.1"})
	f.Emit("1", Event{Type: Subscribed, Channel: "private-a"})
	f.Emit("1", Event{Type: Subscribed, Channel: "private-ab"})
	f.Emit("1", Event{Type: ClientEvent, Channel: "private-ab"})
	f.Emit("1", Event{Type: MemberAdded, Channel: "presence-room"})
	f.Emit("1", Event{Type: Unsubscribed, Channel: "presence-room"})
	f.Emit("1", Event{Type: Webhook, Endpoint: "hooks.example.com"})

	for _, c := range []struct {
		name string
		v    *Viewer
		want string
	}{
		{"all", all, "connection_opened,subscribed,subscribed,client_event,member_added,unsubscribed,webhook"},
		{"exact channel (events without a channel left out)", exact, "subscribed"},
		{"prefix", prefix, "member_added,unsubscribed"},
		{"types", subs, "subscribed,subscribed,unsubscribed"},
		{"prefix and type", both, "client_event"},
	} {
		if got := types(drain(c.v)); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}

func TestParseFilter(t *testing.T) {
	for _, c := range []struct {
		query string
		want  Filter
		err   bool
	}{
		{"", Filter{}, false},
		{"channel=private-a", Filter{Channel: "private-a"}, false},
		{"channel=presence-*", Filter{Channel: "presence-", Prefix: true}, false},
		{"channel=*", Filter{}, false},
		{"types=subscribed,%20client_event,", Filter{Types: TypesOf(Subscribed, ClientEvent)}, false},
		{"types=nope", Filter{}, true},
		{"channel=" + strings.Repeat("a", 300), Filter{}, true},
	} {
		q, _ := url.ParseQuery(c.query)
		got, err := ParseFilter(q)
		if (err != nil) != c.err || got != c.want {
			t.Errorf("ParseFilter(%q) = %+v, %v; want %+v, error %v", c.query, got, err, c.want, c.err)
		}
	}
	for ty := Type(1); ty < numTypes; ty++ {
		if got, ok := ParseType(ty.String()); !ok || got != ty {
			t.Errorf("type %d: name %q does not parse back", ty, ty.String())
		}
	}
}

// TestSlowViewerDropsAndCounts: a viewer that does not read misses what
// passes its buffer, counted per viewer and in the metric; Emit never
// waits for it, and a viewer that reads is not affected.
func TestSlowViewerDropsAndCounts(t *testing.T) {
	f, m := newFeed(t, Config{Buffer: 4})
	slow := watch(t, f, "1", Filter{})
	fast := watch(t, f, "1", Filter{})
	var got []Event
	var wg sync.WaitGroup
	wg.Add(1)
	done := make(chan struct{})
	go func() {
		defer wg.Done()
		for {
			select {
			case e := <-fast.Events():
				got = append(got, e)
			case <-done:
				got = append(got, drain(fast)...)
				return
			}
		}
	}()
	const n = 10_000
	start := time.Now()
	for i := range n {
		f.Emit("1", Event{Type: ClientEvent, Channel: "private-a", Bytes: i})
	}
	took := time.Since(start)
	close(done)
	wg.Wait()

	if d := slow.Dropped(); d != n-4 {
		t.Errorf("slow viewer dropped %d, want %d", d, n-4)
	}
	if kept := len(drain(slow)); kept != 4 {
		t.Errorf("slow viewer kept %d, want its buffer (4)", kept)
	}
	total := testutil.ToFloat64(m.Dropped.WithLabelValues("1"))
	if uint64(total) != slow.Dropped()+fast.Dropped() {
		t.Errorf("metric %v, viewers dropped %d + %d", total, slow.Dropped(), fast.Dropped())
	}
	if uint64(len(got))+fast.Dropped() != n {
		t.Errorf("reading viewer: %d received + %d dropped != %d", len(got), fast.Dropped(), n)
	}
	t.Logf("%d events to a stalled and a reading viewer in %v; reader got %d, dropped %d", n, took, len(got), fast.Dropped())
}

func TestBounds(t *testing.T) {
	f, _ := newFeed(t, Config{MaxViewersPerApp: 2, MaxViewers: 3})
	watch(t, f, "1", Filter{})
	_, cancel1b, err := f.Watch("1", Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.Watch("1", Filter{}); !errors.Is(err, ErrTooManyViewers) {
		t.Fatalf("third viewer of one app: %v", err)
	}
	v2 := watch(t, f, "2", Filter{})
	if _, _, err := f.Watch("3", Filter{}); !errors.Is(err, ErrTooManyViewers) {
		t.Fatalf("fourth viewer overall: %v", err)
	}
	cancel1b()
	cancel1b() // twice is fine
	if _, _, err := f.Watch("3", Filter{}); err != nil {
		t.Fatalf("after a cancel: %v", err)
	}

	f.Close()
	select {
	case <-v2.Done():
	default:
		t.Fatal("Close left a viewer open")
	}
	if f.Watching("2") {
		t.Error("Watching after Close")
	}
	if _, _, err := f.Watch("2", Filter{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Watch after Close: %v", err)
	}
}

// TestConcurrentWatchEmit runs viewers coming and going while events flow
// (for -race).
func TestConcurrentWatchEmit(t *testing.T) {
	f, _ := newFeed(t, Config{Buffer: 8})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
					f.Emit("1", Event{Type: Subscribed, Channel: "c"})
				}
			}
		}()
	}
	for range 200 {
		v, cancel, err := f.Watch("1", Filter{})
		if err != nil {
			t.Fatal(err)
		}
		drain(v)
		cancel()
	}
	close(stop)
	wg.Wait()
	if f.Watching("1") {
		t.Error("a cancelled viewer still watches")
	}
}
