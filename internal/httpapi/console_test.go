package httpapi

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/internal/apps"
	"github.com/heraldhq/herald/internal/broker/memory"
	"github.com/heraldhq/herald/internal/console"
	"github.com/heraldhq/herald/internal/metrics"
	"github.com/heraldhq/herald/internal/signing"
	"github.com/heraldhq/herald/internal/testlog"
)

// consoleAPI is an API with a debug console feed and a JSON log; app 4 has
// a rate limit of one request.
func consoleAPI(t *testing.T) (*API, *console.Feed, *testlog.Buffer) {
	t.Helper()
	store, err := apps.NewStatic([]apps.App{
		{ID: "1", Key: cred1.Key, Secret: cred1.Secret, Enabled: true},
		{ID: "4", Key: "key-4", Secret: "secret-4", Enabled: true, APIRateLimit: 1, APIRateBurst: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	logs := &testlog.Buffer{}
	feed := console.New(console.Config{}, console.Deps{})
	b := &fakeBackend{limits: memory.New(memory.Config{Now: func() time.Time { return testNow }}, nopHandler{})}
	api := New(Config{}, Deps{Backend: b, Apps: store, Metrics: metrics.New(prometheus.NewRegistry()),
		Logger: slog.New(slog.NewJSONHandler(logs, nil)), Now: func() time.Time { return testNow }, Console: feed})
	return api, feed, logs
}

func send(api *API, method, path string, body []byte, cred signing.Credential, ts time.Time) int {
	q := signing.SignRequest(cred, method, path, nil, body, ts)
	req := httptest.NewRequest(method, path+"?"+q.Encode(), bytes.NewReader(body))
	req.RemoteAddr = "192.0.2.7:4000"
	rec := httptest.NewRecorder()
	api.ServeHTTP(rec, req)
	return rec.Code
}

func viewerEvents(v *console.Viewer) []console.Event {
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

// TestConsoleSeesPublishes: triggers and batches show one api_message per
// channel, with a preview of the data, never more.
func TestConsoleSeesPublishes(t *testing.T) {
	api, feed, _ := consoleAPI(t)
	v, cancel, _ := feed.Watch("1", console.Filter{})
	defer cancel()
	big := strings.Repeat("d", 1000)
	ev, _ := json.Marshal(map[string]any{"name": "price", "data": big, "channels": []string{"a", "b"}, "socket_id": "1.2"})
	if code := send(api, "POST", "/apps/1/events", ev, cred1, testNow); code != 200 {
		t.Fatalf("trigger: %d", code)
	}
	batch := []byte(`{"batch":[{"name":"e1","data":"{\"x\":1}","channel":"c"},{"name":"e2","data":"y","channel":"d"}]}`)
	if code := send(api, "POST", "/apps/1/batch_events", batch, cred1, testNow); code != 200 {
		t.Fatalf("batch: %d", code)
	}
	got := viewerEvents(v)
	var rows []string
	for _, e := range got {
		if e.Type != console.APIMessage {
			t.Errorf("unexpected %+v", e)
		}
		rows = append(rows, e.Channel+"/"+e.Event+"/"+e.SocketID)
	}
	if want := "a/price/1.2 b/price/1.2 c/e1/ d/e2/"; strings.Join(rows, " ") != want {
		t.Errorf("api messages %q, want %q", strings.Join(rows, " "), want)
	}
	if e := got[0]; e.Bytes != 1000 || len(e.Data) > console.MaxPreview+len("…") {
		t.Errorf("preview: bytes %d, data %d bytes", e.Bytes, len(e.Data))
	}
	if got[2].Data != `{"x":1}` {
		t.Errorf("batch data %q", got[2].Data)
	}
}

// TestAuditAPIFailures: each kind of failed REST authorization writes its
// audit line (never the signature sent) and shows on the console.
func TestAuditAPIFailures(t *testing.T) {
	api, feed, logs := consoleAPI(t)
	v, cancel, _ := feed.Watch("1", console.Filter{Types: console.TypesOf(console.AuthFailed)})
	defer cancel()
	v4, cancel4, _ := feed.Watch("4", console.Filter{})
	defer cancel4()
	wrong := signing.Credential{Key: cred1.Key, Secret: "wrong"}
	send(api, "GET", "/apps/1/channels", nil, wrong, testNow)
	send(api, "GET", "/apps/1/channels", nil, cred1, testNow.Add(-time.Hour))
	send(api, "GET", "/apps/1/channels", nil, signing.Credential{Key: "nobody", Secret: "x"}, testNow)
	cred4 := signing.Credential{Key: "key-4", Secret: "secret-4"}
	send(api, "GET", "/apps/4/channels", nil, cred4, testNow)
	if code := send(api, "GET", "/apps/4/channels", nil, cred4, testNow); code != 429 {
		t.Fatalf("rate limit: %d", code)
	}
	send(api, "GET", "/apps/9/channels", nil, cred1, testNow) // unknown app id: 404, not an authorization

	var audit []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatal(err)
		}
		if m["msg"] == console.AuthMessage {
			audit = append(audit, m)
		}
	}
	want := []struct{ app, key, reason string }{
		{"1", cred1.Key, "bad_signature"}, {"1", cred1.Key, "expired_timestamp"}, {"1", "nobody", "unknown_key"}, {"4", "key-4", "rate_limited"},
	}
	if len(audit) != len(want) {
		t.Fatalf("%d audit lines, want %d:\n%s", len(audit), len(want), logs.String())
	}
	for i, w := range want {
		l := audit[i]
		if l["app_id"] != w.app || l["app_key"] != w.key || l["reason"] != w.reason || l["endpoint"] != "channels" ||
			l["remote"] != "192.0.2.7:4000" || l["socket_id"] != "" || l["audit"] != true || l["level"] != "WARN" {
			t.Errorf("audit line %d: %v", i, l)
		}
	}
	sig := signing.SignRequest(wrong, "GET", "/apps/1/channels", nil, nil, testNow).Get("auth_signature")
	if strings.Contains(logs.String(), sig) || strings.Contains(logs.String(), cred1.Secret) {
		t.Error("a signature or secret in the log")
	}

	var reasons []string
	for _, e := range viewerEvents(v) {
		reasons = append(reasons, e.Reason+"@"+e.Endpoint)
	}
	if got := strings.Join(reasons, " "); got != "bad_signature@channels expired_timestamp@channels unknown_key@channels" {
		t.Errorf("console of app 1: %s", got)
	}
	if got := viewerEvents(v4); len(got) != 1 || got[0].Reason != "rate_limited" || got[0].Remote != "192.0.2.7:4000" {
		t.Errorf("console of app 4: %+v", got)
	}
}
