package apps

import (
	"reflect"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/config"
)

func TestFromConfig(t *testing.T) {
	no := false
	in := []config.App{
		{
			ID: "1", Key: "k1", Secret: "s1",
			EnableClientMessages: true, RequireSignin: true,
			MaxConnections: 50, MaxPresenceMembers: 20, MaxEventPayloadKB: 32,
			Webhooks: []config.Webhook{{
				URL:        "http://127.0.0.1:6099/webhook",
				EventTypes: []string{"channel_occupied", "client_event"},
				Headers:    map[string]string{"X-A": "b"},
				Filter:     config.WebhookFilter{ChannelNameStartsWith: "private-", ChannelNameEndsWith: "-x"},
			}},
		},
		{ID: "2", Key: "k2", Secret: "s2", Enabled: &no}, // zero limits: config defaults
	}
	want := []App{
		{
			ID: "1", Key: "k1", Secret: "s1", Enabled: true,
			EnableClientMessages: true, RequireSignin: true,
			MaxConnections: 50, MaxPresenceMembers: 20, MaxEventPayloadBytes: 32 * 1024,
			Webhooks: []Webhook{{
				URL:                   "http://127.0.0.1:6099/webhook",
				EventTypes:            []string{"channel_occupied", "client_event"},
				Headers:               map[string]string{"X-A": "b"},
				ChannelNameStartsWith: "private-",
				ChannelNameEndsWith:   "-x",
			}},
		},
		{ID: "2", Key: "k2", Secret: "s2", Enabled: false, MaxPresenceMembers: 100, MaxEventPayloadBytes: 10 * 1024},
	}
	got := FromConfig(in)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}

	// Same result after config.ApplyDefaults.
	cfg := config.Config{Apps: in}
	cfg.ApplyDefaults()
	if again := FromConfig(cfg.Apps); !reflect.DeepEqual(again, want) {
		t.Fatalf("after ApplyDefaults: %+v", again)
	}

	// The result shares no memory with the input.
	in[0].Webhooks[0].EventTypes[0] = "changed"
	in[0].Webhooks[0].Headers["X-A"] = "changed"
	if got[0].Webhooks[0].EventTypes[0] != "channel_occupied" || got[0].Webhooks[0].Headers["X-A"] != "b" {
		t.Error("result aliases the config")
	}
}

func TestFromConfigEnabledDefault(t *testing.T) {
	got := FromConfig([]config.App{{ID: "1", Key: "k", Secret: "s"}})
	if len(got) != 1 || !got[0].Enabled || got[0].Webhooks != nil {
		t.Fatalf("got %+v", got)
	}
	if len(FromConfig(nil)) != 0 {
		t.Fatal("nil list")
	}
	if _, err := NewStatic(FromConfig([]config.App{{ID: "1", Key: "a"}, {ID: "2", Key: "b"}})); err != nil {
		t.Fatal(err)
	}
}

// TestFromConfigEveryField guards against a field added to App (or
// config.App) but not carried over: a fully set config app must give an App
// with no zero field.
func TestFromConfigEveryField(t *testing.T) {
	yes := true
	expires := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	got := FromConfig([]config.App{{
		ID: "1", Key: "k", Secret: "s", Enabled: &yes,
		EnableClientMessages: true, RequireSignin: true, EnableSubscriptionCount: true,
		MaxConnections: 1, MaxPresenceMembers: 2, MaxEventPayloadKB: 3,
		Webhooks:              []config.Webhook{{URL: "http://h/x", EventTypes: []string{"channel_occupied"}}},
		PreviousSecrets:       []config.PreviousSecret{{Secret: "old", ExpiresAt: expires}},
		ClientEventsPerSec:    4,
		MaxUserInfoKB:         5,
		MaxChannelsPerTrigger: 6,
		MaxBatchSize:          7,
		APIRateLimit:          8.5,
		APIRateBurst:          9,
		AllowedOrigins:        []string{"https://a.example"},
	}})[0]
	v := reflect.ValueOf(got)
	for i := range v.NumField() {
		if v.Field(i).IsZero() {
			t.Errorf("FromConfig leaves App.%s zero", v.Type().Field(i).Name)
		}
	}
	if got.MaxUserInfoBytes != 5*1024 || got.MaxEventPayloadBytes != 3*1024 {
		t.Errorf("KB limits not converted: %+v", got)
	}
	if want := []PreviousSecret{{Secret: "old", ExpiresAt: expires}}; !reflect.DeepEqual(got.PreviousSecrets, want) {
		t.Errorf("previous secrets %+v", got.PreviousSecrets)
	}
}
