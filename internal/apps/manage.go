package apps

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/big"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/config"
)

// Bounds on managed apps and on secret rotation.
const (
	// MaxRotationGrace is the longest a rotated-out secret may stay valid.
	MaxRotationGrace = 30 * 24 * time.Hour
	// MaxPreviousSecrets is how many rotated-out secrets an app keeps; a
	// rotation beyond it drops the oldest.
	MaxPreviousSecrets = 5
	// MaxCredentialLen bounds an app id or key.
	MaxCredentialLen = 64
	// MinSecretLen and MaxSecretLen bound a secret (primary or previous).
	MinSecretLen = 16
	MaxSecretLen = 256
)

// ErrInvalid is wrapped by every error Validate returns, so callers (an
// admin API) can tell bad input from a storage failure with errors.Is.
var ErrInvalid = errors.New("invalid app")

// NewCredentials generates credentials for a new app from crypto/rand: a
// 7-digit numeric id (no leading zero), a 20-character lowercase hex key and
// a 64-character lowercase hex secret.
func NewCredentials() (id, key, secret string, err error) {
	n, err := rand.Int(rand.Reader, big.NewInt(9_000_000))
	if err != nil {
		return "", "", "", fmt.Errorf("generate app id: %w", err)
	}
	id = fmt.Sprintf("%d", 1_000_000+n.Int64())
	if key, err = randomHex(10); err != nil {
		return "", "", "", fmt.Errorf("generate app key: %w", err)
	}
	if secret, err = NewSecret(); err != nil {
		return "", "", "", err
	}
	return id, key, secret, nil
}

// NewSecret returns a fresh 64-character lowercase hex secret (256 bits).
func NewSecret() (string, error) {
	s, err := randomHex(32)
	if err != nil {
		return "", fmt.Errorf("generate app secret: %w", err)
	}
	return s, nil
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// Validate checks an app before a Manager stores it and returns every
// problem at once, wrapped in ErrInvalid, or nil. It is stricter than the
// YAML config's checks: managed apps are created through an API, so ids and
// keys are limited to [A-Za-z0-9_.-] and secrets to at least MinSecretLen
// characters.
func Validate(a *App) error {
	if a == nil {
		return fmt.Errorf("%w: nil app", ErrInvalid)
	}
	var p []string
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }

	if msg := credentialProblem(a.ID); msg != "" {
		add("id %s", msg)
	}
	if msg := credentialProblem(a.Key); msg != "" {
		add("key %s", msg)
	}
	if msg := secretProblem(a.Secret); msg != "" {
		add("secret %s", msg)
	}
	if len(a.PreviousSecrets) > MaxPreviousSecrets {
		add("previous_secrets: %d entries, at most %d", len(a.PreviousSecrets), MaxPreviousSecrets)
	}
	for i, ps := range a.PreviousSecrets {
		if msg := secretProblem(ps.Secret); msg != "" {
			add("previous_secrets[%d].secret %s", i, msg)
		}
		if ps.ExpiresAt.IsZero() {
			add("previous_secrets[%d].expires_at must be set", i)
		}
	}

	for _, f := range []struct {
		name string
		v    int
	}{
		{"max_connections", a.MaxConnections},
		{"max_presence_members", a.MaxPresenceMembers},
		{"max_event_payload_bytes", a.MaxEventPayloadBytes},
		{"client_events_per_sec", a.ClientEventsPerSec},
		{"max_user_info_bytes", a.MaxUserInfoBytes},
		{"max_channels_per_trigger", a.MaxChannelsPerTrigger},
		{"max_batch_size", a.MaxBatchSize},
		{"api_rate_burst", a.APIRateBurst},
	} {
		if f.v < 0 {
			add("%s must not be negative (got %d)", f.name, f.v)
		}
	}
	if r := a.APIRateLimit; r < 0 || math.IsNaN(r) || math.IsInf(r, 0) {
		add("api_rate_limit must be a non-negative number (got %v)", r)
	}

	for i, o := range a.AllowedOrigins {
		if !config.ValidOrigin(o) {
			add("allowed_origins[%d] %q is not an origin like https://app.example.com, https://*.example.com or *", i, o)
		}
	}
	for i, w := range a.Webhooks {
		for _, msg := range webhookProblems(w) {
			add("webhooks[%d].%s", i, msg)
		}
	}

	if len(p) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrInvalid, strings.Join(p, "; "))
}

// credentialProblem describes what is wrong with an app id or key, or "".
// Both travel in URL paths and log lines, hence the small alphabet.
func credentialProblem(s string) string {
	switch {
	case s == "":
		return "must not be empty"
	case len(s) > MaxCredentialLen:
		return fmt.Sprintf("is %d characters, at most %d", len(s), MaxCredentialLen)
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-') {
			return fmt.Sprintf("%q may only contain letters, digits, '_', '.' and '-'", s)
		}
	}
	return ""
}

// secretProblem describes what is wrong with a secret without quoting it.
func secretProblem(s string) string {
	switch {
	case len(s) < MinSecretLen:
		return fmt.Sprintf("must be at least %d characters", MinSecretLen)
	case len(s) > MaxSecretLen:
		return fmt.Sprintf("must be at most %d characters", MaxSecretLen)
	}
	for _, r := range s {
		if r <= ' ' || r > '~' {
			return "must be printable ASCII without spaces"
		}
	}
	return ""
}

func webhookProblems(w Webhook) []string {
	var p []string
	u, err := url.Parse(w.URL)
	switch {
	case w.URL == "":
		p = append(p, "url must not be empty")
	case err != nil:
		p = append(p, fmt.Sprintf("url %q is not a URL", w.URL))
	case u.Scheme != "http" && u.Scheme != "https":
		p = append(p, fmt.Sprintf("url %q must be http or https", w.URL))
	case u.Host == "":
		p = append(p, fmt.Sprintf("url %q must have a host", w.URL))
	}
	if len(w.EventTypes) == 0 {
		p = append(p, "event_types must list at least one of "+strings.Join(config.WebhookEventTypes, ", "))
	}
	for _, et := range w.EventTypes {
		if !slices.Contains(config.WebhookEventTypes, et) {
			p = append(p, fmt.Sprintf("event_types: unknown event type %q", et))
		}
	}
	for name, v := range w.Headers {
		if !config.ValidHeaderName(name) {
			p = append(p, fmt.Sprintf("headers: %q is not a valid header name", name))
		}
		// The config file's rule: net/http refuses to send a header value
		// with a control character other than tab, so such a webhook could
		// never be delivered.
		if strings.ContainsFunc(v, func(r rune) bool { return (r < 0x20 && r != '\t') || r == 0x7f }) {
			p = append(p, fmt.Sprintf("headers: value of %q contains a control character (line break, NUL, ...)", name))
		}
	}
	return p
}

// Rotate gives the app id a new primary secret without downtime: the old
// primary stays valid for signatures until now+grace (grace 0 ends it at
// once), expired previous secrets are dropped and at most MaxPreviousSecrets
// are kept, newest first (the oldest is dropped). The result is saved with
// m.Update and returned.
//
// Rotate reads, changes and writes the app; two rotations of one app racing
// on different nodes may lose one of the new secrets. Rotations are rare
// operator actions, so this is accepted rather than locking across nodes.
func Rotate(ctx context.Context, m Manager, id string, grace time.Duration, now time.Time) (*App, error) {
	if grace < 0 || grace > MaxRotationGrace {
		return nil, fmt.Errorf("%w: rotation grace %v is outside 0s..%v", ErrInvalid, grace, MaxRotationGrace)
	}
	cur, err := m.ByID(ctx, id)
	if err != nil {
		return nil, err
	}
	secret, err := NewSecret()
	if err != nil {
		return nil, err
	}
	next := cur.Clone()
	next.Secret = secret
	prev := make([]PreviousSecret, 0, MaxPreviousSecrets)
	if grace > 0 {
		prev = append(prev, PreviousSecret{Secret: cur.Secret, ExpiresAt: now.Add(grace).UTC()})
	}
	for _, p := range cur.PreviousSecrets {
		if now.Before(p.ExpiresAt) && p.Secret != cur.Secret {
			prev = append(prev, p)
		}
	}
	if len(prev) > MaxPreviousSecrets {
		prev = prev[:MaxPreviousSecrets]
	}
	next.PreviousSecrets = nilIfEmpty(prev)
	if err := m.Update(ctx, next); err != nil {
		return nil, err
	}
	return next, nil
}
