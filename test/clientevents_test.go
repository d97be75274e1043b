package test

import (
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/config"
)

func enableClientMessages(c *config.Config) { c.Apps[0].EnableClientMessages = true }

// chatPair starts a server with client events on and returns two clients
// subscribed to private-chat.
func chatPair(t *testing.T) (a, b *wsClient) {
	t.Helper()
	s := startServer(t, enableClientMessages)
	a, b = connect(t, s), connect(t, s)
	a.subscribePrivate("private-chat")
	b.subscribePrivate("private-chat")
	return a, b
}

func TestClientEventRelay(t *testing.T) {
	t.Parallel()
	const ch = "private-chat"
	a, b := chatPair(t)

	for _, tc := range []struct {
		name     string
		sent     string // the frame A sends
		wantData string // raw JSON of data at B; "" = no data key
	}{
		{"object data becomes a JSON string", `{"event":"client-msg","channel":"private-chat","data":{"a":1}}`, `"{\"a\":1}"`},
		{"object data is compacted", `{"event":"client-msg","channel":"private-chat","data":{ "a" : 1 }}`, `"{\"a\":1}"`},
		{"string data arrives unchanged", `{"event":"client-msg","channel":"private-chat","data":"plain \"text\""}`, `"plain \"text\""`},
		{"number data", `{"event":"client-msg","channel":"private-chat","data":42}`, `"42"`},
		{"missing data", `{"event":"client-msg","channel":"private-chat"}`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a.t, b.t = t, t
			a.sendRaw(tc.sent)
			f := b.next()
			if f.Event != "client-msg" || f.Channel != ch {
				t.Fatalf("B: want client-msg on %s, got %s", ch, f)
			}
			if tc.wantData == "" {
				if f.has("data") {
					t.Errorf("B: want no data key, got %s", f)
				}
			} else if string(f.Data) != tc.wantData {
				t.Errorf("B: data = %s, want %s", f.Data, tc.wantData)
			}
			if f.has("user_id") {
				t.Errorf("B: user_id only belongs on presence channels: %s", f)
			}
			a.expectQuiet("client events are not echoed to the sender")
		})
	}
}

func TestClientEventPresenceUserID(t *testing.T) {
	t.Parallel()
	s := startServer(t, enableClientMessages)
	a, b := connect(t, s), connect(t, s)
	a.subscribePresence(room, `{"user_id":"1","user_info":{"name":"A"}}`)
	b.subscribePresence(room, `{"user_id":"2"}`)
	expectMemberAdded(t, a, "2", "")

	a.sendRaw(`{"event":"client-typing","channel":"presence-room","data":{"typing":true},"user_id":"999"}`)
	f := b.next()
	if f.Event != "client-typing" || f.Channel != room {
		t.Fatalf("B: want client-typing, got %s", f)
	}
	if f.UserID == nil || *f.UserID != "1" {
		t.Errorf("B: user_id must be the sender's member id \"1\" (not the client's fake 999): %s", f)
	}
	if string(f.Data) != `"{\"typing\":true}"` {
		t.Errorf("B: data = %s", f.Data)
	}
	a.expectQuiet("not echoed")
}

func TestClientEventRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		enabled   bool
		channel   string
		subscribe bool // whether the sender holds the channel
	}{
		{"public channel", true, "public-chat", true},
		{"private-encrypted channel", true, "private-encrypted-chat", true},
		{"sender not subscribed", true, "private-chat", false},
		{"client messages disabled", false, "private-chat", true},
		{"no channel", true, "", false},
		{"data over 10 KiB", true, "private-chat", true},
		{"event name over 200 characters", true, "private-chat", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, func(c *config.Config) { c.Apps[0].EnableClientMessages = tc.enabled })
			a, b := connect(t, s), connect(t, s)
			join := func(c *wsClient) {
				if tc.channel == "public-chat" {
					c.subscribe(tc.channel)
				} else if tc.channel != "" {
					c.subscribePrivate(tc.channel)
				}
			}
			join(b)
			if tc.subscribe {
				join(a)
			}
			frame := `{"event":"client-msg","channel":"` + tc.channel + `","data":{"a":1}}`
			switch tc.name {
			case "no channel":
				frame = `{"event":"client-msg","data":{"a":1}}`
			case "data over 10 KiB":
				frame = `{"event":"client-msg","channel":"private-chat","data":"` + strings.Repeat("d", 10241) + `"}`
			case "event name over 200 characters":
				frame = `{"event":"client-` + strings.Repeat("n", 200) + `","channel":"private-chat","data":{}}`
			}
			a.sendRaw(frame)
			fs := a.syncFrames()
			if len(fs) != 1 || fs[0].Event != "pusher:error" {
				t.Fatalf("sender: want one pusher:error, got %v", fs)
			}
			fs[0].pusherError(t)
			b.expectQuiet("a refused client event must not be relayed")
			a.ping() // the sender stays connected
		})
	}
}

func TestClientEventRateLimit(t *testing.T) {
	t.Parallel()
	a, b := chatPair(t)

	const sent = 30
	for range sent {
		a.sendRaw(`{"event":"client-burst","channel":"private-chat","data":{}}`)
	}
	rejected := 0
	for _, f := range a.syncFrames() {
		e := f.pusherError(t)
		if e.Code == nil || *e.Code != 4301 {
			t.Errorf("want pusher:error 4301, got %s", f)
			continue
		}
		rejected++
	}
	if rejected == 0 {
		t.Fatalf("%d client events in a burst: no pusher:error 4301 (limit is 10/s)", sent)
	}
	relayed := 0
	for _, f := range b.syncFrames() {
		if f.Event == "client-burst" {
			relayed++
		}
	}
	if relayed+rejected != sent {
		t.Errorf("relayed %d + rejected %d != sent %d", relayed, rejected, sent)
	}
	if relayed > 15 {
		t.Errorf("relayed %d events of a burst of %d; the limit is 10 per second", relayed, sent)
	}
	a.ping() // 4301 is an error, never a close
	b.ping()
}
