package sqlstore

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/heraldhq/herald/internal/apps"
)

// record is the JSON kept in apps.data: every App field except the indexed
// id, key and secret columns. Its field names are the stored format; rename
// App fields freely, never these tags.
type record struct {
	PreviousSecrets         []previousSecret `json:"previous_secrets,omitempty"`
	Enabled                 bool             `json:"enabled"`
	EnableClientMessages    bool             `json:"enable_client_messages,omitempty"`
	RequireSignin           bool             `json:"require_signin,omitempty"`
	EnableSubscriptionCount bool             `json:"enable_subscription_count,omitempty"`
	MaxConnections          int              `json:"max_connections,omitempty"`
	MaxPresenceMembers      int              `json:"max_presence_members,omitempty"`
	MaxEventPayloadBytes    int              `json:"max_event_payload_bytes,omitempty"`
	Webhooks                []webhook        `json:"webhooks,omitempty"`
	ClientEventsPerSec      int              `json:"client_events_per_sec,omitempty"`
	MaxUserInfoBytes        int              `json:"max_user_info_bytes,omitempty"`
	MaxChannelsPerTrigger   int              `json:"max_channels_per_trigger,omitempty"`
	MaxBatchSize            int              `json:"max_batch_size,omitempty"`
	APIRateLimit            float64          `json:"api_rate_limit,omitempty"`
	APIRateBurst            int              `json:"api_rate_burst,omitempty"`
	AllowedOrigins          []string         `json:"allowed_origins,omitempty"`
}

type previousSecret struct {
	Secret    string    `json:"secret"`
	ExpiresAt time.Time `json:"expires_at"` // RFC 3339, UTC
}

type webhook struct {
	URL                   string            `json:"url"`
	EventTypes            []string          `json:"event_types,omitempty"`
	Headers               map[string]string `json:"headers,omitempty"`
	ChannelNameStartsWith string            `json:"channel_name_starts_with,omitempty"`
	ChannelNameEndsWith   string            `json:"channel_name_ends_with,omitempty"`
}

// encode returns the data column of a (already a Clone: UTC times, nil for empty).
func encode(a *apps.App) (string, error) {
	r := record{
		Enabled:                 a.Enabled,
		EnableClientMessages:    a.EnableClientMessages,
		RequireSignin:           a.RequireSignin,
		EnableSubscriptionCount: a.EnableSubscriptionCount,
		MaxConnections:          a.MaxConnections,
		MaxPresenceMembers:      a.MaxPresenceMembers,
		MaxEventPayloadBytes:    a.MaxEventPayloadBytes,
		ClientEventsPerSec:      a.ClientEventsPerSec,
		MaxUserInfoBytes:        a.MaxUserInfoBytes,
		MaxChannelsPerTrigger:   a.MaxChannelsPerTrigger,
		MaxBatchSize:            a.MaxBatchSize,
		APIRateLimit:            a.APIRateLimit,
		APIRateBurst:            a.APIRateBurst,
		AllowedOrigins:          a.AllowedOrigins,
	}
	for _, p := range a.PreviousSecrets {
		r.PreviousSecrets = append(r.PreviousSecrets, previousSecret{Secret: p.Secret, ExpiresAt: p.ExpiresAt.UTC()})
	}
	for _, w := range a.Webhooks {
		r.Webhooks = append(r.Webhooks, webhook{
			URL: w.URL, EventTypes: w.EventTypes, Headers: w.Headers,
			ChannelNameStartsWith: w.ChannelNameStartsWith, ChannelNameEndsWith: w.ChannelNameEndsWith,
		})
	}
	b, err := json.Marshal(r)
	if err != nil {
		return "", fmt.Errorf("encode app %q: %w", a.ID, err)
	}
	return string(b), nil
}

// decode builds an App from its columns. The result goes through Clone so a
// cached app has the same shape whether it was written here or read back.
func decode(id, key, secret string, data []byte) (*apps.App, error) {
	var r record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("decode app %q: %w", id, err)
	}
	a := &apps.App{
		ID:                      id,
		Key:                     key,
		Secret:                  secret,
		Enabled:                 r.Enabled,
		EnableClientMessages:    r.EnableClientMessages,
		RequireSignin:           r.RequireSignin,
		EnableSubscriptionCount: r.EnableSubscriptionCount,
		MaxConnections:          r.MaxConnections,
		MaxPresenceMembers:      r.MaxPresenceMembers,
		MaxEventPayloadBytes:    r.MaxEventPayloadBytes,
		ClientEventsPerSec:      r.ClientEventsPerSec,
		MaxUserInfoBytes:        r.MaxUserInfoBytes,
		MaxChannelsPerTrigger:   r.MaxChannelsPerTrigger,
		MaxBatchSize:            r.MaxBatchSize,
		APIRateLimit:            r.APIRateLimit,
		APIRateBurst:            r.APIRateBurst,
		AllowedOrigins:          r.AllowedOrigins,
	}
	for _, p := range r.PreviousSecrets {
		a.PreviousSecrets = append(a.PreviousSecrets, apps.PreviousSecret{Secret: p.Secret, ExpiresAt: p.ExpiresAt})
	}
	for _, w := range r.Webhooks {
		a.Webhooks = append(a.Webhooks, apps.Webhook{
			URL: w.URL, EventTypes: w.EventTypes, Headers: w.Headers,
			ChannelNameStartsWith: w.ChannelNameStartsWith, ChannelNameEndsWith: w.ChannelNameEndsWith,
		})
	}
	return a.Clone(), nil
}
