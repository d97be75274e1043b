package dashboard

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestPagesWithoutSessionGoToLogin(t *testing.T) {
	hs := newHarness(t, harnessOpts{beams: true})
	for _, c := range []struct{ path, to string }{
		{"/", "/login"},
		{"/apps/new", "/login"},
		{"/apps/123", "/login"},
		{"/beams", "/login"},
		{"/dashboard/", "/dashboard/login"},
		{"/dashboard/apps/123/edit", "/dashboard/login"},
	} {
		hs.wantRedirect(hs.get(c.path), c.to)
	}
	// Writes get 401, whatever the form holds.
	for _, p := range []string{"/apps", "/apps/123/delete", "/apps/123/reveal", "/logout", "/beams"} {
		r := hs.post(p, url.Values{"confirm": {"123"}, csrfField: {"anything"}})
		hs.want(r, http.StatusUnauthorized, "Log in")
	}
	// A cookie that names no session is cleared.
	hs.cookies[sessionCookie] = "not-a-session"
	r := hs.get("/")
	hs.wantRedirect(r, "/login")
	if c := r.cookie(sessionCookie); c == nil || c.MaxAge >= 0 {
		t.Errorf("stale session cookie not cleared: %+v", c)
	}
	// The login page and the assets need no session.
	hs.want(hs.get("/login"), http.StatusOK, `name="token"`)
	hs.want(hs.get("/assets/dashboard.css"), http.StatusOK)
}

func TestLoginWrongToken(t *testing.T) {
	hs := newHarness(t, harnessOpts{})
	const wrong = "wrong-token-value-0123456789"
	r := hs.tryLogin("", wrong)
	hs.want(r, http.StatusUnauthorized, "Wrong token.", `name="token"`)
	if r.cookie(sessionCookie) != nil {
		t.Error("a wrong token got a session cookie")
	}
	if strings.Contains(r.body, wrong) {
		t.Error("the page shows the token tried")
	}
	logs := hs.logs.String()
	if !strings.Contains(logs, "level=WARN") || !strings.Contains(logs, "dashboard login failed") || !strings.Contains(logs, "remote=192.0.2.10") {
		t.Errorf("no warning with the remote address:\n%s", logs)
	}
	if strings.Contains(logs, wrong) {
		t.Errorf("the log holds the token tried:\n%s", logs)
	}
	hs.wantRedirect(hs.get("/"), "/login")
}

func TestLoginRateLimitedPerAddress(t *testing.T) {
	hs := newHarness(t, harnessOpts{})
	for i := range 5 {
		hs.want(hs.tryLogin("", fmt.Sprintf("wrong-%d-0123456789abcdef", i)), http.StatusUnauthorized)
		hs.advance(time.Second)
	}
	r := hs.tryLogin("", "wrong-again-0123456789abcdef")
	hs.want(r, http.StatusTooManyRequests, "Too many failed logins")
	if got := r.header.Get("Retry-After"); got != "55" {
		t.Errorf("Retry-After %q, want 55 (the first failure leaves the window then)", got)
	}
	// While blocked even the right token is not checked.
	hs.want(hs.tryLogin("", testToken), http.StatusTooManyRequests)
	if n := strings.Count(hs.logs.String(), "refused after too many failures"); n != 1 {
		t.Errorf("the block was logged %d times, want once:\n%s", n, hs.logs.String())
	}
	// Another address may still log in.
	hs.remote = "192.0.2.99:5555"
	hs.login()
	// Once the window has passed, the first address may try again.
	hs.remote = "192.0.2.10:40001"
	hs.cookies = map[string]string{}
	hs.advance(56 * time.Second)
	hs.wantRedirect(hs.tryLogin("", testToken), "/")
}

func TestLoginRateLimitedGlobally(t *testing.T) {
	hs := newHarness(t, harnessOpts{cfg: Config{LoginFailuresGlobal: 8}})
	for i := range 8 {
		hs.remote = fmt.Sprintf("198.51.100.%d:1000", i)
		hs.want(hs.tryLogin("", "wrong-token-0123456789abcdef"), http.StatusUnauthorized)
	}
	hs.remote = "198.51.100.200:1000"
	r := hs.tryLogin("", testToken)
	hs.want(r, http.StatusTooManyRequests)
	if r.header.Get("Retry-After") != "60" {
		t.Errorf("Retry-After %q, want 60", r.header.Get("Retry-After"))
	}
	hs.advance(time.Minute)
	hs.wantRedirect(hs.tryLogin("", testToken), "/")
}

func TestLoginCookie(t *testing.T) {
	for _, secure := range []bool{false, true} {
		hs := newHarness(t, harnessOpts{cfg: Config{Secure: secure}})
		r := hs.tryLogin("", testToken)
		hs.wantRedirect(r, "/")
		c := r.cookie(sessionCookie)
		switch {
		case c == nil:
			t.Fatal("no session cookie")
		case !c.HttpOnly, c.SameSite != http.SameSiteStrictMode, c.Path != "/", c.Secure != secure:
			t.Errorf("cookie %+v: want HttpOnly, SameSite=Strict, Path=/, Secure=%t", c, secure)
		case c.MaxAge != int(DefaultSessionTTL/time.Second):
			t.Errorf("Max-Age %d, want %d", c.MaxAge, int(DefaultSessionTTL/time.Second))
		case len(c.Value) != 43: // 32 bytes, base64url
			t.Errorf("session id %d characters long, want 43", len(c.Value))
		}
		if lc := r.cookie(loginCookie); lc == nil || lc.MaxAge >= 0 {
			t.Errorf("login cookie not cleared: %+v", lc)
		}
		// Logged in, the login page sends back to the app list.
		hs.wantRedirect(hs.get("/login"), "/")
	}
	// Under /dashboard/, the redirect stays there.
	hs := newHarness(t, harnessOpts{})
	hs.wantRedirect(hs.tryLogin("/dashboard", testToken), "/dashboard/")
}

func TestLoginNeedsItsFormToken(t *testing.T) {
	hs := newHarness(t, harnessOpts{})
	// No login cookie: 403, and a fresh form.
	r := hs.post("/login", url.Values{"token": {testToken}, csrfField: {"forged"}})
	hs.want(r, http.StatusForbidden, "expired", `name="token"`)
	if r.cookie(sessionCookie) != nil {
		t.Error("a login without its form token got a session")
	}
	// The cookie, but not its value in the form.
	hs.get("/login")
	hs.want(hs.post("/login", url.Values{"token": {testToken}, csrfField: {"forged"}}), http.StatusForbidden)
	// From another site.
	form := hs.get("/login")
	r = hs.do("POST", "/login", strings.NewReader(url.Values{"token": {testToken}, csrfField: {csrfOf(t, form.body)}}.Encode()),
		http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Origin": {"https://evil.example"}})
	hs.want(r, http.StatusForbidden)
}

func TestCSRF(t *testing.T) {
	hs := newHarness(t, harnessOpts{})
	hs.login()
	form := url.Values{"id": {"csrf-app"}}
	wrong := "x" + hs.csrf[1:]
	if wrong == hs.csrf {
		wrong = "y" + hs.csrf[1:]
	}
	for _, tok := range []string{"", wrong} {
		f := url.Values{"id": {"csrf-app"}, csrfField: {tok}} // the field present: post adds nothing
		hs.want(hs.post("/apps", f), http.StatusForbidden, "expired")
	}
	noField := strings.NewReader("id=csrf-app")
	hs.want(hs.do("POST", "/apps", noField, http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}),
		http.StatusForbidden, "expired")
	// Another origin, with the right token: refused.
	for _, h := range []http.Header{
		{"Origin": {"https://evil.example"}},
		{"Origin": {"null"}},
		{"Referer": {"https://evil.example/page"}},
	} {
		h.Set("Content-Type", "application/x-www-form-urlencoded")
		f := url.Values{"id": {"csrf-app"}, csrfField: {hs.csrf}}
		hs.want(hs.do("POST", "/apps", strings.NewReader(f.Encode()), h), http.StatusForbidden, "another site")
	}
	if list, _ := hs.apps.List(t.Context()); len(list) != 0 {
		t.Fatalf("a refused request created %d apps", len(list))
	}
	// The same origin and the right token: created.
	h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Origin": {"http://example.com"}}
	form.Set(csrfField, hs.csrf)
	hs.wantRedirect(hs.do("POST", "/apps", strings.NewReader(form.Encode()), h), "/apps/csrf-app?notice=created")
	// The CSRF token of another session is no good.
	other := newHarness(t, harnessOpts{})
	other.h, other.apps = hs.h, hs.apps
	other.login()
	hs.want(hs.post("/apps/csrf-app/disable", url.Values{csrfField: {other.csrf}}), http.StatusForbidden)
	if !hs.app("csrf-app").Enabled {
		t.Error("disabled with another session's token")
	}
}

func TestSessionExpires(t *testing.T) {
	hs := newHarness(t, harnessOpts{})
	hs.login()
	// Idle for more than an hour: over.
	hs.advance(DefaultIdleTimeout + time.Second)
	hs.wantRedirect(hs.get("/"), "/login")

	// In use every 50 minutes, it still ends after the absolute TTL.
	hs.login()
	start := hs.clock()
	for hs.clock().Sub(start) < DefaultSessionTTL-50*time.Minute {
		hs.advance(50 * time.Minute)
		hs.want(hs.get("/"), http.StatusOK)
	}
	hs.advance(50 * time.Minute)
	hs.wantRedirect(hs.get("/"), "/login")
	hs.want(hs.post("/apps", url.Values{"id": {"late"}}), http.StatusUnauthorized)
}

func TestLogout(t *testing.T) {
	hs := newHarness(t, harnessOpts{})
	hs.login()
	sid := hs.cookies[sessionCookie]
	// Logout is a write: it needs the CSRF token.
	hs.want(hs.post("/logout", url.Values{csrfField: {"forged"}}), http.StatusForbidden)
	r := hs.post("/logout", nil)
	hs.wantRedirect(r, "/login")
	if c := r.cookie(sessionCookie); c == nil || c.MaxAge >= 0 {
		t.Errorf("session cookie not cleared: %+v", c)
	}
	// The old cookie, sent again, is no session.
	hs.cookies[sessionCookie] = sid
	hs.wantRedirect(hs.get("/"), "/login")
	if !strings.Contains(hs.logs.String(), "dashboard logout") {
		t.Error("logout not logged")
	}
}

func TestSessionsBounded(t *testing.T) {
	hs := newHarness(t, harnessOpts{cfg: Config{MaxSessions: 3}})
	var ids []string
	for range 4 {
		hs.cookies = map[string]string{}
		hs.login()
		ids = append(ids, hs.cookies[sessionCookie])
		hs.advance(time.Second)
	}
	if n := hs.h.sessions.len(); n != 3 {
		t.Errorf("%d sessions kept, want 3", n)
	}
	hs.cookies = map[string]string{sessionCookie: ids[0]}
	hs.wantRedirect(hs.get("/"), "/login") // the oldest was dropped
	hs.cookies = map[string]string{sessionCookie: ids[3]}
	hs.want(hs.get("/"), http.StatusOK)
}

func TestSecurityHeaders(t *testing.T) {
	hs := newHarness(t, harnessOpts{})
	check := func(what string, r resp, page bool) {
		t.Helper()
		for k, v := range map[string]string{
			"Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
			"X-Content-Type-Options":  "nosniff",
			"Referrer-Policy":         "same-origin",
		} {
			if got := r.header.Get(k); got != v {
				t.Errorf("%s: %s %q, want %q", what, k, got, v)
			}
		}
		if page && r.header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: Cache-Control %q, want no-store", what, r.header.Get("Cache-Control"))
		}
	}
	check("login page", hs.get("/login"), true)
	check("redirect", hs.get("/"), false)
	check("asset", hs.get("/assets/dashboard.js"), false)
	hs.login()
	check("app list", hs.get("/"), true)
	check("404", hs.get("/nowhere"), true)
	hs.wantRedirect(hs.post("/apps", url.Values{"id": {"hdr"}}), "/apps/hdr?notice=created")
	check("keys page", hs.get("/apps/hdr"), true)
	check("revealed secret", hs.post("/apps/hdr/reveal", nil), true)
	check("off", resp{header: serve(New(Config{}, Deps{}), "GET", "/").Header()}, true)
}

func serve(h http.Handler, method, target string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	return rec
}

func TestOffWithoutToken(t *testing.T) {
	h := New(Config{}, Deps{})
	for _, p := range []string{"/", "/login", "/dashboard/", "/assets/dashboard.css"} {
		rec := serve(h, "GET", p)
		if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), "HERALD_ADMIN_TOKEN") {
			t.Errorf("GET %s with no token: %d\n%s", p, rec.Code, rec.Body.String())
		}
	}
}

func TestFormTooLarge(t *testing.T) {
	hs := newHarness(t, harnessOpts{})
	hs.login()
	big := url.Values{"allowed_origins": {strings.Repeat("x", MaxFormBytes)}}
	hs.want(hs.post("/apps", big), http.StatusRequestEntityTooLarge, "64 KiB")
}

// Cookies are Secure when the request came over HTTPS, directly or
// through a TLS proxy (X-Forwarded-Proto), and not on plain HTTP.
func TestCookiesSecureBehindTLS(t *testing.T) {
	hs := newHarness(t, harnessOpts{})
	form := hs.get("/login")
	if c := form.cookie(loginCookie); c == nil || c.Secure {
		t.Fatalf("plain HTTP login cookie: %+v", c)
	}
	r := hs.do("POST", "/login", strings.NewReader(url.Values{"token": {testToken}, csrfField: {csrfOf(t, form.body)}}.Encode()),
		http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "X-Forwarded-Proto": {"https"}})
	c := r.cookie(sessionCookie)
	if r.code != http.StatusSeeOther || c == nil || !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode {
		t.Fatalf("login through a TLS proxy: %d, session cookie %+v", r.code, c)
	}
}
