package test

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/config"
)

// The dashboard is served on the admin listener only: its login page is
// there, and nothing of it answers on the public port.
func TestDashboardOnlyOnAdminListener(t *testing.T) {
	t.Setenv("HERALD_ADMIN_TOKEN", adminToken)
	s := startServer(t, func(c *config.Config) { c.DataDir = t.TempDir() })
	noRedirect := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(base, path string) (int, string, http.Header) {
		t.Helper()
		resp, err := noRedirect.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	admin := "http://" + s.admin
	if code, body, _ := get(admin, "/login"); code != 200 || !strings.Contains(body, "<form") {
		t.Fatalf("admin /login: %d %.200s", code, body)
	}
	if code, _, h := get(admin, "/"); code/100 != 3 || !strings.Contains(h.Get("Location"), "/login") {
		t.Fatalf("admin / without a session: %d, Location %q", code, h.Get("Location"))
	}
	if code, _, _ := get(admin, "/metrics"); code != 200 {
		t.Fatalf("admin /metrics: %d", code)
	}
	for _, p := range []string{"/login", "/dashboard/", "/apps/new", "/assets/dashboard.css"} {
		if code, body, _ := get(s.baseURL(), p); code != 404 || strings.Contains(body, "<form") {
			t.Fatalf("public %s: %d %.200s", p, code, body)
		}
	}
}

// The dashboard end to end over HTTP: log in with the admin token, publish
// from the console's event creator to a connected client (through the
// HTTP API's own path), and see the publish in the console's live stream.
func TestDashboardConsoleAndEventCreator(t *testing.T) {
	t.Setenv("HERALD_ADMIN_TOKEN", adminToken)
	s := startServer(t, func(c *config.Config) { c.DataDir = t.TempDir() })
	admin := "http://" + s.admin
	jar, _ := cookiejar.New(nil)
	cl := &http.Client{Timeout: 5 * time.Second, Jar: jar}
	csrfOf := func(page string) string {
		t.Helper()
		m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("no CSRF token in %.300s", page)
		}
		return m[1]
	}
	getPage := func(path string) string {
		t.Helper()
		resp, err := cl.Get(admin + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %.300s", path, resp.StatusCode, b)
		}
		return string(b)
	}
	post := func(path string, form url.Values) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", admin+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", admin)
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := post("/login", url.Values{"csrf": {csrfOf(getPage("/login"))}, "token": {"wrong-token-0123456789"}}); code != 401 {
		t.Fatalf("wrong token: %d", code)
	}
	if code, body := post("/login", url.Values{"csrf": {csrfOf(getPage("/login"))}, "token": {adminToken}}); code != 200 {
		t.Fatalf("login: %d %.300s", code, body)
	}

	// The config file's app is listed, read-only.
	if list := getPage("/"); !strings.Contains(list, `<a href="/apps/`+appID+`">`+appID+`</a>`) || !strings.Contains(list, `class="badge config"`) {
		t.Fatalf("the app list lacks the config file's app %s: %.3000s", appID, list)
	}

	// Create an app in the app store.
	code, body := adminCall(t, s, "POST", "/admin/apps", `{}`)
	var app struct{ ID, Key string }
	if code != 201 || json.Unmarshal(body, &app) != nil {
		t.Fatalf("create app: %d %s", code, body)
	}
	ws := connectKey(t, s, app.Key)
	ws.subscribe("news")

	// The console's stream, watching the app.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", admin+"/apps/"+app.ID+"/console/stream?channel=news", nil)
	resp, err := (&http.Client{Jar: jar}).Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("console stream: %v %v", resp, err)
	}
	defer resp.Body.Close()
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()

	page := getPage("/apps/" + app.ID + "/console")
	if code, body := post("/apps/"+app.ID+"/console/trigger", url.Values{"csrf": {csrfOf(page)},
		"channel": {"news"}, "event": {"hello"}, "data": {`{"from":"dashboard"}`}}); code != 200 && code/100 != 3 {
		t.Fatalf("trigger: %d %.300s", code, body)
	}
	f := ws.waitEvent("hello", "news")
	if got := f.dataString(t); got != `{"from":"dashboard"}` {
		t.Fatalf("client got %q", got)
	}
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("console stream ended before the publish showed")
			}
			if strings.HasPrefix(l, "data: ") && strings.Contains(l, `"api_message"`) && strings.Contains(l, `"hello"`) {
				return
			}
		case <-ctx.Done():
			t.Fatal("the publish did not show in the console stream within 10s")
		}
	}
}

// The settings page's "Send test webhook" button end to end: the receiver
// (on 127.0.0.1) gets one webhook signed with the app's key and secret,
// and the page shows its answer, escaped.
func TestDashboardSendTestWebhook(t *testing.T) {
	type got struct {
		header http.Header
		body   []byte
	}
	received := make(chan got, 4)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		received <- got{r.Header.Clone(), b}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":"<yes>"}`)
	}))
	defer recv.Close()
	hookURL := recv.URL + "/pusher/webhooks"

	t.Setenv("HERALD_ADMIN_TOKEN", adminToken)
	s := startServer(t, func(c *config.Config) { c.DataDir = t.TempDir() })
	const secret = "test-webhook-secret-0123456789"
	code, body := adminCall(t, s, "POST", "/admin/apps",
		`{"secret":"`+secret+`","webhooks":[{"url":"`+hookURL+`","event_types":["member_added"]}]}`)
	var app struct{ ID, Key string }
	if code != 201 || json.Unmarshal(body, &app) != nil {
		t.Fatalf("create app: %d %s", code, body)
	}

	admin := "http://" + s.admin
	jar, _ := cookiejar.New(nil)
	cl := &http.Client{Timeout: 10 * time.Second, Jar: jar}
	send := func(method, path string, form url.Values) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, admin+path, strings.NewReader(form.Encode()))
		if method == "POST" {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", admin)
		}
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	reCSRF := regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	_, login := send("GET", "/login", nil)
	if code, page := send("POST", "/login", url.Values{"csrf": {reCSRF.FindStringSubmatch(login)[1]}, "token": {adminToken}}); code != 200 {
		t.Fatalf("login: %d %.300s", code, page)
	}

	code, page := send("GET", "/apps/"+app.ID+"/edit", nil)
	button := `form="webhook-test" name="url" value="` + hookURL + `"`
	if code != 200 || !strings.Contains(page, button) {
		t.Fatalf("edit page: %d, no test button %s in %.2000s", code, button, page)
	}
	code, page = send("POST", "/apps/"+app.ID+"/webhooks/test", url.Values{"csrf": {reCSRF.FindStringSubmatch(page)[1]}, "url": {hookURL}})
	if code != 200 || !strings.Contains(page, "200 OK") || !strings.Contains(page, `{&#34;ok&#34;:&#34;&lt;yes&gt;&#34;}`) {
		t.Fatalf("test: %d %.3000s", code, page)
	}

	var r got
	select {
	case r = <-received:
	default:
		t.Fatal("the receiver got nothing")
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(r.body)
	switch {
	case r.header.Get("X-Pusher-Key") != app.Key:
		t.Errorf("X-Pusher-Key %q, want %q", r.header.Get("X-Pusher-Key"), app.Key)
	case r.header.Get("X-Pusher-Signature") != hex.EncodeToString(mac.Sum(nil)):
		t.Errorf("signature %q does not verify over %s", r.header.Get("X-Pusher-Signature"), r.body)
	case r.header.Get("Content-Type") != "application/json":
		t.Errorf("Content-Type %q", r.header.Get("Content-Type"))
	}
	var p struct {
		TimeMS int64 `json:"time_ms"`
		Events []struct{ Name, Channel string }
	}
	if err := json.Unmarshal(r.body, &p); err != nil || p.TimeMS == 0 || len(p.Events) != 1 ||
		p.Events[0].Name != "channel_occupied" || p.Events[0].Channel != "herald-webhook-test" {
		t.Errorf("body %s: %+v %v", r.body, p, err)
	}
	if strings.Contains(page, secret) || strings.Contains(page, r.header.Get("X-Pusher-Signature")) {
		t.Error("the result page shows the secret or the signature")
	}
	select {
	case extra := <-received:
		t.Errorf("a second request: %s", extra.body)
	case <-time.After(200 * time.Millisecond):
	}
}
