package dashboard

import (
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/console"
	"github.com/heraldhq/herald/internal/stats"
)

// fakeStats is a StatsSource with no series and the alerts a test sets.
type fakeStats struct {
	mu     sync.Mutex
	alerts map[string][]stats.Alert
}

func (f *fakeStats) Series(string, string, string, stats.Resolution) []stats.Point { return nil }

func (f *fakeStats) Apps() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Sorted(maps.Keys(f.alerts))
}

func (f *fakeStats) Alerts(app string) []stats.Alert {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.alerts[app])
}

func (f *fakeStats) AlertCounts() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]int{}
	for id, al := range f.alerts {
		if len(al) > 0 {
			out[id] = len(al)
		}
	}
	return out
}

var _ StatsSource = (*fakeStats)(nil)

// alertHarness is the dashboard with a fake stats source (and the debug
// console when withConsole), apps "shop" and "other"; shop has two alerts.
func alertHarness(t *testing.T, withConsole bool) *harness {
	t.Helper()
	hs := newHarness(t, harnessOpts{})
	now := hs.clock() // 2026-03-01 12:00 UTC
	src := &fakeStats{alerts: map[string][]stats.Alert{"shop": {
		{Kind: stats.AlertAuthFailures, Since: now.Add(-28 * time.Minute), Count: 240, Peak: 300, Baseline: 3, Threshold: 30},
		{Kind: stats.AlertNewConnections, Since: now.Add(-12*time.Hour - 10*time.Minute), Count: 1234.5, Baseline: 0.4, Threshold: 120},
	}}}
	d := Deps{Apps: hs.apps, Stats: src, Now: hs.clock,
		Logger: slog.New(slog.NewTextHandler(hs.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	if withConsole {
		feed := console.New(console.Config{}, console.Deps{})
		t.Cleanup(feed.Close)
		d.Console = feed
	}
	hs.h = New(Config{Token: testToken}, d)
	createApp(t, hs, "shop")
	createApp(t, hs, "other")
	return hs
}

// noInline fails on what the CSP forbids: inline styles and handlers.
func noInline(t *testing.T, p, body string) {
	t.Helper()
	for _, bad := range []string{"style=", "<style", "<script>", "javascript:", " onclick"} {
		if strings.Contains(strings.ToLower(body), bad) {
			t.Errorf("%s: the page holds %q", p, bad)
		}
	}
}

// TestAlertBanners: an app's page shows each active alert as a banner
// linking its charts; an app without alerts has none.
func TestAlertBanners(t *testing.T) {
	hs := alertHarness(t, false)
	hs.login()
	r := hs.get("/apps/shop")
	hs.want(r, http.StatusOK,
		`<p class="alert-banner" role="alert"><strong>Spike in failed authorizations</strong>: 240 in the last minute, baseline 3/min, since 11:32 UTC. <a href="/apps/shop/stats">See the charts</a></p>`,
		// Another day: the date too; fractions shown as such.
		`<strong>Spike in new connections</strong>: 1235 in the last minute, baseline 0.4/min, since 2026-02-28 23:50 UTC.`)
	if strings.Index(r.body, "failed authorizations") > strings.Index(r.body, "<h2>Keys</h2>") {
		t.Error("the banners are not at the top of the page")
	}
	noInline(t, "/apps/shop", r.body)
	if r := hs.get("/apps/other"); strings.Contains(r.body, "alert-banner") || strings.Contains(r.body, "Spike") {
		t.Errorf("a banner on an app without alerts:\n%s", r.body)
	}
	hs.want(hs.get("/dashboard/apps/shop"), http.StatusOK, `<a href="/dashboard/apps/shop/stats">See the charts</a>`)
}

// TestAlertBadges: the app list shows a badge on each app with alerts and
// the per-app links, charts (a stats source) and console (a feed).
func TestAlertBadges(t *testing.T) {
	hs := alertHarness(t, true)
	hs.login()
	r := hs.get("/")
	hs.want(r, http.StatusOK, "<th>Links</th>",
		`<a href="/apps/shop">shop</a> <a class="badge alert" href="/apps/shop" title="Spikes against the recent baseline: details on the app page">2 alerts</a></td>`,
		`<td class="links"><a href="/apps/shop/stats">Charts</a> <a href="/apps/shop/console">Console</a></td>`,
		`<td class="links"><a href="/apps/other/stats">Charts</a> <a href="/apps/other/console">Console</a></td>`)
	if n := strings.Count(r.body, `class="badge alert"`); n != 1 {
		t.Errorf("%d badges, want 1 (other has no alert)", n)
	}
	noInline(t, "/", r.body)

	// Charts only: no console link.
	charts := alertHarness(t, false)
	charts.login()
	r = charts.get("/")
	charts.want(r, http.StatusOK, `<td class="links"><a href="/apps/other/stats">Charts</a></td>`)
	if strings.Contains(r.body, "/console") {
		t.Error("a console link without a console")
	}
}

// TestAlertsWithoutStats: no stats source, no badges, banners or charts
// links; the console alone still gets its link.
func TestAlertsWithoutStats(t *testing.T) {
	hs, _, _ := consoleHarness(t)
	hs.login()
	r := hs.get("/")
	hs.want(r, http.StatusOK, "<th>Links</th>", `<td class="links"><a href="/apps/shop/console">Console</a></td>`)
	for _, bad := range []string{"badge", "/stats"} {
		if strings.Contains(r.body, bad) {
			t.Errorf("the app list holds %q without a stats source", bad)
		}
	}
	if r := hs.get("/apps/shop"); strings.Contains(r.body, "alert-banner") {
		t.Error("a banner without a stats source")
	}
	plain := newHarness(t, harnessOpts{})
	createApp(t, plain, "shop")
	plain.login()
	if r := plain.get("/"); strings.Contains(r.body, "Links") || strings.Contains(r.body, `class="links"`) {
		t.Error("a links column with neither charts nor console")
	}
}

// TestAlertFromStore: with the real store, a spike of failed
// authorizations recorded after an hour of quiet traffic shows on the
// app's page and in the list.
func TestAlertFromStore(t *testing.T) {
	hs, st := statsHarness(t, harnessOpts{})
	createApp(t, hs, "shop")
	createApp(t, hs, "other")
	hs.login()
	at := hs.clock().Add(-70 * time.Minute)
	for range 6 * 70 {
		at = at.Add(10 * time.Second)
		record(st, at, "shop", vals{{"auth_failures", "bad_signature"}: 1, {"connections", ""}: 2}, nil)
	}
	if r := hs.get("/"); strings.Contains(r.body, "badge") {
		t.Fatal("a badge before the spike")
	}
	for range 3 {
		at = at.Add(10 * time.Second)
		record(st, at, "shop", vals{{"auth_failures", "expired_timestamp"}: 50, {"connections", ""}: 2}, nil)
	}
	hs.want(hs.get("/apps/shop"), http.StatusOK,
		"<strong>Spike in failed authorizations</strong>: 153 in the last minute, baseline 6/min, since 12:00 UTC.")
	hs.want(hs.get("/"), http.StatusOK, `>1 alert</a>`)
}
