package dashboard

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/apps"
	"github.com/heraldhq/herald/internal/stats"
)

// statsHarness is the dashboard with a real stats store on the harness's
// clock (2026-03-01 12:00:00 UTC), fed through Record.
func statsHarness(t *testing.T, o harnessOpts) (*harness, *stats.Store) {
	t.Helper()
	hs := newHarness(t, o)
	st, err := stats.Open(stats.Config{}, stats.Deps{Now: hs.clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	hs.h = New(Config{Token: testToken}, Deps{Apps: hs.apps, Stats: st,
		Logger: slog.New(slog.NewTextHandler(hs.logs, &slog.HandlerOptions{Level: slog.LevelDebug})), Now: hs.clock})
	return hs, st
}

type vals map[[2]string]float64

// record adds one interval at t: app's values, and the server's (the
// app's plus extra).
func record(st *stats.Store, t time.Time, app string, v, extra vals) {
	smp := &stats.Sample{Time: t, Apps: map[string]*stats.Values{}}
	av := new(stats.Values)
	for k, x := range v {
		av.Set(k[0], k[1], x)
		smp.Server.Set(k[0], k[1], smp.Server.Get(k[0], k[1])+x)
	}
	for k, x := range extra {
		smp.Server.Set(k[0], k[1], smp.Server.Get(k[0], k[1])+x)
	}
	smp.Apps[app] = av
	st.Record(smp)
}

// feed records three intervals of app "shop" before the harness's now
// (12:00:00): 11:50:00 and 11:50:10, then 11:59:50 after a gap.
func feed(st *stats.Store) {
	at := func(s string) time.Time {
		tm, err := time.Parse("15:04:05", s)
		if err != nil {
			panic(err)
		}
		return time.Date(2026, 3, 1, tm.Hour(), tm.Minute(), tm.Second(), 0, time.UTC)
	}
	record(st, at("11:50:05"), "shop", vals{
		{"connections", ""}: 3, {"new_connections", ""}: 2, {"api_messages", ""}: 5,
		{"api_requests", "2xx"}: 4, {"auth_failures", "bad_signature"}: 1, {"webhooks", "delivered"}: 1,
	}, vals{{"api_requests", "4xx"}: 1}) // an unknown app's request: the server's only
	record(st, at("11:50:15"), "shop", vals{
		{"connections", ""}: 5, {"new_connections", ""}: 3, {"api_messages", ""}: 7,
		{"auth_failures", "rate_limited"}: 2, {"webhooks", "failed"}: 1, {"slow_consumers", ""}: 1,
	}, nil)
	record(st, at("11:59:55"), "shop", vals{{"connections", ""}: 1, {"deliveries", ""}: 10}, nil)
}

// The JSON as a browser reads it.
type dataJSON struct {
	App    string  `json:"app"`
	Range  string  `json:"range"`
	Step   int64   `json:"step"`
	From   int64   `json:"from"`
	To     int64   `json:"to"`
	Poll   int64   `json:"poll"`
	Times  []int64 `json:"times"`
	Charts []struct {
		ID    string `json:"id"`
		Title string `json:"title"`
		Unit  string `json:"unit"`
		Lines []struct {
			Key    string     `json:"key"`
			Label  string     `json:"label"`
			Values []*float64 `json:"values"`
		} `json:"lines"`
	} `json:"charts"`
}

func (d *dataJSON) line(chart, key string) []*float64 {
	for _, c := range d.Charts {
		if c.ID != chart {
			continue
		}
		for _, l := range c.Lines {
			if l.Key == key {
				return l.Values
			}
		}
	}
	return nil
}

func (d *dataJSON) unit(chart string) string {
	for _, c := range d.Charts {
		if c.ID == chart {
			return c.Unit
		}
	}
	return ""
}

func getData(t *testing.T, hs *harness, target string) *dataJSON {
	t.Helper()
	r := hs.get(target)
	hs.want(r, http.StatusOK)
	if ct := r.header.Get("Content-Type"); ct != "application/json" || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("%s: Content-Type %q, Cache-Control %q", target, ct, r.header.Get("Cache-Control"))
	}
	var d dataJSON
	if err := json.Unmarshal([]byte(r.body), &d); err != nil {
		t.Fatalf("%s: %v\n%s", target, err, r.body)
	}
	if len(d.Times) > 2*3600 {
		t.Fatalf("%s: %d rows", target, len(d.Times))
	}
	for _, c := range d.Charts {
		for _, l := range c.Lines {
			if len(l.Values) != len(d.Times) {
				t.Fatalf("%s: %s/%s has %d values for %d times", target, c.ID, l.Key, len(l.Values), len(d.Times))
			}
		}
	}
	return &d
}

func unix(hms string) int64 {
	tm, _ := time.Parse("15:04:05", hms)
	return time.Date(2026, 3, 1, tm.Hour(), tm.Minute(), tm.Second(), 0, time.UTC).Unix()
}

// wantValues compares a line with want, nil meaning null (a gap row).
func wantValues(t *testing.T, what string, got []*float64, want ...any) {
	t.Helper()
	var g []string
	for _, v := range got {
		if v == nil {
			g = append(g, "null")
		} else {
			g = append(g, strconvF(*v))
		}
	}
	var w []string
	for _, v := range want {
		switch v := v.(type) {
		case nil:
			w = append(w, "null")
		case int:
			w = append(w, strconvF(float64(v)))
		}
	}
	if strings.Join(g, ",") != strings.Join(w, ",") {
		t.Errorf("%s: got [%s], want [%s]", what, strings.Join(g, ","), strings.Join(w, ","))
	}
}

func strconvF(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

func createApp(t *testing.T, hs *harness, id string) {
	t.Helper()
	if err := hs.apps.Create(context.Background(), &apps.App{ID: id, Key: id + "-key", Secret: strings.Repeat("s", 64), Enabled: true}); err != nil {
		t.Fatal(err)
	}
}

func TestStatsPagesNeedSession(t *testing.T) {
	hs, st := statsHarness(t, harnessOpts{})
	feed(st)
	createApp(t, hs, "shop")
	for _, p := range []string{"/stats", "/stats?range=30d", "/apps/shop/stats", "/stats/data?range=1h", "/stats/data?app=shop&range=1h"} {
		hs.wantRedirect(hs.get(p), "/login")
	}
	hs.wantRedirect(hs.get("/dashboard/stats/data?app=shop"), "/dashboard/login")
}

func TestStatsPages(t *testing.T) {
	hs, st := statsHarness(t, harnessOpts{})
	feed(st)
	createApp(t, hs, "shop")
	hs.login()

	// The navigation and the app page link the charts.
	hs.want(hs.get("/"), http.StatusOK, `<a href="/stats">Stats</a>`)
	hs.want(hs.get("/apps/shop"), http.StatusOK, `<a id="app-stats" href="/apps/shop/stats">`)

	r := hs.get("/stats")
	hs.want(r, http.StatusOK, "<title>Server stats · Herald</title>",
		`data-url="/stats/data?app=&amp;range=1h"`, `data-poll="10"`, `data-range="1h"`,
		`<strong aria-current="page">Last hour</strong>`, `<a href="/stats?range=24h">Last 24 hours</a>`, `<a href="/stats?range=30d">Last 30 days</a>`,
		"Axis: messages per 10 s.", "Axis: connections.")
	for _, s := range chartSpecs {
		hs.want(r, http.StatusOK, `id="chart-`+s.ID+`" data-chart="`+s.ID+`" data-points="0" data-last=""`)
	}
	for _, id := range []string{"connections", "new_connections", "api_messages", "client_events", "deliveries",
		"api_requests", "auth_failures", "webhooks", "slow_consumers"} {
		hs.want(r, http.StatusOK, `id="chart-`+id+`"`)
	}
	for _, a := range []string{"vendor/uPlot.min.css", "vendor/uPlot.iife.min.js", "charts.css", "charts.js"} {
		if !regexp.MustCompile(`"/assets/` + regexp.QuoteMeta(a) + `\?v=[0-9a-f]{12}"`).MatchString(r.body) {
			t.Errorf("the page does not link %s", a)
		}
	}

	hs.want(hs.get("/stats?range=30d"), http.StatusOK, `data-url="/stats/data?app=&amp;range=30d"`, `data-poll="0"`,
		"Axis: messages per hour.", `<strong aria-current="page">Last 30 days</strong>`)
	hs.want(hs.get("/apps/shop/stats?range=24h"), http.StatusOK, "Stats of app shop",
		`data-url="/stats/data?app=shop&amp;range=24h"`, `data-poll="60"`, `<a href="/apps/shop">App shop</a>`,
		`<a href="/stats?range=24h">Whole server</a>`, `<a href="/apps/shop/stats?range=1h">Last hour</a>`)
	hs.want(hs.get("/dashboard/apps/shop/stats"), http.StatusOK, `data-url="/dashboard/stats/data?app=shop&amp;range=1h"`,
		`<a href="/dashboard/stats">Stats</a>`, `"/dashboard/assets/charts.js?v=`)
	hs.want(hs.get("/stats?range=2h"), http.StatusBadRequest, "1h, 24h or 30d")
	hs.want(hs.get("/apps/nope/stats"), http.StatusNotFound, "no app with this id")
	if r := hs.do("HEAD", "/stats", nil, nil); r.code != http.StatusOK || r.body != "" {
		t.Errorf("HEAD /stats: %d, %d bytes", r.code, len(r.body))
	}
}

// TestStatsPagesNoInlineScript: the CSP (default-src 'self') allows no
// inline script, event handler or style.
func TestStatsPagesNoInlineScript(t *testing.T) {
	hs, st := statsHarness(t, harnessOpts{})
	feed(st)
	createApp(t, hs, "shop")
	hs.login()
	for _, p := range []string{"/stats", "/stats?range=24h", "/apps/shop/stats?range=30d", "/apps/shop"} {
		r := hs.get(p)
		hs.want(r, http.StatusOK)
		tags := regexp.MustCompile(`(?i)<script[^>]*>`).FindAllString(r.body, -1)
		if len(tags) == 0 {
			t.Errorf("%s: no script", p)
		}
		for _, tag := range tags {
			if !regexp.MustCompile(`\ssrc="/assets/[^"]+"`).MatchString(tag) {
				t.Errorf("%s: inline script %s", p, tag)
			}
		}
		if strings.Count(r.body, "<script") != strings.Count(r.body, "></script>") {
			t.Errorf("%s: a script with a body", p)
		}
		for _, tag := range regexp.MustCompile(`(?i)<link[^>]*>`).FindAllString(r.body, -1) {
			if !regexp.MustCompile(`\shref="/assets/[^"]+"`).MatchString(tag) {
				t.Errorf("%s: %s is not one of the embedded assets", p, tag)
			}
		}
		for _, bad := range []string{"style=", "<style", "javascript:"} {
			if strings.Contains(strings.ToLower(r.body), bad) {
				t.Errorf("%s: the page holds %q", p, bad)
			}
		}
		if h := regexp.MustCompile(`(?i)\son[a-z]+\s*=`).FindString(r.body); h != "" {
			t.Errorf("%s: an event handler attribute %q", p, h)
		}
	}
}

func TestStatsData(t *testing.T) {
	hs, st := statsHarness(t, harnessOpts{})
	feed(st)
	createApp(t, hs, "shop")
	hs.login()

	// Last hour, 10-second points: two, a gap row, one.
	d := getData(t, hs, "/stats/data?app=shop&range=1h")
	if d.App != "shop" || d.Range != "1h" || d.Step != 10 || d.Poll != 10 ||
		d.To != unix("12:00:00") || d.From != unix("12:00:00")-3590 {
		t.Errorf("header %+v", d)
	}
	if want := []int64{unix("11:50:00"), unix("11:50:10"), unix("11:50:20"), unix("11:59:50")}; !slices.Equal(d.Times, want) {
		t.Fatalf("times %v, want %v", d.Times, want)
	}
	wantValues(t, "connections current", d.line("connections", "current"), 3, 5, nil, 1)
	wantValues(t, "connections peak", d.line("connections", "peak"), 3, 5, nil, 1)
	wantValues(t, "new connections", d.line("new_connections", "new_connections"), 2, 3, nil, 0)
	wantValues(t, "api messages", d.line("api_messages", "api_messages"), 5, 7, nil, 0)
	wantValues(t, "client events", d.line("client_events", "client_events"), 0, 0, nil, 0)
	wantValues(t, "deliveries", d.line("deliveries", "deliveries"), 0, 0, nil, 10)
	wantValues(t, "2xx", d.line("api_requests", "2xx"), 4, 0, nil, 0)
	wantValues(t, "4xx (another app's)", d.line("api_requests", "4xx"), 0, 0, nil, 0)
	wantValues(t, "bad signature", d.line("auth_failures", "bad_signature"), 1, 0, nil, 0)
	wantValues(t, "rate limited", d.line("auth_failures", "rate_limited"), 0, 2, nil, 0)
	wantValues(t, "webhooks delivered", d.line("webhooks", "delivered"), 1, 0, nil, 0)
	wantValues(t, "webhooks failed", d.line("webhooks", "failed"), 0, 1, nil, 0)
	wantValues(t, "slow consumers", d.line("slow_consumers", "slow_consumers"), 0, 1, nil, 0)
	if d.unit("api_messages") != "messages per 10 s" || d.unit("connections") != "connections" {
		t.Errorf("units %q, %q", d.unit("api_messages"), d.unit("connections"))
	}
	// Every series of the catalog has its line; each reason of the failed
	// authorizations one.
	for _, si := range stats.Catalog() {
		key := si.Label
		if key == "" {
			key = si.Name
		}
		if si.Kind == stats.Gauge {
			key = "current"
		}
		if d.line(si.Name, key) == nil {
			t.Errorf("no line for %s/%s", si.Name, si.Label)
		}
	}

	// The whole server: the app's values plus what no app is charged with.
	d = getData(t, hs, "/stats/data?range=1h")
	wantValues(t, "server 4xx", d.line("api_requests", "4xx"), 1, 0, nil, 0)
	wantValues(t, "server messages", d.line("api_messages", "api_messages"), 5, 7, nil, 0)
	if d.App != "" {
		t.Errorf("app %q", d.App)
	}
	if d2 := getData(t, hs, "/stats/data?app=&range=1h"); !slices.Equal(d2.Times, d.Times) {
		t.Errorf("app= is not the server: %v", d2.Times)
	}

	// Last day, minutes: 11:50 (both 10-second points), a gap, 11:59.
	d = getData(t, hs, "/stats/data?app=shop&range=24h")
	if d.Step != 60 || d.Poll != 60 || d.From != unix("12:00:00")-1439*60 {
		t.Errorf("header %+v", d)
	}
	if want := []int64{unix("11:50:00"), unix("11:51:00"), unix("11:59:00")}; !slices.Equal(d.Times, want) {
		t.Fatalf("times %v, want %v", d.Times, want)
	}
	wantValues(t, "24h connections current", d.line("connections", "current"), 5, nil, 1)
	wantValues(t, "24h api messages", d.line("api_messages", "api_messages"), 12, nil, 0)
	if d.unit("api_messages") != "messages per minute" {
		t.Errorf("unit %q", d.unit("api_messages"))
	}

	// Last 30 days, hours: one point, whose peak is the hour's largest.
	d = getData(t, hs, "/stats/data?app=shop&range=30d")
	if d.Step != 3600 || d.Poll != 0 || d.From != unix("12:00:00")-719*3600 {
		t.Errorf("header %+v", d)
	}
	if want := []int64{unix("11:00:00")}; !slices.Equal(d.Times, want) {
		t.Fatalf("times %v, want %v", d.Times, want)
	}
	wantValues(t, "30d connections current", d.line("connections", "current"), 1)
	wantValues(t, "30d connections peak", d.line("connections", "peak"), 5)
	wantValues(t, "30d new connections", d.line("new_connections", "new_connections"), 5)
	wantValues(t, "30d deliveries", d.line("deliveries", "deliveries"), 10)
	wantValues(t, "30d failures", d.line("auth_failures", "rate_limited"), 2)
	if d.unit("webhooks") != "requests per hour" {
		t.Errorf("unit %q", d.unit("webhooks"))
	}

	// The default range is the last hour; the live chart moves.
	d = getData(t, hs, "/stats/data?app=shop")
	if d.Range != "1h" || len(d.Times) != 4 {
		t.Errorf("default range %q, %d times", d.Range, len(d.Times))
	}
	hs.advance(10 * time.Second)
	record(st, time.Date(2026, 3, 1, 12, 0, 5, 0, time.UTC), "shop", vals{{"connections", ""}: 2}, nil)
	d = getData(t, hs, "/stats/data?app=shop&range=1h")
	if d.Times[len(d.Times)-1] != unix("12:00:00") {
		t.Errorf("newest point %d", d.Times[len(d.Times)-1])
	}
	wantValues(t, "moved", d.line("connections", "current"), 3, 5, nil, 1, 2)

	// HEAD: the headers alone.
	if r := hs.do("HEAD", "/stats/data?range=1h", nil, nil); r.code != http.StatusOK || r.body != "" {
		t.Errorf("HEAD: %d, %d bytes", r.code, len(r.body))
	}
}

// TestStatsDataBounded: an hour of every other interval gives at most one
// gap row per point; nothing older than the window.
func TestStatsDataBounded(t *testing.T) {
	hs, st := statsHarness(t, harnessOpts{})
	hs.login()
	start := hs.clock().Add(-2 * time.Hour)
	for ts := start; !ts.After(hs.clock()); ts = ts.Add(20 * time.Second) {
		record(st, ts.Add(time.Second), "busy", vals{{"api_messages", ""}: 1}, nil)
	}
	d := getData(t, hs, "/stats/data?range=1h")
	if len(d.Times) > 2*stats.Res10s.Len() || len(d.Times) < stats.Res10s.Len()/2 {
		t.Fatalf("%d rows", len(d.Times))
	}
	if d.Times[0] < d.From {
		t.Errorf("first point %d before the window %d", d.Times[0], d.From)
	}
	nulls := 0
	for i, v := range d.line("api_messages", "api_messages") {
		if v == nil {
			nulls++
			if d.Times[i]-d.Times[i-1] != 10 {
				t.Errorf("gap row at %d not one step after its point", d.Times[i])
			}
		}
	}
	if nulls == 0 {
		t.Error("no gap rows")
	}
}

func TestStatsDataRefused(t *testing.T) {
	hs, st := statsHarness(t, harnessOpts{})
	feed(st)
	createApp(t, hs, "shop")
	hs.login()
	for _, c := range []struct {
		target string
		code   int
		msg    string
	}{
		{"/stats/data?app=nope&range=1h", http.StatusNotFound, "no such app"},
		{"/stats/data?app=shop&range=7d", http.StatusBadRequest, "1h, 24h or 30d"},
		{"/stats/data?app=" + strings.Repeat("x", 300), http.StatusNotFound, "no such app"},
	} {
		r := hs.get(c.target)
		hs.want(r, c.code, c.msg)
		if r.header.Get("Content-Type") != "application/json" {
			t.Errorf("%s: Content-Type %q", c.target, r.header.Get("Content-Type"))
		}
	}
	// A deleted app's history is not shown.
	if err := hs.apps.Delete(context.Background(), "shop"); err != nil {
		t.Fatal(err)
	}
	hs.want(hs.get("/stats/data?app=shop"), http.StatusNotFound)
	hs.want(hs.get("/apps/shop/stats"), http.StatusNotFound)
	if r := hs.do("POST", "/stats/data", nil, nil); r.code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", r.code)
	}
}

// TestStatsWithoutAppStore: apps in the config file; an app's charts exist
// once it has a history.
func TestStatsWithoutAppStore(t *testing.T) {
	hs, st := statsHarness(t, harnessOpts{noApps: true})
	feed(st)
	hs.login()
	r := hs.get("/apps/shop/stats")
	hs.want(r, http.StatusOK, "Stats of app shop", `<a href="/stats?range=1h">Whole server</a>`)
	if strings.Contains(r.body, `href="/apps/shop"`) {
		t.Error("links an app page that does not exist")
	}
	d := getData(t, hs, "/stats/data?app=shop&range=30d")
	wantValues(t, "peak", d.line("connections", "peak"), 5)
	hs.want(hs.get("/apps/other/stats"), http.StatusNotFound, "No app with this id has any activity")
	hs.want(hs.get("/stats/data?app=other"), http.StatusNotFound)
}

// TestStatsOff: without a StatsSource, no charts pages and no links.
func TestStatsOff(t *testing.T) {
	hs := newHarness(t, harnessOpts{})
	createApp(t, hs, "shop")
	hs.login()
	for _, p := range []string{"/stats", "/stats/data?range=1h", "/apps/shop/stats"} {
		hs.want(hs.get(p), http.StatusNotFound)
	}
	for _, p := range []string{"/", "/apps/shop"} {
		if r := hs.get(p); strings.Contains(r.body, "/stats") {
			t.Errorf("%s links the charts", p)
		}
	}
}

func TestStatsAssets(t *testing.T) {
	hs, _ := statsHarness(t, harnessOpts{})
	hs.login()
	page := hs.get("/stats")
	for _, c := range []struct{ name, ctype, want string }{
		{"vendor/uPlot.iife.min.js", "text/javascript; charset=utf-8", "var uPlot="},
		{"vendor/uPlot.min.css", "text/css; charset=utf-8", ".uplot"},
		{"charts.js", "text/javascript; charset=utf-8", "data-points"},
		{"charts.css", "text/css; charset=utf-8", ".plot"},
	} {
		link := regexp.MustCompile(`/assets/` + regexp.QuoteMeta(c.name) + `\?v=[0-9a-f]{12}`).FindString(page.body)
		if link == "" {
			t.Fatalf("the page does not link %s", c.name)
		}
		r := hs.get(link)
		hs.want(r, http.StatusOK, c.want)
		if r.header.Get("Content-Type") != c.ctype || !strings.Contains(r.header.Get("Cache-Control"), "immutable") {
			t.Errorf("%s: %q, %q", c.name, r.header.Get("Content-Type"), r.header.Get("Cache-Control"))
		}
	}
	// The licence travels with the copies. Assets need no session.
	hs.cookies = map[string]string{}
	r := hs.get("/assets/vendor/uPlot.LICENSE.txt")
	hs.want(r, http.StatusOK, "The MIT License", "Leon Sorokin")
	if r.header.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Errorf("licence: %q", r.header.Get("Content-Type"))
	}
	hs.want(hs.get("/assets/vendor/nope.js"), http.StatusNotFound)
	hs.want(hs.get("/assets/vendor/../charts.js"), http.StatusNotFound)
}

// TestVendoredUPlotMatchesPin: the committed copies are those of the
// version web/package.json and web/package-lock.json pin (go generate
// refreshes them).
func TestVendoredUPlotMatchesPin(t *testing.T) {
	var pkg struct {
		DevDependencies map[string]string `json:"devDependencies"`
	}
	var lock struct {
		Packages map[string]struct {
			Version string `json:"version"`
			License string `json:"license"`
		} `json:"packages"`
	}
	for file, v := range map[string]any{"web/package.json": &pkg, "web/package-lock.json": &lock} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
	}
	pin := pkg.DevDependencies["uplot"]
	if !regexp.MustCompile(`^\d+\.\d+\.\d+$`).MatchString(pin) {
		t.Fatalf("uplot %q is not pinned exactly", pin)
	}
	if l := lock.Packages["node_modules/uplot"]; l.Version != pin || l.License != "MIT" {
		t.Errorf("package-lock.json has uplot %+v, package.json pins %s", l, pin)
	}
	js, err := assetFiles.ReadFile("assets/vendor/uPlot.iife.min.js")
	if err != nil {
		t.Fatal(err)
	}
	if head := "/*! https://github.com/leeoniya/uPlot (v" + pin + ") */"; !strings.HasPrefix(string(js), head) {
		t.Errorf("assets/vendor/uPlot.iife.min.js does not start with %q: run go generate ./internal/dashboard/", head)
	}
}
