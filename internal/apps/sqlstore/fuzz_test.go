package sqlstore

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/apps"
)

// FuzzDecodeRecord: the data column is read back from a database another
// node (or an operator) may have written. Decoding never panics, a bad
// column is an error naming the app, and whatever decodes is written back
// by encode and decodes to the same app, so an update cannot silently drop
// or change a setting.
func FuzzDecodeRecord(f *testing.F) {
	full := &apps.App{
		ID: "app-1", Key: "key-1", Secret: "secret-0123456789abcdef",
		PreviousSecrets:      []apps.PreviousSecret{{Secret: "old-secret-0123456789", ExpiresAt: time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)}},
		Enabled:              true,
		EnableClientMessages: true, RequireSignin: true, EnableSubscriptionCount: true,
		MaxConnections: 10, MaxPresenceMembers: 100, MaxEventPayloadBytes: 10240,
		Webhooks: []apps.Webhook{{URL: "https://example.com/hook", EventTypes: []string{"channel_occupied"},
			Headers: map[string]string{"X-Token": "t"}, ChannelNameStartsWith: "private-", ChannelNameEndsWith: "-x"}},
		ClientEventsPerSec: 5, MaxUserInfoBytes: 2048, MaxChannelsPerTrigger: 50, MaxBatchSize: 5,
		APIRateLimit: 2.5, APIRateBurst: 10, AllowedOrigins: []string{"https://*.example.com"},
	}
	for _, a := range []*apps.App{full, {ID: "a", Key: "k", Secret: "s"}} {
		s, err := encode(a.Clone())
		if err != nil {
			f.Fatal(err)
		}
		f.Add([]byte(s))
	}
	for _, s := range []string{
		`{}`, `{"enabled":true,"unknown":1}`, `{"ENABLED":true}`, `null`, `[]`, ``, `{"max_connections":1e400}`,
		`{"previous_secrets":[{"secret":"x","expires_at":"2026-01-01T00:00:00+01:00"}]}`,
		`{"previous_secrets":[{"expires_at":"not a time"}]}`, `{"webhooks":[{"headers":{}},null]}`,
		`{"allowed_origins":[],"webhooks":[],"previous_secrets":[]}`, `{"api_rate_limit":-0.0}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := decode("app-1", "key-1", "secret", data)
		if err != nil {
			if a != nil || !strings.Contains(err.Error(), `"app-1"`) {
				t.Fatalf("decode error %v (app %+v)", err, a)
			}
			return
		}
		if a.ID != "app-1" || a.Key != "key-1" || a.Secret != "secret" {
			t.Fatalf("columns changed: %+v", a)
		}
		s, err := encode(a)
		if err != nil {
			// encoding/json writes only years 0-9999; an expiry just
			// outside them (a UTC offset across year 0) decodes but cannot
			// be written back. No node writes such a time.
			if strings.Contains(err.Error(), "year outside of range") {
				return
			}
			t.Fatalf("decoded %+v from %q but cannot encode it: %v", a, data, err)
		}
		again, err := decode("app-1", "key-1", "secret", []byte(s))
		if err != nil || !reflect.DeepEqual(again, a) {
			t.Fatalf("%q decoded as %+v, written back as %s, read as %+v (%v)", data, a, s, again, err)
		}
	})
}
