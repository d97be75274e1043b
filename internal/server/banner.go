package server

import (
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"

	"github.com/heraldhq/herald/internal/config"
)

// WriteBanner prints the start-up summary: version, listen address and URLs,
// every app's id and key, and ready-to-paste pusher-js and Node `pusher`
// snippets for the first app. A configured app's secret is never printed; the
// embedded default app's secret is (App.Generated), with the file it is kept
// in, because the user has no other way to learn it.
func WriteBanner(w io.Writer, cfg config.Config, version string) {
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
	if len(cfg.Apps) == 0 && cfg.DatabaseURL == "" {
		b.WriteString("\nNo apps configured.\n")
	}
	if len(configured) > 0 {
		b.WriteString("\nApps:\n")
		for _, a := range configured {
			state := ""
			if !a.IsEnabled() {
				state = "  (disabled)"
			}
			fmt.Fprintf(b, "  app_id %-12s key %s%s\n", a.ID, a.Key, state)
		}
	}
	for _, a := range generated {
		fmt.Fprintf(b, "\nDefault app (no apps configured; credentials stored in %s):\n", a.StoredIn)
		fmt.Fprintf(b, "  app_id  %s\n  key     %s\n  secret  %s\n", a.ID, a.Key, a.Secret)
	}

	if len(cfg.Apps) > 0 {
		a := cfg.Apps[0]
		secret := "process.env.PUSHER_APP_SECRET"
		if a.Generated {
			secret = jsString(a.Secret)
		}
		b.WriteString("\nBrowser (pusher-js):\n")
		fmt.Fprintf(b, "  const pusher = new Pusher(%s, {\n", jsString(a.Key))
		fmt.Fprintf(b, "    wsHost: %s,\n", jsString(host))
		fmt.Fprintf(b, "    wsPort: %s,\n", port)
		fmt.Fprintf(b, "    wssPort: %s,\n", port)
		if prefix != "" {
			fmt.Fprintf(b, "    wsPath: %s,\n", jsString(prefix))
		}
		fmt.Fprintf(b, "    forceTLS: %t,\n", tls)
		b.WriteString("    enabledTransports: ['ws', 'wss'],\n")
		b.WriteString("    disableStats: true,\n")
		b.WriteString("    cluster: 'herald',\n")
		b.WriteString("  });\n")

		b.WriteString("\nServer (Node, pusher):\n")
		b.WriteString("  const pusher = new Pusher({\n")
		fmt.Fprintf(b, "    appId: %s,\n", jsString(a.ID))
		fmt.Fprintf(b, "    key: %s,\n", jsString(a.Key))
		fmt.Fprintf(b, "    secret: %s,\n", secret)
		fmt.Fprintf(b, "    host: %s,\n", jsString(host))
		fmt.Fprintf(b, "    port: %s,\n", jsString(port))
		fmt.Fprintf(b, "    useTLS: %t,\n", tls)
		b.WriteString("  });\n")
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
