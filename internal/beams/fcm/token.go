package fcm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/beams/webpush"
)

// An access token is renewed this long before Google says it expires
// (spec 4.5: "cache until ~5 min before expiry").
const tokenRenew = 5 * time.Minute

// maxAnswer bounds what is read of a token endpoint's or FCM's answer.
const maxAnswer = 64 << 10

const jwtBearer = "urn:ietf:params:oauth:grant-type:jwt-bearer"

// tokenFlight is one request to the token endpoint that concurrent senders
// wait for instead of making their own.
type tokenFlight struct {
	done  chan struct{} // closed when token and err are set
	token string
	err   error
	// abandoned: the request failed because the context of the sender
	// that made it ended; the others, still wanting a token, try again.
	abandoned bool
}

// TokenError is a failure to obtain an access token. It concerns the whole
// instance (its service account or Google's token endpoint), never one
// device.
type TokenError struct {
	Status     int           // the token endpoint's HTTP status; 0 when it was not reached
	Transient  bool          // unreachable, 429 or 5xx: worth trying again
	RetryAfter time.Duration // when the endpoint said (Transient only)
	Err        error         // what went wrong
}

func (e *TokenError) Error() string { return "fcm: access token: " + e.Err.Error() }

func (e *TokenError) Unwrap() error { return e.Err }

// accessToken returns the cached access token, or obtains a new one when
// it is about to expire. Concurrent callers share one request.
func (s *Sender) accessToken(ctx context.Context) (string, error) {
	for {
		now := s.now()
		s.mu.Lock()
		if s.token != "" && now.Before(s.renewAt) {
			t := s.token
			s.mu.Unlock()
			return t, nil
		}
		f := s.flight
		if f == nil {
			f = &tokenFlight{done: make(chan struct{})}
			s.flight = f
			s.mu.Unlock()
			s.fetchToken(ctx, f, now)
			return f.token, f.err
		}
		s.mu.Unlock()
		select {
		case <-f.done:
			if f.abandoned && ctx.Err() == nil {
				continue
			}
			return f.token, f.err
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

// fetchToken makes flight f's request and publishes its result; the token
// is cached from now, the time before the request (errs early, never late).
func (s *Sender) fetchToken(ctx context.Context, f *tokenFlight, now time.Time) {
	var life time.Duration
	defer func() { // deferred so that waiters are released even on a panic
		s.mu.Lock()
		if f.err == nil {
			s.token = f.token
			s.renewAt = now.Add(renewAfter(life))
		}
		f.abandoned = f.err != nil && ctx.Err() != nil
		s.flight = nil
		s.mu.Unlock()
		close(f.done)
	}()
	f.token, life, f.err = s.requestToken(ctx, now)
}

// renewAfter is how long a token that lives life is used: until tokenRenew
// before its end, or half its life when that is shorter.
func renewAfter(life time.Duration) time.Duration {
	if life > 2*tokenRenew {
		return life - tokenRenew
	}
	return life / 2
}

// dropToken forgets token if it is still the cached one (FCM refused it).
func (s *Sender) dropToken(token string) {
	s.mu.Lock()
	if s.token == token {
		s.token = ""
	}
	s.mu.Unlock()
}

// requestToken exchanges a fresh assertion for an access token.
func (s *Sender) requestToken(ctx context.Context, now time.Time) (string, time.Duration, error) {
	a := s.Account
	assertion, err := a.assertion(now)
	if err != nil {
		return "", 0, &TokenError{Err: err}
	}
	form := url.Values{"grant_type": {jwtBearer}, "assertion": {assertion}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.TokenURI, strings.NewReader(form.Encode()))
	if err != nil {
		return "", 0, &TokenError{Err: err}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := s.client().Do(req)
	if err != nil {
		// The URL error names the token_uri, never the form: no assertion in logs.
		return "", 0, &TokenError{Transient: true, Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return "", 0, &TokenError{Status: resp.StatusCode, Transient: true, Err: fmt.Errorf("reading the answer: %w", err)}
	}
	if resp.StatusCode != http.StatusOK {
		e := &TokenError{Status: resp.StatusCode, Err: fmt.Errorf("token endpoint answered %s%s", resp.Status, oauthReason(body))}
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
			e.Transient = true
			e.RetryAfter = webpush.RetryAfter(resp.Header.Get("Retry-After"), s.now())
		}
		return "", 0, e
	}
	var t struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
		TokenType   string `json:"token_type"`
	}
	if err := json.Unmarshal(body, &t); err != nil || t.AccessToken == "" || t.ExpiresIn <= 0 {
		return "", 0, &TokenError{Status: resp.StatusCode, Err: errors.New("token endpoint answered 200 without an access_token and a positive expires_in")}
	}
	if t.TokenType != "" && !strings.EqualFold(t.TokenType, "Bearer") {
		return "", 0, &TokenError{Status: resp.StatusCode, Err: fmt.Errorf("token endpoint issued a %q token, want Bearer", truncate(t.TokenType, 40))}
	}
	return t.AccessToken, time.Duration(t.ExpiresIn) * time.Second, nil
}

// oauthReason is ": error: description" from an OAuth error answer (RFC
// 6749 5.2), or "" when the body is not one.
func oauthReason(body []byte) string {
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if json.Unmarshal(body, &e) != nil || e.Error == "" {
		return ""
	}
	if e.Description == "" {
		return ": " + truncate(e.Error, 100)
	}
	return ": " + truncate(e.Error, 100) + ": " + truncate(e.Description, 200)
}
