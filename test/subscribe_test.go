package test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/signing"
)

func TestPublicSubscribe(t *testing.T) {
	t.Parallel()
	s := startCountingServer(t, nil)
	c := connect(t, s)
	c.send(map[string]any{"event": "pusher:subscribe", "data": map[string]any{"auth": "", "channel": "my-channel"}})
	f := c.expect("pusher_internal:subscription_succeeded")
	if f.Channel != "my-channel" || string(f.Data) != `"{}"` {
		t.Errorf(`want {"event":"pusher_internal:subscription_succeeded","channel":"my-channel","data":"{}"}, got %s`, f)
	}

	// A repeated subscribe is answered again but counted once.
	c.send(map[string]any{"event": "pusher:subscribe", "data": map[string]any{"auth": "", "channel": "my-channel"}})
	c.expectSucceeded("my-channel")
	if n := s.subscriptionCount("my-channel"); n != 1 {
		t.Errorf("subscription_count after a duplicate subscribe = %d, want 1", n)
	}

	// Subscribe without an auth key at all (non-pusher-js clients) works too.
	c.send(map[string]any{"event": "pusher:subscribe", "data": map[string]any{"channel": "other"}})
	c.expectSucceeded("other")

	// data as a JSON string holding the object (Reverb-style clients).
	c.sendRaw(`{"event":"pusher:subscribe","data":"{\"channel\":\"stringly\"}"}`)
	c.expectSucceeded("stringly")

	// Unsubscribe: no reply, and the channel is vacated.
	c.send(map[string]any{"event": "pusher:unsubscribe", "data": map[string]any{"channel": "my-channel"}})
	c.expectQuiet("after pusher:unsubscribe")
	expectJSON(t, s.get("/apps/1/channels/my-channel", nil), `{"occupied":false}`)
	// Unsubscribing from a channel one does not hold is ignored.
	c.send(map[string]any{"event": "pusher:unsubscribe", "data": map[string]any{"channel": "never"}})
	c.expectQuiet("after unsubscribing from an unknown channel")
}

func TestPrivateSubscribe(t *testing.T) {
	t.Parallel()
	s := startCountingServer(t, nil)
	for _, ch := range []string{"private-foobar", "private-encrypted-foobar", "private-cache-x"} {
		t.Run(ch, func(t *testing.T) {
			t.Parallel()
			c := connect(t, s.with(t))
			c.subscribePrivate(ch)
			if n := s.with(t).subscriptionCount(ch); n != 1 {
				t.Errorf("subscription_count = %d, want 1", n)
			}
		})
	}
}

func TestPrivateSubscribeRefused(t *testing.T) {
	t.Parallel()
	s := startCountingServer(t, nil)
	good := func(socketID, ch string) string {
		return signing.AuthorizeChannel(appKey, appSecret, socketID, ch, nil)
	}
	for i, tc := range []struct {
		name string
		data func(socketID, ch string) map[string]any
	}{
		{"bad signature", func(_, ch string) map[string]any {
			return map[string]any{"channel": ch, "auth": appKey + ":" + strings.Repeat("0", 64)}
		}},
		{"signature for another socket id", func(_, ch string) map[string]any {
			return map[string]any{"channel": ch, "auth": good("1234.5678", ch)}
		}},
		{"wrong key prefix", func(id, ch string) map[string]any {
			_, hex, _ := strings.Cut(good(id, ch), ":")
			return map[string]any{"channel": ch, "auth": "other-key:" + hex}
		}},
		{"signature for another channel", func(id, ch string) map[string]any {
			return map[string]any{"channel": ch, "auth": signing.AuthorizeChannel(appKey, appSecret, id, "private-other", nil)}
		}},
		{"signed with another secret", func(id, ch string) map[string]any {
			return map[string]any{"channel": ch, "auth": signing.AuthorizeChannel(appKey, "wrong-secret", id, ch, nil)}
		}},
		{"missing auth", func(_, ch string) map[string]any { return map[string]any{"channel": ch} }},
		{"empty auth", func(_, ch string) map[string]any { return map[string]any{"channel": ch, "auth": ""} }},
	} {
		ch := fmt.Sprintf("private-foobar-%d", i) // parallel subtests share the server
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := s.with(t)
			c := connect(t, s)
			c.send(map[string]any{"event": "pusher:subscribe", "data": tc.data(c.socketID, ch)})
			expectRefused(t, ch, c.syncFrames())
			c.ping() // still open
			expectJSON(t, s.get("/apps/1/channels/"+ch, url.Values{"info": {"subscription_count"}}),
				`{"occupied":false,"subscription_count":0}`)
			// The connection can still subscribe properly afterwards.
			c.subscribePrivate(ch)
		})
	}
}

func TestChannelNames(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	for _, tc := range []struct {
		name, channel string
		ok            bool
	}{
		{"200 characters", strings.Repeat("a", 200), true},
		{"201 characters", strings.Repeat("a", 201), false},
		{"every allowed character", "AZaz09-_=@,.;", true},
		{"space", "foo bar", false},
		{"slash", "foo/bar", false},
		{"asterisk", "foo*", false},
		{"non-ASCII", "caf\u00e9", false},
		{"reserved #foo", "#foo", false},
		{"user channel without sign-in", "#server-to-user-1", false},
		{"private- inside the name is public", "foo-private-x", true},
		{"presence- inside the name is public", "my-presence-x", true},
		{"privateer has no hyphen", "privateer", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := connect(t, s.with(t))
			c.send(map[string]any{"event": "pusher:subscribe", "data": map[string]any{"auth": "", "channel": tc.channel}})
			if tc.ok {
				c.expectSucceeded(tc.channel)
				return
			}
			expectRefused(t, tc.channel, c.syncFrames())
			c.ping()
		})
	}
}
