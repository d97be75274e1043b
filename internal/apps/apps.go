// Package apps defines an app (a tenant: credentials, limits, flags, webhooks)
// and the Store interface the rest of the server looks apps up through.
package apps

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned by a Store when no app matches.
var ErrNotFound = errors.New("app not found")

// App is one tenant. Values are immutable once handed out by a Store.
type App struct {
	ID     string
	Key    string
	Secret string // the primary secret: what Herald signs webhooks with
	// PreviousSecrets are older secrets still accepted for signatures until
	// their expiry, so a rotation does not break backends mid-deploy.
	PreviousSecrets      []PreviousSecret
	Enabled              bool
	EnableClientMessages bool
	RequireSignin        bool
	// EnableSubscriptionCount broadcasts pusher_internal:subscription_count.
	EnableSubscriptionCount bool
	MaxConnections          int // 0 = unlimited
	MaxPresenceMembers      int // 0 = unlimited
	MaxEventPayloadBytes    int // 0 = unlimited
	Webhooks                []Webhook

	// Per-app limits; zero means the server-wide default.
	ClientEventsPerSec    int      // client events per connection per second
	MaxUserInfoBytes      int      // presence user_info / signed-in user_info size
	MaxChannelsPerTrigger int      // channels in one POST /events (default 100)
	MaxBatchSize          int      // events in one POST /batch_events (default 10)
	APIRateLimit          float64  // HTTP API requests per second for the app; 0 = unlimited
	APIRateBurst          int      // token-bucket size; 0 = max(1, APIRateLimit)
	AllowedOrigins        []string // WebSocket Origin allow-list ("https://a.com", "https://*.a.com"); empty = any
}

// PreviousSecret is a rotated-out secret and the moment it stops working.
type PreviousSecret struct {
	Secret    string
	ExpiresAt time.Time
}

// Secrets returns the secrets valid at now: the primary first, then the
// previous ones that have not expired. Index 0 is the primary.
func (a *App) Secrets(now time.Time) []string {
	out := make([]string, 1, 1+len(a.PreviousSecrets))
	out[0] = a.Secret
	for _, p := range a.PreviousSecrets {
		if p.Secret != "" && now.Before(p.ExpiresAt) {
			out = append(out, p.Secret)
		}
	}
	return out
}

// SecretGeneration names, for logs and metrics, which secret verified a
// signature: index 0 is "primary", anything else "previous".
func SecretGeneration(i int) string {
	if i == 0 {
		return "primary"
	}
	return "previous"
}

// Webhook is one configured webhook endpoint.
type Webhook struct {
	URL                   string
	EventTypes            []string
	Headers               map[string]string
	ChannelNameStartsWith string
	ChannelNameEndsWith   string
}

// Store looks apps up. Implementations must be safe for concurrent use.
type Store interface {
	ByKey(ctx context.Context, key string) (*App, error)
	ByID(ctx context.Context, id string) (*App, error)
}

// ErrConflict is returned by a Manager when an app id or key is taken.
var ErrConflict = errors.New("app id or key already exists")

// Manager is a Store whose apps can be changed (the SQL stores). Every
// node caches apps and notices changes made through any node.
type Manager interface {
	Store
	List(ctx context.Context) ([]*App, error)
	Create(ctx context.Context, a *App) error    // ErrConflict on a duplicate id or key
	Update(ctx context.Context, a *App) error    // replaces the app with a.ID; ErrNotFound, ErrConflict (key)
	Delete(ctx context.Context, id string) error // ErrNotFound
	Close() error
}
