package webhooks

import (
	"bufio"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/hub"
	"github.com/heraldhq/herald/internal/signing"
)

// vectorsPath is the repo's copy of the SDK-generated vectors
// (testdata/README.md).
const vectorsPath = "../../testdata/vectors.json"

type webhookVector struct {
	Label   string            `json:"label"`
	RawBody string            `json:"raw_body"`
	Headers map[string]string `json:"headers"`
}

func loadWebhookVectors(t *testing.T) []webhookVector {
	t.Helper()
	raw, err := os.ReadFile(vectorsPath)
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Webhooks []webhookVector `json:"webhooks"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Webhooks) == 0 {
		t.Fatal("no webhook vectors")
	}
	return v.Webhooks
}

// vectorEvents are the hub events that must produce each vector's body.
var vectorEvents = map[string][]hub.Event{
	"channel_occupied": {occupied("1", "my-channel")},
	"channel_vacated":  {vacated("1", "my-channel")},
	"member_added":     {member(hub.MemberAdded, "1", "presence-room", "10")},
	"member_removed":   {member(hub.MemberRemoved, "1", "presence-room", "10")},
	"client_event (presence; data is a string)": {{Kind: hub.ClientEvent, AppID: "1", Channel: "presence-room",
		Event: "client-typing", Data: `{"typing":true}`, HasData: true, SocketID: "123.456", UserID: "10", TimeMS: t0}},
	"cache_miss":           {{Kind: hub.CacheMiss, AppID: "1", Channel: "cache-prices", TimeMS: t0}},
	"subscription_count":   {{Kind: hub.SubscriptionCount, AppID: "1", Channel: "my-channel", SubscriptionCount: 2, TimeMS: t0}},
	"batched (two events)": {occupied("1", "presence-room"), member(hub.MemberAdded, "1", "presence-room", "10")},
}

// TestBodyVectors: every event type, sent through the whole dispatcher to a
// real receiver, arrives with the exact bytes, headers and signature the
// Node SDK produced and accepted.
func TestBodyVectors(t *testing.T) {
	vectors := loadWebhookVectors(t)
	rcv := newReceiver(t, nil)
	cfg := fast(dbPath(t))
	cfg.BatchWindow = 100 * time.Millisecond // the batched vector's two events share one request
	h := run(t, cfg, store(t, app("1", hook(rcv.URL))))
	for _, v := range vectors {
		t.Run(v.Label, func(t *testing.T) {
			events, ok := vectorEvents[v.Label]
			if !ok {
				t.Fatalf("no hub events for vector %q", v.Label)
			}
			if got := signing.SignWebhook(testSecret, []byte(v.RawBody)); got != v.Headers["X-Pusher-Signature"] {
				t.Fatalf("vector self-check: %s != %s", got, v.Headers["X-Pusher-Signature"])
			}
			before := len(rcv.requests())
			for _, e := range events {
				h.d.Observe(e)
			}
			waitFor(t, "the request", 5*time.Second, func() bool { return len(rcv.requests()) > before })
			r := rcv.requests()[before]
			if string(r.Body) != v.RawBody {
				t.Fatalf("body\n got %s\nwant %s", r.Body, v.RawBody)
			}
			for name, want := range v.Headers {
				if got := r.Header[name]; len(got) != 1 || got[0] != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
			checkSigned(t, r)
		})
	}
}

func TestEventJSONFields(t *testing.T) {
	for _, tc := range []struct {
		name string
		e    hub.Event
		want string
	}{
		{"client event without data", hub.Event{Kind: hub.ClientEvent, Channel: "private-c", Event: "client-x", SocketID: "1.2"},
			`{"name":"client_event","channel":"private-c","event":"client-x","socket_id":"1.2"}`},
		{"client event with empty data", hub.Event{Kind: hub.ClientEvent, Channel: "private-c", Event: "client-x", HasData: true, SocketID: "1.2"},
			`{"name":"client_event","channel":"private-c","event":"client-x","data":"","socket_id":"1.2"}`},
		{"no HTML escaping", hub.Event{Kind: hub.ClientEvent, Channel: "c", Event: "client-x", Data: `"<a&b>"`, HasData: true, SocketID: "1.2"},
			`{"name":"client_event","channel":"c","event":"client-x","data":"\"<a&b>\"","socket_id":"1.2"}`},
		{"zero subscription count is sent", hub.Event{Kind: hub.SubscriptionCount, Channel: "c"},
			`{"name":"subscription_count","channel":"c","subscription_count":0}`},
		{"occupied ignores stray fields", hub.Event{Kind: hub.ChannelOccupied, Channel: "c", UserID: "u", Data: "d"},
			`{"name":"channel_occupied","channel":"c"}`},
	} {
		if got := string(eventJSON(tc.e)); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
}

// TestHeaderSpellingOnTheWire reads the raw request: Go's server would
// canonicalise names, hiding a wrong spelling (PHP's SDK needs these exact
// ones); extra headers cannot override the Pusher ones.
func TestHeaderSpellingOnTheWire(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	head := make(chan []string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		br := bufio.NewReader(c)
		var lines []string
		for {
			l, err := br.ReadString('\n')
			if err != nil || l == "\r\n" {
				break
			}
			lines = append(lines, strings.TrimRight(l, "\r\n"))
		}
		req, _ := http.ReadRequest(bufio.NewReader(strings.NewReader(strings.Join(lines, "\r\n") + "\r\n\r\n")))
		if req != nil && req.ContentLength > 0 {
			br.Discard(int(req.ContentLength))
		}
		c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
		head <- lines
	}()
	w := hook("http://"+ln.Addr().String()+"/hook", "channel_occupied")
	w.Headers = map[string]string{"X-Custom": "yes", "content-type": "text/plain", "X-Pusher-Key": "evil", "x-pusher-signature": "forged"}
	h := run(t, fast(dbPath(t)), store(t, app("1", w)))
	h.d.Observe(occupied("1", "my-channel"))
	var lines []string
	select {
	case lines = <-head:
	case <-time.After(5 * time.Second):
		t.Fatal("no request")
	}
	want := map[string]bool{
		"Content-Type: application/json": false,
		"X-Pusher-Key: app-key":          false,
		"X-Pusher-Signature: fec9fff324b82111ea03affc886e951bec5ee7a9e365bfd05cf254414c990a1a": false,
		"X-Custom: yes": false,
	}
	for _, l := range lines {
		if _, ok := want[l]; ok {
			want[l] = true
		}
		low := strings.ToLower(l)
		if strings.Contains(low, "text/plain") || strings.Contains(low, "evil") || strings.Contains(low, "forged") {
			t.Errorf("override reached the wire: %q", l)
		}
	}
	for l, seen := range want {
		if !seen {
			t.Errorf("missing header line %q in %q", l, lines)
		}
	}
}
