package dashboard

import (
	"bufio"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/console"
)

// fakeTrigger records the calls and, like the server's, shows the publish
// in the console as an api_message.
type fakeTrigger struct {
	feed *console.Feed
	err  error

	mu    sync.Mutex
	calls [][4]string
}

func (f *fakeTrigger) Trigger(_ context.Context, appID, channel, event, data string) error {
	f.mu.Lock()
	f.calls = append(f.calls, [4]string{appID, channel, event, data})
	f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.feed.Emit(appID, console.Event{Type: console.APIMessage, Channel: channel, Event: event, Data: data, Bytes: len(data)})
	return nil
}

func (f *fakeTrigger) got() [][4]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][4]string(nil), f.calls...)
}

// consoleHarness is the dashboard with a real console feed and a fake
// trigger, and the apps "shop" and "other".
func consoleHarness(t *testing.T) (*harness, *console.Feed, *fakeTrigger) {
	t.Helper()
	hs := newHarness(t, harnessOpts{})
	feed := console.New(console.Config{}, console.Deps{})
	t.Cleanup(feed.Close)
	tr := &fakeTrigger{feed: feed}
	hs.h = New(Config{Token: testToken}, Deps{Apps: hs.apps, Console: feed, Trigger: tr,
		Logger: slog.New(slog.NewTextHandler(hs.logs, &slog.HandlerOptions{Level: slog.LevelDebug})), Now: hs.clock})
	createApp(t, hs, "shop")
	createApp(t, hs, "other")
	return hs, feed, tr
}

func TestConsoleNeedsSession(t *testing.T) {
	hs, _, tr := consoleHarness(t)
	hs.wantRedirect(hs.get("/apps/shop/console"), "/login")
	hs.wantRedirect(hs.get("/dashboard/apps/shop/console"), "/dashboard/login")
	r := hs.get("/apps/shop/console/stream")
	if r.code != http.StatusUnauthorized || strings.Contains(r.header.Get("Content-Type"), "event-stream") {
		t.Errorf("stream without a session: %d %q", r.code, r.header.Get("Content-Type"))
	}
	if r.header.Get("Content-Security-Policy") == "" {
		t.Error("the stream's 401 lacks the security headers")
	}
	hs.want(hs.post("/apps/shop/console/trigger", url.Values{"channel": {"c"}, "event": {"e"}}), http.StatusUnauthorized)
	if n := len(tr.got()); n != 0 {
		t.Errorf("trigger called %d times without a session", n)
	}
}

func TestConsolePage(t *testing.T) {
	hs, _, _ := consoleHarness(t)
	hs.login()
	hs.want(hs.get("/apps/shop"), http.StatusOK, `<a id="app-console" href="/apps/shop/console">`)
	r := hs.get("/apps/shop/console")
	hs.want(r, http.StatusOK, "<title>Console of app shop · Herald</title>",
		`data-stream="/apps/shop/console/stream"`, `data-max="500"`,
		`id="console-pause"`, `id="console-dropped"`, `id="console-status"`,
		`<form id="console-trigger" method="post" action="/apps/shop/console/trigger">`,
		`name="csrf" value="`+hs.csrf+`"`, `value="api_message"`, `value="auth_failed"`)
	if !regexp.MustCompile(`"/assets/console\.js\?v=[0-9a-f]{12}"`).MatchString(r.body) {
		t.Error("the page does not link console.js")
	}
	// The filter in the page's query (as the form without script sends it)
	// fills the inputs.
	hs.want(hs.get("/apps/shop/console?channel=private-*&types=subscribed&types=api_message"), http.StatusOK,
		`value="private-*"`, `value="subscribed" checked`, `value="api_message" checked`)
	hs.want(hs.get("/apps/shop/console?types=nope"), http.StatusBadRequest, "unknown event type")
	hs.want(hs.get("/dashboard/apps/shop/console"), http.StatusOK, `data-stream="/dashboard/apps/shop/console/stream"`)
	hs.want(hs.get("/apps/nope/console"), http.StatusNotFound)
	hs.want(hs.get("/assets/console.js"), http.StatusOK, "textContent")
	if strings.Contains(hs.get("/assets/console.js").body, "innerHTML") {
		t.Error("console.js uses innerHTML")
	}
}

// TestConsolePagesNoInlineScript: the CSP (default-src 'self') allows no
// inline script, event handler or style.
func TestConsolePagesNoInlineScript(t *testing.T) {
	hs, _, _ := consoleHarness(t)
	hs.login()
	r := hs.get("/apps/shop/console")
	hs.want(r, http.StatusOK)
	tags := regexp.MustCompile(`(?i)<script[^>]*>`).FindAllString(r.body, -1)
	if len(tags) != 2 {
		t.Errorf("scripts: %q", tags)
	}
	for _, tag := range tags {
		if !regexp.MustCompile(`\ssrc="/assets/[^"]+"`).MatchString(tag) {
			t.Errorf("inline script %s", tag)
		}
	}
	if strings.Count(r.body, "<script") != strings.Count(r.body, "></script>") {
		t.Error("a script with a body")
	}
	for _, bad := range []string{"style=", "<style", "javascript:"} {
		if strings.Contains(strings.ToLower(r.body), bad) {
			t.Errorf("the page holds %q", bad)
		}
	}
	if h := regexp.MustCompile(`(?i)\son[a-z]+\s*=`).FindString(r.body); h != "" {
		t.Errorf("an event handler attribute %q", h)
	}
}

func TestConsoleStreamRefused(t *testing.T) {
	hs, _, _ := consoleHarness(t)
	hs.login()
	hs.want(hs.get("/apps/nope/console/stream"), http.StatusNotFound)
	r := hs.get("/apps/shop/console/stream?types=nope")
	hs.want(r, http.StatusBadRequest, "unknown event type")
	r = hs.get("/apps/shop/console/stream?types=" + strings.Repeat("subscribed,", 5000))
	hs.want(r, http.StatusBadRequest, "too many event types")
	r = hs.get("/apps/shop/console/stream?channel=" + strings.Repeat("x", 300))
	hs.want(r, http.StatusBadRequest, "longer than 256")
	if r := hs.do("HEAD", "/apps/shop/console/stream", nil, nil); r.code != http.StatusOK || r.body != "" ||
		r.header.Get("Content-Type") != "text/event-stream" {
		t.Errorf("HEAD stream: %d %q, %d bytes", r.code, r.header.Get("Content-Type"), len(r.body))
	}
	if r := hs.post("/apps/shop/console/stream", nil); r.code != http.StatusMethodNotAllowed {
		t.Errorf("POST stream: %d", r.code)
	}
}

// stream opens the console stream of target on a real server with the
// harness's cookies; lines delivers its lines until the context ends.
func stream(t *testing.T, hs *harness, target string) (*http.Response, <-chan string) {
	t.Helper()
	srv := httptest.NewServer(hs.h)
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, "GET", srv.URL+target, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range hs.cookies {
		req.AddCookie(&http.Cookie{Name: name, Value: v})
	}
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	return res, lines
}

// next returns the next line starting with prefix, failing after a bound.
func next(t *testing.T, lines <-chan string, prefix string) string {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("the stream ended before a %q line", prefix)
			}
			if strings.HasPrefix(l, prefix) {
				return l
			}
		case <-deadline:
			t.Fatalf("no %q line within 5s", prefix)
		}
	}
}

func TestConsoleStream(t *testing.T) {
	hs, feed, _ := consoleHarness(t)
	hs.login()
	res, lines := stream(t, hs, "/apps/shop/console/stream?channel=orders*")
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	for k, v := range map[string]string{"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
		"Content-Security-Policy": securityHeaders["Content-Security-Policy"]} {
		if got := res.Header.Get(k); got != v {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
	if res.Header.Get("Content-Encoding") != "" || res.Header.Get("Content-Length") != "" {
		t.Errorf("the stream is encoded or sized: %v", res.Header)
	}
	next(t, lines, ": watching app") // the viewer is registered
	if !feed.Watching("shop") || feed.Watching("other") {
		t.Fatal("the feed does not report the viewer of shop only")
	}
	// Another app's event, and one of shop outside the filter, come first:
	// the first message must be shop's matching one.
	feed.Emit("other", console.Event{Type: console.Subscribed, Channel: "orders-other", SocketID: "1.1"})
	feed.Emit("shop", console.Event{Type: console.Subscribed, Channel: "chat", SocketID: "1.2"})
	feed.Emit("shop", console.Event{Type: console.Subscribed, Channel: "orders-7", SocketID: "1.3"})
	got := next(t, lines, "data: ")
	if !strings.HasPrefix(got, `data: {"time":`) || !strings.Contains(got, `"type":"subscribed","channel":"orders-7","socket_id":"1.3"`) {
		t.Errorf("first message %s", got)
	}
}

func TestConsoleStreamEndsWithRequest(t *testing.T) {
	hs, feed, _ := consoleHarness(t)
	hs.login()
	srv := httptest.NewServer(hs.h)
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/dashboard/apps/shop/console/stream", nil)
	for name, v := range hs.cookies {
		req.AddCookie(&http.Cookie{Name: name, Value: v})
	}
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("stream: %d", res.StatusCode)
	}
	if _, err := bufio.NewReader(res.Body).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for feed.Watching("shop") {
		if time.Now().After(deadline) {
			t.Fatal("the viewer outlived its request")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestConsoleTrigger(t *testing.T) {
	hs, _, tr := consoleHarness(t)
	hs.login()
	res, lines := stream(t, hs, "/apps/shop/console/stream?types=api_message")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("stream: %d", res.StatusCode)
	}
	next(t, lines, ": watching app")

	form := url.Values{"channel": {" orders "}, "event": {"created"}, "data": {`{"id":1}`}}
	// Without the CSRF token, or with another, nothing is published.
	noToken := hs.do("POST", "/apps/shop/console/trigger", strings.NewReader(form.Encode()),
		http.Header{"Content-Type": {"application/x-www-form-urlencoded"}})
	hs.want(noToken, http.StatusForbidden)
	bad := url.Values{"channel": {"orders"}, "event": {"created"}, csrfField: {"forged"}}
	hs.want(hs.post("/apps/shop/console/trigger", bad), http.StatusForbidden)
	if n := len(tr.got()); n != 0 {
		t.Fatalf("trigger called %d times without a valid token", n)
	}

	hs.wantRedirect(hs.post("/apps/shop/console/trigger", form), "/apps/shop/console?notice=triggered")
	if got := tr.got(); len(got) != 1 || got[0] != [4]string{"shop", "orders", "created", `{"id":1}`} {
		t.Fatalf("calls %q", got)
	}
	msg := next(t, lines, "data: ")
	if !strings.Contains(msg, `"type":"api_message","channel":"orders","event":"created"`) || !strings.Contains(msg, `"data":"{\"id\":1}"`) {
		t.Errorf("message %s", msg)
	}
	hs.want(hs.get("/apps/shop/console?notice=triggered"), http.StatusOK, "Event published.")

	// A script asks for JSON.
	js := hs.do("POST", "/apps/shop/console/trigger",
		strings.NewReader(url.Values{"channel": {"a"}, "event": {"b"}, csrfField: {hs.csrf}}.Encode()),
		http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Accept": {"application/json"}})
	hs.want(js, http.StatusOK, `{"ok":true}`)

	// The API's refusal is shown: as JSON, and on the page with the
	// form refilled.
	tr.err = errTest("413 the data is larger than 10 KiB")
	js = hs.do("POST", "/apps/shop/console/trigger",
		strings.NewReader(url.Values{"channel": {"a"}, "event": {"b"}, csrfField: {hs.csrf}}.Encode()),
		http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Accept": {"application/json"}})
	hs.want(js, http.StatusUnprocessableEntity, `{"error":"413 the data is larger than 10 KiB"}`)
	hs.want(hs.post("/apps/shop/console/trigger", form), http.StatusUnprocessableEntity,
		"Not published: 413 the data is larger than 10 KiB", `value="orders"`, `value="created"`, `{&#34;id&#34;:1}</textarea>`)

	// Missing fields are refused before the trigger; unknown apps are 404.
	n := len(tr.got())
	hs.want(hs.post("/apps/shop/console/trigger", url.Values{"channel": {"a"}}), http.StatusUnprocessableEntity, "A channel and an event name are needed.")
	hs.want(hs.post("/apps/nope/console/trigger", form), http.StatusNotFound)
	if len(tr.got()) != n {
		t.Error("the trigger was called for a refused form")
	}
}

type errTest string

func (e errTest) Error() string { return string(e) }

func TestConsoleOff(t *testing.T) {
	hs := newHarness(t, harnessOpts{})
	createApp(t, hs, "shop")
	hs.login()
	r := hs.get("/apps/shop")
	hs.want(r, http.StatusOK)
	if strings.Contains(r.body, "/console") {
		t.Error("the app page links a console that does not exist")
	}
	for _, p := range []string{"/apps/shop/console", "/apps/shop/console/stream"} {
		hs.want(hs.get(p), http.StatusNotFound)
	}

	// A console without a trigger: no event creator.
	feed := console.New(console.Config{}, console.Deps{})
	defer feed.Close()
	hs.h = New(Config{Token: testToken}, Deps{Apps: hs.apps, Console: feed, Now: hs.clock})
	hs.login()
	r = hs.get("/apps/shop/console")
	hs.want(r, http.StatusOK, `data-stream="/apps/shop/console/stream"`)
	if strings.Contains(r.body, "console-trigger") {
		t.Error("an event creator without a Trigger")
	}
	hs.want(hs.post("/apps/shop/console/trigger", url.Values{"channel": {"a"}, "event": {"b"}}), http.StatusNotFound)
}
