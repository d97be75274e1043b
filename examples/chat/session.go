package main

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"regexp"
	"sync"
	"time"
)

// Sessions live only in this process's memory: a random id in an HttpOnly
// cookie points at a session here. Every visitor gets one on the first page
// view (so the sign-in form can carry a CSRF token too); signing in sets
// User.

const (
	sessionCookie = "chat_session"
	sessionIdle   = 12 * time.Hour // a session unused this long is forgotten
	csrfHeader    = "X-CSRF-Token"
)

// usernameRE is what a username may look like. It is also the presence
// user_id and the sign-in id, so it stays within the characters that
// Pusher allows there.
var usernameRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,32}$`)

type session struct {
	id       string
	csrf     string // per-session token the page sends as X-CSRF-Token
	user     string // "" until signed in
	lastSeen time.Time
}

type sessionStore struct {
	mu   sync.Mutex
	byID map[string]*session
	now  func() time.Time
}

func newSessionStore() *sessionStore {
	return &sessionStore{byID: map[string]*session{}, now: time.Now}
}

func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// get returns a copy of the request's session, or nil when there is none
// (no cookie, unknown or expired id).
func (s *sessionStore) get(r *http.Request) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sess := s.byID[c.Value]
	if sess == nil {
		return nil
	}
	now := s.now()
	if now.Sub(sess.lastSeen) > sessionIdle {
		delete(s.byID, c.Value)
		return nil
	}
	sess.lastSeen = now
	cp := *sess
	return &cp
}

// getOrCreate returns the request's session, starting a new anonymous one
// (and setting its cookie) when there is none.
func (s *sessionStore) getOrCreate(w http.ResponseWriter, r *http.Request) *session {
	if sess := s.get(r); sess != nil {
		return sess
	}
	return s.create(w, "")
}

// create starts a session for user ("" for anonymous) with a fresh id and
// CSRF token and sets the cookie.
func (s *sessionStore) create(w http.ResponseWriter, user string) *session {
	sess := &session{id: randomToken(), csrf: randomToken(), user: user, lastSeen: s.now()}
	s.mu.Lock()
	s.sweepLocked()
	s.byID[sess.id] = sess
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{
		Name:     sessionCookie,
		Value:    sess.id,
		Path:     "/",
		HttpOnly: true,                 // page scripts cannot read it
		SameSite: http.SameSiteLaxMode, // not sent on cross-site POSTs
		// Add Secure: true when the app is served over HTTPS.
	})
	cp := *sess
	return &cp
}

func (s *sessionStore) delete(id string) {
	s.mu.Lock()
	delete(s.byID, id)
	s.mu.Unlock()
}

// sweepLocked forgets idle sessions; called on every create, so the map
// stays bounded by the number of visitors per sessionIdle.
func (s *sessionStore) sweepLocked() {
	now := s.now()
	for id, sess := range s.byID {
		if now.Sub(sess.lastSeen) > sessionIdle {
			delete(s.byID, id)
		}
	}
}

// validCSRF reports whether token is the session's CSRF token. Scripts send
// it in the X-CSRF-Token header (pusher-js through channelAuthorization /
// userAuthentication headers, fetch for /messages); the plain HTML forms
// send it as the csrf_token field.
func validCSRF(sess *session, token string) bool {
	return token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(sess.csrf)) == 1
}

// handleSignIn signs the visitor in as the posted username. A new session
// id is issued (the old one is dropped) so a session id planted before
// sign-in is useless afterwards.
func (a *app) handleSignIn(w http.ResponseWriter, r *http.Request) {
	sess, ok := a.formSession(w, r)
	if !ok {
		return
	}
	name := r.PostFormValue("username")
	if !usernameRE.MatchString(name) {
		http.Error(w, "a username is 1 to 32 letters, digits, _ or -", http.StatusBadRequest)
		return
	}
	a.sessions.delete(sess.id)
	a.sessions.create(w, name)
	http.Redirect(w, r, "/?room="+roomParam(r.PostFormValue("room")), http.StatusSeeOther)
}

func (a *app) handleSignOut(w http.ResponseWriter, r *http.Request) {
	sess, ok := a.formSession(w, r)
	if !ok {
		return
	}
	a.sessions.delete(sess.id)
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// formSession is the gate of the plain HTML forms (sign-in, sign-out):
// POST (405), a readable form (400/413), a live session, signed in or not,
// and its CSRF token in the csrf_token field (403). It writes the refusal
// itself.
func (a *app) formSession(w http.ResponseWriter, r *http.Request) (*session, bool) {
	if r.Method != http.MethodPost {
		methodNotAllowed(w)
		return nil, false
	}
	if !parseForm(w, r) {
		return nil, false
	}
	sess := a.sessions.get(r)
	if sess == nil || !validCSRF(sess, r.PostFormValue("csrf_token")) {
		http.Error(w, "missing or invalid CSRF token (reload the page)", http.StatusForbidden)
		return nil, false
	}
	return sess, true
}

func methodNotAllowed(w http.ResponseWriter) {
	w.Header().Set("Allow", http.MethodPost)
	http.Error(w, "use POST", http.StatusMethodNotAllowed)
}
