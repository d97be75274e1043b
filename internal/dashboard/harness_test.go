package dashboard

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/admin"
	"github.com/heraldhq/herald/internal/apps"
	"github.com/heraldhq/herald/internal/apps/sqlstore"
	"github.com/heraldhq/herald/internal/beams/devices/sqldevices"
)

const testToken = "dashboard-token-0123456789abcdef"

// harness drives the dashboard like a browser: it keeps cookies, follows
// nothing by itself, and fills in the CSRF token of the session.
type harness struct {
	t     *testing.T
	h     *Handler
	apps  apps.Manager
	beams admin.BeamsStore
	logs  *syncBuffer
	conns *fakeConns
	uses  *fakeUses

	mu  sync.Mutex
	now time.Time

	remote  string            // RemoteAddr of the requests
	cookies map[string]string // the browser's cookie jar
	csrf    string            // the session's CSRF token once logged in
}

type harnessOpts struct {
	cfg        Config
	noApps     bool
	beams      bool
	noExtras   bool               // no Conns, no SecretUse
	configApps func() []*apps.App // the config file's apps; nil: none
}

func newHarness(t *testing.T, o harnessOpts) *harness {
	t.Helper()
	hs := &harness{t: t, logs: &syncBuffer{}, conns: &fakeConns{n: map[string]int{}}, uses: &fakeUses{},
		now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), remote: "192.0.2.10:40000", cookies: map[string]string{}}
	if !o.noApps {
		st, err := sqlstore.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "apps.db"), sqlstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		hs.apps = st
	}
	if o.beams {
		st, err := sqldevices.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "devices.db"), sqldevices.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		hs.beams = st
	}
	if o.cfg.Token == "" {
		o.cfg.Token = testToken
	}
	d := Deps{Apps: hs.apps, ConfigApps: o.configApps, Beams: hs.beams,
		Logger: slog.New(slog.NewTextHandler(hs.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:    hs.clock}
	if !o.noExtras {
		d.Conns, d.SecretUse = hs.conns, hs.uses
	}
	hs.h = New(o.cfg, d)
	return hs
}

func (hs *harness) clock() time.Time {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	return hs.now
}

func (hs *harness) advance(d time.Duration) {
	hs.mu.Lock()
	hs.now = hs.now.Add(d)
	hs.mu.Unlock()
}

type resp struct {
	code    int
	header  http.Header
	body    string
	cookies []*http.Cookie
}

func (r resp) location() string { return r.header.Get("Location") }

// cookie returns the response's Set-Cookie named name (nil if none).
func (r resp) cookie(name string) *http.Cookie {
	for _, c := range r.cookies {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// do sends a request with the jar's cookies and keeps the cookies set. No
// page may ever contain the admin token.
func (hs *harness) do(method, target string, body io.Reader, header http.Header) resp {
	hs.t.Helper()
	req := httptest.NewRequest(method, target, body)
	req.RemoteAddr = hs.remote
	for k, v := range header {
		req.Header[k] = v
	}
	for name, v := range hs.cookies {
		req.AddCookie(&http.Cookie{Name: name, Value: v})
	}
	rec := httptest.NewRecorder()
	hs.h.ServeHTTP(rec, req)
	res := rec.Result()
	out := resp{code: res.StatusCode, header: res.Header, body: rec.Body.String(), cookies: res.Cookies()}
	for _, c := range out.cookies {
		if c.MaxAge < 0 {
			delete(hs.cookies, c.Name)
		} else {
			hs.cookies[c.Name] = c.Value
		}
	}
	if strings.Contains(out.body, testToken) || strings.Contains(hs.logs.String(), testToken) {
		hs.t.Fatalf("%s %s: the admin token appears in a page or log line", method, target)
	}
	return out
}

func (hs *harness) get(target string) resp {
	hs.t.Helper()
	return hs.do("GET", target, nil, nil)
}

// post sends a form; the session's CSRF token is added unless the form has
// a csrf field already.
func (hs *harness) post(target string, form url.Values) resp {
	hs.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form[csrfField]; !ok && hs.csrf != "" {
		form.Set(csrfField, hs.csrf)
	}
	return hs.do("POST", target, strings.NewReader(form.Encode()),
		http.Header{"Content-Type": {"application/x-www-form-urlencoded"}})
}

var reCSRF = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, body string) string {
	t.Helper()
	m := reCSRF.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF field in the page:\n%s", body)
	}
	return m[1]
}

// tryLogin fetches the login form (for its login CSRF cookie and token)
// and posts token.
func (hs *harness) tryLogin(base, token string) resp {
	hs.t.Helper()
	form := hs.get(base + "/login")
	if form.code != http.StatusOK {
		hs.t.Fatalf("GET %s/login: %d", base, form.code)
	}
	return hs.post(base+"/login", url.Values{"token": {token}, csrfField: {csrfOf(hs.t, form.body)}})
}

// login logs in and learns the session's CSRF token from the app list.
func (hs *harness) login() {
	hs.t.Helper()
	r := hs.tryLogin("", testToken)
	if r.code != http.StatusSeeOther || r.location() != "/" {
		hs.t.Fatalf("login: %d to %q:\n%s", r.code, r.location(), r.body)
	}
	page := hs.get("/")
	hs.want(page, http.StatusOK)
	hs.csrf = csrfOf(hs.t, page.body)
}

func (hs *harness) want(r resp, code int, contains ...string) {
	hs.t.Helper()
	if r.code != code {
		hs.t.Fatalf("status %d, want %d:\n%s", r.code, code, r.body)
	}
	for _, s := range contains {
		if !strings.Contains(r.body, s) {
			hs.t.Errorf("page lacks %q:\n%s", s, r.body)
		}
	}
}

func (hs *harness) wantRedirect(r resp, to string) {
	hs.t.Helper()
	if r.code != http.StatusSeeOther || r.location() != to {
		hs.t.Fatalf("got %d to %q, want 303 to %q:\n%s", r.code, r.location(), to, r.body)
	}
}

func (hs *harness) app(id string) *apps.App {
	hs.t.Helper()
	a, err := hs.apps.ByID(context.Background(), id)
	if err != nil {
		hs.t.Fatalf("app %s: %v", id, err)
	}
	return a
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type fakeConns struct {
	mu sync.Mutex
	n  map[string]int
}

func (f *fakeConns) Connections(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n[id]
}

type fakeUses struct {
	mu     sync.Mutex
	window time.Duration
	byApp  map[string]map[string]uint64
}

func (f *fakeUses) SecretUses(id string, window time.Duration) map[string]uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.window = window
	return f.byApp[id]
}
