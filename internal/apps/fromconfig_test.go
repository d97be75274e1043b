package apps

import (
	"reflect"
	"testing"

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
