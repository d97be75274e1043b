package test

import (
	"testing"

	"github.com/heraldhq/herald/internal/config"
)

func enableSubscriptionCount(c *config.Config) { c.Apps[0].EnableSubscriptionCount = true }

// expectCount reads the next frame: pusher_internal:subscription_count on ch
// with data exactly the JSON string {"subscription_count":n}.
func (c *wsClient) expectCount(ch string, n int) {
	c.t.Helper()
	checkCount(c.t, c.next(), ch, n)
}

func checkCount(t *testing.T, f frame, ch string, n int) {
	t.Helper()
	if f.Event != "pusher_internal:subscription_count" || f.Channel != ch {
		t.Fatalf("want pusher_internal:subscription_count on %s, got %s", ch, f)
	}
	var d map[string]any
	f.dataJSON(t, &d) // data must be a JSON string
	if len(d) != 1 || d["subscription_count"] != float64(n) {
		t.Errorf(`subscription_count data = %s, want "{\"subscription_count\":%d}"`, f.Data, n)
	}
}

// subscribeCounted subscribes c to ch and checks that what follows
// subscription_succeeded (after a cache channel's cache_miss) is exactly one
// subscription_count of n.
func (c *wsClient) subscribeCounted(ch string, n int) {
	c.t.Helper()
	fs := c.subscribeAny(ch, "")
	if len(fs) > 0 && fs[0].Event == "pusher:cache_miss" {
		fs = fs[1:]
	}
	if len(fs) != 1 {
		c.t.Fatalf("want one subscription_count after subscribing to %s, got %v", ch, fs)
	}
	checkCount(c.t, fs[0], ch, n)
}

// expectOnlyCacheMiss checks that nothing but a cache_miss followed a
// subscription_succeeded.
func expectOnlyCacheMiss(t *testing.T, who, ch string, fs []frame) {
	t.Helper()
	for _, f := range fs {
		if f.Event != "pusher:cache_miss" {
			t.Errorf("%s: unexpected frame after joining %s: %s", who, ch, f)
		}
	}
}

func TestSubscriptionCount(t *testing.T) {
	t.Parallel()
	s := startServer(t, enableSubscriptionCount)
	for _, ch := range []string{"my-channel", "private-counted", "private-encrypted-counted", "cache-counted"} {
		t.Run(ch, func(t *testing.T) {
			t.Parallel()
			s := s.with(t)
			a := connect(t, s)
			a.subscribeCounted(ch, 1)
			b := connect(t, s)
			b.subscribeCounted(ch, 2)
			a.expectCount(ch, 2)
			c := connect(t, s)
			c.subscribeCounted(ch, 3)
			a.expectCount(ch, 3)
			b.expectCount(ch, 3)

			// A repeated subscribe changes no count.
			if ch == "my-channel" {
				c.send(map[string]any{"event": "pusher:subscribe", "data": map[string]any{"auth": "", "channel": ch}})
				c.expectSucceeded(ch)
				c.expectQuiet("a repeated subscribe changes no count")
				a.expectQuiet("a repeated subscribe changes no count")
			}

			// Leaving by unsubscribe.
			b.send(map[string]any{"event": "pusher:unsubscribe", "data": map[string]any{"channel": ch}})
			a.expectCount(ch, 2)
			c.expectCount(ch, 2)
			b.expectQuiet("an unsubscribed connection gets no count")

			// Leaving by disconnect.
			c.close()
			a.expectCount(ch, 1)
			a.expectQuiet("one count per change")

			// Unsubscribing from a channel one does not hold changes nothing.
			b.send(map[string]any{"event": "pusher:unsubscribe", "data": map[string]any{"channel": ch}})
			b.ping()
			a.expectQuiet("no change")
		})
	}
}

// TestSubscriptionCountNeverOnPresence: presence channels have member
// events instead.
func TestSubscriptionCountNeverOnPresence(t *testing.T) {
	t.Parallel()
	s := startServer(t, enableSubscriptionCount)
	for _, ch := range []string{"presence-room", "presence-cache-room"} {
		t.Run(ch, func(t *testing.T) {
			t.Parallel()
			s := s.with(t)
			a := connect(t, s)
			expectOnlyCacheMiss(t, "A", ch, a.subscribeAny(ch, `{"user_id":"1"}`))
			b := connect(t, s)
			expectOnlyCacheMiss(t, "B", ch, b.subscribeAny(ch, `{"user_id":"2"}`))
			c := connect(t, s)
			expectOnlyCacheMiss(t, "C (second connection of user 2)", ch, c.subscribeAny(ch, `{"user_id":"2"}`))
			checkMemberAdded(t, a.next(), ch, "2", "")
			a.expectQuiet("no subscription_count on presence channels")
			b.expectQuiet("no subscription_count on presence channels")
			c.close()
			b.close()
			checkMemberRemoved(t, a.next(), ch, "2")
			a.expectQuiet("no subscription_count on presence channels")
		})
	}
}

// TestSubscriptionCountOff: without enable_subscription_count nothing is sent.
func TestSubscriptionCountOff(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	a := connect(t, s)
	if fs := a.subscribeAny("my-channel", ""); len(fs) != 0 {
		t.Errorf("subscription counts are off: got %v", fs)
	}
	b := connect(t, s)
	if fs := b.subscribeAny("my-channel", ""); len(fs) != 0 {
		t.Errorf("subscription counts are off: got %v", fs)
	}
	if fs := b.subscribeAny("private-x", ""); len(fs) != 0 {
		t.Errorf("subscription counts are off: got %v", fs)
	}
	b.close()
	a.expectQuiet("subscription counts are off")
	waitConnections(t, s, 1)
	a.expectQuiet("subscription counts are off")
}

// TestSubscriptionCountPerApp: the flag is per app.
func TestSubscriptionCountPerApp(t *testing.T) {
	t.Parallel()
	s := startServer(t, func(c *config.Config) {
		c.Apps = append(c.Apps, config.App{ID: "2", Key: "counted-key", Secret: "counted-secret", EnableSubscriptionCount: true})
	})
	plain := connect(t, s)
	plain.subscribe("my-channel")
	counted := connectKey(t, s, "counted-key")
	counted.subscribe("my-channel")
	counted.expectCount("my-channel", 1)
	plain.expectQuiet("app 1 has subscription counts off")
}
