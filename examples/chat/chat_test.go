package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	testKey    = "app-key"
	testSecret = "app-secret-do-not-leak"
)

// validAuth reports whether auth is the "key:hex" signature Herald accepts
// for msg (":" and channelData appended when present), computed here
// without the SDK.
func validAuth(auth, msg string, channelData *string) bool {
	if channelData != nil {
		msg += ":" + *channelData
	}
	m := hmac.New(sha256.New, []byte(testSecret))
	m.Write([]byte(msg))
	return hmac.Equal([]byte(auth), []byte(testKey+":"+hex.EncodeToString(m.Sum(nil))))
}

// fakeHerald records the HTTP API calls the backend makes.
type fakeHerald struct {
	mu    sync.Mutex
	calls []apiCall
}

type apiCall struct {
	Path string
	Body map[string]any
}

func (f *fakeHerald) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	_ = json.NewDecoder(r.Body).Decode(&body)
	f.mu.Lock()
	f.calls = append(f.calls, apiCall{Path: r.URL.Path, Body: body})
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, "{}")
}

func (f *fakeHerald) recorded() []apiCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]apiCall(nil), f.calls...)
}

func newTestApp(t *testing.T) (*app, *fakeHerald, http.Handler) {
	t.Helper()
	fake := &fakeHerald{}
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	a, err := newApp("http://"+testKey+":"+testSecret+"@"+u.Host+"/apps/42", "", 0,
		"lobby staff=alice,carol", "testdata-missing.js")
	if err != nil {
		t.Fatal(err)
	}
	return a, fake, a.routes()
}

// login starts a session directly in the store and returns its cookie and
// CSRF token; user "" gives an anonymous session.
func login(t *testing.T, a *app, user string) (*http.Cookie, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	sess := a.sessions.create(rec, user)
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("create set %d cookies", len(cookies))
	}
	return cookies[0], sess.csrf
}

type req struct {
	method string
	path   string
	body   string
	cookie *http.Cookie
	csrf   string
}

func do(h http.Handler, rq req) *httptest.ResponseRecorder {
	if rq.method == "" {
		rq.method = http.MethodPost
	}
	r := httptest.NewRequest(rq.method, rq.path, strings.NewReader(rq.body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if rq.cookie != nil {
		r.AddCookie(rq.cookie)
	}
	if rq.csrf != "" {
		r.Header.Set(csrfHeader, rq.csrf)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

func form(kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v.Encode()
}

func TestChannelAuthRefusals(t *testing.T) {
	a, _, h := newTestApp(t)
	bobCookie, bobCSRF := login(t, a, "bob")
	anonCookie, anonCSRF := login(t, a, "")
	_, aliceCSRF := login(t, a, "alice")
	lobby := form("socket_id", "123.456", "channel_name", "presence-room-lobby")
	expired := &http.Cookie{Name: sessionCookie, Value: "no-such-session"}

	for _, tc := range []struct {
		name string
		rq   req
		want int
	}{
		{"GET", req{method: http.MethodGet, path: "/pusher/auth", cookie: bobCookie, csrf: bobCSRF}, http.StatusMethodNotAllowed},
		{"PUT", req{method: http.MethodPut, path: "/pusher/auth", body: lobby, cookie: bobCookie, csrf: bobCSRF}, http.StatusMethodNotAllowed},
		{"no session cookie", req{path: "/pusher/auth", body: lobby, csrf: bobCSRF}, http.StatusForbidden},
		{"unknown session", req{path: "/pusher/auth", body: lobby, cookie: expired, csrf: bobCSRF}, http.StatusForbidden},
		{"anonymous session", req{path: "/pusher/auth", body: lobby, cookie: anonCookie, csrf: anonCSRF}, http.StatusForbidden},
		{"missing CSRF token", req{path: "/pusher/auth", body: lobby, cookie: bobCookie}, http.StatusForbidden},
		{"wrong CSRF token", req{path: "/pusher/auth", body: lobby, cookie: bobCookie, csrf: bobCSRF + "x"}, http.StatusForbidden},
		{"another session's CSRF token", req{path: "/pusher/auth", body: lobby, cookie: bobCookie, csrf: aliceCSRF}, http.StatusForbidden},
		{"restricted room", req{path: "/pusher/auth", body: form("socket_id", "1.2", "channel_name", "presence-room-staff"), cookie: bobCookie, csrf: bobCSRF}, http.StatusForbidden},
		{"restricted room, private", req{path: "/pusher/auth", body: form("socket_id", "1.2", "channel_name", "private-room-staff"), cookie: bobCookie, csrf: bobCSRF}, http.StatusForbidden},
		{"unknown room", req{path: "/pusher/auth", body: form("socket_id", "1.2", "channel_name", "presence-room-nope"), cookie: bobCookie, csrf: bobCSRF}, http.StatusForbidden},
		{"channel outside the rooms", req{path: "/pusher/auth", body: form("socket_id", "1.2", "channel_name", "private-admin"), cookie: bobCookie, csrf: bobCSRF}, http.StatusForbidden},
		{"encrypted channel", req{path: "/pusher/auth", body: form("socket_id", "1.2", "channel_name", "private-encrypted-room-lobby"), cookie: bobCookie, csrf: bobCSRF}, http.StatusForbidden},
		{"socket id missing", req{path: "/pusher/auth", body: form("channel_name", "presence-room-lobby"), cookie: bobCookie, csrf: bobCSRF}, http.StatusBadRequest},
		{"socket id not numeric", req{path: "/pusher/auth", body: form("socket_id", "abc.def", "channel_name", "presence-room-lobby"), cookie: bobCookie, csrf: bobCSRF}, http.StatusBadRequest},
		{"socket id three parts", req{path: "/pusher/auth", body: form("socket_id", "1.2.3", "channel_name", "presence-room-lobby"), cookie: bobCookie, csrf: bobCSRF}, http.StatusBadRequest},
		{"socket id with newline", req{path: "/pusher/auth", body: form("socket_id", "1.2\n", "channel_name", "presence-room-lobby"), cookie: bobCookie, csrf: bobCSRF}, http.StatusBadRequest},
		{"socket id with colon", req{path: "/pusher/auth", body: form("socket_id", "1.2:presence-room-staff", "channel_name", "presence-room-lobby"), cookie: bobCookie, csrf: bobCSRF}, http.StatusBadRequest},
		{"no channel", req{path: "/pusher/auth", body: form("socket_id", "1.2"), cookie: bobCookie, csrf: bobCSRF}, http.StatusBadRequest},
		{"oversized body", req{path: "/pusher/auth", body: lobby + "&pad=" + strings.Repeat("x", 20<<10), cookie: bobCookie, csrf: bobCSRF}, http.StatusRequestEntityTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := do(h, tc.rq)
			if rec.Code != tc.want {
				t.Fatalf("status %d, want %d (body %q)", rec.Code, tc.want, rec.Body.String())
			}
			if strings.Contains(rec.Body.String(), `"auth"`) {
				t.Fatalf("refusal carries a signature: %s", rec.Body.String())
			}
			if strings.Contains(rec.Body.String(), testSecret) {
				t.Fatalf("refusal contains the app secret: %s", rec.Body.String())
			}
		})
	}
}

func TestChannelAuthSigns(t *testing.T) {
	a, _, h := newTestApp(t)
	for _, tc := range []struct {
		user, channel string
		presence      bool
	}{
		{"bob", "presence-room-lobby", true},
		{"alice", "presence-room-staff", true},
		{"carol", "private-room-staff", false},
	} {
		t.Run(tc.user+" "+tc.channel, func(t *testing.T) {
			cookie, csrf := login(t, a, tc.user)
			rec := do(h, req{path: "/pusher/auth", cookie: cookie, csrf: csrf,
				body: form("socket_id", "123.456", "channel_name", tc.channel)})
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Fatalf("Content-Type %q", ct)
			}
			var got struct {
				Auth        string  `json:"auth"`
				ChannelData *string `json:"channel_data"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			if !validAuth(got.Auth, "123.456:"+tc.channel, got.ChannelData) {
				t.Fatalf("signature does not verify: %s", rec.Body.String())
			}
			if validAuth(got.Auth, "123.457:"+tc.channel, got.ChannelData) {
				t.Fatal("signature verifies for another socket")
			}
			if !tc.presence {
				if got.ChannelData != nil {
					t.Fatalf("channel_data on a private channel: %q", *got.ChannelData)
				}
				return
			}
			if got.ChannelData == nil {
				t.Fatal("no channel_data on a presence channel")
			}
			var member struct {
				UserID   string            `json:"user_id"`
				UserInfo map[string]string `json:"user_info"`
			}
			if err := json.Unmarshal([]byte(*got.ChannelData), &member); err != nil {
				t.Fatal(err)
			}
			if member.UserID != tc.user || member.UserInfo["name"] != tc.user {
				t.Fatalf("member %+v, want the session's user %s", member, tc.user)
			}
		})
	}
}

func TestChannelAuthIgnoresClaimedUser(t *testing.T) {
	a, _, h := newTestApp(t)
	cookie, csrf := login(t, a, "bob")
	rec := do(h, req{path: "/pusher/auth", cookie: cookie, csrf: csrf,
		body: form("socket_id", "1.2", "channel_name", "presence-room-lobby", "user_id", "alice",
			"channel_data", `{"user_id":"alice"}`)})
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	if strings.Contains(rec.Body.String(), "alice") || !strings.Contains(rec.Body.String(), `\"user_id\":\"bob\"`) {
		t.Fatalf("member not taken from the session: %s", rec.Body.String())
	}
}

func TestUserAuth(t *testing.T) {
	a, _, h := newTestApp(t)
	cookie, csrf := login(t, a, "bob")
	anon, anonCSRF := login(t, a, "")
	body := form("socket_id", "123.456")

	for _, tc := range []struct {
		name string
		rq   req
		want int
	}{
		{"GET", req{method: http.MethodGet, path: "/pusher/user-auth", cookie: cookie, csrf: csrf}, http.StatusMethodNotAllowed},
		{"no session", req{path: "/pusher/user-auth", body: body, csrf: csrf}, http.StatusForbidden},
		{"anonymous", req{path: "/pusher/user-auth", body: body, cookie: anon, csrf: anonCSRF}, http.StatusForbidden},
		{"missing CSRF", req{path: "/pusher/user-auth", body: body, cookie: cookie}, http.StatusForbidden},
		{"wrong CSRF", req{path: "/pusher/user-auth", body: body, cookie: cookie, csrf: "nope"}, http.StatusForbidden},
		{"malformed socket id", req{path: "/pusher/user-auth", body: form("socket_id", "12-34"), cookie: cookie, csrf: csrf}, http.StatusBadRequest},
		{"no socket id", req{path: "/pusher/user-auth", body: "", cookie: cookie, csrf: csrf}, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if rec := do(h, tc.rq); rec.Code != tc.want {
				t.Fatalf("status %d, want %d (body %q)", rec.Code, tc.want, rec.Body.String())
			}
		})
	}

	rec := do(h, req{path: "/pusher/user-auth", body: body, cookie: cookie, csrf: csrf})
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
	}
	var got struct {
		Auth     string `json:"auth"`
		UserData string `json:"user_data"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if !validAuth(got.Auth, "123.456::user::"+got.UserData, nil) {
		t.Fatalf("user auth does not verify: %s", rec.Body.String())
	}
	if got.UserData != `{"id":"bob","user_info":{"name":"bob"}}` {
		t.Fatalf("user_data %s", got.UserData)
	}
}

func TestMessages(t *testing.T) {
	a, fake, h := newTestApp(t)
	cookie, csrf := login(t, a, "alice")
	bob, bobCSRF := login(t, a, "bob")

	for _, tc := range []struct {
		name string
		rq   req
		want int
	}{
		{"GET", req{method: http.MethodGet, path: "/messages", cookie: cookie, csrf: csrf}, http.StatusMethodNotAllowed},
		{"no session", req{path: "/messages", body: form("room", "lobby", "text", "hi"), csrf: csrf}, http.StatusForbidden},
		{"missing CSRF", req{path: "/messages", body: form("room", "lobby", "text", "hi"), cookie: cookie}, http.StatusForbidden},
		{"restricted room", req{path: "/messages", body: form("room", "staff", "text", "hi"), cookie: bob, csrf: bobCSRF}, http.StatusForbidden},
		{"unknown room", req{path: "/messages", body: form("room", "nope", "text", "hi"), cookie: cookie, csrf: csrf}, http.StatusForbidden},
		{"empty text", req{path: "/messages", body: form("room", "lobby", "text", "  "), cookie: cookie, csrf: csrf}, http.StatusBadRequest},
		{"long text", req{path: "/messages", body: form("room", "lobby", "text", strings.Repeat("é", 501)), cookie: cookie, csrf: csrf}, http.StatusBadRequest},
		{"oversized body", req{path: "/messages", body: form("room", "lobby", "text", strings.Repeat("x", 20<<10)), cookie: cookie, csrf: csrf}, http.StatusRequestEntityTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if rec := do(h, tc.rq); rec.Code != tc.want {
				t.Fatalf("status %d, want %d (body %q)", rec.Code, tc.want, rec.Body.String())
			}
		})
	}
	if calls := fake.recorded(); len(calls) != 0 {
		t.Fatalf("refused messages reached Herald: %+v", calls)
	}

	rec := do(h, req{path: "/messages", body: form("room", "staff", "text", "hi @bob and @carol @carol"), cookie: cookie, csrf: csrf})
	if rec.Code != http.StatusNoContent {
		t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
	}
	calls := fake.recorded()
	// The message, then one mention for carol; bob may not read #staff.
	if len(calls) != 2 {
		t.Fatalf("calls %+v", calls)
	}
	if calls[0].Path != "/apps/42/events" || calls[0].Body["name"] != "message" {
		t.Fatalf("trigger %+v", calls[0])
	}
	if ch := calls[0].Body["channels"].([]any); len(ch) != 1 || ch[0] != "presence-room-staff" {
		t.Fatalf("channels %v", ch)
	}
	var msg map[string]string
	if err := json.Unmarshal([]byte(calls[0].Body["data"].(string)), &msg); err != nil {
		t.Fatal(err)
	}
	if msg["user"] != "alice" || msg["text"] != "hi @bob and @carol @carol" {
		t.Fatalf("message %v", msg)
	}
	if ch := calls[1].Body["channels"].([]any); calls[1].Body["name"] != "mention" || ch[0] != "#server-to-user-carol" {
		t.Fatalf("mention %+v", calls[1])
	}
}

func TestPageAndSignIn(t *testing.T) {
	a, _, h := newTestApp(t)

	rec := do(h, req{method: http.MethodGet, path: "/?room=lobby"})
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 || cookies[0].Name != sessionCookie || !cookies[0].HttpOnly || cookies[0].SameSite != http.SameSiteLaxMode {
		t.Fatalf("session cookie %+v", cookies)
	}
	page := rec.Body.String()
	if strings.Contains(page, testSecret) {
		t.Fatal("the page contains the app secret")
	}
	for _, want := range []string{`"key":"app-key"`, `"channel":"presence-room-lobby"`, `/static/pusher.min.js`, `id="signin"`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	anon := a.sessions.get(httptest.NewRequest(http.MethodGet, "/", nil))
	if anon != nil {
		t.Fatal("a request without a cookie has a session")
	}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.AddCookie(cookies[0])
	sess := a.sessions.get(r)
	if sess == nil || sess.user != "" || !strings.Contains(page, sess.csrf) {
		t.Fatalf("anonymous session %+v not in the page", sess)
	}

	if rec := do(h, req{method: http.MethodGet, path: "/?room=nope"}); rec.Code != http.StatusNotFound {
		t.Fatalf("unknown room: %d", rec.Code)
	}
	if rec := do(h, req{path: "/signin", body: form("username", "dave"), cookie: cookies[0]}); rec.Code != http.StatusForbidden {
		t.Fatalf("sign-in without CSRF: %d", rec.Code)
	}
	if rec := do(h, req{path: "/signin", body: form("username", "<dave>", "csrf_token", sess.csrf), cookie: cookies[0]}); rec.Code != http.StatusBadRequest {
		t.Fatalf("bad username: %d", rec.Code)
	}
	if rec := do(h, req{path: "/signin", body: form("username", "dave", "csrf_token", sess.csrf, "pad", strings.Repeat("x", 20<<10)), cookie: cookies[0]}); rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized sign-in: %d", rec.Code)
	}
	if rec := do(h, req{method: http.MethodGet, path: "/signin", cookie: cookies[0]}); rec.Code != http.StatusMethodNotAllowed {
		t.Fatalf("GET /signin: %d", rec.Code)
	}
	rec = do(h, req{path: "/signin", body: form("username", "dave", "room", "lobby", "csrf_token", sess.csrf), cookie: cookies[0]})
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/?room=lobby" {
		t.Fatalf("sign-in: %d %q", rec.Code, rec.Header().Get("Location"))
	}
	if a.sessions.get(r) != nil {
		t.Fatal("the pre-sign-in session id still works")
	}
	newCookie := rec.Result().Cookies()[0]
	r = httptest.NewRequest(http.MethodGet, "/", nil)
	r.AddCookie(newCookie)
	if s := a.sessions.get(r); s == nil || s.user != "dave" || s.csrf == sess.csrf {
		t.Fatalf("signed-in session %+v", s)
	}
}

func TestSessionsExpire(t *testing.T) {
	a, _, h := newTestApp(t)
	cookie, csrf := login(t, a, "bob")
	now := time.Now().Add(sessionIdle + time.Minute)
	a.sessions.mu.Lock()
	a.sessions.now = func() time.Time { return now }
	a.sessions.mu.Unlock()
	rec := do(h, req{path: "/pusher/auth", cookie: cookie, csrf: csrf,
		body: form("socket_id", "1.2", "channel_name", "presence-room-lobby")})
	if rec.Code != http.StatusForbidden {
		t.Fatalf("expired session: %d", rec.Code)
	}
}

func TestParseRooms(t *testing.T) {
	rooms, err := parseRooms("lobby  staff=alice,carol")
	if err != nil || len(rooms) != 2 || rooms[0].Members != nil || len(rooms[1].Members) != 2 {
		t.Fatalf("%+v %v", rooms, err)
	}
	for _, bad := range []string{"", "Lobby", "a a", "x=", "x=al!ce", "x=a,,b", strings.Repeat("r", 51)} {
		if _, err := parseRooms(bad); err == nil {
			t.Errorf("parseRooms(%q) accepted", bad)
		}
	}
}

func TestBrowserConfigFromURL(t *testing.T) {
	a, err := newApp("https://k:s@herald.example:8443/apps/1", "", 0, "lobby", "x.js")
	if err != nil {
		t.Fatal(err)
	}
	if a.browser != (browserConfig{Key: "k", WSHost: "herald.example", WSPort: 8443, ForceTLS: true}) {
		t.Fatalf("%+v", a.browser)
	}
	a, err = newApp("http://k:s@127.0.0.1:6001/apps/1", "chat.example", 443, "lobby", "x.js")
	if err != nil {
		t.Fatal(err)
	}
	if a.browser.WSHost != "chat.example" || a.browser.WSPort != 443 {
		t.Fatalf("%+v", a.browser)
	}
}
