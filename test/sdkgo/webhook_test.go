package sdkgo_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	pusher "github.com/pusher/pusher-http-go/v5"
)

// parsedEvents runs every request through the SDK's Webhook (signature
// check, parse, decryption) and returns the events on channel.
func parsedEvents(t *testing.T, s *pusher.Client, hooks []hook, channel string) []pusher.WebhookEvent {
	t.Helper()
	var out []pusher.WebhookEvent
	for _, h := range hooks {
		wh, err := s.Webhook(h.Header, h.Body)
		if err != nil {
			t.Fatalf("Webhook(Herald's request): %v\nbody: %s", err, h.Body)
		}
		if wh.TimeMs == 0 {
			t.Errorf("time_ms missing: %s", h.Body)
		}
		for _, e := range wh.Events {
			if e.Channel == channel {
				out = append(out, e)
			}
		}
	}
	return out
}

func names(es []pusher.WebhookEvent) []string {
	var n []string
	for _, e := range es {
		n = append(n, e.Name)
	}
	return n
}

func TestWebhookVerified(t *testing.T) {
	t.Parallel()
	t.Run("channel_occupied and channel_vacated", func(t *testing.T) {
		t.Parallel()
		ch := unique(t, "wh-")
		c := dial(t, appKey)
		c.subscribe(ch, nil)
		herald.hooks.waitFor(t, ch, 1)
		_ = c.conn.CloseNow()
		es := parsedEvents(t, sdk(), herald.hooks.waitFor(t, ch, 2), ch)
		if got := names(es); len(got) != 2 || got[0] != "channel_occupied" || got[1] != "channel_vacated" {
			t.Errorf("events = %v, want [channel_occupied channel_vacated]", got)
		}
	})
	t.Run("member_added and member_removed", func(t *testing.T) {
		t.Parallel()
		ch := unique(t, "presence-wh-")
		joinPresence(t, sdk(), appKey, ch, "stays")
		leaver := joinPresence(t, sdk(), appKey, ch, "leaves")
		herald.hooks.waitFor(t, ch, 3) // occupied, two members added
		_ = leaver.conn.CloseNow()
		es := parsedEvents(t, sdk(), herald.hooks.waitFor(t, ch, 4), ch)
		var added, removed []string
		for _, e := range es {
			switch e.Name {
			case "member_added":
				added = append(added, e.UserID)
			case "member_removed":
				removed = append(removed, e.UserID)
			}
		}
		if len(added) != 2 || len(removed) != 1 || removed[0] != "leaves" {
			t.Errorf("member_added %v, member_removed %v; want two added and [leaves] removed", added, removed)
		}
	})
	t.Run("client_event", func(t *testing.T) {
		t.Parallel()
		ch := unique(t, "private-wh-")
		c := dial(t, appKey)
		auth, err := sdk().AuthorizePrivateChannel(authParams(c.socketID, ch))
		if err != nil {
			t.Fatal(err)
		}
		c.subscribe(ch, auth)
		c.send(map[string]any{"event": "client-note", "channel": ch, "data": map[string]string{"a": "b"}})
		es := parsedEvents(t, sdk(), herald.hooks.waitFor(t, ch, 2), ch)
		var ev *pusher.WebhookEvent
		for i := range es {
			if es[i].Name == "client_event" {
				ev = &es[i]
			}
		}
		switch {
		case ev == nil:
			t.Errorf("no client_event among %v", names(es))
		case ev.Event != "client-note" || ev.Data != `{"a":"b"}` || ev.SocketID != c.socketID:
			t.Errorf("client_event = %+v, want event client-note, data {\"a\":\"b\"}, socket_id %s", *ev, c.socketID)
		}
	})
	t.Run("tampered body refused", func(t *testing.T) {
		t.Parallel()
		ch := unique(t, "wh-tamper-")
		dial(t, appKey).subscribe(ch, nil)
		h := herald.hooks.waitFor(t, ch, 1)[0]
		body := bytes.Replace(h.Body, []byte("channel_occupied"), []byte("channel_vacated"), 1)
		if _, err := sdk().Webhook(h.Header, body); err == nil {
			t.Error("the SDK accepted a body that does not match X-Pusher-Signature")
		}
		other := sdk()
		other.Secret = "other"
		if _, err := other.Webhook(h.Header, h.Body); err == nil {
			t.Error("the SDK accepted a signature made with another secret")
		}
	})
}

// TestWebhookEncryptedChannelAlone: Herald sends an event without data on a
// private-encrypted- channel (channel_occupied here) in a request of its
// own. pusher-http-go 5.1.1's Webhook tries to decrypt every event of such
// a channel, data or not, and refuses that request; the events of other
// channels, occupied in the same batch window, must still reach the SDK in
// requests it accepts.
func TestWebhookEncryptedChannelAlone(t *testing.T) {
	t.Parallel()
	pub, enc := unique(t, "wh-pub-"), unique(t, "private-encrypted-wh-")
	c := dial(t, appKey)
	auth, err := sdk().AuthorizePrivateChannel(authParams(c.socketID, enc))
	if err != nil {
		t.Fatal(err)
	}
	// Both subscriptions within one batch window (20 ms).
	c.sendSubscribe(pub, nil)
	c.sendSubscribe(enc, auth)
	c.sendSubscribe(pub+"-2", nil)
	for _, ch := range []string{pub, enc, pub + "-2"} {
		c.expect(func(f frame) bool { return f.Channel == ch && f.Event == "pusher_internal:subscription_succeeded" })
	}

	encHooks := herald.hooks.waitFor(t, enc, 1)
	if len(encHooks) != 1 {
		t.Fatalf("%d requests mention %s, want 1", len(encHooks), enc)
	}
	var body struct {
		Events []map[string]any `json:"events"`
	}
	if err := json.Unmarshal(encHooks[0].Body, &body); err != nil {
		t.Fatal(err)
	}
	if len(body.Events) != 1 || body.Events[0]["name"] != "channel_occupied" {
		t.Fatalf("the encrypted channel's channel_occupied is not alone in its request: %s", encHooks[0].Body)
	}
	if _, has := body.Events[0]["data"]; has {
		t.Errorf("channel_occupied carries data: %s", encHooks[0].Body)
	}

	for _, ch := range []string{pub, pub + "-2"} {
		es := parsedEvents(t, sdk(), herald.hooks.waitFor(t, ch, 1), ch)
		if got := names(es); len(got) != 1 || got[0] != "channel_occupied" {
			t.Errorf("%s: events = %v, want [channel_occupied]", ch, got)
		}
	}

	// The lone request itself: pusher-http-go 5.1.1 decrypts every event of
	// an encrypted channel and has nothing to decrypt here, so it refuses the
	// request even with the right EncryptionMasterKeyBase64. No server can
	// change that (Herald never holds the key); receivers check the channel
	// name before calling Webhook (docs/webhooks-operations.md). Pinned so
	// that a newer SDK that accepts it is noticed.
	_, err = sdk().Webhook(encHooks[0].Header, encHooks[0].Body)
	if err == nil || !strings.Contains(err.Error(), "decrypt") {
		t.Errorf("Webhook(encrypted channel_occupied alone) = %v; pusher-http-go 5.1.1 fails it with %q", err, "Failed to decrypt event, possibly wrong key?")
	}
}
