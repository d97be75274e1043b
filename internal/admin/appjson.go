package admin

import (
	"maps"
	"slices"
	"time"

	"github.com/heraldhq/herald/internal/apps"
	"github.com/heraldhq/herald/internal/config"
)

// App is the JSON form of an app, shared by the admin API and the CLI's
// --json output. Field names match the YAML keys of config.App. Secret is
// empty (and omitted) unless the caller asked for it; the values of previous
// secrets are never included, only their expiry.
type App struct {
	ID                      string           `json:"id"`
	Key                     string           `json:"key"`
	Secret                  string           `json:"secret,omitempty"`
	Enabled                 bool             `json:"enabled"`
	EnableClientMessages    bool             `json:"enable_client_messages"`
	RequireSignin           bool             `json:"require_signin"`
	EnableSubscriptionCount bool             `json:"enable_subscription_count"`
	MaxConnections          int              `json:"max_connections"`
	MaxPresenceMembers      int              `json:"max_presence_members"`
	MaxEventPayloadKB       int              `json:"max_event_payload_kb"`
	ClientEventsPerSec      int              `json:"client_events_per_sec"`
	MaxUserInfoKB           int              `json:"max_user_info_kb"`
	MaxChannelsPerTrigger   int              `json:"max_channels_per_trigger"`
	MaxBatchSize            int              `json:"max_batch_size"`
	APIRateLimit            float64          `json:"api_rate_limit"`
	APIRateBurst            int              `json:"api_rate_burst"`
	AllowedOrigins          []string         `json:"allowed_origins"`
	Webhooks                []Webhook        `json:"webhooks"`
	PreviousSecrets         []PreviousSecret `json:"previous_secrets"`
}

// Webhook is the JSON form of one webhook endpoint: the config file's
// webhook, so both spell every key alike.
type Webhook = config.Webhook

// WebhookFilter limits a webhook to matching channel names; empty = all.
type WebhookFilter = config.WebhookFilter

// PreviousSecret tells when a rotated-out secret stops working; its value
// is never shown.
type PreviousSecret struct {
	ExpiresAt time.Time `json:"expires_at"`
}

// FromApp converts a to its JSON form, with the primary secret only when
// withSecret is set. Slices are never nil, so they encode as [].
func FromApp(a *apps.App, withSecret bool) App {
	out := App{
		ID:                      a.ID,
		Key:                     a.Key,
		Enabled:                 a.Enabled,
		EnableClientMessages:    a.EnableClientMessages,
		RequireSignin:           a.RequireSignin,
		EnableSubscriptionCount: a.EnableSubscriptionCount,
		MaxConnections:          a.MaxConnections,
		MaxPresenceMembers:      a.MaxPresenceMembers,
		MaxEventPayloadKB:       toKB(a.MaxEventPayloadBytes),
		ClientEventsPerSec:      a.ClientEventsPerSec,
		MaxUserInfoKB:           toKB(a.MaxUserInfoBytes),
		MaxChannelsPerTrigger:   a.MaxChannelsPerTrigger,
		MaxBatchSize:            a.MaxBatchSize,
		APIRateLimit:            a.APIRateLimit,
		APIRateBurst:            a.APIRateBurst,
		AllowedOrigins:          append([]string{}, a.AllowedOrigins...),
		Webhooks:                make([]Webhook, 0, len(a.Webhooks)),
		PreviousSecrets:         make([]PreviousSecret, 0, len(a.PreviousSecrets)),
	}
	if withSecret {
		out.Secret = a.Secret
	}
	for _, w := range a.Webhooks {
		out.Webhooks = append(out.Webhooks, Webhook{
			URL:        w.URL,
			EventTypes: append([]string{}, w.EventTypes...),
			Headers:    maps.Clone(w.Headers),
			Filter:     WebhookFilter{ChannelNameStartsWith: w.ChannelNameStartsWith, ChannelNameEndsWith: w.ChannelNameEndsWith},
		})
	}
	for _, p := range a.PreviousSecrets {
		out.PreviousSecrets = append(out.PreviousSecrets, PreviousSecret{ExpiresAt: p.ExpiresAt.UTC()})
	}
	return out
}

// toKB rounds up, so a limit set in bytes by another tool never shows as 0
// (which would read as "the default").
func toKB(bytes int) int { return (bytes + 1023) / 1024 }

// maxKB bounds the *_kb settings (1 GiB), so converting them to bytes
// cannot overflow.
const maxKB = 1 << 20

// Settings are the changeable parts of an app, as accepted by POST and
// PATCH /admin/apps and built from the CLI's flags. A nil field is left
// alone (PATCH) or takes its default (create). ID and Secret are accepted
// on create only; previous secrets are changed only by a rotation.
type Settings struct {
	ID                      *string    `json:"id,omitempty"`
	Key                     *string    `json:"key,omitempty"`
	Secret                  *string    `json:"secret,omitempty"`
	Enabled                 *bool      `json:"enabled,omitempty"`
	EnableClientMessages    *bool      `json:"enable_client_messages,omitempty"`
	RequireSignin           *bool      `json:"require_signin,omitempty"`
	EnableSubscriptionCount *bool      `json:"enable_subscription_count,omitempty"`
	MaxConnections          *int       `json:"max_connections,omitempty"`
	MaxPresenceMembers      *int       `json:"max_presence_members,omitempty"`
	MaxEventPayloadKB       *int       `json:"max_event_payload_kb,omitempty"`
	ClientEventsPerSec      *int       `json:"client_events_per_sec,omitempty"`
	MaxUserInfoKB           *int       `json:"max_user_info_kb,omitempty"`
	MaxChannelsPerTrigger   *int       `json:"max_channels_per_trigger,omitempty"`
	MaxBatchSize            *int       `json:"max_batch_size,omitempty"`
	APIRateLimit            *float64   `json:"api_rate_limit,omitempty"`
	APIRateBurst            *int       `json:"api_rate_burst,omitempty"`
	AllowedOrigins          *[]string  `json:"allowed_origins,omitempty"`
	Webhooks                *[]Webhook `json:"webhooks,omitempty"`

	// PreviousSecrets is here only to reject it with a clear message (an
	// app read with GET and sent back carries it).
	PreviousSecrets *[]PreviousSecret `json:"previous_secrets,omitempty"`
}

// check reports problems apps.Validate cannot see: fields that may not be
// set this way and sizes whose conversion to bytes would overflow.
func (s *Settings) check(create bool) error {
	switch {
	case s.PreviousSecrets != nil:
		return invalidf("previous_secrets cannot be set; use rotate-secret")
	case !create && s.Secret != nil:
		return invalidf("the secret cannot be set here; use rotate-secret")
	case create && s.Secret != nil && *s.Secret == "":
		return invalidf("secret must not be empty (omit it to generate one)")
	}
	for _, f := range []struct {
		name string
		v    *int
	}{{"max_event_payload_kb", s.MaxEventPayloadKB}, {"max_user_info_kb", s.MaxUserInfoKB}} {
		if f.v != nil && (*f.v < 0 || *f.v > maxKB) {
			return invalidf("%s must be between 0 and %d (got %d)", f.name, maxKB, *f.v)
		}
	}
	return nil
}

// apply writes every non-nil setting except ID and Secret into a.
func (s *Settings) apply(a *apps.App) {
	set(&a.Key, s.Key)
	set(&a.Enabled, s.Enabled)
	set(&a.EnableClientMessages, s.EnableClientMessages)
	set(&a.RequireSignin, s.RequireSignin)
	set(&a.EnableSubscriptionCount, s.EnableSubscriptionCount)
	set(&a.MaxConnections, s.MaxConnections)
	set(&a.MaxPresenceMembers, s.MaxPresenceMembers)
	if s.MaxEventPayloadKB != nil {
		a.MaxEventPayloadBytes = *s.MaxEventPayloadKB * 1024
	}
	set(&a.ClientEventsPerSec, s.ClientEventsPerSec)
	if s.MaxUserInfoKB != nil {
		a.MaxUserInfoBytes = *s.MaxUserInfoKB * 1024
	}
	set(&a.MaxChannelsPerTrigger, s.MaxChannelsPerTrigger)
	set(&a.MaxBatchSize, s.MaxBatchSize)
	set(&a.APIRateLimit, s.APIRateLimit)
	set(&a.APIRateBurst, s.APIRateBurst)
	if s.AllowedOrigins != nil {
		a.AllowedOrigins = slices.Clone(*s.AllowedOrigins)
	}
	if s.Webhooks != nil {
		a.Webhooks = nil
		for _, w := range *s.Webhooks {
			a.Webhooks = append(a.Webhooks, apps.Webhook{
				URL:                   w.URL,
				EventTypes:            slices.Clone(w.EventTypes),
				Headers:               maps.Clone(w.Headers),
				ChannelNameStartsWith: w.Filter.ChannelNameStartsWith,
				ChannelNameEndsWith:   w.Filter.ChannelNameEndsWith,
			})
		}
	}
}

func set[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}
