package console

import (
	"encoding/json"
	"slices"
	"sync"
	"testing"
)

// forwarded records what a feed hands to Deps.Forward.
type forwarded struct {
	mu  sync.Mutex
	got []Event
	app []string
}

func (r *forwarded) forward(appID string, e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.app = append(r.app, appID)
	r.got = append(r.got, e)
}

func (r *forwarded) events() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

func TestWatchingRemote(t *testing.T) {
	var fw forwarded
	f := New(Config{Node: "n1"}, Deps{Forward: fw.forward})
	if f.Watching("1") || f.live.Load() {
		t.Fatal("watching with no viewer anywhere")
	}
	f.Emit("1", Event{Type: Subscribed, Channel: "c"})
	if len(fw.events()) != 0 {
		t.Fatal("forwarded with no remote viewer")
	}

	f.SetRemote(map[string]bool{"1": true})
	if !f.Watching("1") || f.Watching("2") {
		t.Fatalf("Watching(1)=%v Watching(2)=%v with app 1 watched remotely", f.Watching("1"), f.Watching("2"))
	}
	big := make([]byte, 5000)
	for i := range big {
		big[i] = 'x'
	}
	f.Emit("1", Event{Type: APIMessage, Channel: "c", Data: string(big)})
	f.Emit("2", Event{Type: APIMessage, Channel: "c"}) // not watched: not forwarded
	got := fw.events()
	if len(got) != 1 || fw.app[0] != "1" {
		t.Fatalf("forwarded %v to %v, want one event of app 1", got, fw.app)
	}
	if e := got[0]; e.Node != "n1" || e.Time.IsZero() || len(e.Data) > MaxPreview+len("…") {
		t.Fatalf("forwarded event not stamped or not cut: node %q time %v data %d bytes", e.Node, e.Time, len(e.Data))
	}

	f.SetRemote(nil)
	if f.Watching("1") || f.live.Load() {
		t.Fatal("still watching after the remote viewer left")
	}
	f.Emit("1", Event{Type: Subscribed, Channel: "c"})
	if len(fw.events()) != 1 {
		t.Fatal("forwarded after the remote viewer left")
	}
}

func TestLocalAndRemoteViewers(t *testing.T) {
	var fw forwarded
	f := New(Config{Node: "n1"}, Deps{Forward: fw.forward})
	v := watch(t, f, "1", Filter{})
	f.SetRemote(map[string]bool{"1": true})
	f.Emit("1", Event{Type: Subscribed, Channel: "c"})
	if got := drain(v); len(got) != 1 || got[0].Node != "n1" {
		t.Fatalf("local viewer got %+v", got)
	}
	if len(fw.events()) != 1 {
		t.Fatal("not forwarded while watched here and remotely")
	}
	// Both leave: the remote set alone keeps the feed live.
	f.SetRemote(nil)
	if !f.Watching("1") {
		t.Fatal("a local viewer no longer counts")
	}
}

func TestInject(t *testing.T) {
	var fw forwarded
	f := New(Config{Node: "n1"}, Deps{Forward: fw.forward})
	f.Inject("1", Event{Type: Subscribed, Channel: "c", Node: "n2"}) // nobody watches: nothing happens

	all := watch(t, f, "1", Filter{})
	subs := watch(t, f, "1", Filter{Types: TypesOf(Subscribed)})
	room := watch(t, f, "1", Filter{Channel: "room-", Prefix: true})
	other := watch(t, f, "2", Filter{})
	// Another node watches app 1 too: an injected event still is not
	// forwarded (it came from Redis; forwarding it would loop).
	f.SetRemote(map[string]bool{"1": true})

	f.Inject("1", Event{Type: Subscribed, Channel: "room-1", Node: "n2"})
	f.Inject("1", Event{Type: ConnectionOpened, SocketID: "1.2", Node: "n2"})
	if got := types(drain(all)); got != "subscribed,connection_opened" {
		t.Fatalf("all got %q", got)
	}
	if got := drain(subs); len(got) != 1 || got[0].Type != Subscribed || got[0].Node != "n2" {
		t.Fatalf("subscribed-only got %+v", got)
	}
	if got := types(drain(room)); got != "subscribed" {
		t.Fatalf("channel filter got %q", got)
	}
	if got := drain(other); len(got) != 0 {
		t.Fatalf("another app's viewer got %+v", got)
	}
	if got := fw.events(); len(got) != 0 {
		t.Fatalf("injected events forwarded: %+v", got)
	}
}

func TestLocalApps(t *testing.T) {
	f := New(Config{}, Deps{})
	select {
	case <-f.LocalChanges():
		t.Fatal("a change before any viewer")
	default:
	}
	_, cancel1, _ := f.Watch("1", Filter{})
	_, cancel2, _ := f.Watch("1", Filter{})
	_, cancel3, _ := f.Watch("2", Filter{})
	apps := f.LocalApps()
	slices.Sort(apps)
	if !slices.Equal(apps, []string{"1", "2"}) {
		t.Fatalf("LocalApps = %v", apps)
	}
	select {
	case <-f.LocalChanges():
	default:
		t.Fatal("no change after new apps were watched")
	}
	cancel1() // app 1 still watched: the set did not change
	select {
	case <-f.LocalChanges():
		t.Fatal("a change while the set stayed")
	default:
	}
	cancel2()
	cancel3()
	select {
	case <-f.LocalChanges():
	default:
		t.Fatal("no change after the last viewers left")
	}
	if apps := f.LocalApps(); len(apps) != 0 {
		t.Fatalf("LocalApps = %v after every viewer left", apps)
	}
	if f.live.Load() {
		t.Fatal("live with no viewer anywhere")
	}
}

func TestSetRemoteAfterClose(t *testing.T) {
	f := New(Config{}, Deps{Forward: func(string, Event) {}})
	f.SetRemote(map[string]bool{"1": true})
	f.Close()
	if f.Watching("1") {
		t.Fatal("watching after Close")
	}
	f.SetRemote(map[string]bool{"1": true})
	if f.Watching("1") {
		t.Fatal("SetRemote revived a closed feed")
	}
	var nilFeed *Feed
	nilFeed.SetRemote(map[string]bool{"1": true})
	nilFeed.Inject("1", Event{Type: Subscribed})
	if nilFeed.LocalApps() != nil {
		t.Fatal("a nil feed has apps")
	}
}

func TestEventJSONRoundTrip(t *testing.T) {
	e := Event{Type: ClientEvent, Channel: "c", Node: "web-2"}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	var back Event
	if err := json.Unmarshal(b, &back); err != nil || back.Type != ClientEvent || back.Node != "web-2" {
		t.Fatalf("round trip of %s: %+v, %v", b, back, err)
	}
	b, _ = json.Marshal(Event{Type: Subscribed})
	if string(b) != `{"time":"0001-01-01T00:00:00Z","type":"subscribed"}` {
		t.Fatalf("node not omitted when empty: %s", b)
	}
	if err := json.Unmarshal([]byte(`{"type":"nope"}`), &back); err == nil {
		t.Fatal("an unknown type decoded")
	}
}

// TestUnwatchedCostUnchanged: no viewer anywhere, a Forward set: Emit and
// Watching do not allocate and never reach Forward.
func TestUnwatchedCostUnchanged(t *testing.T) {
	called := false
	f := New(Config{Node: "n1"}, Deps{Forward: func(string, Event) { called = true }})
	allocs := testing.AllocsPerRun(100, func() {
		if f.Watching("1") {
			t.Fatal("watching")
		}
		f.Emit("1", benchEvent)
	})
	if allocs != 0 || called {
		t.Fatalf("allocs %v, forward called %v", allocs, called)
	}
	// Another app watched remotely: still no allocation for this one.
	f.SetRemote(map[string]bool{"2": true})
	allocs = testing.AllocsPerRun(100, func() { f.Emit("1", benchEvent) })
	if allocs != 0 || called {
		t.Fatalf("other app watched remotely: allocs %v, forward called %v", allocs, called)
	}
}
