package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/apps"
	"github.com/heraldhq/herald/internal/apps/sqlstore"
)

const token = "admin-token-0123456789abcdef"

type harness struct {
	t     *testing.T
	h     http.Handler
	store apps.Manager
	logs  *bytes.Buffer
	now   time.Time
}

func newHarness(t *testing.T, tok string) *harness { return newHarnessOn(t, tok, newFake()) }

func newHarnessOn(t *testing.T, tok string, m apps.Manager) *harness {
	t.Helper()
	hs := &harness{t: t, store: m, logs: &bytes.Buffer{}, now: time.Now().UTC().Truncate(time.Second)}
	log := slog.New(slog.NewTextHandler(hs.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	hs.h = New(Config{Token: tok}, Deps{Apps: hs.store, Logger: log, Now: func() time.Time { return hs.now }})
	return hs
}

// stored reads an app straight from the store (nil when missing).
func (hs *harness) stored(id string) *apps.App {
	hs.t.Helper()
	a, err := hs.store.ByID(context.Background(), id)
	if err != nil && !errors.Is(err, apps.ErrNotFound) {
		hs.t.Fatal(err)
	}
	return a
}

func (hs *harness) count() int {
	hs.t.Helper()
	list, err := hs.store.List(context.Background())
	if err != nil {
		hs.t.Fatal(err)
	}
	return len(list)
}

type resp struct {
	code   int
	header http.Header
	body   string
}

func (r resp) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(r.body), v); err != nil {
		t.Fatalf("response %d %q: %v", r.code, r.body, err)
	}
}

// errorCode returns the "code" of a JSON error body.
func (r resp) errorCode(t *testing.T) string {
	t.Helper()
	var e Error
	r.json(t, &e)
	if e.Error == "" {
		t.Errorf("error body without a message: %s", r.body)
	}
	return e.Code
}

// do sends a request with the harness token ("" for none; auth overrides).
func (hs *harness) do(method, path, body string, auth ...string) resp {
	hs.t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.RemoteAddr = "192.0.2.1:1234"
	switch {
	case len(auth) > 0:
		if auth[0] != "" {
			req.Header.Set("Authorization", auth[0])
		}
	default:
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	hs.h.ServeHTTP(rec, req)
	return resp{rec.Code, rec.Header(), rec.Body.String()}
}

func (hs *harness) want(r resp, code int, errCode string) {
	hs.t.Helper()
	if r.code != code {
		hs.t.Fatalf("status %d, want %d: %s", r.code, code, r.body)
	}
	if ct := r.header.Get("Content-Type"); code != http.StatusNoContent && ct != "application/json" {
		hs.t.Errorf("Content-Type %q", ct)
	}
	if errCode != "" {
		if got := r.errorCode(hs.t); got != errCode {
			hs.t.Errorf("error code %q, want %q (%s)", got, errCode, r.body)
		}
	}
}

func TestAdminOffWithoutToken(t *testing.T) {
	hs := newHarness(t, "")
	for _, r := range []resp{
		hs.do("GET", "/admin/apps", ""),
		hs.do("POST", "/admin/apps", "{}"),
		hs.do("GET", "/admin/apps/x", "", "Bearer "),
		hs.do("DELETE", "/admin/apps/x", "", ""),
	} {
		if r.code != http.StatusNotFound {
			t.Errorf("status %d, want 404: %s", r.code, r.body)
		}
	}
	if hs.count() != 0 {
		t.Error("an app was created with the admin API off")
	}
}

func TestAdminAuth(t *testing.T) {
	hs := newHarness(t, token)
	for _, auth := range []string{"", "Bearer", "Bearer   ", "Basic " + token, token} {
		r := hs.do("GET", "/admin/apps", "", auth)
		hs.want(r, http.StatusUnauthorized, "unauthorized")
		if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("auth %q: WWW-Authenticate %q", auth, r.header.Get("WWW-Authenticate"))
		}
	}
	for _, wrong := range []string{"Bearer wrong-token-0123456789", "Bearer " + token + "x", "Bearer " + token[:len(token)-1]} {
		hs.want(hs.do("POST", "/admin/apps", "{}", wrong), http.StatusForbidden, "forbidden")
	}
	if hs.count() != 0 {
		t.Error("an unauthenticated request created an app")
	}
	logs := hs.logs.String()
	if strings.Count(logs, "level=WARN") != 3 || !strings.Contains(logs, "wrong token") || !strings.Contains(logs, "192.0.2.1") {
		t.Errorf("want three warnings with the remote address:\n%s", logs)
	}
	if strings.Contains(logs, "wrong-token") || strings.Contains(logs, token[:12]) {
		t.Errorf("a token reached the log:\n%s", logs)
	}
	// The scheme is case-insensitive.
	hs.want(hs.do("GET", "/admin/apps", "", "bearer "+token), http.StatusOK, "")
}

func TestAdminLifecycle(t *testing.T) { testLifecycle(t, newHarness(t, token)) }

// TestAdminLifecycleSQLite runs the same requests over the real SQLite store.
func TestAdminLifecycleSQLite(t *testing.T) {
	st, err := sqlstore.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "apps.db"), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	testLifecycle(t, newHarnessOn(t, token, st))
}

func testLifecycle(t *testing.T, hs *harness) {
	var secrets []string

	// Create with everything generated.
	r := hs.do("POST", "/admin/apps", "{}")
	hs.want(r, http.StatusCreated, "")
	var gen App
	r.json(t, &gen)
	if len(gen.ID) != 7 || len(gen.Key) != 20 || len(gen.Secret) != 64 || !gen.Enabled {
		t.Fatalf("generated app %+v", gen)
	}
	if gen.MaxPresenceMembers != 100 || gen.MaxEventPayloadKB != 10 {
		t.Errorf("defaults not applied: %+v", gen)
	}
	if r.header.Get("Location") != "/admin/apps/"+gen.ID {
		t.Errorf("Location %q", r.header.Get("Location"))
	}
	secrets = append(secrets, gen.Secret)

	// Create with settings.
	r = hs.do("POST", "/admin/apps", `{
		"id": "shop", "key": "shop-key", "enable_client_messages": true, "require_signin": true,
		"enable_subscription_count": true, "max_connections": 500, "max_presence_members": 50,
		"max_event_payload_kb": 20, "client_events_per_sec": 5, "max_user_info_kb": 2,
		"max_channels_per_trigger": 50, "max_batch_size": 5, "api_rate_limit": 2.5, "api_rate_burst": 10,
		"allowed_origins": ["https://shop.example.com", "https://*.shop.example.com"],
		"webhooks": [{"url": "https://hooks.example.com/p", "event_types": ["channel_occupied", "member_added"],
			"headers": {"X-Env": "prod"}, "filter": {"channel_name_starts_with": "presence-"}}]}`)
	hs.want(r, http.StatusCreated, "")
	var shop App
	r.json(t, &shop)
	want := App{
		ID: "shop", Key: "shop-key", Secret: shop.Secret, Enabled: true, EnableClientMessages: true, RequireSignin: true,
		EnableSubscriptionCount: true, MaxConnections: 500, MaxPresenceMembers: 50, MaxEventPayloadKB: 20,
		ClientEventsPerSec: 5, MaxUserInfoKB: 2, MaxChannelsPerTrigger: 50, MaxBatchSize: 5, APIRateLimit: 2.5, APIRateBurst: 10,
		AllowedOrigins: []string{"https://shop.example.com", "https://*.shop.example.com"},
		Webhooks: []Webhook{{URL: "https://hooks.example.com/p", EventTypes: []string{"channel_occupied", "member_added"},
			Headers: map[string]string{"X-Env": "prod"}, Filter: WebhookFilter{ChannelNameStartsWith: "presence-"}}},
		PreviousSecrets: []PreviousSecret{},
	}
	if !jsonEqual(t, shop, want) {
		t.Errorf("created\n%+v\nwant\n%+v", shop, want)
	}
	stored := hs.stored("shop")
	if stored.MaxEventPayloadBytes != 20*1024 || stored.MaxUserInfoBytes != 2*1024 || stored.Webhooks[0].ChannelNameStartsWith != "presence-" {
		t.Errorf("stored %+v", stored)
	}
	secrets = append(secrets, shop.Secret)

	// A secret may be given on create; it must be strong enough.
	r = hs.do("POST", "/admin/apps", `{"id": "own", "key": "own-key", "secret": "a-secret-of-24-chars-xyz"}`)
	hs.want(r, http.StatusCreated, "")
	secrets = append(secrets, "a-secret-of-24-chars-xyz")
	hs.want(hs.do("POST", "/admin/apps", `{"secret": "short"}`), http.StatusUnprocessableEntity, "invalid")

	// List and show never carry a secret.
	r = hs.do("GET", "/admin/apps", "")
	hs.want(r, http.StatusOK, "")
	var list AppList
	r.json(t, &list)
	if len(list.Apps) != 3 || list.Apps[1].ID != "own" || list.Apps[2].ID != "shop" {
		t.Errorf("list %+v", list)
	}
	noSecrets(t, r.body, secrets)
	if strings.Contains(r.body, `"secret"`) {
		t.Errorf("list has a secret field: %s", r.body)
	}
	r = hs.do("GET", "/admin/apps/shop", "")
	hs.want(r, http.StatusOK, "")
	noSecrets(t, r.body, secrets)
	r = hs.do("GET", "/admin/apps/shop?show_secret=0", "")
	noSecrets(t, r.body, secrets)
	r = hs.do("GET", "/admin/apps/shop?show_secret=1", "")
	hs.want(r, http.StatusOK, "")
	var shown App
	r.json(t, &shown)
	if shown.Secret != shop.Secret {
		t.Errorf("show_secret=1: secret %q", shown.Secret)
	}
	hs.want(hs.do("GET", "/admin/apps/shop?show_secret=yes", ""), http.StatusBadRequest, "bad_request")
	hs.want(hs.do("GET", "/admin/apps/nope", ""), http.StatusNotFound, "not_found")

	// Partial update: only the fields sent change.
	r = hs.do("PATCH", "/admin/apps/shop", `{"max_connections": 0, "allowed_origins": [], "key": "shop-key-2", "webhooks": []}`)
	hs.want(r, http.StatusOK, "")
	var upd App
	r.json(t, &upd)
	if upd.MaxConnections != 0 || len(upd.AllowedOrigins) != 0 || upd.Key != "shop-key-2" || len(upd.Webhooks) != 0 ||
		!upd.EnableClientMessages || upd.MaxBatchSize != 5 || upd.Secret != "" {
		t.Errorf("updated %+v", upd)
	}
	if hs.stored("shop").Secret != shop.Secret {
		t.Error("update changed the secret")
	}
	hs.want(hs.do("PATCH", "/admin/apps/shop", `{"id": "shop"}`), http.StatusOK, "")
	hs.want(hs.do("PATCH", "/admin/apps/nope", `{"max_connections": 1}`), http.StatusNotFound, "not_found")

	// Disable, enable.
	r = hs.do("POST", "/admin/apps/shop/disable", "")
	hs.want(r, http.StatusOK, "")
	if hs.stored("shop").Enabled || !strings.Contains(r.body, `"enabled":false`) {
		t.Errorf("disable: %s", r.body)
	}
	hs.want(hs.do("POST", "/admin/apps/shop/enable", ""), http.StatusOK, "")
	if !hs.stored("shop").Enabled {
		t.Error("enable did not enable")
	}
	hs.want(hs.do("POST", "/admin/apps/nope/enable", ""), http.StatusNotFound, "not_found")

	// Rotate.
	r = hs.do("POST", "/admin/apps/shop/rotate-secret", `{"grace": "1h"}`)
	hs.want(r, http.StatusOK, "")
	var rot App
	r.json(t, &rot)
	if rot.ID != "shop" || rot.Key != "shop-key-2" || len(rot.Secret) != 64 || rot.Secret == shop.Secret {
		t.Fatalf("rotated %+v", rot)
	}
	if len(rot.PreviousSecrets) != 1 || !rot.PreviousSecrets[0].ExpiresAt.Equal(hs.now.Add(time.Hour)) {
		t.Errorf("previous secrets %+v", rot.PreviousSecrets)
	}
	noSecrets(t, r.body, []string{shop.Secret}) // the old value is never shown
	if got := hs.stored("shop").Secrets(hs.now); len(got) != 2 || got[0] != rot.Secret || got[1] != shop.Secret {
		t.Errorf("valid secrets after rotation: %d", len(got))
	}
	secrets = append(secrets, rot.Secret)
	r = hs.do("POST", "/admin/apps/"+gen.ID+"/rotate-secret", "") // empty body: the default grace
	hs.want(r, http.StatusOK, "")
	var rot2 App
	r.json(t, &rot2)
	if len(rot2.PreviousSecrets) != 1 || !rot2.PreviousSecrets[0].ExpiresAt.Equal(hs.now.Add(DefaultGrace)) {
		t.Errorf("default grace: %+v", rot2.PreviousSecrets)
	}
	secrets = append(secrets, rot2.Secret)
	hs.want(hs.do("POST", "/admin/apps/shop/rotate-secret", `{"grace": "0s"}`), http.StatusOK, "")
	// Days, as in the config file and the CLI.
	r = hs.do("POST", "/admin/apps/shop/rotate-secret", `{"grace": "7d"}`)
	hs.want(r, http.StatusOK, "")
	var rot3 App
	r.json(t, &rot3)
	if len(rot3.PreviousSecrets) == 0 || !rot3.PreviousSecrets[0].ExpiresAt.Equal(hs.now.Add(7*24*time.Hour)) {
		t.Errorf("grace 7d: %+v", rot3.PreviousSecrets)
	}
	for _, g := range []string{`"-1h"`, `"1000h"`, `"soon"`} {
		hs.want(hs.do("POST", "/admin/apps/shop/rotate-secret", `{"grace": `+g+`}`), http.StatusUnprocessableEntity, "invalid")
	}
	hs.want(hs.do("POST", "/admin/apps/shop/rotate-secret", `{"grace": 3600}`), http.StatusBadRequest, "bad_request")
	hs.want(hs.do("POST", "/admin/apps/nope/rotate-secret", `{}`), http.StatusNotFound, "not_found")

	// Delete.
	hs.want(hs.do("DELETE", "/admin/apps/shop", ""), http.StatusNoContent, "")
	hs.want(hs.do("GET", "/admin/apps/shop", ""), http.StatusNotFound, "not_found")
	hs.want(hs.do("DELETE", "/admin/apps/shop", ""), http.StatusNotFound, "not_found")

	// No secret, and not the admin token, ever reaches the log.
	logs := hs.logs.String()
	noSecrets(t, logs, append(secrets, token))
	for _, msg := range []string{"app created", "app updated", "app secret rotated", "app deleted", "app secret shown"} {
		if !strings.Contains(logs, msg) {
			t.Errorf("log lacks %q:\n%s", msg, logs)
		}
	}
}

func TestAdminBadInput(t *testing.T) {
	hs := newHarness(t, token)
	testBadInput(t, hs)
}

func TestAdminBadInputSQLite(t *testing.T) {
	st, err := sqlstore.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "apps.db"), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	testBadInput(t, newHarnessOn(t, token, st))
}

func testBadInput(t *testing.T, hs *harness) {
	hs.want(hs.do("POST", "/admin/apps", `{"id": "a", "key": "ka"}`), http.StatusCreated, "")
	hs.want(hs.do("POST", "/admin/apps", `{"id": "b", "key": "kb"}`), http.StatusCreated, "")

	cases := []struct {
		name, method, path, body string
		status                   int
		code, msg                string
	}{
		{"duplicate id", "POST", "/admin/apps", `{"id": "a"}`, 409, "conflict", `app id "a" already exists`},
		{"duplicate key", "POST", "/admin/apps", `{"key": "ka"}`, 409, "conflict", `app key "ka" already exists`},
		{"key taken on update", "PATCH", "/admin/apps/b", `{"key": "ka"}`, 409, "conflict", `app key "ka" already exists`},
		{"bad id", "POST", "/admin/apps", `{"id": "has space"}`, 422, "invalid", "id"},
		{"bad key", "POST", "/admin/apps", `{"key": "a/b"}`, 422, "invalid", "key"},
		{"long id", "POST", "/admin/apps", `{"id": "` + strings.Repeat("x", 65) + `"}`, 422, "invalid", "at most 64"},
		{"empty secret", "POST", "/admin/apps", `{"secret": ""}`, 422, "invalid", "secret"},
		{"bad origin", "POST", "/admin/apps", `{"allowed_origins": ["example.com"]}`, 422, "invalid", "allowed_origins"},
		{"bad webhook", "POST", "/admin/apps", `{"webhooks": [{"url": "ftp://x", "event_types": ["boom"]}]}`, 422, "invalid", "webhooks[0]"},
		{"negative limit", "PATCH", "/admin/apps/a", `{"max_connections": -1}`, 422, "invalid", "max_connections"},
		{"huge kb", "PATCH", "/admin/apps/a", `{"max_event_payload_kb": 99999999999}`, 422, "invalid", "max_event_payload_kb"},
		{"secret on patch", "PATCH", "/admin/apps/a", `{"secret": "0123456789abcdef0123"}`, 422, "invalid", "rotate-secret"},
		{"previous secrets", "PATCH", "/admin/apps/a", `{"previous_secrets": []}`, 422, "invalid", "rotate-secret"},
		{"id change", "PATCH", "/admin/apps/a", `{"id": "z"}`, 422, "invalid", "cannot change"},
		{"bad JSON", "POST", "/admin/apps", `{"id": `, 400, "bad_request", "invalid JSON"},
		{"not an object", "POST", "/admin/apps", `[1]`, 400, "bad_request", "invalid JSON"},
		{"two values", "PATCH", "/admin/apps/a", `{} {}`, 400, "bad_request", "more than one"},
		{"empty body", "POST", "/admin/apps", ``, 400, "bad_request", "invalid JSON"},
		{"unknown field", "PATCH", "/admin/apps/a", `{"max_conections": 1}`, 400, "bad_request", "max_conections"},
		{"wrong type", "PATCH", "/admin/apps/a", `{"enabled": "yes"}`, 400, "bad_request", "enabled"},
		{"too large", "POST", "/admin/apps", `{"allowed_origins": ["` + strings.Repeat("x", MaxBodyBytes) + `"]}`, 413, "too_large", "64 KiB"},
		{"method", "PUT", "/admin/apps/a", `{}`, 405, "method_not_allowed", "GET, PATCH, DELETE"},
		{"method on list", "DELETE", "/admin/apps", ``, 405, "method_not_allowed", "GET, POST"},
		{"unknown path", "GET", "/admin/nothing", ``, 404, "not_found", "no such"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := hs.do(c.method, c.path, c.body)
			if r.code != c.status {
				t.Fatalf("status %d, want %d: %s", r.code, c.status, r.body)
			}
			var e Error
			r.json(t, &e)
			if e.Code != c.code || !strings.Contains(e.Error, c.msg) || strings.Contains(e.Error, "\n") {
				t.Errorf("error %+v, want code %q and a one-line message with %q", e, c.code, c.msg)
			}
		})
	}
	if hs.count() != 2 || hs.stored("b").Key != "kb" || hs.stored("a").MaxConnections != 0 {
		t.Errorf("bad input changed the store: a %+v, b %+v", hs.stored("a"), hs.stored("b"))
	}
}

func TestAdminStoreFailure(t *testing.T) {
	fake := newFake()
	fake.fail = errDown
	hs := newHarnessOn(t, token, fake)
	for _, r := range []resp{
		hs.do("GET", "/admin/apps", ""),
		hs.do("POST", "/admin/apps", "{}"),
		hs.do("GET", "/admin/apps/a", ""),
		hs.do("POST", "/admin/apps/a/rotate-secret", ""),
	} {
		hs.want(r, http.StatusInternalServerError, "internal")
		if strings.Contains(r.body, "database is down") {
			t.Errorf("the store error leaked to the client: %s", r.body)
		}
	}
	if !strings.Contains(hs.logs.String(), "database is down") {
		t.Errorf("the store error was not logged:\n%s", hs.logs.String())
	}
}

func TestFromAppKB(t *testing.T) {
	a := FromApp(&apps.App{ID: "i", Key: "k", Secret: "s", MaxEventPayloadBytes: 1500, MaxUserInfoBytes: 2048}, false)
	if a.MaxEventPayloadKB != 2 || a.MaxUserInfoKB != 2 || a.Secret != "" {
		t.Errorf("%+v", a)
	}
	b, _ := json.Marshal(a)
	for _, field := range []string{`"allowed_origins":[]`, `"webhooks":[]`, `"previous_secrets":[]`} {
		if !strings.Contains(string(b), field) {
			t.Errorf("%s lacks %s", b, field)
		}
	}
}

func noSecrets(t *testing.T, s string, secrets []string) {
	t.Helper()
	for _, sec := range secrets {
		if sec != "" && strings.Contains(s, sec) {
			t.Errorf("secret %.6s... appears in:\n%s", sec, s)
		}
	}
}

func jsonEqual(t *testing.T, a, b any) bool {
	t.Helper()
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}
