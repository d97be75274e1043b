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

func TestSubscriptionCount(t *testing.T) {
	t.Parallel()
	s := startServer(t, enableSubscriptionCount)
	for _, ch := range []string{"my-channel", "private-counted", "private-encrypted-counted", "cache-counted"} {
		t.Run(ch, func(t *testing.T) {
			t.Parallel()
			s := s.with(t)
			// For cache channels the cache_miss comes first.
			after := func(fs []frame) []frame {
				if len(fs) > 0 && fs[0].Event == "pusher:cache_miss" {
					return fs[1:]
				}
				return fs
			}
			a := connect(t, s)
			fs := after(a.subscribeAny(ch, ""))
			if len(fs) != 1 {
				t.Fatalf("A: want one subscription_count after subscribing, got %v", fs)
			}
			checkCount(t, fs[0], ch, 1)

			b := connect(t, s)
			fs = after(b.subscribeAny(ch, ""))
			if len(fs) != 1 {
				t.Fatalf("B: want one subscription_count after subscribing, got %v", fs)
			}
			checkCount(t, fs[0], ch, 2)
			a.expectCount(ch, 2)

			c := connect(t, s)
			after(c.subscribeAny(ch, ""))
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
			for _, f := range a.subscribeAny(ch, `{"user_id":"1"}`) {
				if f.Event != "pusher:cache_miss" {
					t.Errorf("A: unexpected frame after joining %s: %s", ch, f)
				}
			}
			b := connect(t, s)
			for _, f := range b.subscribeAny(ch, `{"user_id":"2"}`) {
				if f.Event != "pusher:cache_miss" {
					t.Errorf("B: unexpected frame after joining %s: %s", ch, f)
				}
			}
			c := connect(t, s)
			c.subscribeAny(ch, `{"user_id":"2"}`) // second connection of user 2
			checkMemberAddedFrame(t, a.next(), ch, "2")
			a.expectQuiet("no subscription_count on presence channels")
			b.expectQuiet("no subscription_count on presence channels")
			c.close()
			b.close()
			f := a.next()
			if f.Event != "pusher_internal:member_removed" {
				t.Fatalf("want member_removed, got %s", f)
			}
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
	b.subscribeAny("private-x", "")
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
