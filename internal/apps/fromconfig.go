package apps

import (
	"maps"
	"slices"

	"github.com/heraldhq/herald/internal/config"
)

// FromConfig converts configured apps to App values, in order. Zero values get
// the documented config defaults (Enabled true, MaxPresenceMembers 100,
// MaxEventPayloadKB 10), so the result is the same whether or not
// config.ApplyDefaults ran. Slices and maps are copied: the result shares no
// memory with list.
func FromConfig(list []config.App) []App {
	out := make([]App, 0, len(list))
	for _, c := range list {
		a := App{
			ID:                      c.ID,
			Key:                     c.Key,
			Secret:                  c.Secret,
			Enabled:                 c.IsEnabled(),
			EnableClientMessages:    c.EnableClientMessages,
			RequireSignin:           c.RequireSignin,
			EnableSubscriptionCount: c.EnableSubscriptionCount,
			MaxConnections:          c.MaxConnections,
			MaxPresenceMembers:      orDefault(c.MaxPresenceMembers, config.DefaultMaxPresenceMembers),
			ClientEventsPerSec:      c.ClientEventsPerSec,
			MaxUserInfoBytes:        c.MaxUserInfoKB * 1024,
			MaxChannelsPerTrigger:   c.MaxChannelsPerTrigger,
			MaxBatchSize:            c.MaxBatchSize,
			APIRateLimit:            c.APIRateLimit,
			APIRateBurst:            c.APIRateBurst,
			AllowedOrigins:          slices.Clone(c.AllowedOrigins),
			MaxEventPayloadBytes:    orDefault(c.MaxEventPayloadKB, config.DefaultMaxEventPayloadKB) * 1024,
		}
		for _, p := range c.PreviousSecrets {
			a.PreviousSecrets = append(a.PreviousSecrets, PreviousSecret{Secret: p.Secret, ExpiresAt: p.ExpiresAt})
		}
		for _, w := range c.Webhooks {
			a.Webhooks = append(a.Webhooks, Webhook{
				URL:                   w.URL,
				EventTypes:            slices.Clone(w.EventTypes),
				Headers:               maps.Clone(w.Headers),
				ChannelNameStartsWith: w.Filter.ChannelNameStartsWith,
				ChannelNameEndsWith:   w.Filter.ChannelNameEndsWith,
			})
		}
		out = append(out, a)
	}
	return out
}

func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}
