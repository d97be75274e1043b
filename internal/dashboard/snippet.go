package dashboard

import (
	"fmt"
	"strconv"
	"strings"
)

// The snippets have the shape of the start-up banner's
// (internal/server/banner.go), built from Config's public address.

// Placeholders used in a snippet when the secret is not revealed.
const (
	appSecretPlaceholder   = "process.env.PUSHER_APP_SECRET"
	beamsSecretPlaceholder = "process.env.BEAMS_SECRET_KEY"
)

// publicHost is the host an SDK should dial: wildcard addresses become the
// loopback address, IPv6 brackets are dropped.
func (cfg *Config) publicHost() string {
	switch h := cfg.PublicHost; h {
	case "", "0.0.0.0", "::", "[::]":
		return "127.0.0.1"
	default:
		return strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	}
}

// pusherJSSnippet is the browser client's set-up for app key.
func (cfg *Config) pusherJSSnippet(key string) string {
	b := &strings.Builder{}
	port := strconv.Itoa(cfg.PublicPort)
	prefix := strings.TrimRight(cfg.PathPrefix, "/")
	b.WriteString("import Pusher from 'pusher-js';\n")
	fmt.Fprintf(b, "const pusher = new Pusher(%s, {\n", jsString(key))
	fmt.Fprintf(b, "  wsHost: %s,\n", jsString(cfg.publicHost()))
	fmt.Fprintf(b, "  wsPort: %s,\n", port)
	fmt.Fprintf(b, "  wssPort: %s,\n", port)
	if prefix != "" {
		fmt.Fprintf(b, "  wsPath: %s,\n", jsString(prefix))
	}
	fmt.Fprintf(b, "  forceTLS: %t,\n", cfg.TLS)
	b.WriteString("  enabledTransports: ['ws', 'wss'],\n")
	b.WriteString("  cluster: 'herald',\n")
	b.WriteString("  channelAuthorization: { endpoint: '/pusher/auth' }, // your backend; in Node a full URL\n")
	b.WriteString("});\n")
	return b.String()
}

// pusherNodeSnippet is the Node `pusher` SDK's set-up for an app; secret ""
// puts the environment-variable placeholder in its place.
func (cfg *Config) pusherNodeSnippet(id, key, secret string) string {
	sec := appSecretPlaceholder
	if secret != "" {
		sec = jsString(secret)
	}
	b := &strings.Builder{}
	b.WriteString("const Pusher = require('pusher'); // the server SDK, not pusher-js\n")
	b.WriteString("const pusher = new Pusher({\n")
	fmt.Fprintf(b, "  appId: %s,\n", jsString(id))
	fmt.Fprintf(b, "  key: %s,\n", jsString(key))
	fmt.Fprintf(b, "  secret: %s,\n", sec)
	fmt.Fprintf(b, "  host: %s,\n", jsString(cfg.publicHost()))
	fmt.Fprintf(b, "  port: %s,\n", jsString(strconv.Itoa(cfg.PublicPort)))
	fmt.Fprintf(b, "  useTLS: %t,\n", cfg.TLS)
	b.WriteString("});\n")
	b.WriteString("await pusher.trigger('my-channel', 'my-event', { message: 'hello' });\n")
	return b.String()
}

// beamsNodeSnippet is the @pusher/push-notifications-server set-up for an
// instance; secretKey "" puts the placeholder in its place.
func (cfg *Config) beamsNodeSnippet(id, secretKey string) string {
	sec := beamsSecretPlaceholder
	if secretKey != "" {
		sec = jsString(secretKey)
	}
	b := &strings.Builder{}
	b.WriteString("const PushNotifications = require('@pusher/push-notifications-server');\n")
	b.WriteString("const beams = new PushNotifications({\n")
	fmt.Fprintf(b, "  instanceId: %s,\n", jsString(id))
	fmt.Fprintf(b, "  secretKey: %s,\n", sec)
	fmt.Fprintf(b, "  endpoint: %s,\n", jsString(cfg.publicHost()))
	fmt.Fprintf(b, "  port: %d,\n", cfg.PublicPort)
	b.WriteString("});\n")
	b.WriteString("beams.publishToInterests(['hello'], { web: { notification: { title: 'Hello', body: 'Hello, world!' } } });\n")
	if cfg.TLS {
		b.WriteString("// That SDK speaks plain HTTP when given an endpoint: put a plaintext hop in front of this TLS port.\n")
	}
	return b.String()
}

// jsString quotes s as a single-quoted JavaScript string literal.
func jsString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`, "\r", `\r`, "\u2028", `\u2028`, "\u2029", `\u2029`)
	return "'" + r.Replace(s) + "'"
}
