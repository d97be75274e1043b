// Package config holds Herald's typed configuration: YAML file, then HERALD_*
// environment variables, then command-line flags, each layer overriding the
// one before it. Validate reports every problem at once.
package config

import "time"

// Config is the whole server configuration. The zero value of every field
// means "use the documented default" once ApplyDefaults has been applied.
//
// Build one with Load (file, then HERALD_* environment, then flags), then call
// EnsureDefaultApp, ApplyDefaults and Validate, in that order.
type Config struct {
	Host    string `yaml:"host"`     // default 0.0.0.0
	Port    int    `yaml:"port"`     // default 6001
	DataDir string `yaml:"data_dir"` // default ./herald-data

	// DatabaseURL is the SQL app store managed with `herald apps`:
	// "sqlite:<path>" or "postgres://…". Empty: <data_dir>/apps.db when that
	// file exists (or an admin token is set).
	DatabaseURL string `yaml:"database_url"`

	// PathPrefix is prepended to every route (pusher-js wsPath, PHP SDK path).
	// Default "" (routes at the root); when set it must start with "/".
	PathPrefix string `yaml:"path_prefix"`

	// AdminListen is the host:port of a second, plain-HTTP listener for
	// operators: /metrics, /ready and pprof profiles. Default
	// 127.0.0.1:9601 (when that address is taken, the server starts
	// without it and says so); "off" turns it off. Bind it to a private
	// address: pprof exposes the process's internals.
	AdminListen string `yaml:"admin_listen"`
	// AdminListenDefaulted is set by ApplyDefaults when AdminListen is the
	// default rather than configured: failing to bind it is then a warning.
	AdminListenDefaulted bool `yaml:"-"`

	Log      LogConfig      `yaml:"log"`
	TLS      TLSConfig      `yaml:"tls"`
	Limits   LimitsConfig   `yaml:"limits"`
	Metrics  MetricsConfig  `yaml:"metrics"`
	Webhooks WebhooksConfig `yaml:"webhooks"`

	// Redis, when its URL is set, runs this node as part of a cluster
	// sharing state through Redis; otherwise one node keeps everything in
	// memory. See RedisConfig and docs/scaling.md.
	Redis RedisConfig `yaml:"redis"`
	// NodeID names this node in the cluster's keys and messages: at most
	// 64 characters of A-Z a-z 0-9 . _ -, unique per running node.
	// Default "": the server generates one at start with NewNodeID, so a
	// restarted node gets a new one. Env HERALD_NODE_ID.
	NodeID string `yaml:"node_id"`
	// Beams configures push notifications (a Beams-compatible API):
	// BeamsConfig and docs/beams.md.
	Beams BeamsConfig `yaml:"beams"`

	// ActivityTimeout is the activity_timeout (whole seconds) announced to
	// clients; 120 and "2m" both read as 120.
	ActivityTimeout Seconds `yaml:"activity_timeout"` // default 120
	// PongTimeout is how long to wait for any frame after our pusher:ping.
	PongTimeout Duration `yaml:"pong_timeout"` // default 30s
	// CacheTTL is how long a cache channel keeps its last event.
	CacheTTL Duration `yaml:"cache_ttl"` // default 30m
	// SigninTimeout is how long a connection of an app with require_signin
	// may stay without signing in (or joining a private/presence channel)
	// before it is closed with 4009.
	SigninTimeout Duration `yaml:"signin_timeout"` // default 30s
	// ShutdownTimeout bounds graceful shutdown.
	ShutdownTimeout Duration `yaml:"shutdown_timeout"` // default 10s

	Apps []App `yaml:"apps"`
}

// AppsDBFile is the SQLite app store inside the data directory, used by
// `herald serve` and `herald apps` when no database_url is set.
const AppsDBFile = "apps.db"

// Duration is a time.Duration that reads "30s", "90d" or a number of
// seconds from YAML, env and flags. See ParseDuration.
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// LogConfig selects the log handler and the minimum level.
type LogConfig struct {
	Format string `yaml:"format"` // "text" (default) or "json"
	Level  string `yaml:"level"`  // debug, info (default), warn, error
}

// TLSConfig enables TLS when both files are set (default: both empty, plain ws/http).
type TLSConfig struct {
	CertFile string `yaml:"cert_file"` // PEM certificate chain
	KeyFile  string `yaml:"key_file"`  // PEM private key
}

// Enabled reports whether TLS is configured.
func (t TLSConfig) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" }

// MetricsConfig controls the Prometheus endpoint. /metrics is served on
// the admin listener; on the public port only with a bearer token, since
// it shows every app's counters.
type MetricsConfig struct {
	// Enabled allows /metrics on the public port (with PublicToken).
	// Default true. The admin listener always serves /metrics.
	Enabled *bool `yaml:"enabled"`
	// PublicToken, when set, also serves /metrics on the public port to
	// requests with "Authorization: Bearer <token>" (others get 401).
	// Default "" (not on the public port). Env HERALD_METRICS_PUBLIC_TOKEN.
	PublicToken string `yaml:"public_token"`
}

// LimitsConfig holds server-wide bounds; each has a documented default.
type LimitsConfig struct {
	MaxFrameKB         int `yaml:"max_frame_kb"`          // default 100: largest WebSocket frame accepted
	MaxChannelNameLen  int `yaml:"max_channel_name_len"`  // default 200
	MaxEventNameLen    int `yaml:"max_event_name_len"`    // default 200
	WriteBufferKB      int `yaml:"write_buffer_kb"`       // default 1024: per-connection pending bytes before 4100
	ClientEventsPerSec int `yaml:"client_events_per_sec"` // default 10
	MaxRequestBodyKB   int `yaml:"max_request_body_kb"`   // default 256
	MaxUserInfoKB      int `yaml:"max_user_info_kb"`      // default 1: presence channel_data size
	MaxUserIDLen       int `yaml:"max_user_id_len"`       // default 128
	MaxWatchlistSize   int `yaml:"max_watchlist_size"`    // default 100: ids kept from a sign-in's watchlist
	// MaxConnections bounds this node's WebSocket connections; more are
	// refused with 4100. Default 0: derived from the open-files limit,
	// minus a reserve for the API, admin listener, webhooks and store (a
	// larger value is lowered to that, with a warning).
	MaxConnections int `yaml:"max_connections"`
	// MaxMemoryMB is the memory this node may use: near it, new
	// connections get 4100 and API publishes 503 until use falls back.
	// Default 0: GOMEMLIMIT when set, else the container's (cgroup) memory
	// limit, else none.
	MaxMemoryMB int `yaml:"max_memory_mb"`
}

// App is one tenant. ID, Key and Secret are required and ID and Key are unique
// across apps. When no app is configured, EnsureDefaultApp adds one.
type App struct {
	ID                   string `yaml:"id"`
	Key                  string `yaml:"key"`
	Secret               string `yaml:"secret"`
	Enabled              *bool  `yaml:"enabled"` // default true
	EnableClientMessages bool   `yaml:"enable_client_messages"`
	RequireSignin        bool   `yaml:"require_signin"`
	// EnableSubscriptionCount sends pusher_internal:subscription_count to
	// subscribers of non-presence channels when their count changes.
	EnableSubscriptionCount bool      `yaml:"enable_subscription_count"`
	MaxConnections          int       `yaml:"max_connections"`      // 0 = unlimited
	MaxPresenceMembers      int       `yaml:"max_presence_members"` // default 100
	MaxEventPayloadKB       int       `yaml:"max_event_payload_kb"` // default 10
	Webhooks                []Webhook `yaml:"webhooks"`

	// PreviousSecrets stay valid for signatures until expires_at (rotation
	// without downtime); webhooks are signed with secret.
	PreviousSecrets []PreviousSecret `yaml:"previous_secrets"`
	// Per-app limits; 0 means the server-wide default.
	ClientEventsPerSec    int      `yaml:"client_events_per_sec"`
	MaxUserInfoKB         int      `yaml:"max_user_info_kb"`
	MaxChannelsPerTrigger int      `yaml:"max_channels_per_trigger"` // default 100
	MaxBatchSize          int      `yaml:"max_batch_size"`           // default 10
	APIRateLimit          float64  `yaml:"api_rate_limit"`           // requests/s; 0 = unlimited (over it: 429)
	APIRateBurst          int      `yaml:"api_rate_burst"`
	AllowedOrigins        []string `yaml:"allowed_origins"` // WebSocket Origin allow-list; empty = any

	// Generated marks the embedded default app added by EnsureDefaultApp whose
	// credentials (some or all) were generated and stored in StoredIn. Never
	// read from YAML. The start-up banner prints the secret of such an app
	// (the user must paste it somewhere) and never that of a configured app.
	Generated bool `yaml:"-"`
	// StoredIn is the file holding the generated credentials ("" otherwise,
	// and when EnsureUnservedDefaultApp generated them in memory only).
	StoredIn string `yaml:"-"`
}

// Webhook is one webhook endpoint of an app (delivered by internal/webhooks).
// URL must be http(s) with a host; EventTypes must list at least one of
// WebhookEventTypes. The JSON form is the admin API's (admin.Webhook).
type Webhook struct {
	URL        string            `yaml:"url" json:"url"`
	EventTypes []string          `yaml:"event_types" json:"event_types"`
	Headers    map[string]string `yaml:"headers" json:"headers,omitempty"`
	Filter     WebhookFilter     `yaml:"filter" json:"filter"`
}

// WebhookFilter limits a webhook to channels whose names match; empty = all channels.
type WebhookFilter struct {
	ChannelNameStartsWith string `yaml:"channel_name_starts_with" json:"channel_name_starts_with,omitempty"`
	ChannelNameEndsWith   string `yaml:"channel_name_ends_with" json:"channel_name_ends_with,omitempty"`
}

// PreviousSecret is a rotated-out app secret with its expiry.
type PreviousSecret struct {
	Secret    string    `yaml:"secret"`
	ExpiresAt time.Time `yaml:"expires_at"` // RFC 3339
}
