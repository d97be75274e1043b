// Package apps defines an app (a tenant: credentials, limits, flags, webhooks)
// and the Store interface the rest of the server looks apps up through.
package apps

import (
	"context"
	"errors"
)

// ErrNotFound is returned by a Store when no app matches.
var ErrNotFound = errors.New("app not found")

// App is one tenant. Values are immutable once handed out by a Store.
type App struct {
	ID                   string
	Key                  string
	Secret               string
	Enabled              bool
	EnableClientMessages bool
	RequireSignin        bool
	// EnableSubscriptionCount broadcasts pusher_internal:subscription_count.
	EnableSubscriptionCount bool
	MaxConnections          int // 0 = unlimited
	MaxPresenceMembers      int // 0 = unlimited
	MaxEventPayloadBytes    int // 0 = unlimited
	Webhooks                []Webhook
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
