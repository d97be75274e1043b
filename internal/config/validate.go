package config

import (
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
)

// WebhookEventTypes are the event types a webhook may subscribe to.
var WebhookEventTypes = []string{
	"channel_occupied", "channel_vacated", "member_added", "member_removed",
	"client_event", "cache_miss", "subscription_count",
}

var (
	logFormats = []string{"text", "json"}
	logLevels  = []string{"debug", "info", "warn", "error"}
)

// FieldError is one configuration problem, named by its field path, e.g.
// "apps[1].webhooks[0].url: must be http or https".
type FieldError struct {
	Path string
	Msg  string
}

func (e *FieldError) Error() string { return e.Path + ": " + e.Msg }

// Validate checks the whole configuration and returns errors.Join of every
// problem found (each a *FieldError), or nil. Zero values count as "use the
// default", so Validate may run before or after ApplyDefaults. It reads the
// TLS files to check that they exist and form a key pair.
func (c *Config) Validate() error {
	v := &validator{}

	if c.Host != "" && !ValidHost(c.Host) {
		v.add("host", "%q is not an IP address or host name%s", c.Host, hostHint(c.Host))
	}
	if c.Port < 0 || c.Port > 65535 {
		v.add("port", "%d is out of range 1-65535", c.Port)
	}
	if p := c.PathPrefix; p != "" {
		switch {
		case !strings.HasPrefix(p, "/"):
			v.add("path_prefix", "must start with \"/\"")
		case strings.ContainsAny(p, "?# \t\r\n"):
			v.add("path_prefix", "must not contain '?', '#' or white space")
		}
	}
	if a := c.AdminListen; a != "" && a != AdminListenOff {
		v.hostPort("admin_listen", a)
	}
	if t := c.Metrics.PublicToken; t != "" && (len(t) < 16 || strings.ContainsAny(t, " \t\r\n")) {
		v.add("metrics.public_token", "must be at least 16 characters without white space")
	}
	if f := c.Log.Format; f != "" && !slices.Contains(logFormats, f) {
		v.add("log.format", "%q is not one of %s", f, strings.Join(logFormats, ", "))
	}
	if l := c.Log.Level; l != "" && !slices.Contains(logLevels, l) {
		v.add("log.level", "%q is not one of %s", l, strings.Join(logLevels, ", "))
	}
	v.tls(c.TLS)

	v.nonNegative("activity_timeout", int(c.ActivityTimeout))
	v.nonNegativeDuration("pong_timeout", c.PongTimeout)
	v.nonNegativeDuration("shutdown_timeout", c.ShutdownTimeout)
	v.nonNegativeDuration("cache_ttl", c.CacheTTL)
	v.nonNegativeDuration("signin_timeout", c.SigninTimeout)

	l := c.Limits
	v.nonNegative("limits.max_frame_kb", l.MaxFrameKB)
	v.nonNegative("limits.max_channel_name_len", l.MaxChannelNameLen)
	v.nonNegative("limits.max_event_name_len", l.MaxEventNameLen)
	v.nonNegative("limits.write_buffer_kb", l.WriteBufferKB)
	v.nonNegative("limits.client_events_per_sec", l.ClientEventsPerSec)
	v.nonNegative("limits.max_request_body_kb", l.MaxRequestBodyKB)
	v.nonNegative("limits.max_user_info_kb", l.MaxUserInfoKB)
	v.nonNegative("limits.max_user_id_len", l.MaxUserIDLen)
	v.nonNegative("limits.max_watchlist_size", l.MaxWatchlistSize)
	v.nonNegative("limits.max_connections", l.MaxConnections)
	v.nonNegative("limits.max_memory_mb", l.MaxMemoryMB)
	v.webhooks(c.Webhooks)
	v.redis(c.Redis)
	v.beams(c.Beams)
	if c.NodeID != "" && !ValidNodeID(c.NodeID) {
		v.add("node_id", "%q must be at most %d characters of A-Z, a-z, 0-9, '.', '_' and '-'", c.NodeID, maxNodeIDLen)
	}

	ids := map[string]int{}
	keys := map[string]int{}
	for i, a := range c.Apps {
		p := fmt.Sprintf("apps[%d]", i)
		v.credential(p+".id", a.ID)
		v.credential(p+".key", a.Key)
		if a.Secret == "" {
			v.add(p+".secret", "must not be empty")
		}
		if a.ID != "" {
			if j, dup := ids[a.ID]; dup {
				v.add(p+".id", "%q duplicates apps[%d].id", a.ID, j)
			} else {
				ids[a.ID] = i
			}
		}
		if a.Key != "" {
			if j, dup := keys[a.Key]; dup {
				v.add(p+".key", "%q duplicates apps[%d].key", a.Key, j)
			} else {
				keys[a.Key] = i
			}
		}
		v.nonNegative(p+".max_connections", a.MaxConnections)
		v.nonNegative(p+".max_presence_members", a.MaxPresenceMembers)
		v.nonNegative(p+".max_event_payload_kb", a.MaxEventPayloadKB)
		v.nonNegative(p+".client_events_per_sec", a.ClientEventsPerSec)
		v.nonNegative(p+".max_user_info_kb", a.MaxUserInfoKB)
		v.nonNegative(p+".max_channels_per_trigger", a.MaxChannelsPerTrigger)
		v.nonNegative(p+".max_batch_size", a.MaxBatchSize)
		v.nonNegative(p+".api_rate_burst", a.APIRateBurst)
		if a.APIRateLimit < 0 {
			v.add(p+".api_rate_limit", "must not be negative")
		}
		for j, ps := range a.PreviousSecrets {
			if ps.Secret == "" {
				v.add(fmt.Sprintf("%s.previous_secrets[%d].secret", p, j), "must not be empty")
			}
			if ps.ExpiresAt.IsZero() {
				v.add(fmt.Sprintf("%s.previous_secrets[%d].expires_at", p, j), "must be set (RFC 3339 time)")
			}
		}
		for j, o := range a.AllowedOrigins {
			if o == "*" {
				continue
			}
			if !ValidOrigin(o) {
				v.add(fmt.Sprintf("%s.allowed_origins[%d]", p, j), "%q is not an origin like https://app.example.com or https://*.example.com", o)
			}
		}
		for j, w := range a.Webhooks {
			v.webhook(fmt.Sprintf("%s.webhooks[%d]", p, j), w)
		}
	}
	return errors.Join(v.errs...)
}

type validator struct{ errs []error }

func (v *validator) add(path, format string, args ...any) {
	v.errs = append(v.errs, &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (v *validator) nonNegative(path string, n int) {
	if n < 0 {
		v.add(path, "must not be negative (got %d)", n)
	}
}

func (v *validator) nonNegativeDuration(path string, d Duration) {
	if d < 0 {
		v.add(path, "must not be negative")
	}
}

// hostPort checks a listen address such as "127.0.0.1:6060", "[::1]:6060"
// or ":6060" (every interface); port 0 picks a free port.
func (v *validator) hostPort(path, s string) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		v.add(path, "%q is not host:port (e.g. 127.0.0.1:6060)", s)
		return
	}
	if host != "" && !ValidHost(host) {
		v.add(path, "%q: %q is not an IP address or host name", s, host)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		v.add(path, "%q: port %q is not a number in 0-65535", s, port)
	}
}

// credential checks an app id or key: it travels in URL paths (/app/{key},
// /apps/{id}/events), so it must be non-empty and path-safe.
func (v *validator) credential(path, s string) {
	switch {
	case s == "":
		v.add(path, "must not be empty")
	case strings.ContainsAny(s, "/?#%\\ \t\r\n"):
		v.add(path, "%q must not contain '/', '?', '#', '%%', '\\' or white space", s)
	}
}

func (v *validator) tls(t TLSConfig) {
	switch {
	case t.CertFile != "" && t.KeyFile == "":
		v.add("tls.key_file", "must be set when tls.cert_file is set")
	case t.KeyFile != "" && t.CertFile == "":
		v.add("tls.cert_file", "must be set when tls.key_file is set")
	}
	readable := true
	for _, f := range []struct{ path, name string }{{"tls.cert_file", t.CertFile}, {"tls.key_file", t.KeyFile}} {
		if f.name == "" {
			continue
		}
		if err := canRead(f.name); err != nil {
			v.add(f.path, "%v", err)
			readable = false
		}
	}
	if t.CertFile != "" && t.KeyFile != "" && readable {
		if _, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile); err != nil {
			v.add("tls", "cert_file and key_file are not a valid key pair: %v", err)
		}
	}
}

func canRead(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.IsDir() {
		return fmt.Errorf("%s is a directory", name)
	}
	return nil
}

func (v *validator) webhook(p string, w Webhook) {
	u, err := url.Parse(w.URL)
	switch {
	case w.URL == "":
		v.add(p+".url", "must not be empty")
	case err != nil:
		v.add(p+".url", "%q is not a URL", w.URL)
	case u.Scheme != "http" && u.Scheme != "https":
		v.add(p+".url", "must be http or https")
	case u.Host == "":
		v.add(p+".url", "must have a host")
	}
	if len(w.EventTypes) == 0 {
		v.add(p+".event_types", "must list at least one of %s", strings.Join(WebhookEventTypes, ", "))
	}
	for k, et := range w.EventTypes {
		if !slices.Contains(WebhookEventTypes, et) {
			v.add(fmt.Sprintf("%s.event_types[%d]", p, k), "unknown event type %q (valid: %s)", et, strings.Join(WebhookEventTypes, ", "))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(w.Headers)) { // problems in a stable order
		value := w.Headers[name]
		if strings.ContainsFunc(value, func(r rune) bool { return (r < 0x20 && r != '\t') || r == 0x7f }) {
			v.add(p+".headers", "the value of %q contains control characters (CR, LF, ...)", name)
		}
		if !ValidHeaderName(name) {
			v.add(p+".headers", "%q is not a valid header name", name)
		}
	}
}

// ValidOrigin accepts "*" or scheme://host[:port] with scheme http or https
// and an optional "*." wildcard as the first label of host; no path, query,
// fragment or user info.
func ValidOrigin(o string) bool {
	if o == "*" {
		return true
	}
	scheme, rest, ok := strings.Cut(o, "://")
	if !ok || (scheme != "http" && scheme != "https") {
		return false
	}
	rest = strings.TrimPrefix(rest, "*.")
	if rest == "" || strings.ContainsAny(rest, "*/?#@ \t\r\n\\") {
		return false
	}
	u, err := url.Parse(scheme + "://" + rest)
	if err != nil || u.Host != rest || u.Hostname() == "" {
		return false
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return false
		}
	}
	return ValidHost(u.Hostname())
}

// ValidHost accepts an IP address (IPv6 with or without brackets) or a DNS
// name. A name whose last label is all digits is refused (RFC 3696 2): it
// is a mistyped IPv4 address such as 10.0.0.300, not a name.
func ValidHost(h string) bool {
	if net.ParseIP(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")) != nil {
		return true
	}
	if len(h) > 253 {
		return false
	}
	labels := strings.Split(strings.TrimSuffix(h, "."), ".")
	if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return false
	}
	for _, label := range labels {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}

// hostHint says what is wrong with a host ValidHost refused, when it can
// tell: " (an IPv4 address has four numbers of 0-255)".
func hostHint(h string) string {
	switch {
	case strings.Contains(h, "://"):
		return " (no scheme: just the address, e.g. 0.0.0.0)"
	case strings.Count(h, ":") == 1:
		return " (the port goes in port)"
	case strings.Trim(h, "0123456789.") == "":
		return " (an IPv4 address is four numbers of 0-255)"
	}
	return ""
}

// ValidHeaderName reports whether s is an RFC 9110 token.
func ValidHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r > 0x7e || r <= ' ' || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r) {
			return false
		}
	}
	return true
}
