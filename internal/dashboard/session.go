package dashboard

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Cookie names. Both cookies are HttpOnly and SameSite=Strict.
const (
	sessionCookie = "herald_session"
	// loginCookie holds the login form's CSRF token (double submit): the
	// login form is posted before any session exists.
	loginCookie = "herald_login"
	loginTTL    = time.Hour
)

// csrfField is the form field every write carries the CSRF token in.
const csrfField = "csrf"

// sessions are the logged-in browsers: in memory (a restart logs everyone
// out), bounded, each ending after an absolute TTL or when idle. Keys are
// hashes of the cookie values, so a lookup's timing says nothing about a
// session id.
type sessions struct {
	ttl, idle time.Duration
	max       int

	mu   sync.Mutex
	byID map[[sha256.Size]byte]*session
}

type session struct {
	csrf    string
	created time.Time
	seen    time.Time
}

func newSessions(ttl, idle time.Duration, max int) *sessions {
	return &sessions{ttl: ttl, idle: idle, max: max, byID: make(map[[sha256.Size]byte]*session)}
}

// randomToken returns 32 bytes from crypto/rand, base64url without padding.
func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func (s *sessions) expired(ss *session, now time.Time) bool {
	return !now.Before(ss.created.Add(s.ttl)) || !now.Before(ss.seen.Add(s.idle))
}

// create starts a session; at the bound it drops the expired ones, then
// the oldest.
func (s *sessions) create(now time.Time) (id, csrf string, err error) {
	if id, err = randomToken(); err != nil {
		return "", "", err
	}
	if csrf, err = randomToken(); err != nil {
		return "", "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.byID) >= s.max {
		s.pruneLocked(now)
	}
	for len(s.byID) >= s.max {
		var oldestKey [sha256.Size]byte
		var oldest *session
		for k, ss := range s.byID {
			if oldest == nil || ss.created.Before(oldest.created) {
				oldestKey, oldest = k, ss
			}
		}
		delete(s.byID, oldestKey)
	}
	s.byID[sha256.Sum256([]byte(id))] = &session{csrf: csrf, created: now, seen: now}
	return id, csrf, nil
}

// get returns the CSRF token of the live session id and marks it used; an
// expired one is removed.
func (s *sessions) get(id string, now time.Time) (csrf string, ok bool) {
	k := sha256.Sum256([]byte(id))
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.byID[k]
	if !ok {
		return "", false
	}
	if s.expired(ss, now) {
		delete(s.byID, k)
		return "", false
	}
	ss.seen = now
	return ss.csrf, true
}

func (s *sessions) delete(id string) {
	s.mu.Lock()
	delete(s.byID, sha256.Sum256([]byte(id)))
	s.mu.Unlock()
}

func (s *sessions) pruneLocked(now time.Time) {
	for k, ss := range s.byID {
		if s.expired(ss, now) {
			delete(s.byID, k)
		}
	}
}

func (s *sessions) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byID)
}

// cookie builds one of the dashboard's cookies for a response to r;
// maxAge < 0 deletes it. It is Secure when Config.Secure says so or the
// request came over HTTPS: directly, or through a TLS proxy saying so in
// X-Forwarded-Proto (the admin listener is private: its proxies are the
// operator's).
func (h *Handler) cookie(r *http.Request, name, value string, maxAge int) *http.Cookie {
	secure := h.cfg.Secure || r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
	return &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     "/",
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   secure,
		SameSite: http.SameSiteStrictMode,
	}
}

// session finds the request's live session and puts it in c; sent says
// whether the request carried a session cookie at all.
func (h *Handler) session(r *http.Request, c *call) (live, sent bool) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil || ck.Value == "" {
		return false, false
	}
	csrf, ok := h.sessions.get(ck.Value, h.now())
	if ok {
		c.sid, c.csrf = ck.Value, csrf
	}
	return ok, true
}

// authenticate finds the request's session. Without one, a page request is
// sent to the login form and anything else gets 401.
func (h *Handler) authenticate(w http.ResponseWriter, r *http.Request, c *call) bool {
	live, sent := h.session(r, c)
	if live {
		return true
	}
	if sent {
		http.SetCookie(w, h.cookie(r, sessionCookie, "", -1))
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		http.Redirect(w, r, c.link("/login"), http.StatusSeeOther)
		return false
	}
	h.errorPage(w, r, c, http.StatusUnauthorized, "Not logged in",
		"Your session has ended or you are not logged in. Log in again, then repeat the change.")
	return false
}

// readForm parses a urlencoded form body of at most MaxFormBytes.
func (h *Handler) readForm(w http.ResponseWriter, r *http.Request, c *call) bool {
	r.Body = http.MaxBytesReader(w, r.Body, MaxFormBytes)
	err := r.ParseForm()
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		h.errorPage(w, r, c, http.StatusRequestEntityTooLarge, "Form too large",
			"The form was larger than 64 KiB.")
		return false
	case err != nil:
		h.errorPage(w, r, c, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return false
	}
	return true
}

// sameOrigin refuses a write whose Origin (or, without one, Referer)
// names another host than the one it was sent to.
func (h *Handler) sameOrigin(w http.ResponseWriter, r *http.Request, c *call) bool {
	src := r.Header.Get("Origin")
	if src == "" {
		src = r.Header.Get("Referer")
	}
	if src == "" {
		return true
	}
	u, err := url.Parse(src)
	if err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host) {
		return true
	}
	h.log.Warn("dashboard write from another origin refused", "path", r.URL.Path, "remote", c.remote)
	h.errorPage(w, r, c, http.StatusForbidden, "Forbidden",
		"This request came from another site. Changes can only be made from the dashboard's own pages.")
	return false
}

// checkCSRF compares the form's CSRF token with the session's.
func (h *Handler) checkCSRF(w http.ResponseWriter, r *http.Request, c *call) bool {
	if equalTokens(r.PostForm.Get(csrfField), c.csrf) {
		return true
	}
	h.log.Warn("dashboard write without a valid CSRF token refused", "path", r.URL.Path, "remote", c.remote)
	h.errorPage(w, r, c, http.StatusForbidden, "Forbidden",
		"The form has expired or did not come from the dashboard. Reload the page and try again.")
	return false
}

// equalTokens compares in constant time; an empty token never matches.
func equalTokens(got, want string) bool {
	if got == "" || want == "" {
		return false
	}
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}

// clientAddr is the host part of the peer's address. Forwarding headers
// are not trusted: the admin listener is private and reached directly.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
