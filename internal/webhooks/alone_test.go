package webhooks

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/hub"
)

// TestEncryptedWithoutDataSentAlone: the official Go and PHP SDKs decrypt
// every event of a private-encrypted- channel and fail on those without
// data, losing the rest of the request; such an event goes in a request of
// its own, the others still share requests, and the order is kept.
func TestEncryptedWithoutDataSentAlone(t *testing.T) {
	rcv := newReceiver(t, nil)
	cfg := fast(dbPath(t))
	cfg.BatchWindow = 300 * time.Millisecond
	cfg.BatchMaxEvents = 50
	h := newDispatcher(t, cfg, store(t, app("1", hook(rcv.URL))))
	const enc = "private-encrypted-x"
	events := []hub.Event{
		clientEvent("1", "private-a", 0),
		occupied("1", enc),
		clientEvent("1", "private-a", 1),
		occupied("1", "private-b"),
		clientEvent("1", "private-a", 2),
		{Kind: hub.SubscriptionCount, AppID: "1", Channel: enc, SubscriptionCount: 2, TimeMS: t0},
		{Kind: hub.CacheMiss, AppID: "1", Channel: "private-encrypted-cache-y", TimeMS: t0},
		clientEvent("1", "private-a", 3),
		clientEvent("1", "private-a", 4),
	}
	// Observed before the loop runs: all of them are accepted in one
	// iteration, so the requests below are exactly what batching makes.
	for _, e := range events {
		h.d.Observe(e)
	}
	h.start(t)
	waitFor(t, "all events", 5*time.Second, func() bool { return len(rcv.events(t)) == len(events) })

	var got []string
	for _, r := range rcv.ok() {
		var names []string
		for _, e := range r.payload(t).Events {
			names = append(names, fmt.Sprint(e["name"], ":", e["channel"]))
		}
		got = append(got, "["+strings.Join(names, " ")+"]")
		checkSigned(t, r)
	}
	want := []string{
		"[client_event:private-a]",
		"[channel_occupied:private-encrypted-x]",
		"[client_event:private-a channel_occupied:private-b client_event:private-a]",
		"[subscription_count:private-encrypted-x]",
		"[cache_miss:private-encrypted-cache-y]",
		"[client_event:private-a client_event:private-a]",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	n := 0
	for _, e := range rcv.events(t) {
		if e["name"] == "client_event" {
			if s := seqOf(t, e); s != n {
				t.Fatalf("client event %d arrived as number %d", s, n)
			}
			n++
		}
	}
}

// TestEncryptedAloneEventsDoNotWaitForTheWindow: a request closed by an
// event that travels alone leaves without waiting for the batch window
// (nothing could join it), and so does the lone event.
func TestEncryptedAloneEventsDoNotWaitForTheWindow(t *testing.T) {
	rcv := newReceiver(t, nil)
	cfg := fast(dbPath(t))
	cfg.BatchWindow = time.Hour
	h := newDispatcher(t, cfg, store(t, app("1", hook(rcv.URL))))
	h.d.Observe(clientEvent("1", "private-a", 0))
	h.d.Observe(occupied("1", "private-encrypted-x"))
	h.start(t)
	waitFor(t, "both requests", 5*time.Second, func() bool { return len(rcv.ok()) == 2 })
	// A public channel's events still wait for company.
	h.d.Observe(occupied("1", "encrypted-but-public"))
	time.Sleep(100 * time.Millisecond)
	if n := len(rcv.requests()); n != 2 {
		t.Errorf("%d requests: a public channel's event did not wait for the window", n)
	}
}

// TestSentAloneSurvivesReload: the rule read back from a stored event (after
// a restart) is the rule applied when it was accepted.
func TestSentAloneSurvivesReload(t *testing.T) {
	for _, tc := range []struct {
		e    hub.Event
		want bool
	}{
		{occupied("1", "private-encrypted-x"), true},
		{vacated("1", "private-encrypted-x"), true},
		{member(hub.MemberAdded, "1", "private-encrypted-x", "u"), true},
		{hub.Event{Kind: hub.CacheMiss, Channel: "private-encrypted-cache-x"}, true},
		{hub.Event{Kind: hub.SubscriptionCount, Channel: "private-encrypted-x", SubscriptionCount: 0}, true},
		{hub.Event{Kind: hub.ClientEvent, Channel: "private-encrypted-x", Event: "client-e"}, true},
		{hub.Event{Kind: hub.ClientEvent, Channel: "private-encrypted-x", Event: "client-e", Data: "", HasData: true}, false},
		{clientEvent("1", "private-a", 1), false},
		{occupied("1", "private-a"), false},
		{occupied("1", "x-private-encrypted-y"), false},
		{member(hub.MemberAdded, "1", "presence-r", "u"), false},
	} {
		if got := eventSentAlone(tc.e); got != tc.want {
			t.Errorf("%s on %s: sent alone %v, want %v", tc.e.Kind, tc.e.Channel, got, tc.want)
		}
		if got := jsonSentAlone(eventJSON(tc.e)); got != tc.want {
			t.Errorf("%s on %s, stored as %s: sent alone %v, want %v", tc.e.Kind, tc.e.Channel, eventJSON(tc.e), got, tc.want)
		}
	}
}
