package ws

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/internal/apps"
	"github.com/heraldhq/herald/internal/console"
	"github.com/heraldhq/herald/internal/hub"
	"github.com/heraldhq/herald/internal/metrics"
	"github.com/heraldhq/herald/internal/testlog"
)

// consoleEdge runs the edge on a real listener with a debug console feed
// and a JSON log; app 1 accepts one origin.
func consoleEdge(t *testing.T) (url string, h *hub.Hub, feed *console.Feed, logs *testlog.Buffer) {
	t.Helper()
	store, err := apps.NewStatic([]apps.App{{ID: "1", Key: "app-key", Secret: "app-secret", Enabled: true,
		AllowedOrigins: []string{"https://ok.example"}}})
	if err != nil {
		t.Fatal(err)
	}
	logs = &testlog.Buffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	m := metrics.New(prometheus.NewRegistry())
	feed = console.New(console.Config{}, console.Deps{})
	h = hub.New(hub.Config{}, hub.Deps{Logger: log, Metrics: m, Console: feed})
	edge := New(Config{CloseDelay: 100 * time.Millisecond}, Deps{Hub: h, Apps: store, Logger: log, Metrics: m, Console: feed})
	if err := edge.Start(); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { edge.ServeHTTP(w, r, r.URL.Path) }))
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = edge.Stop(ctx)
	})
	return "ws" + strings.TrimPrefix(srv.URL, "http"), h, feed, logs
}

func dialWS(t *testing.T, url, origin string) *websocket.Conn {
	t.Helper()
	c, _, err := websocket.DefaultDialer.Dial(url, http.Header{"Origin": {origin}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	return c
}

// firstFrame reads the first Pusher frame: its event and data.
func firstFrame(t *testing.T, c *websocket.Conn) (event string, data map[string]any) {
	t.Helper()
	_, msg, err := c.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Event string          `json:"event"`
		Data  json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(msg, &f); err != nil {
		t.Fatalf("frame %s: %v", msg, err)
	}
	var s string // connection_established carries its data as a JSON string, pusher:error as an object
	if json.Unmarshal(f.Data, &s) == nil {
		f.Data = json.RawMessage(s)
	}
	_ = json.Unmarshal(f.Data, &data)
	return f.Event, data
}

func nextEvent(t *testing.T, v *console.Viewer) console.Event {
	t.Helper()
	select {
	case e := <-v.Events():
		return e
	case <-time.After(5 * time.Second):
		t.Fatal("no console event within 5s")
		return console.Event{}
	}
}

// TestConsoleSeesConnections: a watched app sees connections opened and
// closed, with the close code and who closed, and refused origins; the
// audit log has the refused origin and the unknown key.
func TestConsoleSeesConnections(t *testing.T) {
	url, h, feed, logs := consoleEdge(t)
	v, cancel, _ := feed.Watch("1", console.Filter{})
	defer cancel()

	c := dialWS(t, url+"/app/app-key?protocol=7", "https://ok.example")
	ev, data := firstFrame(t, c)
	if ev != "pusher:connection_established" {
		t.Fatalf("first frame %s", ev)
	}
	sid := data["socket_id"].(string)
	if e := nextEvent(t, v); e.Type != console.ConnectionOpened || e.SocketID != sid || e.Remote == "" {
		t.Errorf("opened: %+v", e)
	}
	_ = c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(1000, "bye"))
	if e := nextEvent(t, v); e.Type != console.ConnectionClosed || e.SocketID != sid || e.Code != 1000 || e.Detail != "closed by the client" {
		t.Errorf("closed by the client: %+v", e)
	}

	// Closed by the server: the app is closed with 4009.
	c2 := dialWS(t, url+"/app/app-key", "https://ok.example")
	firstFrame(t, c2)
	if e := nextEvent(t, v); e.Type != console.ConnectionOpened {
		t.Fatalf("second connection: %+v", e)
	}
	h.CloseApp("1", 4009, "closed for the test")
	if e := nextEvent(t, v); e.Type != console.ConnectionClosed || e.Code != 4009 || e.Detail != "closed by the server" {
		t.Errorf("closed by the server: %+v", e)
	}

	// A refused origin: on the console and in the audit log.
	c3 := dialWS(t, url+"/app/app-key", "https://evil.example")
	if ev, _ := firstFrame(t, c3); ev != "pusher:error" {
		t.Fatalf("bad origin answered with %s", ev)
	}
	if e := nextEvent(t, v); e.Type != console.AuthFailed || e.Reason != console.ReasonOriginRefused || e.Endpoint != "websocket" ||
		!strings.Contains(e.Detail, "evil.example") {
		t.Errorf("origin refused: %+v", e)
	}
	// An unknown key: in the audit log only (no app to show it to).
	c4 := dialWS(t, url+"/app/no-such-key", "https://ok.example")
	if ev, _ := firstFrame(t, c4); ev != "pusher:error" {
		t.Fatalf("unknown key answered with %s", ev)
	}

	var audit []map[string]any
	deadline := time.Now().Add(5 * time.Second)
	for len(audit) < 2 && time.Now().Before(deadline) {
		audit = audit[:0]
		for line := range strings.SplitSeq(strings.TrimSpace(logs.String()), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == console.AuthMessage {
				audit = append(audit, m)
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	if len(audit) != 2 {
		t.Fatalf("%d audit lines:\n%s", len(audit), logs.String())
	}
	if l := audit[0]; l["reason"] != "origin_refused" || l["app_id"] != "1" || l["app_key"] != "app-key" || l["endpoint"] != "websocket" ||
		l["remote"] == "" || l["audit"] != true || l["component"] != "ws" {
		t.Errorf("origin audit line: %v", l)
	}
	if l := audit[1]; l["reason"] != "unknown_key" || l["app_id"] != "" || l["app_key"] != "no-such-key" || l["endpoint"] != "websocket" {
		t.Errorf("unknown key audit line: %v", l)
	}
}
