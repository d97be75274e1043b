package server

import (
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"

	"github.com/heraldhq/herald/internal/apps"
	"github.com/heraldhq/herald/internal/config"
)

// BannerStore is what the banner says of the SQL app store; the zero value
// means Run opened none.
type BannerStore struct {
	Open bool
	// Apps are the store's apps, served next to the config file's; the
	// banner lists the first few by id and key, never a secret.
	Apps []*apps.App
	// ListCommand lists them all, e.g. "herald apps list --data-dir DIR".
	ListCommand string
}

// bannerStoreApps bounds the stored apps the banner lists one by one.
const bannerStoreApps = 10

// WriteBanner prints the start-up summary: version, listen address and URLs,
// the apps served (the config file's, cfg.Apps, and the app store's) by id
// and key, and ready-to-paste pusher-js and Node `pusher` snippets for the
// first of them. A configured or stored app's secret is never printed; the
// embedded default app's secret is (App.Generated), with the file it is kept
// in, because the user has no other way to learn it.
func WriteBanner(w io.Writer, cfg config.Config, store BannerStore, version string) {
	b := &strings.Builder{}
	host := snippetHost(cfg.Host)
	port := strconv.Itoa(cfg.Port)
	tls := cfg.TLS.Enabled()
	ws, web := "ws", "http"
	if tls {
		ws, web = "wss", "https"
	}
	prefix := strings.TrimRight(cfg.PathPrefix, "/") // as the router mounts it
	base := net.JoinHostPort(host, port) + prefix

	fmt.Fprintf(b, "Herald %s\n", version)
	fmt.Fprintf(b, "Listening on %s\n", net.JoinHostPort(cfg.Host, port))
	fmt.Fprintf(b, "  WebSocket  %s://%s/app/{key}\n", ws, base)
	fmt.Fprintf(b, "  HTTP API   %s://%s/apps/{app_id}/...\n", web, base)
	if cfg.AdminListen != "" && cfg.AdminListen != config.AdminListenOff {
		fmt.Fprintf(b, "  Admin      http://%s/debug/pprof/ (and /metrics, /ready; keep it private)\n", cfg.AdminListen)
	}

	var configured, generated []config.App
	for _, a := range cfg.Apps {
		if a.Generated {
			generated = append(generated, a)
		} else {
			configured = append(configured, a)
		}
	}
	switch {
	case len(cfg.Apps) == 0 && !store.Open:
		b.WriteString("\nNo apps configured.\n")
	case len(cfg.Apps) == 0 && len(store.Apps) == 0:
		b.WriteString("\nNo apps configured and none in the app store: create one with herald apps create.\n")
	}
	if len(configured) > 0 {
		b.WriteString("\nApps from the configuration:\n")
		for _, a := range configured {
			state := ""
			if !a.IsEnabled() {
				state = "  (disabled)"
			}
			fmt.Fprintf(b, "  app_id %-12s key %s%s\n", a.ID, a.Key, state)
		}
	}
	for _, a := range generated {
		stored := "credentials stored in " + a.StoredIn
		if a.StoredIn == "" {
			stored = "credentials not stored"
		}
		fmt.Fprintf(b, "\nDefault app (no apps configured; %s):\n", stored)
		fmt.Fprintf(b, "  app_id  %s\n  key     %s\n  secret  %s\n", a.ID, a.Key, a.Secret)
	}
	if len(store.Apps) > 0 {
		fmt.Fprintf(b, "\nApps: %d from the app store (%s; secrets: herald apps show ID --show-secret):\n", len(store.Apps), store.ListCommand)
		for i, a := range store.Apps {
			if i == bannerStoreApps {
				fmt.Fprintf(b, "  ... and %d more\n", len(store.Apps)-i)
				break
			}
			state := ""
			if !a.Enabled {
				state = "  (disabled)"
			}
			fmt.Fprintf(b, "  app_id %-12s key %s%s\n", a.ID, a.Key, state)
		}
	}

	var first *config.App
	switch {
	case len(cfg.Apps) > 0:
		first = &cfg.Apps[0]
	case len(store.Apps) > 0:
		first = &config.App{ID: store.Apps[0].ID, Key: store.Apps[0].Key}
	}
	if first != nil {
		a := *first
		secret := "process.env.PUSHER_APP_SECRET"
		if a.Generated {
			secret = jsString(a.Secret)
		}
		fmt.Fprintf(b, "\nClient, browser or Node (pusher-js), app %s:\n", a.ID)
		b.WriteString("  import Pusher from 'pusher-js';\n")
		fmt.Fprintf(b, "  const pusher = new Pusher(%s, {\n", jsString(a.Key))
		fmt.Fprintf(b, "    wsHost: %s,\n", jsString(host))
		fmt.Fprintf(b, "    wsPort: %s,\n", port)
		fmt.Fprintf(b, "    wssPort: %s,\n", port)
		if prefix != "" {
			fmt.Fprintf(b, "    wsPath: %s,\n", jsString(prefix))
		}
		fmt.Fprintf(b, "    forceTLS: %t,\n", tls)
		b.WriteString("    enabledTransports: ['ws', 'wss'],\n")
		b.WriteString("    cluster: 'herald',\n")
		b.WriteString("    channelAuthorization: { endpoint: '/pusher/auth' }, // your backend; in Node a full URL\n")
		b.WriteString("  });\n")

		b.WriteString("\nServer (Node, the pusher SDK):\n")
		b.WriteString("  const Pusher = require('pusher'); // the server SDK, not pusher-js\n")
		b.WriteString("  const pusher = new Pusher({\n")
		fmt.Fprintf(b, "    appId: %s,\n", jsString(a.ID))
		fmt.Fprintf(b, "    key: %s,\n", jsString(a.Key))
		fmt.Fprintf(b, "    secret: %s,\n", secret)
		fmt.Fprintf(b, "    host: %s,\n", jsString(host))
		fmt.Fprintf(b, "    port: %s,\n", jsString(port))
		fmt.Fprintf(b, "    useTLS: %t,\n", tls)
		b.WriteString("  });\n")
		b.WriteString("  await pusher.trigger('my-channel', 'my-event', { message: 'hello' });\n")
	}
	writeBeamsBanner(b, cfg, host, port)
	io.WriteString(w, b.String())
}

// writeBeamsBanner lists the push-notification instances and, for the
// first, a ready-to-paste @pusher/push-notifications-server snippet. As for
// apps, only a generated instance's secret key is printed.
func writeBeamsBanner(b *strings.Builder, cfg config.Config, host, port string) {
	list := cfg.Beams.Instances
	if len(list) == 0 {
		return
	}
	b.WriteString("\nPush notifications (Beams API, same port):\n")
	for _, in := range list {
		if in.Generated {
			fmt.Fprintf(b, "  default instance (stored in %s)\n  instance_id  %s\n  secret_key   %s\n", in.StoredIn, in.ID, in.SecretKey)
		} else {
			fmt.Fprintf(b, "  instance_id  %s\n", in.ID)
		}
	}
	in := list[0]
	secret := "process.env.BEAMS_SECRET_KEY"
	if in.Generated {
		secret = jsString(in.SecretKey)
	}
	b.WriteString("\nServer (Node, @pusher/push-notifications-server):\n")
	b.WriteString("  const PushNotifications = require('@pusher/push-notifications-server');\n")
	b.WriteString("  const beams = new PushNotifications({\n")
	fmt.Fprintf(b, "    instanceId: %s,\n", jsString(in.ID))
	fmt.Fprintf(b, "    secretKey: %s,\n", secret)
	fmt.Fprintf(b, "    endpoint: %s,\n", jsString(host))
	fmt.Fprintf(b, "    port: %s,\n", port)
	b.WriteString("  });\n")
	b.WriteString("  beams.publishToInterests(['hello'], { web: { notification: { title: 'Hello', body: 'Hello, world!' } } });\n")
	if cfg.TLS.Enabled() {
		b.WriteString("  (that SDK speaks plain HTTP when given an endpoint: put a plaintext hop in front of this TLS port)\n")
	}
}

// snippetHost is the host a client on this machine should dial: wildcard
// listen addresses become the loopback address.
func snippetHost(h string) string {
	switch h {
	case "", "0.0.0.0", "::", "[::]":
		return "127.0.0.1"
	}
	return strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
}

// jsString quotes s as a single-quoted JavaScript string literal.
func jsString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`, "\r", `\r`, "\u2028", `\u2028`, "\u2029", `\u2029`)
	return "'" + r.Replace(s) + "'"
}

// appsListCommand is the command that lists the app store serve opened.
func appsListCommand(cfg config.Config) string {
	if cfg.DatabaseURL != "" {
		return "herald apps list with the same database_url"
	}
	return "herald apps list --data-dir " + cfg.DataDir
}
