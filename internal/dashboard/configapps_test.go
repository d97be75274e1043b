package dashboard

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/apps"
	"github.com/heraldhq/herald/internal/console"
	"github.com/heraldhq/herald/internal/stats"
)

const cfgSecret = "config-file-secret-0123456789abcdef"

// configList is the config file of the tests: cfg-app, with a webhook and
// a limit, and shared, whose id the app store has too.
func configList(t *testing.T, list ...apps.App) *apps.Reloadable {
	t.Helper()
	if list == nil {
		list = []apps.App{
			{ID: "cfg-app", Key: "cfg-key", Secret: cfgSecret, Enabled: true, EnableClientMessages: true, MaxConnections: 50,
				Webhooks: []apps.Webhook{{URL: hookA, EventTypes: []string{"channel_occupied"}}}},
			{ID: "shared", Key: "shared-cfg-key", Secret: cfgSecret, Enabled: true},
		}
	}
	st, err := apps.NewStatic(list)
	if err != nil {
		t.Fatal(err)
	}
	return apps.NewReloadable(st)
}

// alertingStats is a stats store whose alerts are set by the test.
type alertingStats struct {
	*stats.Store
	alerts map[string][]stats.Alert
}

func (a *alertingStats) Alerts(app string) []stats.Alert { return a.alerts[app] }

func (a *alertingStats) AlertCounts() map[string]int {
	out := map[string]int{}
	for app, list := range a.alerts {
		out[app] = len(list)
	}
	return out
}

type configFixture struct {
	*harness
	config  *apps.Reloadable
	feed    *console.Feed
	trigger *fakeTrigger
	tester  *fakeTester
}

// configHarness is a logged-in dashboard with every page (charts, console,
// event creator, test webhooks), the config file of configList and, in
// the app store, shared (shadowed by id), clash (by key) and own.
func configHarness(t *testing.T) *configFixture {
	t.Helper()
	f := &configFixture{config: configList(t), tester: &fakeTester{res: WebhookTestResult{Status: 200, Body: "ok"}}}
	f.harness = newHarness(t, harnessOpts{configApps: f.config.All})
	st, err := stats.Open(stats.Config{}, stats.Deps{Now: f.clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f.feed = console.New(console.Config{}, console.Deps{})
	t.Cleanup(f.feed.Close)
	f.trigger = &fakeTrigger{feed: f.feed}
	f.h = New(Config{Token: testToken}, Deps{Apps: f.apps, ConfigApps: f.config.All, Conns: f.conns, SecretUse: f.uses,
		Stats:   &alertingStats{Store: st, alerts: map[string][]stats.Alert{"cfg-app": {{Kind: stats.AlertAuthFailures, Since: f.clock(), Count: 240, Baseline: 3}}}},
		Console: f.feed, Trigger: f.trigger, WebhookTester: f.tester,
		Logger: slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})), Now: f.clock})
	for _, a := range []apps.App{
		{ID: "shared", Key: "shared-store-key", Secret: strings.Repeat("s", 64), Enabled: true},
		{ID: "clash", Key: "cfg-key", Secret: strings.Repeat("s", 64), Enabled: true},
		{ID: "own", Key: "own-key", Secret: strings.Repeat("s", 64), Enabled: true},
	} {
		if err := f.apps.Create(context.Background(), &a); err != nil {
			t.Fatal(err)
		}
	}
	f.login()
	return f
}

// section returns the part of body from the element with id to the end
// of its section.
func section(t *testing.T, body, id string) string {
	t.Helper()
	i := strings.Index(body, `id="`+id+`"`)
	if i < 0 {
		t.Fatalf("no #%s in the page:\n%s", id, body)
	}
	s := body[i:]
	if j := strings.Index(s, "</section>"); j >= 0 {
		s = s[:j]
	}
	return s
}

func TestConfigAppsList(t *testing.T) {
	f := configHarness(t)
	f.conns.n["cfg-app"] = 7
	r := f.get("/")
	f.want(r, http.StatusOK, "From the config file", "App store", `href="/apps/new"`)
	cfg := section(t, r.body, "config-apps")
	for _, s := range []string{`href="/apps/cfg-app">cfg-app</a>`, "<code>cfg-key</code>", `href="/apps/shared">shared</a>`,
		`<td class="num">7</td>`, `class="badge alert" href="/apps/cfg-app"`, "1 alert",
		`href="/apps/cfg-app/stats">Charts</a>`, `href="/apps/cfg-app/console">Console</a>`} {
		if !strings.Contains(cfg, s) {
			t.Errorf("the config apps' table lacks %q:\n%s", s, cfg)
		}
	}
	if n := strings.Count(cfg, `<span class="badge config"`); n != 2 {
		t.Errorf("%d config-file markers, want 2:\n%s", n, cfg)
	}
	if strings.Contains(cfg, "enabled") || strings.Contains(cfg, "own-key") || strings.Contains(cfg, "shared-store-key") {
		t.Errorf("the config apps' table has a state or a stored app:\n%s", cfg)
	}

	// The app store's table: every stored app, those hidden by a config
	// app marked with the reason.
	store := r.body[strings.Index(r.body, "<h2>App store</h2>"):]
	f.want(resp{code: 200, body: store}, 200, "shared-store-key", "own-key",
		"Shadowed by the config file&#39;s app with the same id",
		"Key shadowed: connections with this key go to the config file&#39;s app cfg-app.")
	if n := strings.Count(store, `<tr class="shadowed">`); n != 2 {
		t.Errorf("%d shadowed rows, want 2 (shared and clash):\n%s", n, store)
	}
	if i := strings.Index(store, `href="/apps/own"`); i < 0 || strings.Contains(store[i:i+strings.Index(store[i:], "</tr>")], "shadowed") {
		t.Error("own is marked shadowed, or missing")
	}

	// SIGHUP swaps the config file's apps: the list follows.
	st, err := apps.NewStatic([]apps.App{{ID: "cfg-app", Key: "cfg-key-2", Secret: cfgSecret, Enabled: false}})
	if err != nil {
		t.Fatal(err)
	}
	f.config.Replace(st)
	r = f.get("/")
	cfg = section(t, r.body, "config-apps")
	if !strings.Contains(cfg, "cfg-key-2") || !strings.Contains(cfg, `<span class="off">disabled</span>`) || strings.Contains(cfg, `href="/apps/shared"`) {
		t.Errorf("the list did not follow the reload:\n%s", cfg)
	}
	if n := strings.Count(r.body, `<tr class="shadowed">`); n != 0 {
		t.Errorf("%d shadowed rows after the reload, want 0", n)
	}
}

func TestConfigAppPage(t *testing.T) {
	f := configHarness(t)
	r := f.get("/apps/cfg-app")
	f.want(r, http.StatusOK, `<code id="app-id">cfg-app</code>`, `<code id="app-key">cfg-key</code>`, `id="config-note"`,
		"Defined in the config file: edit it there and send SIGHUP to the server (or restart it).",
		`action="/apps/cfg-app/reveal"`, `href="/apps/cfg-app/stats"`, `href="/apps/cfg-app/console"`,
		"Spike in failed authorizations", `id="snippet-js"`, `id="snippet-node"`,
		"<dt>Max connections</dt><dd>50 ", "<dt>Client events</dt><dd>on</dd>", "<code>"+hookA+"</code>",
		"previous_secrets")
	for _, s := range []string{cfgSecret, `/edit"`, `/enable"`, `/disable"`, `/rotate"`, `/delete"`, `id="shadowed"`} {
		if strings.Contains(r.body, s) {
			t.Errorf("the config app's page has %q", s)
		}
	}

	// The secret, through the same POST as a stored app's.
	r = f.post("/apps/cfg-app/reveal", nil)
	f.want(r, http.StatusOK, `<code id="app-secret" class="secret">`+cfgSecret+`</code>`, `id="config-note"`)
	if !strings.Contains(f.logs.String(), "app secret revealed") || strings.Contains(f.logs.String(), cfgSecret) {
		t.Error("the reveal is not logged, or the secret is")
	}
	f.want(f.post("/apps/cfg-app/reveal", url.Values{csrfField: {"wrong"}}), http.StatusForbidden)

	// An id of both: the config app is shown (it is what is served), with
	// a word about the stored one.
	r = f.get("/apps/shared")
	f.want(r, http.StatusOK, `<code id="app-key">shared-cfg-key</code>`, `id="config-note"`, `id="shadowed"`,
		"The app store has an app with this id too")
	if strings.Contains(r.body, "shared-store-key") {
		t.Error("the shadowed stored app's key is shown as the app's")
	}
	// A stored app whose key a config app has: its own page, with the
	// forms, and the warning.
	r = f.get("/apps/clash")
	f.want(r, http.StatusOK, `href="/apps/clash/edit"`, `action="/apps/clash/rotate"`, `id="shadowed"`, "Key shadowed")
	if r := f.get("/apps/own"); strings.Contains(r.body, `id="shadowed"`) || strings.Contains(r.body, `id="config-note"`) {
		t.Error("a plain stored app's page is marked")
	}
	f.want(f.get("/apps/nope"), http.StatusNotFound)
}

func TestConfigAppsReadOnly(t *testing.T) {
	f := configHarness(t)
	before := f.app("shared")
	for _, id := range []string{"cfg-app", "shared"} {
		for _, c := range []struct {
			method, path string
			form         url.Values
		}{
			{"GET", "/edit", nil},
			{"POST", "/edit", url.Values{"key": {"changed-key"}}},
			{"POST", "/enable", nil},
			{"POST", "/disable", nil},
			{"POST", "/rotate", url.Values{"grace": {"1h"}}},
			{"GET", "/delete", nil},
			{"POST", "/delete", url.Values{"confirm": {id}}},
		} {
			var r resp
			if c.method == "GET" {
				r = f.get("/apps/" + id + c.path)
			} else {
				r = f.post("/apps/"+id+c.path, c.form)
			}
			if r.code != http.StatusConflict || !strings.Contains(r.body, "is defined in the config file") ||
				!strings.Contains(r.body, "send SIGHUP") || strings.Contains(r.body, "<form class=\"card") {
				t.Errorf("%s /apps/%s%s: %d\n%s", c.method, id, c.path, r.code, r.body)
			}
		}
	}
	// Nothing changed: the stored app of the same id neither.
	after := f.app("shared")
	if after.Key != before.Key || after.Secret != before.Secret || !after.Enabled || len(after.PreviousSecrets) != 0 {
		t.Errorf("the shadowed stored app changed: %+v", after)
	}
	if a, err := f.config.ByID(context.Background(), "cfg-app"); err != nil || a.Key != "cfg-key" {
		t.Errorf("the config app: %v %v", a, err)
	}
	// Stored apps are still managed.
	f.wantRedirect(f.post("/apps/own/disable", nil), "/apps/own?notice=disabled")
	f.want(f.post("/apps/nope/disable", nil), http.StatusNotFound)
}

func TestConfigAppConsoleAndCharts(t *testing.T) {
	f := configHarness(t)
	f.want(f.get("/apps/cfg-app/console"), http.StatusOK, "Console of app cfg-app",
		`data-stream="/apps/cfg-app/console/stream"`, `action="/apps/cfg-app/console/trigger"`)

	res, lines := stream(t, f.harness, "/apps/cfg-app/console/stream")
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	next(t, lines, ": watching app")
	f.wantRedirect(f.post("/apps/cfg-app/console/trigger", url.Values{"channel": {"news"}, "event": {"hello"}, "data": {"{}"}}),
		"/apps/cfg-app/console?notice=triggered")
	if got := f.trigger.got(); len(got) != 1 || got[0][0] != "cfg-app" {
		t.Errorf("trigger calls %v", got)
	}
	if l := next(t, lines, "data: "); !strings.Contains(l, `"type":"api_message","channel":"news"`) {
		t.Errorf("stream: %s", l)
	}

	f.want(f.get("/apps/cfg-app/stats"), http.StatusOK, "Stats of app cfg-app", `<a href="/apps/cfg-app">App cfg-app</a>`)
	getData(t, f.harness, "/stats/data?app=cfg-app&range=1h")
	f.want(f.get("/apps/nope/stats"), http.StatusNotFound)
}

func TestConfigAppWebhookTest(t *testing.T) {
	f := configHarness(t)
	page := f.get("/apps/cfg-app")
	f.want(page, http.StatusOK, `action="/apps/cfg-app/webhooks/test"`,
		`<button type="submit" name="url" value="`+hookA+`">Send test webhook</button>`)

	r := f.post("/apps/cfg-app/webhooks/test", url.Values{"url": {hookA}})
	f.want(r, http.StatusOK, `id="webhook-test-result"`, "200 OK", `id="config-note"`, `<code id="app-key">cfg-key</code>`)
	if strings.Contains(r.body, `/edit"`) || strings.Contains(r.body, cfgSecret) {
		t.Error("the answer's page has an edit link or the secret")
	}
	if got := f.tester.called(); len(got) != 1 || got[0] != (testCall{"cfg-app", cfgSecret, hookA}) {
		t.Errorf("tests %+v", got)
	}
	f.want(f.post("/apps/cfg-app/webhooks/test", url.Values{"url": {hookB}}), http.StatusUnprocessableEntity,
		"only a webhook URL of this app in the config file can be tested", `id="config-note"`)
	f.advance(time.Millisecond)
	r = f.post("/apps/cfg-app/webhooks/test", url.Values{"url": {hookA}})
	f.want(r, http.StatusTooManyRequests, "Not sent: a test webhook of this app went out less than", `id="config-note"`)
	if n := len(f.tester.called()); n != 1 {
		t.Errorf("%d tests sent, want 1", n)
	}
}

// Without an app store, the config file's apps still have their pages.
func TestConfigAppsWithoutAppStore(t *testing.T) {
	hs := newHarness(t, harnessOpts{noApps: true, configApps: configList(t).All})
	hs.login()
	r := hs.get("/")
	hs.want(r, http.StatusOK, "From the config file", `href="/apps/cfg-app">cfg-app</a>`, "There is no app store", "database_url")
	if strings.Contains(r.body, `href="/apps/new"`) || strings.Contains(r.body, "<h2>App store</h2>") {
		t.Error("offers to create an app without a store")
	}
	hs.want(hs.get("/apps/cfg-app"), http.StatusOK, `id="config-note"`, `<code id="app-key">cfg-key</code>`)
	hs.want(hs.post("/apps/cfg-app/reveal", nil), http.StatusOK, cfgSecret)
	hs.want(hs.post("/apps/cfg-app/rotate", nil), http.StatusConflict, "is defined in the config file")
	hs.want(hs.get("/apps/nope"), http.StatusNotFound, "There is no app with this id")
	hs.want(hs.post("/apps/nope/edit", url.Values{"key": {"k"}}), http.StatusNotFound)
	hs.want(hs.get("/apps/new"), http.StatusNotFound, "database_url")
}
