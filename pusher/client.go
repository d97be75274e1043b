package pusher

import (
	"crypto/rand"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// Version is the SDK version sent in X-Pusher-Library ("herald-go <Version>").
const Version = "0.1.0"

// DefaultTimeout bounds each request when Config.Timeout is zero.
const DefaultTimeout = 5 * time.Second

// Config describes one app on one server. Zero values are documented per
// field; AppID, Key, Secret and Host are required.
type Config struct {
	AppID  string
	Key    string
	Secret string
	// Host is "host" or "host:port" of the server, e.g. "127.0.0.1:6001",
	// without scheme or path.
	Host string
	// Scheme is "http" (the default when empty) or "https".
	Scheme string
	// PathPrefix is prepended to every API path when the server is mounted
	// below a prefix (Herald's path_prefix); "" means none. It must start
	// with "/" and is signed as part of the path.
	PathPrefix string
	// EncryptionMasterKeyBase64 is the standard base64 of a 32-byte key; it
	// enables private-encrypted- channels. Empty disables them.
	EncryptionMasterKeyBase64 string
	// HTTPClient sends the requests; nil means a client of its own that
	// shares http.DefaultTransport (keep-alive connection pooling). Reuse one
	// Client for the life of the program.
	HTTPClient *http.Client
	// Timeout bounds each request (applied through the request context, so
	// it also works with a custom HTTPClient). Zero means DefaultTimeout;
	// negative means no SDK timeout.
	Timeout time.Duration
}

// Client talks to one app's HTTP API and signs auth responses for it. It is
// safe for concurrent use.
type Client struct {
	appID, key, secret string
	scheme, host       string
	prefix             string
	masterKey          []byte
	hc                 *http.Client
	timeout            time.Duration

	// Seams for tests: the clock used for auth_timestamp and the source of
	// encryption nonces.
	now   func() time.Time
	nonce io.Reader
}

// New validates cfg and returns a client. Errors are *ValidationError with
// Field "Config.<name>".
func New(cfg Config) (*Client, error) {
	for _, f := range []struct{ name, v string }{
		{"AppID", cfg.AppID}, {"Key", cfg.Key}, {"Secret", cfg.Secret}, {"Host", cfg.Host},
	} {
		if f.v == "" {
			return nil, invalid("Config."+f.name, "is required")
		}
	}
	if strings.ContainsAny(cfg.Host, "/?#@ \\") || strings.Contains(cfg.Host, "://") {
		return nil, invalid("Config.Host", "must be host or host:port, without scheme or path (got "+cfg.Host+")")
	}
	if _, err := url.Parse("http://" + cfg.Host); err != nil {
		return nil, &ValidationError{Field: "Config.Host", Reason: "unparsable host", Err: err}
	}
	scheme := strings.ToLower(cfg.Scheme)
	switch scheme {
	case "":
		scheme = "http"
	case "http", "https":
	default:
		return nil, invalid("Config.Scheme", "must be http or https (got "+cfg.Scheme+")")
	}
	prefix := strings.TrimRight(cfg.PathPrefix, "/")
	if prefix != "" && (!strings.HasPrefix(prefix, "/") || strings.ContainsAny(prefix, "?# ")) {
		return nil, invalid("Config.PathPrefix", "must start with / and contain no ?, # or spaces")
	}
	c := &Client{
		appID: cfg.AppID, key: cfg.Key, secret: cfg.Secret,
		scheme: scheme, host: cfg.Host, prefix: prefix,
		hc: cfg.HTTPClient, timeout: cfg.Timeout,
		now: time.Now, nonce: rand.Reader,
	}
	if cfg.EncryptionMasterKeyBase64 != "" {
		k, err := base64.StdEncoding.DecodeString(cfg.EncryptionMasterKeyBase64)
		if err != nil {
			return nil, &ValidationError{Field: "Config.EncryptionMasterKeyBase64", Reason: "not standard base64", Err: err}
		}
		if len(k) != 32 {
			return nil, invalid("Config.EncryptionMasterKeyBase64", "must decode to 32 bytes")
		}
		c.masterKey = k
	}
	if c.hc == nil {
		c.hc = &http.Client{}
	}
	if c.timeout == 0 {
		c.timeout = DefaultTimeout
	}
	return c, nil
}

// ParseURL turns "http(s)://key:secret@host[:port][/prefix]/apps/<app_id>"
// into a Config; anything before /apps/ becomes PathPrefix. Set the other
// fields (master key, HTTP client) on the result and pass it to New.
func ParseURL(raw string) (Config, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return Config{}, &ValidationError{Field: "URL", Reason: "unparsable URL", Err: err}
	}
	if u.User == nil {
		return Config{}, invalid("URL", "has no key:secret@ credentials")
	}
	secret, _ := u.User.Password()
	prefix, appID, found := strings.Cut(u.EscapedPath(), "/apps/")
	if !found || appID == "" || strings.Contains(strings.TrimSuffix(appID, "/"), "/") {
		return Config{}, invalid("URL", "path must end with /apps/<app_id>")
	}
	appID, err = url.PathUnescape(strings.TrimSuffix(appID, "/"))
	if err != nil {
		return Config{}, &ValidationError{Field: "URL", Reason: "bad app id", Err: err}
	}
	return Config{
		AppID: appID, Key: u.User.Username(), Secret: secret,
		Host: u.Host, Scheme: u.Scheme, PathPrefix: prefix,
	}, nil
}

// NewFromURL is ParseURL followed by New, e.g.
// NewFromURL("http://app-key:app-secret@127.0.0.1:6001/apps/1").
func NewFromURL(raw string) (*Client, error) {
	cfg, err := ParseURL(raw)
	if err != nil {
		return nil, err
	}
	return New(cfg)
}

// Environment variables read by ConfigFromEnv.
const (
	EnvHeraldURL     = "HERALD_URL" // checked first
	EnvPusherURL     = "PUSHER_URL"
	EnvAppID         = "PUSHER_APP_ID"
	EnvAppKey        = "PUSHER_APP_KEY"
	EnvAppSecret     = "PUSHER_APP_SECRET"
	EnvHost          = "PUSHER_HOST"   // host or host:port
	EnvPort          = "PUSHER_PORT"   // joined to PUSHER_HOST when it has no port
	EnvScheme        = "PUSHER_SCHEME" // http or https
	EnvEncryptionKey = "PUSHER_ENCRYPTION_MASTER_KEY_BASE64"
)

// ConfigFromEnv builds a Config from the environment: HERALD_URL, else
// PUSHER_URL, in the ParseURL form; otherwise the Laravel-style variables
// PUSHER_APP_ID, PUSHER_APP_KEY, PUSHER_APP_SECRET, PUSHER_HOST,
// PUSHER_PORT and PUSHER_SCHEME. PUSHER_ENCRYPTION_MASTER_KEY_BASE64 is read
// in both cases. Empty variables count as unset; validation happens in New.
func ConfigFromEnv() (Config, error) {
	var cfg Config
	if raw := firstEnv(EnvHeraldURL, EnvPusherURL); raw != "" {
		var err error
		if cfg, err = ParseURL(raw); err != nil {
			return Config{}, err
		}
	} else {
		cfg = Config{
			AppID:  os.Getenv(EnvAppID),
			Key:    os.Getenv(EnvAppKey),
			Secret: os.Getenv(EnvAppSecret),
			Host:   os.Getenv(EnvHost),
			Scheme: os.Getenv(EnvScheme),
		}
		if port := os.Getenv(EnvPort); port != "" && cfg.Host != "" {
			if _, _, err := net.SplitHostPort(cfg.Host); err != nil {
				cfg.Host = net.JoinHostPort(strings.Trim(cfg.Host, "[]"), port)
			}
		}
	}
	cfg.EncryptionMasterKeyBase64 = os.Getenv(EnvEncryptionKey)
	return cfg, nil
}

// NewFromEnv is ConfigFromEnv followed by New.
func NewFromEnv() (*Client, error) {
	cfg, err := ConfigFromEnv()
	if err != nil {
		return nil, err
	}
	return New(cfg)
}

func firstEnv(names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}
