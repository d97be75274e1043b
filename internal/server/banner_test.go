package server

import (
	"fmt"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/apps"
	"github.com/heraldhq/herald/internal/config"
)

func banner(cfg config.Config) string {
	var b strings.Builder
	WriteBanner(&b, cfg, BannerStore{}, "v1.2.3")
	return b.String()
}

func TestBannerConfiguredApps(t *testing.T) {
	no := false
	cfg := config.Config{
		Apps: []config.App{
			{ID: "app-id", Key: "app-key", Secret: "app-secret-value"},
			{ID: "other", Key: "other-key", Secret: "other-secret-value", Enabled: &no},
		},
	}
	cfg.ApplyDefaults()
	out := banner(cfg)
	for _, want := range []string{
		"Herald v1.2.3",
		"Listening on 0.0.0.0:6001",
		"ws://127.0.0.1:6001/app/{key}",
		"http://127.0.0.1:6001/apps/{app_id}",
		"app-id", "app-key", "other", "other-key", "(disabled)",
		"new Pusher('app-key', {",
		"wsHost: '127.0.0.1',",
		"wsPort: 6001,",
		"wssPort: 6001,",
		"forceTLS: false,",
		"enabledTransports: ['ws', 'wss'],",
		"cluster: 'herald',",
		"appId: 'app-id',",
		"secret: process.env.PUSHER_APP_SECRET,",
		"host: '127.0.0.1',",
		"port: '6001',",
		"useTLS: false,",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("banner lacks %q:\n%s", want, out)
		}
	}
	for _, secret := range []string{"app-secret-value", "other-secret-value", "0.0.0.0'"} {
		if strings.Contains(out, secret) {
			t.Errorf("banner contains %q:\n%s", secret, out)
		}
	}
	if strings.Contains(out, "wsPath") {
		t.Error("wsPath without a path prefix")
	}
}

func TestBannerGeneratedApp(t *testing.T) {
	cfg := config.Config{Host: "127.0.0.2", Port: 7000, Apps: []config.App{{
		ID: "1234567", Key: "0123456789abcdef0123", Secret: "feedfacefeedfacefeedface",
		Generated: true, StoredIn: "herald-data/default-app.json",
	}}}
	out := banner(cfg)
	for _, want := range []string{
		"Listening on 127.0.0.2:7000",
		"herald-data/default-app.json",
		"app_id  1234567",
		"key     0123456789abcdef0123",
		"secret  feedfacefeedfacefeedface",
		"secret: 'feedfacefeedfacefeedface',",
		"wsHost: '127.0.0.2',",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("banner lacks %q:\n%s", want, out)
		}
	}
}

func TestBannerTLSAndPrefix(t *testing.T) {
	cfg := config.Config{
		Host: "::", Port: 443, PathPrefix: "/rt/",
		TLS:  config.TLSConfig{CertFile: "c.pem", KeyFile: "k.pem"},
		Apps: []config.App{{ID: "1", Key: "it's", Secret: "s3cr3t"}},
	}
	out := banner(cfg)
	for _, want := range []string{
		"Listening on [::]:443",
		"wss://127.0.0.1:443/rt/app/{key}",
		"https://127.0.0.1:443/rt/apps/{app_id}",
		"forceTLS: true,",
		"useTLS: true,",
		"wsPath: '/rt',",
		`new Pusher('it\'s', {`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("banner lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "s3cr3t") {
		t.Error("secret printed")
	}
}

func TestBannerNoApps(t *testing.T) {
	out := banner(config.Config{Port: 6001})
	if !strings.Contains(out, "No apps configured") || strings.Contains(out, "new Pusher") {
		t.Errorf("unexpected banner:\n%s", out)
	}
}

func TestBannerBeams(t *testing.T) {
	cfg := config.Config{Apps: []config.App{{ID: "1", Key: "k", Secret: "s", Generated: true}},
		Beams: config.BeamsConfig{Instances: []config.BeamsInstance{{ID: "00000000-0000-0000-0000-000000000001",
			SecretKey: "generated-secret", Generated: true, StoredIn: "data/default-beams.json"}}}}
	cfg.ApplyDefaults()
	out := banner(cfg)
	for _, want := range []string{"Push notifications (Beams API, same port)", "data/default-beams.json",
		"instance_id  00000000-0000-0000-0000-000000000001", "secret_key   generated-secret",
		"require('@pusher/push-notifications-server')", "instanceId: '00000000-0000-0000-0000-000000000001',",
		"secretKey: 'generated-secret',", "endpoint: '127.0.0.1',", "port: 6001,"} {
		if !strings.Contains(out, want) {
			t.Errorf("banner lacks %q:\n%s", want, out)
		}
	}

	// A configured instance's secret key is never printed.
	cfg.Beams.Instances[0].Generated = false
	out = banner(cfg)
	if strings.Contains(out, "generated-secret") || !strings.Contains(out, "secretKey: process.env.BEAMS_SECRET_KEY,") {
		t.Errorf("configured instance's secret in the banner:\n%s", out)
	}
	if strings.Contains(banner(config.Config{}), "Push notifications") {
		t.Error("push section without instances")
	}
}

func TestBannerStoreApps(t *testing.T) {
	var list []*apps.App
	for i := range 12 {
		list = append(list, &apps.App{ID: fmt.Sprint(100 + i), Key: fmt.Sprintf("key-%d", i), Secret: "stored-secret", Enabled: i != 1})
	}
	store := BannerStore{Open: true, Apps: list, ListCommand: "herald apps list --data-dir d"}
	var b strings.Builder
	WriteBanner(&b, config.Config{Port: 6001}, store, "v1")
	out := b.String()
	for _, want := range []string{
		"Apps: 12 from the app store (herald apps list --data-dir d;",
		"app_id 100          key key-0\n",
		"app_id 101          key key-1  (disabled)",
		"app_id 109          key key-9\n",
		"  ... and 2 more\n",
		"new Pusher('key-0', {",
		"import Pusher from 'pusher-js';",
		"const Pusher = require('pusher'); // the server SDK, not pusher-js",
		"appId: '100',",
		"secret: process.env.PUSHER_APP_SECRET,",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("banner lacks %q:\n%s", want, out)
		}
	}
	for _, bad := range []string{"stored-secret", "key-10", "No apps configured", "disableStats"} {
		if strings.Contains(out, bad) {
			t.Errorf("banner contains %q:\n%s", bad, out)
		}
	}

	// Config apps come first in the snippet; an empty store is said so.
	b.Reset()
	WriteBanner(&b, config.Config{Apps: []config.App{{ID: "conf", Key: "conf-key", Secret: "s"}}}, store, "v1")
	if out := b.String(); !strings.Contains(out, "new Pusher('conf-key'") || !strings.Contains(out, "Apps from the configuration:") {
		t.Errorf("config app not first:\n%s", out)
	}
	b.Reset()
	WriteBanner(&b, config.Config{}, BannerStore{Open: true}, "v1")
	if out := b.String(); !strings.Contains(out, "none in the app store: create one with herald apps create") || strings.Contains(out, "new Pusher") {
		t.Errorf("empty store:\n%s", out)
	}
}
