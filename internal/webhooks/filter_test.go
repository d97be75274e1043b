package webhooks

import (
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/hub"
)

// TestFilters: each endpoint receives only its event types and channels,
// and what is signed is the filtered body it receives.
func TestFilters(t *testing.T) {
	onlyOccupiedPresence := newReceiver(t, nil)
	roomSuffix := newReceiver(t, nil)
	everything := newReceiver(t, nil)
	w1 := hook(onlyOccupiedPresence.URL, "channel_occupied")
	w1.ChannelNameStartsWith = "presence-"
	w2 := hook(roomSuffix.URL, "client_event", "channel_occupied")
	w2.ChannelNameEndsWith = "-room"
	w3 := hook(everything.URL)
	w3.Headers = map[string]string{"X-Custom": "v1", "Content-Type": "text/plain", "X-Pusher-Key": "evil"}
	cfg := fast(dbPath(t))
	cfg.BatchWindow = 50 * time.Millisecond
	h := run(t, cfg, store(t, app("1", w1, w2, w3)))

	in := []hub.Event{
		occupied("1", "presence-room"),
		occupied("1", "public-room"),
		occupied("1", "presence-lobby"),
		clientEvent("1", "presence-room", 1),
		clientEvent("1", "private-chat", 2),
		member(hub.MemberAdded, "1", "presence-room", "u1"),
	}
	for _, e := range in {
		h.d.Observe(e)
	}
	waitFor(t, "all events at the catch-all endpoint", 5*time.Second, func() bool { return len(everything.events(t)) == len(in) })
	waitFor(t, "presence endpoint", 5*time.Second, func() bool { return len(onlyOccupiedPresence.events(t)) == 2 })
	waitFor(t, "room endpoint", 5*time.Second, func() bool { return len(roomSuffix.events(t)) == 3 })

	describe := func(evs []map[string]any) string {
		var s []string
		for _, e := range evs {
			s = append(s, e["name"].(string)+"@"+e["channel"].(string))
		}
		return strings.Join(s, " ")
	}
	if got, want := describe(onlyOccupiedPresence.events(t)), "channel_occupied@presence-room channel_occupied@presence-lobby"; got != want {
		t.Errorf("prefix+type filter: %s, want %s", got, want)
	}
	if got, want := describe(roomSuffix.events(t)), "channel_occupied@presence-room channel_occupied@public-room client_event@presence-room"; got != want {
		t.Errorf("suffix+type filter: %s, want %s", got, want)
	}
	for _, r := range [][]request{onlyOccupiedPresence.requests(), roomSuffix.requests(), everything.requests()} {
		for _, q := range r {
			checkSigned(t, q)
			if strings.Contains(string(q.Body), "private-chat") && len(r) != len(everything.requests()) {
				t.Errorf("filtered endpoint got an unfiltered body: %s", q.Body)
			}
		}
	}
	for _, q := range everything.requests() {
		if got := q.Header.Get("X-Custom"); got != "v1" {
			t.Errorf("X-Custom = %q", got)
		}
	}
	for _, q := range onlyOccupiedPresence.requests() {
		if q.Header.Get("X-Custom") != "" {
			t.Error("headers leaked to another endpoint")
		}
	}
}

func TestUnroutedEventsAreNotStored(t *testing.T) {
	rcv := newReceiver(t, nil)
	h := run(t, fast(dbPath(t)), store(t, app("1", hook(rcv.URL, "cache_miss"))))
	h.d.Observe(occupied("1", "c"))
	h.d.Observe(hub.Event{Kind: hub.CacheMiss, AppID: "1", Channel: "cache-c", TimeMS: t0})
	waitFor(t, "cache_miss", 5*time.Second, func() bool { return len(rcv.events(t)) == 1 })
	if got := value(h.m.Events.WithLabelValues("1", "unrouted")); got != 1 {
		t.Errorf("unrouted = %v, want 1", got)
	}
}
