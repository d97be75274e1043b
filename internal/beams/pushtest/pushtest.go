// Package pushtest is a local Web Push service for tests: it plays the
// browser (it makes subscriptions: a P-256 key pair, an auth secret and an
// endpoint on itself) and the push service (it takes the encrypted POSTs
// of RFC 8030, checks the headers and the VAPID token of RFC 8292 and
// decrypts the message of RFC 8291), so a sender is checked end to end
// with real cryptography and no internet (spec beams.md section 4.3).
package pushtest

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/beams/webpush"
)

// Message is one accepted push, decrypted.
type Message struct {
	Subscription string // the subscription's id
	Plaintext    []byte
	Header       http.Header
	Claims       webpush.Claims
}

// Rejection is a push the service refused, and why.
type Rejection struct {
	Subscription string
	Status       int
	Reason       string
}

// Service is the test push service. Its methods are safe for concurrent use.
type Service struct {
	URL string // http://127.0.0.1:port, the origin of every endpoint (the VAPID audience)
	srv *httptest.Server
	now func() time.Time

	mu       sync.Mutex
	subs     map[string]*Subscription
	inject   map[string][]Injected
	rejected []Rejection
	accepted int
	msgs     chan Message
}

// Subscription is what a browser's pushManager.subscribe returns, with its
// private half.
type Subscription struct {
	ID       string
	Endpoint string
	P256dh   string // base64url, no padding: the user agent's public key
	Auth     string // base64url, no padding: the 16-byte auth secret
	// ServerKey is the applicationServerKey the subscription was made for
	// (the instance's VAPID public key): pushes signed with another are refused.
	ServerKey string

	priv    *ecdh.PrivateKey
	auth    []byte
	expired bool
}

// Injected is an answer a test makes the service give instead of the
// normal one (429 with Retry-After, 413, 500, ...).
type Injected struct {
	Status     int
	RetryAfter string
}

var b64 = base64.RawURLEncoding

// Start runs the service until the test ends. now (nil: time.Now) judges
// the tokens' exp.
func Start(t testing.TB, now func() time.Time) *Service {
	t.Helper()
	if now == nil {
		now = time.Now
	}
	s := &Service{now: now, subs: map[string]*Subscription{}, inject: map[string][]Injected{}, msgs: make(chan Message, 100_000)}
	s.srv = httptest.NewServer(http.HandlerFunc(s.handle))
	s.URL = s.srv.URL
	t.Cleanup(s.srv.Close)
	return s
}

// Subscribe makes a subscription bound to serverKey (the VAPID public
// key, base64url), as a browser would.
func (s *Service) Subscribe(serverKey string) *Subscription {
	priv, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	auth := make([]byte, 16)
	rand.Read(auth)
	idb := make([]byte, 8)
	rand.Read(idb)
	id := hex.EncodeToString(idb)
	sub := &Subscription{
		ID: id, Endpoint: s.URL + "/push/" + id,
		P256dh: b64.EncodeToString(priv.PublicKey().Bytes()), Auth: b64.EncodeToString(auth),
		ServerKey: serverKey, priv: priv, auth: auth,
	}
	s.mu.Lock()
	s.subs[id] = sub
	s.mu.Unlock()
	return sub
}

// Token is the device token the Beams web SDK registers for sub: standard
// base64 (with padding) of the subscription's JSON.
func (sub *Subscription) Token() string {
	j, _ := json.Marshal(map[string]any{
		"endpoint": sub.Endpoint, "expirationTime": nil,
		"keys": map[string]string{"p256dh": sub.P256dh, "auth": sub.Auth},
	})
	return base64.StdEncoding.EncodeToString(j)
}

// Expire makes every later push to sub answer 410 Gone.
func (s *Service) Expire(id string) {
	s.mu.Lock()
	if sub := s.subs[id]; sub != nil {
		sub.expired = true
	}
	s.mu.Unlock()
}

// Inject makes the next pushes to subscription id get these answers, in order.
func (s *Service) Inject(id string, answers ...Injected) {
	s.mu.Lock()
	s.inject[id] = append(s.inject[id], answers...)
	s.mu.Unlock()
}

// Messages delivers every accepted push, decrypted.
func (s *Service) Messages() <-chan Message { return s.msgs }

// Rejected lists the refused pushes so far.
func (s *Service) Rejected() []Rejection {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Rejection(nil), s.rejected...)
}

// Accepted counts the pushes answered 201.
func (s *Service) Accepted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

func (s *Service) handle(w http.ResponseWriter, r *http.Request) {
	id, ok := strings.CutPrefix(r.URL.Path, "/push/")
	if r.Method != http.MethodPost || !ok {
		http.NotFound(w, r)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 8192))
	if err != nil {
		s.refuse(w, id, http.StatusBadRequest, "reading the body: "+err.Error())
		return
	}
	s.mu.Lock()
	sub := s.subs[id]
	var inj *Injected
	if q := s.inject[id]; len(q) > 0 {
		inj = &q[0]
		s.inject[id] = q[1:]
	}
	s.mu.Unlock()
	switch {
	case sub == nil:
		s.refuse(w, id, http.StatusNotFound, "no such subscription")
		return
	case sub.expired:
		s.refuse(w, id, http.StatusGone, "subscription expired")
		return
	case inj != nil:
		if inj.RetryAfter != "" {
			w.Header().Set("Retry-After", inj.RetryAfter)
		}
		s.refuse(w, id, inj.Status, "injected")
		return
	case len(body) > 4096:
		s.refuse(w, id, http.StatusRequestEntityTooLarge, fmt.Sprintf("body of %d bytes", len(body)))
		return
	}
	if reason := checkHeaders(r.Header); reason != "" {
		s.refuse(w, id, http.StatusBadRequest, reason)
		return
	}
	token, key, err := webpush.ParseAuthorization(r.Header.Get("Authorization"))
	if err != nil {
		s.refuse(w, id, http.StatusUnauthorized, err.Error())
		return
	}
	if key != sub.ServerKey {
		s.refuse(w, id, http.StatusForbidden, "k is not the subscription's applicationServerKey")
		return
	}
	claims, err := webpush.VerifyToken(token, key)
	if err != nil {
		s.refuse(w, id, http.StatusForbidden, err.Error())
		return
	}
	now := s.now().Unix()
	switch {
	case claims.Aud != s.URL:
		s.refuse(w, id, http.StatusForbidden, fmt.Sprintf("aud %q, want %q", claims.Aud, s.URL))
		return
	case claims.Exp <= now || claims.Exp > now+24*3600:
		s.refuse(w, id, http.StatusForbidden, fmt.Sprintf("exp %d not within the next 24 h of %d", claims.Exp, now))
		return
	case !strings.HasPrefix(claims.Sub, "mailto:") && !strings.HasPrefix(claims.Sub, "https:"):
		s.refuse(w, id, http.StatusForbidden, fmt.Sprintf("sub %q is not mailto: or https:", claims.Sub))
		return
	}
	plain, err := webpush.Decrypt(body, sub.priv, sub.auth)
	if err != nil {
		s.refuse(w, id, http.StatusBadRequest, err.Error())
		return
	}
	s.mu.Lock()
	s.accepted++
	n := s.accepted
	s.mu.Unlock()
	select {
	case s.msgs <- Message{Subscription: id, Plaintext: plain, Header: r.Header.Clone(), Claims: claims}:
	default: // a test that reads nothing does not block the service
	}
	w.Header().Set("Location", "/messages/"+strconv.Itoa(n))
	w.WriteHeader(http.StatusCreated)
}

// checkHeaders applies RFC 8030 / 8188's rules to the request headers.
func checkHeaders(h http.Header) string {
	if ce := h.Get("Content-Encoding"); ce != "aes128gcm" {
		return fmt.Sprintf("Content-Encoding %q, want aes128gcm", ce)
	}
	ttl := h.Get("TTL")
	if n, err := strconv.Atoi(ttl); err != nil || n < 0 {
		return fmt.Sprintf("TTL %q is not a non-negative integer", ttl)
	}
	if u := h.Get("Urgency"); u != "" && u != "very-low" && u != "low" && u != "normal" && u != "high" {
		return fmt.Sprintf("Urgency %q", u)
	}
	if t := h.Get("Topic"); len(t) > 32 || strings.Trim(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
		return fmt.Sprintf("Topic %q: at most 32 characters of the base64url alphabet", t)
	}
	return ""
}

func (s *Service) refuse(w http.ResponseWriter, id string, status int, reason string) {
	s.mu.Lock()
	s.rejected = append(s.rejected, Rejection{Subscription: id, Status: status, Reason: reason})
	s.mu.Unlock()
	http.Error(w, reason, status)
}
