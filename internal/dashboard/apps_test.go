package dashboard

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/admin"
	"github.com/heraldhq/herald/internal/apps"
	"github.com/heraldhq/herald/internal/config"
)

func TestAppCreateThenKeysPage(t *testing.T) {
	hs := newHarness(t, harnessOpts{cfg: Config{PublicHost: "rt.example.com", PublicPort: 443, TLS: true}})
	hs.login()
	hs.want(hs.get("/apps/new"), http.StatusOK, `name="id"`, `name="max_presence_members"`, `value="100"`, `name="webhook_0_url"`)

	r := hs.post("/apps", url.Values{
		"id": {"shop"}, "key": {"shop-key"},
		"enable_client_messages": {"1"}, "max_connections": {"500"},
		"allowed_origins":       {"https://shop.example.com\n\nhttps://*.shop.example.com\n"},
		"webhook_rows":          {"1"},
		"webhook_0_url":         {"https://backend.example.com/hooks"},
		"webhook_0_event_types": {"channel_occupied", "member_added"},
		"webhook_0_headers":     {"X-Team: shop\n"},
	})
	hs.wantRedirect(r, "/apps/shop?notice=created")
	a := hs.app("shop")
	switch {
	case a.Key != "shop-key", !a.Enabled, !a.EnableClientMessages, a.RequireSignin, a.MaxConnections != 500:
		t.Errorf("stored app %+v", a)
	case a.MaxPresenceMembers != config.DefaultMaxPresenceMembers, a.MaxEventPayloadBytes != config.DefaultMaxEventPayloadKB*1024:
		t.Errorf("defaults not applied: %+v", a)
	case !slices.Equal(a.AllowedOrigins, []string{"https://shop.example.com", "https://*.shop.example.com"}):
		t.Errorf("origins %q", a.AllowedOrigins)
	case len(a.Webhooks) != 1 || a.Webhooks[0].URL != "https://backend.example.com/hooks" ||
		!slices.Equal(a.Webhooks[0].EventTypes, []string{"channel_occupied", "member_added"}) || a.Webhooks[0].Headers["X-Team"] != "shop":
		t.Errorf("webhooks %+v", a.Webhooks)
	}
	if len(a.Secret) != 64 {
		t.Fatalf("generated secret %d characters", len(a.Secret))
	}

	page := hs.get("/apps/shop?notice=created")
	hs.want(page, http.StatusOK, "App created.", ">shop<", ">shop-key<", "Reveal",
		"new Pusher(&#39;shop-key&#39;, {", "wsHost: &#39;rt.example.com&#39;,", "wsPort: 443,", "forceTLS: true,",
		"cluster: &#39;herald&#39;,", "appId: &#39;shop&#39;,", "secret: process.env.PUSHER_APP_SECRET,",
		"port: &#39;443&#39;,", "useTLS: true,")
	if strings.Contains(page.body, a.Secret) {
		t.Fatal("the keys page shows the secret before it is revealed")
	}
	if strings.Contains(hs.get("/").body, a.Secret) {
		t.Fatal("the app list shows the secret")
	}

	// Reveal: a POST with the CSRF token, logged with the app id.
	hs.want(hs.post("/apps/shop/reveal", url.Values{csrfField: {"forged"}}), http.StatusForbidden)
	rev := hs.post("/apps/shop/reveal", nil)
	hs.want(rev, http.StatusOK, `id="app-secret"`, a.Secret, "secret: &#39;"+a.Secret+"&#39;,")
	logs := hs.logs.String()
	if !strings.Contains(logs, "app secret revealed") || !strings.Contains(logs, "app_id=shop") {
		t.Errorf("reveal not logged:\n%s", logs)
	}
	if strings.Contains(logs, a.Secret) {
		t.Error("the secret is in the log")
	}
	// GET never reveals.
	if r := hs.get("/apps/shop/reveal"); r.code != http.StatusMethodNotAllowed || r.header.Get("Allow") != "POST" {
		t.Errorf("GET reveal: %d, Allow %q", r.code, r.header.Get("Allow"))
	}
}

func TestAppCreateGenerated(t *testing.T) {
	hs := newHarness(t, harnessOpts{})
	hs.login()
	r := hs.post("/apps", url.Values{"webhook_rows": {"1"}})
	if r.code != http.StatusSeeOther {
		t.Fatalf("%d:\n%s", r.code, r.body)
	}
	m := regexp.MustCompile(`^/apps/([1-9][0-9]{6})\?notice=created$`).FindStringSubmatch(r.location())
	if m == nil {
		t.Fatalf("redirect to %q", r.location())
	}
	a := hs.app(m[1])
	if len(a.Key) != 20 || len(a.Secret) != 64 || a.MaxPresenceMembers != config.DefaultMaxPresenceMembers || a.Webhooks != nil || a.AllowedOrigins != nil {
		t.Errorf("generated app %+v", a)
	}
}

func TestAppCreateRefused(t *testing.T) {
	hs := newHarness(t, harnessOpts{})
	hs.login()
	hs.wantRedirect(hs.post("/apps", url.Values{"id": {"taken"}, "key": {"taken-key"}}), "/apps/taken?notice=created")
	for _, c := range []struct {
		form url.Values
		code int
		msg  string
	}{
		{url.Values{"id": {"taken"}}, http.StatusConflict, "already exists"},
		{url.Values{"key": {"taken-key"}}, http.StatusConflict, "already exists"},
		{url.Values{"id": {"bad id!"}}, http.StatusUnprocessableEntity, "may only contain"},
		{url.Values{"id": {"fine"}, "secret": {"short"}}, http.StatusUnprocessableEntity, "at least 16"},
		{url.Values{"id": {"fine"}, "max_connections": {"lots"}}, http.StatusUnprocessableEntity, "not a whole number"},
		{url.Values{"id": {"fine"}, "max_connections": {"-1"}}, http.StatusUnprocessableEntity, "must not be negative"},
		{url.Values{"id": {"fine"}, "allowed_origins": {"not an origin"}}, http.StatusUnprocessableEntity, "is not an origin"},
		{url.Values{"id": {"fine"}, "webhook_rows": {"1"}, "webhook_0_url": {"ftp://x"}}, http.StatusUnprocessableEntity, "must be http or https"},
		{url.Values{"id": {"fine"}, "webhook_rows": {"1"}, "webhook_0_url": {"https://x.example"}, "webhook_0_event_types": {"channel_occupied"}, "webhook_0_headers": {"no colon"}},
			http.StatusUnprocessableEntity, "Name: value"},
	} {
		r := hs.post("/apps", c.form)
		hs.want(r, c.code, c.msg, `name="key"`) // the form again, with the reason
		// The form comes back as sent.
		if id := c.form.Get("id"); id != "" && !strings.Contains(r.body, `value="`+strings.ReplaceAll(id, "!", "!")+`"`) {
			t.Errorf("%v: the form lost the id %q", c.form, id)
		}
	}
	if list, _ := hs.apps.List(context.Background()); len(list) != 1 {
		t.Errorf("%d apps stored, want 1", len(list))
	}
}

func TestAppList(t *testing.T) {
	hs := newHarness(t, harnessOpts{})
	hs.login()
	hs.want(hs.get("/"), http.StatusOK, "No apps yet")
	for _, id := range []string{"beta", "alpha"} {
		hs.wantRedirect(hs.post("/apps", url.Values{"id": {id}, "key": {id + "-key"}}), "/apps/"+id+"?notice=created")
	}
	hs.wantRedirect(hs.post("/apps/beta/disable", nil), "/apps/beta?notice=disabled")
	hs.conns.n["alpha"], hs.conns.n["beta"] = 42, 0
	r := hs.get("/")
	hs.want(r, http.StatusOK, `href="/apps/alpha">alpha</a>`, "alpha-key", "beta-key", "Connections", `<td class="num">42</td>`, "disabled")
	if strings.Index(r.body, "alpha-key") > strings.Index(r.body, "beta-key") {
		t.Error("apps not sorted by id")
	}
	// Without Conns, no column.
	plain := newHarness(t, harnessOpts{noExtras: true})
	plain.login()
	if strings.Contains(plain.get("/").body, "Connections") {
		t.Error("a connections column without Conns")
	}
}

func TestAppEdit(t *testing.T) {
	hs := newHarness(t, harnessOpts{})
	hs.login()
	hs.wantRedirect(hs.post("/apps", url.Values{"id": {"ed"}, "key": {"ed-key"}, "enable_client_messages": {"1"},
		"webhook_rows": {"1"}, "webhook_0_url": {"https://old.example/h"}, "webhook_0_event_types": {"client_event"}}), "/apps/ed?notice=created")
	before := hs.app("ed")

	form := hs.get("/apps/ed/edit")
	hs.want(form, http.StatusOK, `value="ed-key"`, `name="enable_client_messages" value="1" checked`,
		`value="https://old.example/h"`, `name="webhook_1_url"`, `name="webhook_rows" value="2"`)
	if strings.Contains(form.body, `name="secret"`) || strings.Contains(form.body, before.Secret) {
		t.Error("the edit form offers or shows the secret")
	}

	// Every field is set from the form: unchecked boxes turn features off,
	// an emptied number is 0, a cleared webhook row removes it.
	r := hs.post("/apps/ed/edit", url.Values{
		"key": {"ed-key-2"}, "require_signin": {"1"}, "max_presence_members": {""}, "api_rate_limit": {"2.5"},
		"max_event_payload_kb": {"20"}, "allowed_origins": {"https://a.example"},
		"webhook_rows":          {"2"},
		"webhook_0_url":         {""},
		"webhook_1_url":         {"https://new.example/h"},
		"webhook_1_event_types": {"member_added", "member_removed"},
		"webhook_1_starts_with": {"presence-"},
	})
	hs.wantRedirect(r, "/apps/ed?notice=saved")
	a := hs.app("ed")
	switch {
	case a.Key != "ed-key-2", a.EnableClientMessages, !a.RequireSignin, a.MaxPresenceMembers != 0, a.APIRateLimit != 2.5,
		a.MaxEventPayloadBytes != 20*1024, a.Secret != before.Secret, !a.Enabled:
		t.Errorf("updated app %+v", a)
	case !slices.Equal(a.AllowedOrigins, []string{"https://a.example"}):
		t.Errorf("origins %q", a.AllowedOrigins)
	case len(a.Webhooks) != 1 || a.Webhooks[0].URL != "https://new.example/h" || a.Webhooks[0].ChannelNameStartsWith != "presence-":
		t.Errorf("webhooks %+v", a.Webhooks)
	}
	hs.want(hs.get("/apps/ed?notice=saved"), http.StatusOK, "Settings saved.", "ed-key-2", "https://new.example/h")

	// A refused change stores nothing and shows the form as sent.
	r = hs.post("/apps/ed/edit", url.Values{"key": {"ed-key-2"}, "allowed_origins": {"https://ok.example\nnope"}, "max_connections": {"7"}})
	hs.want(r, http.StatusUnprocessableEntity, "is not an origin", "nope", `value="7"`)
	if got := hs.app("ed"); got.MaxConnections != 0 || !slices.Equal(got.AllowedOrigins, []string{"https://a.example"}) {
		t.Errorf("a refused edit changed the app: %+v", got)
	}
	hs.want(hs.post("/apps/ed/edit", url.Values{"key": {""}}), http.StatusUnprocessableEntity, "key must not be empty")
	hs.want(hs.post("/apps/missing/edit", url.Values{"key": {"k"}}), http.StatusNotFound, "not found")
	hs.want(hs.get("/apps/missing/edit"), http.StatusNotFound, "not found")
}

func TestAppEnableDisable(t *testing.T) {
	hs := newHarness(t, harnessOpts{})
	hs.login()
	hs.wantRedirect(hs.post("/apps", url.Values{"id": {"tog"}}), "/apps/tog?notice=created")
	hs.wantRedirect(hs.post("/apps/tog/disable", nil), "/apps/tog?notice=disabled")
	if hs.app("tog").Enabled {
		t.Fatal("still enabled")
	}
	hs.want(hs.get("/apps/tog"), http.StatusOK, `action="/apps/tog/enable"`, ">disabled<")
	hs.wantRedirect(hs.post("/apps/tog/enable", nil), "/apps/tog?notice=enabled")
	if !hs.app("tog").Enabled {
		t.Fatal("still disabled")
	}
	hs.want(hs.post("/apps/gone/enable", nil), http.StatusNotFound, `app &#34;gone&#34; not found`)
}

func TestAppRotateSecret(t *testing.T) {
	hs := newHarness(t, harnessOpts{})
	hs.login()
	hs.wantRedirect(hs.post("/apps", url.Values{"id": {"rot"}}), "/apps/rot?notice=created")
	old := hs.app("rot").Secret
	hs.want(hs.get("/apps/rot"), http.StatusOK, "No previous secret", `name="grace" type="text" value="24h"`)

	hs.wantRedirect(hs.post("/apps/rot/rotate", url.Values{"grace": {"2h"}}), "/apps/rot?notice=rotated")
	a := hs.app("rot")
	if a.Secret == old || len(a.PreviousSecrets) != 1 || a.PreviousSecrets[0].Secret != old ||
		!a.PreviousSecrets[0].ExpiresAt.Equal(hs.clock().Add(2*time.Hour)) {
		t.Fatalf("after rotation: %+v", a)
	}
	hs.uses.byApp = map[string]map[string]uint64{"rot": {"primary": 12, "previous": 3}}
	page := hs.get("/apps/rot?notice=rotated")
	hs.want(page, http.StatusOK, "Secret rotated.",
		"previous secret 0: expires 2026-03-01 14:00:00 UTC (in 2h)",
		"Signatures verified in the last 15m",
		"<td>primary</td><td class=\"num\">12</td>", "<td>previous</td><td class=\"num\">3</td>")
	if hs.uses.window != DefaultSecretUseWindow {
		t.Errorf("SecretUses asked for %v", hs.uses.window)
	}
	if strings.Contains(page.body, old) || strings.Contains(page.body, a.Secret) {
		t.Error("a secret is shown unrevealed")
	}
	if !strings.Contains(hs.logs.String(), "app secret rotated") {
		t.Error("rotation not logged")
	}

	// Days, as in the config file and the CLI.
	hs.wantRedirect(hs.post("/apps", url.Values{"id": {"rot7"}}), "/apps/rot7?notice=created")
	hs.wantRedirect(hs.post("/apps/rot7/rotate", url.Values{"grace": {"7d"}}), "/apps/rot7?notice=rotated")
	if ps := hs.app("rot7").PreviousSecrets; len(ps) != 1 || !ps[0].ExpiresAt.Equal(hs.clock().Add(7*24*time.Hour)) {
		t.Fatalf("grace 7d: previous secrets %+v", ps)
	}

	// An empty grace is the default; 0s ends the old secret at once.
	hs.advance(30 * time.Minute)
	hs.wantRedirect(hs.post("/apps/rot/rotate", url.Values{"grace": {""}}), "/apps/rot?notice=rotated")
	if ps := hs.app("rot").PreviousSecrets; len(ps) != 2 || !ps[0].ExpiresAt.Equal(hs.clock().Add(24*time.Hour)) {
		t.Fatalf("previous secrets %+v", ps)
	}
	hs.wantRedirect(hs.post("/apps/rot/rotate", url.Values{"grace": {"0s"}}), "/apps/rot?notice=rotated")
	if ps := hs.app("rot").PreviousSecrets; len(ps) != 2 {
		t.Fatalf("previous secrets after a 0s rotation %+v", ps)
	}

	// Refused grace periods: the page again, with the reason.
	secret := hs.app("rot").Secret
	hs.want(hs.post("/apps/rot/rotate", url.Values{"grace": {"soon"}}), http.StatusUnprocessableEntity, "not a duration", `value="soon"`)
	hs.want(hs.post("/apps/rot/rotate", url.Values{"grace": {"900h"}}), http.StatusUnprocessableEntity, "outside")
	hs.want(hs.post("/apps/rot/rotate", url.Values{"grace": {"-1h"}}), http.StatusUnprocessableEntity, "outside")
	if hs.app("rot").Secret != secret {
		t.Error("a refused rotation rotated")
	}
	hs.want(hs.post("/apps/nope/rotate", nil), http.StatusNotFound)
	hs.want(hs.post("/apps/nope/rotate", url.Values{"grace": {"soon"}}), http.StatusNotFound)

	// Without SecretUse, no table.
	plain := newHarness(t, harnessOpts{noExtras: true})
	plain.login()
	plain.wantRedirect(plain.post("/apps", url.Values{"id": {"x"}}), "/apps/x?notice=created")
	if strings.Contains(plain.get("/apps/x").body, "Signatures verified") {
		t.Error("a use table without SecretUse")
	}
}

func TestAppDeleteNeedsConfirmation(t *testing.T) {
	hs := newHarness(t, harnessOpts{})
	hs.login()
	hs.wantRedirect(hs.post("/apps", url.Values{"id": {"del"}}), "/apps/del?notice=created")
	hs.want(hs.get("/apps/del/delete"), http.StatusOK, `name="confirm"`, `data-confirm="del"`)
	for _, typed := range []string{"", "DEL", "del2", "de"} {
		hs.want(hs.post("/apps/del/delete", url.Values{"confirm": {typed}}), http.StatusUnprocessableEntity, "nothing was deleted")
		hs.app("del")
	}
	hs.wantRedirect(hs.post("/apps/del/delete", url.Values{"confirm": {"del"}}), "/?notice=deleted")
	if _, err := hs.apps.ByID(context.Background(), "del"); !errors.Is(err, apps.ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
	hs.want(hs.get("/?notice=deleted"), http.StatusOK, "App deleted.")
	hs.want(hs.get("/apps/del"), http.StatusNotFound)
	hs.want(hs.post("/apps/del/delete", url.Values{"confirm": {"del"}}), http.StatusNotFound)
	if !strings.Contains(hs.logs.String(), "app deleted") {
		t.Error("delete not logged")
	}
}

func TestDashboardPrefix(t *testing.T) {
	hs := newHarness(t, harnessOpts{})
	if r := hs.get("/dashboard"); r.code != http.StatusMovedPermanently || r.location() != "/dashboard/" {
		t.Errorf("/dashboard: %d to %q", r.code, r.location())
	}
	r := hs.tryLogin("/dashboard", testToken)
	hs.wantRedirect(r, "/dashboard/")
	page := hs.get("/dashboard/")
	hs.want(page, http.StatusOK, `href="/dashboard/apps/new"`, `action="/dashboard/logout"`, `href="/dashboard/assets/dashboard.css?v=`)
	hs.csrf = csrfOf(t, page.body)
	hs.wantRedirect(hs.post("/dashboard/apps", url.Values{"id": {"pre"}}), "/dashboard/apps/pre?notice=created")
	hs.want(hs.get("/dashboard/apps/pre"), http.StatusOK, `action="/dashboard/apps/pre/reveal"`, `href="/dashboard/apps/pre/edit"`)
	// The same session serves both trees.
	hs.want(hs.get("/apps/pre"), http.StatusOK, `action="/apps/pre/reveal"`)
	// Unclean paths are not redirected out of the prefix.
	hs.want(hs.get("/dashboard/apps/../apps/pre"), http.StatusNotFound)
	hs.want(hs.get("/dashboard//apps"), http.StatusNotFound)
}

func TestNoAppStore(t *testing.T) {
	hs := newHarness(t, harnessOpts{noApps: true})
	hs.login()
	hs.want(hs.get("/"), http.StatusOK, "database_url")
	hs.want(hs.get("/apps/new"), http.StatusNotFound, "database_url")
	hs.want(hs.post("/apps", url.Values{"id": {"x"}}), http.StatusNotFound)
	hs.want(hs.get("/apps/x"), http.StatusNotFound)
}

func TestMethodsAndUnknownPaths(t *testing.T) {
	hs := newHarness(t, harnessOpts{})
	hs.login()
	r := hs.do("DELETE", "/apps/x", nil, nil)
	hs.want(r, http.StatusMethodNotAllowed, "Method not allowed")
	if r.header.Get("Allow") != "GET" {
		t.Errorf("Allow %q", r.header.Get("Allow"))
	}
	hs.want(hs.get("/no/such/page"), http.StatusNotFound, "no page at this address")
	hs.want(hs.get("/assets/nope.js"), http.StatusNotFound)
	if r := hs.do("HEAD", "/", nil, nil); r.code != http.StatusOK || r.body != "" {
		t.Errorf("HEAD /: %d, %d bytes", r.code, len(r.body))
	}
}

func TestAssets(t *testing.T) {
	hs := newHarness(t, harnessOpts{})
	page := hs.get("/login")
	for _, c := range []struct{ name, ctype, want string }{
		{"dashboard.css", "text/css; charset=utf-8", "color-scheme"},
		{"dashboard.js", "text/javascript; charset=utf-8", "clipboard"},
	} {
		link := regexp.MustCompile(`/assets/` + regexp.QuoteMeta(c.name) + `\?v=[0-9a-f]{12}`).FindString(page.body)
		if link == "" {
			t.Fatalf("the page does not link %s:\n%s", c.name, page.body)
		}
		r := hs.get(link)
		hs.want(r, http.StatusOK, c.want)
		if r.header.Get("Content-Type") != c.ctype || !strings.Contains(r.header.Get("Cache-Control"), "immutable") {
			t.Errorf("%s: %q, %q", c.name, r.header.Get("Content-Type"), r.header.Get("Cache-Control"))
		}
		if r := hs.get("/assets/" + c.name); r.header.Get("Cache-Control") != "no-cache" {
			t.Errorf("%s without a version: Cache-Control %q", c.name, r.header.Get("Cache-Control"))
		}
	}
	// No inline script or style: the CSP forbids them.
	for _, bad := range []string{"<script>", "style=", "<style", "onclick", "https://"} {
		if strings.Contains(page.body, bad) {
			t.Errorf("the page holds %q", bad)
		}
	}
}

// TestAppEditKeepsManyWebhooks: an app with more webhooks than the form
// has rows keeps them all through an edit.
func TestAppEditKeepsManyWebhooks(t *testing.T) {
	hs := newHarness(t, harnessOpts{})
	hs.login()
	hooks := make([]admin.Webhook, maxWebhookRows)
	for i := range hooks {
		hooks[i] = admin.Webhook{URL: fmt.Sprintf("https://h%d.example/", i), EventTypes: []string{"client_event"}}
	}
	id := "many"
	if _, err := admin.Create(context.Background(), hs.apps, admin.Settings{ID: &id, Webhooks: &hooks}); err != nil {
		t.Fatal(err)
	}
	form := hs.get("/apps/many/edit")
	hs.want(form, http.StatusOK, "more than this form edits")
	if strings.Contains(form.body, `name="webhook_rows"`) || strings.Contains(form.body, "webhook_0_url") {
		t.Error("the form edits the webhooks")
	}
	hs.wantRedirect(hs.post("/apps/many/edit", url.Values{"key": {hs.app("many").Key}, "max_connections": {"3"}}), "/apps/many?notice=saved")
	if a := hs.app("many"); len(a.Webhooks) != maxWebhookRows || a.MaxConnections != 3 {
		t.Errorf("after the edit: %d webhooks, max_connections %d", len(a.Webhooks), a.MaxConnections)
	}
}
