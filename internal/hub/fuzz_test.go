package hub

import (
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/internal/apps"
	"github.com/heraldhq/herald/internal/metrics"
	"github.com/heraldhq/herald/internal/policy"
	"github.com/heraldhq/herald/internal/protocol"
	"github.com/heraldhq/herald/internal/signing"
)

// FuzzHubFrame feeds a client frame through the same steps as the
// WebSocket edge (decode, parse the data, hand it to the hub) with limits
// small enough for a fuzzer to reach. When sign is set, subscribe and
// sign-in frames get the signature the app backend would give them, so the
// fuzzed channel_data and user_data reach the parsers behind the signature
// check. Checked: every frame a connection receives is valid UTF-8 JSON;
// nothing accepted exceeds a configured limit; an unsigned frame is
// accepted only with the exact signature; refusals are typed.

const (
	fzMaxUserID   = 16
	fzMaxUserInfo = 64
	fzMaxWatch    = 3
	fzMaxName     = 40
	fzMaxPayload  = 128
)

// fuzzSink records the frames a connection is sent.
type fuzzSink struct {
	mu     sync.Mutex
	frames [][]byte
}

func (s *fuzzSink) Send(b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.frames = append(s.frames, append([]byte(nil), b...))
	return nil
}
func (s *fuzzSink) Queue(b []byte) error { return s.Send(b) }
func (s *fuzzSink) Close(int, string)    {}

// take returns the frames received since the last take, decoded.
func (s *fuzzSink) take(t *testing.T) []map[string]any {
	t.Helper()
	s.mu.Lock()
	frames := s.frames
	s.frames = nil
	s.mu.Unlock()
	out := make([]map[string]any, 0, len(frames))
	for _, f := range frames {
		var m map[string]any
		if !utf8.Valid(f) || json.Unmarshal(f, &m) != nil {
			t.Fatalf("frame %q is not valid UTF-8 JSON", f)
		}
		out = append(out, m)
	}
	return out
}

var fuzzApp = &apps.App{ID: "1", Key: "app-key", Secret: "app-secret", Enabled: true,
	EnableClientMessages: true, MaxPresenceMembers: 2, MaxEventPayloadBytes: fzMaxPayload}

func fuzzHub(t *testing.T) *Hub {
	var mu sync.Mutex
	now := time.Unix(1700000000, 0)
	return New(Config{
		MaxChannelNameLen: fzMaxName, MaxEventNameLen: fzMaxName, MaxUserInfoBytes: fzMaxUserInfo,
		MaxUserIDLen: fzMaxUserID, MaxWatchlistSize: fzMaxWatch,
	}, Deps{
		Logger: slog.New(slog.DiscardHandler), Metrics: metrics.New(prometheus.NewRegistry()),
		// A second per reading: the client-event rate limit never decides.
		Now: func() time.Time { mu.Lock(); defer mu.Unlock(); now = now.Add(time.Second); return now },
	})
}

func fuzzConnect(t *testing.T, h *Hub) (*Client, *fuzzSink) {
	s := &fuzzSink{}
	c, err := h.Connect(ctx, fuzzApp, s, "fuzz")
	if err != nil {
		t.Fatal(err)
	}
	return c, s
}

func FuzzHubFrame(f *testing.F) {
	quote := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	for _, s := range []string{
		`{"event":"pusher:subscribe","data":{"channel":"my-channel"}}`,
		`{"event":"pusher:subscribe","data":{"channel":"private-room","auth":"app-key:x"}}`,
		`{"event":"pusher:subscribe","data":{"channel":"presence-room","channel_data":` + quote(`{"user_id":"10","user_info":{"name":"Ten"}}`) + `}}`,
		`{"event":"pusher:subscribe","data":{"channel":"presence-room","channel_data":` + quote(`{"user_id":12345678901234567}`) + `}}`,
		`{"event":"pusher:subscribe","data":{"channel":"presence-x","channel_data":` + quote(`{"user_id":"u","user_info":"`+strings.Repeat("i", 70)+`"}`) + `}}`,
		`{"event":"pusher:subscribe","data":{"channel":"private-encrypted-x"}}`,
		`{"event":"pusher:subscribe","data":{"channel":"#server-to-user-u1"}}`,
		`{"event":"pusher:subscribe","data":"{\"channel\":\"cache-x\"}"}`,
		`{"event":"pusher:unsubscribe","data":{"channel":"private-room"}}`,
		`{"event":"pusher:signin","data":{"auth":"app-key:x","user_data":` + quote(`{"id":"u1","user_info":{"n":1},"watchlist":["a","b","c","d","a"]}`) + `}}`,
		`{"event":"pusher:signin","data":{"auth":"x","user_data":` + quote(`{"id":"a b"}`) + `}}`,
		`{"event":"client-typing","channel":"private-room","data":{"typing":true}}`,
		`{"event":"client-typing","channel":"private-room","data":"` + strings.Repeat("d", fzMaxPayload+1) + `"}`,
		`{"event":"client-x","channel":"presence-room"}`,
		`{"event":"client-x","channel":"my-channel","data":1}`,
		`{"event":"pusher:ping","data":{}}`, `{"event":"other"}`, `{"event":"pusher_internal:x"}`,
	} {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, frame []byte, sign bool) {
		fr, err := protocol.DecodeFrame(frame)
		if err != nil {
			return
		}
		h := fuzzHub(t)
		c, cs := fuzzConnect(t, h)
		o, oSink := fuzzConnect(t, h)
		for _, cl := range []*Client{c, o} {
			if err := h.Subscribe(ctx, cl, protocol.SubscribeData{Channel: "private-room",
				Auth: signing.AuthorizeChannel(fuzzApp.Key, fuzzApp.Secret, cl.SocketID(), "private-room", nil)}); err != nil {
				t.Fatal(err)
			}
		}
		cs.take(t)
		oSink.take(t)

		switch {
		case fr.Event == protocol.EventSubscribe:
			d, err := protocol.ParseSubscribe(fr.Data)
			if err != nil {
				return
			}
			sent := d.Auth
			if sign {
				d.Auth = signing.AuthorizeChannel(fuzzApp.Key, fuzzApp.Secret, c.SocketID(), d.Channel, d.ChannelData)
			}
			err = h.Subscribe(ctx, c, d)
			checkRefusal(t, err)
			if err == nil {
				checkSubscribed(t, h, c, d, sign, sent, cs.take(t))
			}
		case fr.Event == protocol.EventUnsubscribe:
			if ch, err := protocol.ParseUnsubscribe(fr.Data); err == nil {
				h.Unsubscribe(ctx, c, ch)
			}
		case fr.Event == protocol.EventSignin:
			d, err := protocol.ParseSignin(fr.Data)
			if err != nil {
				return
			}
			sent := d.Auth
			if sign {
				d.Auth = signing.AuthenticateUser(fuzzApp.Key, fuzzApp.Secret, c.SocketID(), d.UserData)
			}
			err = h.Signin(ctx, c, d)
			checkRefusal(t, err)
			if err == nil {
				if !sign && sent != signing.AuthenticateUser(fuzzApp.Key, fuzzApp.Secret, c.SocketID(), d.UserData) {
					t.Fatalf("sign-in with auth %q accepted", sent)
				}
				checkSignedIn(t, d, cs.take(t))
			}
		case strings.HasPrefix(fr.Event, protocol.ClientEventPrefix):
			err := h.ClientEvent(ctx, c, fr)
			checkRefusal(t, err)
			if err == nil {
				checkRelayed(t, fr, oSink.take(t))
			}
		}
		cs.take(t)
		oSink.take(t)
		h.Disconnect(c)
		h.Disconnect(o)
		oSink.take(t)
		if n := h.TotalConnections(); n != 0 {
			t.Fatalf("%d connections left after both disconnected", n)
		}
	})
}

func checkRefusal(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var se *policy.SubscriptionError
	var pe *protocol.Error
	if !errors.As(err, &se) && !errors.As(err, &pe) {
		t.Fatalf("refusal %T %v is neither a SubscriptionError nor a protocol.Error", err, err)
	}
}

func checkSubscribed(t *testing.T, h *Hub, c *Client, d protocol.SubscribeData, signed bool, sent string, frames []map[string]any) {
	t.Helper()
	info := protocol.Classify(d.Channel)
	if info.Type == protocol.UserChannel || info.Type == protocol.Reserved {
		t.Fatalf("subscribed to %q without signing in", d.Channel)
	}
	if !protocol.ValidChannelName(d.Channel, fzMaxName) {
		t.Fatalf("subscribed to channel %q (limit %d)", d.Channel, fzMaxName)
	}
	if info.Type.RequiresAuth() && !signed &&
		sent != signing.AuthorizeChannel(fuzzApp.Key, fuzzApp.Secret, c.SocketID(), d.Channel, d.ChannelData) {
		t.Fatalf("subscription to %q with auth %q accepted", d.Channel, sent)
	}
	if info.Type != protocol.Presence {
		return
	}
	ids, _ := h.PresenceUsers(ctx, fuzzApp.ID, d.Channel)
	for _, id := range ids {
		if id == "" || len(id) > fzMaxUserID {
			t.Fatalf("presence member %q admitted (limit %d)", id, fzMaxUserID)
		}
	}
	for _, fm := range frames {
		if fm["event"] != protocol.EventSubscriptionSucceeded {
			continue
		}
		var data struct {
			Presence struct {
				IDs  []string                   `json:"ids"`
				Hash map[string]json.RawMessage `json:"hash"`
			} `json:"presence"`
		}
		s, _ := fm["data"].(string)
		if err := json.Unmarshal([]byte(s), &data); err != nil || len(data.Presence.IDs) == 0 {
			t.Fatalf("presence subscription_succeeded data %q: %v", s, err)
		}
		for id, info := range data.Presence.Hash {
			if len(info) > fzMaxUserInfo && string(info) != "null" {
				t.Fatalf("member %q admitted with %d bytes of user_info (limit %d)", id, len(info), fzMaxUserInfo)
			}
		}
	}
}

func checkSignedIn(t *testing.T, d protocol.SigninData, frames []map[string]any) {
	t.Helper()
	u, err := protocol.ParseUserData(d.UserData)
	if err != nil {
		t.Fatalf("sign-in with user_data %q accepted: %v", d.UserData, err)
	}
	if !protocol.ValidChannelName(u.ID, fzMaxUserID) || len(u.UserInfo) > fzMaxUserInfo {
		t.Fatalf("signed in as %q with %d bytes of user_info", u.ID, len(u.UserInfo))
	}
	success := false
	for _, fm := range frames {
		s, _ := fm["data"].(string)
		switch fm["event"] {
		case protocol.EventSigninSuccess:
			var data struct {
				UserData string `json:"user_data"`
			}
			if err := json.Unmarshal([]byte(s), &data); err != nil || data.UserData != d.UserData {
				t.Fatalf("signin_success data %q, want user_data %q", s, d.UserData)
			}
			success = true
		case protocol.EventWatchlistEvents:
			var data struct {
				Events []struct {
					UserIDs []string `json:"user_ids"`
				} `json:"events"`
			}
			if err := json.Unmarshal([]byte(s), &data); err != nil {
				t.Fatalf("watchlist_events data %q: %v", s, err)
			}
			n := 0
			for _, e := range data.Events {
				n += len(e.UserIDs)
			}
			if n > fzMaxWatch {
				t.Fatalf("%d watched ids reported (limit %d): %s", n, fzMaxWatch, s)
			}
		}
	}
	if !success {
		t.Fatalf("sign-in accepted without signin_success: %v", frames)
	}
}

func checkRelayed(t *testing.T, fr protocol.Frame, frames []map[string]any) {
	t.Helper()
	if fr.Channel != "private-room" || len(fr.Event) > fzMaxName {
		t.Fatalf("client event %q on %q relayed", fr.Event, fr.Channel)
	}
	data, present := protocol.ClientEventData(fr.Data)
	if len(data) > fzMaxPayload {
		t.Fatalf("client event with %d bytes of data relayed (limit %d)", len(data), fzMaxPayload)
	}
	if len(frames) != 1 {
		t.Fatalf("client event reached the other subscriber %d times", len(frames))
	}
	got, has := frames[0]["data"]
	if frames[0]["event"] != fr.Event || frames[0]["channel"] != fr.Channel || has != present {
		t.Fatalf("relayed %v for %+v", frames[0], fr)
	}
	// What a JSON client reads back: invalid UTF-8 becomes U+FFFD.
	q, _ := json.Marshal(data)
	var want string
	_ = json.Unmarshal(q, &want)
	if s, _ := got.(string); has && s != want {
		t.Fatalf("relayed data %q, want %q", s, want)
	}
}
