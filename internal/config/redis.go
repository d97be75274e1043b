package config

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/redis/rueidis"
)

// RedisConfig turns on cluster mode: every node of a cluster points at the
// same Redis and shares channels, presence and subscription counts through
// it. The zero value (no redis section, or an empty URL) means a single node
// with all state in memory. See docs/scaling.md.
type RedisConfig struct {
	// URL is redis://[[user]:password@]host[:port][/db], rediss://… for TLS,
	// or unix://[[user]:password@]/path/to/redis.sock[?db=N]; query
	// parameters: RedisURLParams. Env HERALD_REDIS_URL.
	// It may hold a password: print Redacted, never URL.
	URL string `yaml:"url"`
	// Prefix starts every key and pub/sub channel, so that several clusters
	// can share one Redis. Default "herald"; at most 64 characters, without
	// white space, '{' or '}' (Redis Cluster hash-tag characters).
	// Env HERALD_REDIS_PREFIX.
	Prefix string `yaml:"prefix"`
}

// Enabled reports whether cluster mode is configured.
func (r RedisConfig) Enabled() bool { return r.URL != "" }

// Redacted returns URL with its password replaced by "***" ("" when URL is
// empty). A user name without a password is replaced too, since it is often
// a password written without its leading ':', and so is the value of a query
// parameter not in RedisURLParams (?password=…). When URL does not parse
// cleanly, everything up to its last '@' is replaced.
func (r RedisConfig) Redacted() string { return redactURL(r.URL) }

// String describes the section without its password, e.g.
// "redis://:***@10.0.0.5:6379/0 prefix herald", or "off". Printing a Config
// with %v or %+v therefore never shows the password.
func (r RedisConfig) String() string {
	if !r.Enabled() {
		return "off"
	}
	return r.Redacted() + " prefix " + r.Prefix
}

// LogValue keeps the password out of structured logs.
func (r RedisConfig) LogValue() slog.Value { return slog.StringValue(r.String()) }

var _ slog.LogValuer = RedisConfig{}

const (
	// DefaultRedisPrefix is redis.prefix when none is configured.
	DefaultRedisPrefix = "herald"

	maxRedisPrefixLen = 64
	maxNodeIDLen      = 64
	nodeIDSuffixLen   = 12 // hex digits of randomness in a generated node id
)

// RedisURLParams are the query parameters redis.url may have: those of
// rueidis.ParseURL that the Redis broker honours. Any other is refused
// (most likely a typo, or a password in the query, which is not read).
var RedisURLParams = []string{"addr", "db", "master_set", "dial_timeout", "write_timeout", "skip_verify", "client_name"}

func redactURL(s string) string {
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil || u.Opaque != "" || strings.Contains(u.Path+u.RawPath+u.RawQuery+u.Fragment, "@") {
		// Not a clean URL: a password with an unencoded '/', '?' or '#'
		// can end up in the path, query or fragment. Hide everything
		// before the last '@' instead.
		at := strings.LastIndex(s, "@")
		if at < 0 {
			// No user information; a query may still hold a ?password=.
			if q := strings.IndexByte(s, '?'); q >= 0 {
				return s[:q] + "?***"
			}
			return s
		}
		scheme := ""
		if i := strings.Index(s, "://"); i >= 0 && i < at {
			scheme = s[:i+3]
		}
		return scheme + "***@" + s[at+1:]
	}
	if q := maskUnknownParams(u.RawQuery); q != u.RawQuery {
		u.RawQuery = q
		s = u.String()
	}
	if u.User == nil {
		return s
	}
	user := "***"
	if _, ok := u.User.Password(); ok {
		user = url.User(u.User.Username()).String() + ":***"
	}
	// url.URL.String would percent-encode the stars.
	u.User = nil
	rest, ok := strings.CutPrefix(u.String(), u.Scheme+"://")
	if !ok {
		return u.Scheme + "://***@" + u.Host
	}
	return u.Scheme + "://" + user + "@" + rest
}

// maskUnknownParams replaces the value of every parameter of the raw query
// q that is not in RedisURLParams with "***".
func maskUnknownParams(q string) string {
	if q == "" {
		return q
	}
	parts := strings.Split(q, "&")
	for i, p := range parts {
		k, _, hasValue := strings.Cut(p, "=")
		if uk, err := url.QueryUnescape(k); hasValue && (err != nil || !slices.Contains(RedisURLParams, uk)) {
			parts[i] = k + "=***"
		}
	}
	return strings.Join(parts, "&")
}

func (v *validator) redis(r RedisConfig) {
	if r.URL != "" {
		v.redisURL("redis.url", r.URL)
	}
	if p := r.Prefix; p != "" {
		switch {
		case len(p) > maxRedisPrefixLen:
			v.add("redis.prefix", "must be at most %d characters (got %d)", maxRedisPrefixLen, len(p))
		case strings.ContainsFunc(p, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
			v.add("redis.prefix", "%q must not contain white space or control characters", p)
		case strings.ContainsAny(p, "{}"):
			v.add("redis.prefix", "%q must not contain '{' or '}' (Redis Cluster hash-tag characters)", p)
		}
	}
}

// redisURL checks what rueidis.ParseURL will make of s, and more strictly:
// a host is required rather than defaulting to localhost. Messages show the
// URL only through redactURL.
func (v *validator) redisURL(path, s string) {
	shown := redactURL(s)
	u, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		if !strings.Contains(s, "@") && errors.As(err, &ue) {
			// Without user information the parser's reason holds no secret.
			v.add(path, "%q is not a URL: %v", shown, ue.Err)
		} else {
			v.add(path, "%s is not a URL (percent-encode '@', ':', '/', '?', '#' and '%%' in the user name and password)", shown)
		}
		return
	}
	if (u.Scheme != "redis" && u.Scheme != "rediss" && u.Scheme != "unix") || u.Opaque != "" {
		v.add(path, "%s must start with redis://, rediss:// (TLS) or unix://", shown)
		return
	}
	if strings.Contains(u.Path+u.RawQuery+u.Fragment, "@") {
		v.add(path, "%s: '@' after the host; percent-encode '@' in a password as %%40", shown)
		return
	}
	if u.Fragment != "" {
		v.add(path, "%s must not have a #fragment (percent-encode '#' in a password as %%23)", shown)
	}

	if u.Scheme == "unix" {
		switch {
		case u.Host != "":
			v.add(path, "%s: unix:// takes a socket path, not a host (unix:///run/redis/redis.sock)", shown)
		case u.Path == "" || u.Path == "/":
			v.add(path, "%s names no socket path (unix:///run/redis/redis.sock)", shown)
		}
	} else {
		host := u.Hostname()
		switch {
		case host == "":
			v.add(path, "%s has no host (%s://host:6379/0)", shown, u.Scheme)
		case !ValidHost(host):
			v.add(path, "%s: %q is not an IP address or host name", shown, host)
		}
		if p := u.Port(); p != "" {
			if n, err := strconv.ParseUint(p, 10, 16); err != nil || n == 0 {
				v.add(path, "%s: port %q is not a number in 1-65535", shown, p)
			}
		}
	}
	for k := range u.Query() {
		if !slices.Contains(RedisURLParams, k) {
			v.add(path, "%s: query parameter %q is not supported (only %s)", shown, k, strings.Join(RedisURLParams, ", "))
		}
	}
	// The database number (path or ?db=) and the values of dial_timeout,
	// write_timeout and skip_verify: as the broker will read them. Its
	// errors quote only the bad value.
	opt, err := rueidis.ParseURL(s)
	switch {
	case err != nil:
		v.add(path, "%s: %s", shown, strings.TrimPrefix(err.Error(), "redis: "))
	case opt.SelectDB < 0:
		v.add(path, "%s: database number %q is not a non-negative integer", shown, strconv.Itoa(opt.SelectDB))
	}
}

// ValidNodeID reports whether id is a usable node_id: 1 to 64 characters of
// A-Z, a-z, 0-9, '.', '_' and '-'.
func ValidNodeID(id string) bool {
	if id == "" || len(id) > maxNodeIDLen {
		return false
	}
	for _, r := range id {
		if !nodeIDChar(r) {
			return false
		}
	}
	return true
}

func nodeIDChar(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-'
}

// NewNodeID returns a node id for a server started without node_id: its
// host name (cut to fit, other characters replaced by '-') and 12 random
// hex digits, e.g. "web-1-3f9a0c12d4e5". It is not stored: a restarted
// node gets a new one.
func NewNodeID() string {
	host, _ := os.Hostname()
	var b [nodeIDSuffixLen / 2]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return nodeIDFrom(host, hex.EncodeToString(b[:]))
}

func nodeIDFrom(host, suffix string) string {
	host = strings.Map(func(r rune) rune {
		if nodeIDChar(r) {
			return r
		}
		return '-'
	}, host)
	if room := maxNodeIDLen - 1 - len(suffix); len(host) > room {
		host = host[:room]
	}
	if host = strings.Trim(host, ".-_"); host == "" {
		host = "herald"
	}
	return host + "-" + suffix
}
