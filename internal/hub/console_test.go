package hub

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/internal/console"
	"github.com/heraldhq/herald/internal/metrics"
	"github.com/heraldhq/herald/internal/protocol"
	"github.com/heraldhq/herald/internal/testlog"
)

// consoleHub is a hub with a debug console feed and a JSON log.
func consoleHub(t *testing.T, now func() time.Time) (*Hub, *console.Feed, *testlog.Buffer) {
	t.Helper()
	logs := &testlog.Buffer{}
	feed := console.New(console.Config{}, console.Deps{})
	h := New(Config{ActivityTimeout: 10 * time.Second, PongTimeout: 5 * time.Second, SigninTimeout: time.Second},
		Deps{Logger: slog.New(slog.NewJSONHandler(logs, nil)), Metrics: metrics.New(prometheus.NewRegistry()), Now: now, Console: feed})
	return h, feed, logs
}

func takeEvents(v *console.Viewer) []console.Event {
	var out []console.Event
	for {
		select {
		case e := <-v.Events():
			out = append(out, e)
		default:
			return out
		}
	}
}

// auditLines returns the "auth failed" lines of a JSON log.
func auditLines(t *testing.T, logs *testlog.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if m["msg"] == console.AuthMessage {
			out = append(out, m)
		}
	}
	return out
}

// TestConsoleSeesHubEvents: a watched app sees its subscriptions (made,
// refused, ended), members, client events and failed authorizations;
// another app's viewer sees none of them.
func TestConsoleSeesHubEvents(t *testing.T) {
	h, feed, logs := consoleHub(t, nil)
	v, cancel, err := feed.Watch("1", console.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	defer cancel()
	other, cancelOther, _ := feed.Watch("2", console.Filter{})
	defer cancelOther()

	a, _ := connect(t, h, testApp)
	b, _ := connect(t, h, testApp)
	_ = h.Subscribe(ctx, a, protocol.SubscribeData{Channel: "public"})
	_ = h.Subscribe(ctx, a, protocol.SubscribeData{Channel: "private-x", Auth: "app-key:" + strings.Repeat("0", 64)})
	_ = h.Subscribe(ctx, a, protocol.SubscribeData{Channel: "#reserved"})
	_ = h.Subscribe(ctx, a, presence(a, "presence-r", `{"user_id":"u1"}`))
	_ = h.Subscribe(ctx, b, presence(b, "presence-r", `{"user_id":"u2"}`))
	data := `{"text":"` + strings.Repeat("x", 500) + `"}`
	if err := h.ClientEvent(ctx, a, protocol.Frame{Event: "client-msg", Channel: "presence-r", Data: json.RawMessage(data)}); err != nil {
		t.Fatal(err)
	}
	h.Unsubscribe(ctx, a, "public")
	_ = h.Signin(ctx, a, protocol.SigninData{UserData: `{"id":"u1"}`, Auth: "app-key:bad"})
	_ = h.Subscribe(ctx, b, protocol.SubscribeData{Channel: "#server-to-user-u9"})
	h.Disconnect(a)

	got := takeEvents(v)
	var rows []string
	for _, e := range got {
		extra := e.User + e.Reason
		if e.Type == console.Unsubscribed {
			extra = e.Detail
		}
		rows = append(rows, e.Type.String()+"|"+e.Channel+"|"+e.SocketID+"|"+extra)
	}
	want := []string{
		"subscribed|public|" + a.SocketID() + "|",
		"auth_failed|private-x|" + a.SocketID() + "|bad_signature",
		"subscription_failed|#reserved|" + a.SocketID() + "|InvalidChannel",
		"member_added|presence-r||u1",
		"subscribed|presence-r|" + a.SocketID() + "|",
		"member_added|presence-r||u2",
		"subscribed|presence-r|" + b.SocketID() + "|",
		"client_event|presence-r|" + a.SocketID() + "|u1",
		"unsubscribed|public|" + a.SocketID() + "|",
		"auth_failed||" + a.SocketID() + "|signin_refused",
		"auth_failed|#server-to-user-u9|" + b.SocketID() + "|channel_refused",
		"member_removed|presence-r||u1",
		"unsubscribed|presence-r|" + a.SocketID() + "|disconnected",
	}
	if strings.Join(rows, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(rows, "\n"), strings.Join(want, "\n"))
	}
	for _, e := range got {
		switch e.Type {
		case console.ClientEvent:
			if e.Event != "client-msg" || e.Bytes != len(data) || len(e.Data) > console.MaxPreview+len("…") || !strings.HasPrefix(data, strings.TrimSuffix(e.Data, "…")) {
				t.Errorf("client event: %+v", e)
			}
		case console.AuthFailed:
			if e.Remote != "test" {
				t.Errorf("auth_failed without the remote address: %+v", e)
			}
		}
	}
	if n := len(takeEvents(other)); n != 0 {
		t.Errorf("another app's viewer got %d events", n)
	}

	// Each failure kind has its audit line.
	lines := auditLines(t, logs)
	wantAudit := []struct{ reason, where string }{
		{"bad_signature", "channel=private-x"}, {"signin_refused", "endpoint=pusher:signin"}, {"channel_refused", "channel=#server-to-user-u9"},
	}
	if len(lines) != len(wantAudit) {
		t.Fatalf("%d audit lines, want %d:\n%s", len(lines), len(wantAudit), logs.String())
	}
	for i, w := range wantAudit {
		l := lines[i]
		k, val, _ := strings.Cut(w.where, "=")
		if l["reason"] != w.reason || l[k] != val || l["audit"] != true || l["app_id"] != "1" || l["app_key"] != "app-key" ||
			l["remote"] != "test" || l["socket_id"] == "" || l["level"] != "WARN" || l["component"] != "hub" {
			t.Errorf("audit line %d: %v", i, l)
		}
	}
	if strings.Contains(logs.String(), testApp.Secret) || strings.Contains(logs.String(), strings.Repeat("0", 64)) {
		t.Error("a secret or the client's signature in the log")
	}
}

func TestAuditSigninTimeout(t *testing.T) {
	now := time.Unix(1000, 0)
	h, feed, logs := consoleHub(t, func() time.Time { return now })
	v, cancel, _ := feed.Watch("1", console.Filter{Types: console.TypesOf(console.AuthFailed)})
	defer cancel()
	app := *testApp
	app.RequireSignin = true
	c, _ := connect(t, h, &app)
	now = now.Add(2 * time.Second)
	h.sweep()
	lines := auditLines(t, logs)
	if len(lines) != 1 || lines[0]["reason"] != "signin_timeout" || lines[0]["socket_id"] != c.SocketID() || lines[0]["endpoint"] != "pusher:signin" {
		t.Fatalf("audit lines %v", lines)
	}
	if got := takeEvents(v); len(got) != 1 || got[0].Reason != console.ReasonSigninTimeout {
		t.Errorf("console: %+v", got)
	}
}

// TestNoConsoleNoEvents: a hub built without a feed works as before.
func TestNoConsoleNoEvents(t *testing.T) {
	h := newHub(t, nil)
	c, _ := connect(t, h, testApp)
	if err := h.Subscribe(ctx, c, protocol.SubscribeData{Channel: "private-x", Auth: "app-key:bad"}); err == nil {
		t.Fatal("bad signature accepted")
	}
	h.Disconnect(c)
}
