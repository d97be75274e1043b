package console

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// message is one SSE message as a client parses it.
type message struct {
	event   string // "" for a plain message
	data    string
	comment bool
}

// sseClient reads a stream's messages on a goroutine.
type sseClient struct {
	resp *http.Response
	msgs chan message
}

func openSSE(t *testing.T, ctx context.Context, url string) *sseClient {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	c := &sseClient{resp: resp, msgs: make(chan message, 1024)}
	go func() {
		defer close(c.msgs)
		sc := bufio.NewScanner(resp.Body)
		var m message
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if m != (message{}) {
					c.msgs <- m
				}
				m = message{}
			case strings.HasPrefix(line, ":"):
				m.comment = true
			case strings.HasPrefix(line, "event: "):
				m.event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				m.data = strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	return c
}

// next returns the next message that is not a comment (or fails).
func (c *sseClient) next(t *testing.T) message {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case m, ok := <-c.msgs:
			if !ok {
				t.Fatal("stream ended")
			}
			if !m.comment {
				return m
			}
		case <-timeout:
			t.Fatal("no message within 5s")
		}
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func sseServer(t *testing.T, f *Feed) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		filter, err := ParseFilter(r.URL.Query())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		SSE(f, "1", filter, w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestSSEFormat: headers, one JSON event per message, heartbeat comments,
// the viewer gone once the client goes.
func TestSSEFormat(t *testing.T) {
	f, _ := newFeed(t, Config{Heartbeat: 20 * time.Millisecond})
	srv := sseServer(t, f)
	ctx, cancel := context.WithCancel(context.Background())
	c := openSSE(t, ctx, srv.URL+"?types=client_event,subscribed")
	if ct := c.resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type %q", ct)
	}
	if cc := c.resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
	waitUntil(t, "the viewer", func() bool { return f.Watching("1") })

	f.Emit("1", Event{Type: Unsubscribed, Channel: "private-a"}) // filtered out
	// A line break in the data: JSON escapes it, so the message is one line.
	f.Emit("1", Event{Type: ClientEvent, Channel: "private-a", Event: "client-x", SocketID: "1.2", Bytes: 10, Data: "{\"a\":\"b\n\"}"})
	m := c.next(t)
	if m.event != "" {
		t.Errorf("event name %q, want none (onmessage)", m.event)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(m.data), &got); err != nil {
		t.Fatalf("data %q: %v", m.data, err)
	}
	want := map[string]any{"type": "client_event", "channel": "private-a", "event": "client-x", "socket_id": "1.2",
		"bytes": float64(10), "data": "{\"a\":\"b\n\"}"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v (%s)", k, got[k], v, m.data)
		}
	}
	if _, err := time.Parse(time.RFC3339Nano, got["time"].(string)); err != nil {
		t.Errorf("time %v: %v", got["time"], err)
	}
	for _, absent := range []string{"user_id", "code", "status", "remote", "endpoint", "reason", "detail"} {
		if _, ok := got[absent]; ok {
			t.Errorf("empty field %s present: %s", absent, m.data)
		}
	}

	// Heartbeats while nothing happens.
	timeout := time.After(5 * time.Second)
	for beats := 0; beats < 2; {
		select {
		case m := <-c.msgs:
			if m.comment {
				beats++
			}
		case <-timeout:
			t.Fatal("no heartbeats")
		}
	}

	cancel() // the client goes: the viewer goes
	waitUntil(t, "the viewer to go", func() bool { return !f.Watching("1") })
}

// TestSSEReportsDrops: what a viewer missed is reported as a "dropped"
// event whose total matches the counter.
func TestSSEReportsDrops(t *testing.T) {
	f, m := newFeed(t, Config{Buffer: 2, Heartbeat: 20 * time.Millisecond})
	srv := sseServer(t, f)
	c := openSSE(t, context.Background(), srv.URL)
	waitUntil(t, "the viewer", func() bool { return f.Watching("1") })
	for range 1000 {
		f.Emit("1", Event{Type: Subscribed, Channel: "c"})
	}
	dropped := uint64(0)
	want := func() uint64 { return uint64(testutil.ToFloat64(m.Dropped.WithLabelValues("1"))) }
	timeout := time.After(5 * time.Second)
	for dropped == 0 || dropped != want() {
		select {
		case msg, ok := <-c.msgs:
			if !ok {
				t.Fatal("stream ended")
			}
			if msg.event == "dropped" {
				var d struct{ Dropped, New uint64 }
				if err := json.Unmarshal([]byte(msg.data), &d); err != nil || d.New == 0 || d.New > d.Dropped {
					t.Fatalf("dropped message %q: %v", msg.data, err)
				}
				dropped = d.Dropped
			}
		case <-timeout:
			t.Fatalf("reported %d dropped, counter %d", dropped, want())
		}
	}
	t.Logf("1000 events to a 2-event buffer: %d dropped and reported", dropped)
}

func TestSSEEndsOnClose(t *testing.T) {
	f, _ := newFeed(t, Config{})
	srv := sseServer(t, f)
	c := openSSE(t, context.Background(), srv.URL)
	waitUntil(t, "the viewer", func() bool { return f.Watching("1") })
	f.Close()
	if m := c.next(t); m.event != "end" {
		t.Errorf("last message %+v, want event: end", m)
	}
	select {
	case _, ok := <-c.msgs:
		if ok {
			t.Error("stream goes on after end")
		}
	case <-time.After(5 * time.Second):
		t.Error("stream not ended after Close")
	}
}

func TestSSETooManyViewers(t *testing.T) {
	f, _ := newFeed(t, Config{MaxViewersPerApp: 1})
	srv := sseServer(t, f)
	openSSE(t, context.Background(), srv.URL)
	waitUntil(t, "the viewer", func() bool { return f.Watching("1") })
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "too many viewers") {
		t.Errorf("second viewer: %d %q", resp.StatusCode, body)
	}
}
