package webpush

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/heraldhq/herald/internal/beams/netguard"
)

// Outcome classifies a push service's answer (spec beams.md 4.1).
type Outcome int

const (
	Delivered   Outcome = iota + 1 // 201 (any 2xx)
	Gone                           // 404, 410: the subscription expired; delete the device
	Retry                          // 429, 5xx, network errors: try again later (RetryAfter when the service said)
	ConfigError                    // 401, 403: VAPID or key mismatch; not the device's fault, keep it
	Rejected                       // 400, 413 and other 4xx: this message will never be taken
)

func (o Outcome) String() string {
	switch o {
	case Delivered:
		return "delivered"
	case Gone:
		return "gone"
	case Retry:
		return "retry"
	case ConfigError:
		return "config_error"
	case Rejected:
		return "rejected"
	}
	return "unknown"
}

// Result is the outcome of one push.
type Result struct {
	Outcome    Outcome
	Status     int           // HTTP status; 0 for a network error
	RetryAfter time.Duration // Retry with a Retry-After header; 0 otherwise
	Err        error         // what went wrong, for logs (nil when delivered)
}

// Subscription is a web device's push subscription.
type Subscription struct {
	Endpoint string
	P256dh   string // base64url (padding tolerated)
	Auth     string // base64url (padding tolerated)
}

// Message is what to push.
type Message struct {
	Plaintext []byte
	TTL       int    // seconds; RFC 8030 requires the header
	Urgency   string // "" or very-low, low, normal, high
	Topic     string // "" or at most 32 base64url characters
}

// Sender pushes messages for one instance: its VAPID key and contact. It
// caches one VAPID token per push-service origin until shortly before it
// expires. Safe for concurrent use.
type Sender struct {
	Key     *VAPIDKey
	Subject string       // mailto: or https: contact
	Client  *http.Client // an SSRF-safe client (netguard.Client); it must not follow redirects
	// AllowPrivate lets endpoints be http and on private addresses (tests);
	// it must match the Client's.
	AllowPrivate bool
	Now          func() time.Time

	mu     sync.Mutex
	tokens map[string]cachedToken // by audience
}

type cachedToken struct {
	header string
	exp    time.Time
}

// tokenLife is how long a VAPID token is valid (RFC 8292 allows 24 h);
// it is renewed when less than tokenRenew is left.
const (
	tokenLife  = 12 * time.Hour
	tokenRenew = time.Hour
)

// Send encrypts m for sub and posts it. It never returns an error: every
// failure is a Result.
func (s *Sender) Send(ctx context.Context, sub Subscription, m Message) Result {
	// The endpoint came from an unauthenticated registration: checked
	// again before each send (the rules may have changed since), and at
	// connect time by the client. A refused one can never be delivered.
	if err := netguard.CheckURL(sub.Endpoint, s.AllowPrivate); err != nil {
		return Result{Outcome: Gone, Err: err}
	}
	p256dh, err1 := decodeKey(sub.P256dh)
	auth, err2 := decodeKey(sub.Auth)
	if err := errors.Join(err1, err2); err != nil {
		return Result{Outcome: Gone, Err: fmt.Errorf("subscription keys: %w", err)} // such a device can never receive
	}
	body, err := Encrypt(m.Plaintext, p256dh, auth)
	if err != nil {
		if errors.Is(err, ErrTooLarge) {
			return Result{Outcome: Rejected, Err: err}
		}
		return Result{Outcome: Gone, Err: err} // a p256dh that is no P-256 point
	}
	authz, err := s.authorization(sub.Endpoint)
	if err != nil {
		return Result{Outcome: Gone, Err: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, sub.Endpoint, bytes.NewReader(body))
	if err != nil {
		return Result{Outcome: Gone, Err: err}
	}
	req.Header.Set("Content-Encoding", "aes128gcm")
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("TTL", strconv.Itoa(max(m.TTL, 0)))
	req.Header.Set("Authorization", authz)
	if m.Urgency != "" {
		req.Header.Set("Urgency", m.Urgency)
	}
	if m.Topic != "" {
		req.Header.Set("Topic", m.Topic)
	}
	resp, err := s.Client.Do(req)
	if err != nil {
		var refused *netguard.RefusedError
		if errors.As(err, &refused) { // the name resolves to a refused address
			return Result{Outcome: Gone, Err: err}
		}
		return Result{Outcome: Retry, Err: err}
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	r := Result{Status: resp.StatusCode}
	switch c := resp.StatusCode; {
	case c >= 200 && c < 300:
		r.Outcome = Delivered
		return r
	case c == 404 || c == 410:
		r.Outcome = Gone
	case c == 429 || c >= 500:
		r.Outcome = Retry
		r.RetryAfter = RetryAfter(resp.Header.Get("Retry-After"), s.now())
	case c == 401 || c == 403:
		r.Outcome = ConfigError
	default:
		r.Outcome = Rejected
	}
	r.Err = fmt.Errorf("push service answered %s: %s", resp.Status, bytes.TrimSpace(snippet))
	return r
}

func (s *Sender) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// authorization returns a cached or new VAPID header for the endpoint's origin.
func (s *Sender) authorization(endpoint string) (string, error) {
	aud, err := Audience(endpoint)
	if err != nil {
		return "", err
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.tokens[aud]; ok && now.Add(tokenRenew).Before(t.exp) {
		return t.header, nil
	}
	exp := now.Add(tokenLife)
	h, err := s.Key.Authorization(endpoint, s.Subject, exp)
	if err != nil {
		return "", err
	}
	if s.tokens == nil {
		s.tokens = map[string]cachedToken{}
	}
	if len(s.tokens) > 10_000 { // push services are few; a flood of origins must not grow it
		clear(s.tokens)
	}
	s.tokens[aud] = cachedToken{header: h, exp: exp}
	return h, nil
}

// RetryAfter reads a Retry-After header: seconds or an HTTP date; 0 when
// absent or unreadable. It is capped at an hour. The FCM and APNs senders
// use it too.
func RetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), time.Hour)
}

// decodeKey reads base64url with or without padding (browsers differ).
func decodeKey(s string) ([]byte, error) {
	if b, err := base64.RawURLEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.URLEncoding.DecodeString(s)
}
