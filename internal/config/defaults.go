package config

import "time"

// Documented defaults, applied by ApplyDefaults to zero-valued fields.
const (
	DefaultHost            = "0.0.0.0"
	DefaultPort            = 6001
	DefaultDataDir         = "./herald-data"
	DefaultActivityTimeout = 120 // seconds
	DefaultPongTimeout     = Duration(30 * time.Second)
	DefaultShutdownTimeout = Duration(10 * time.Second)
	DefaultCacheTTL        = Duration(30 * time.Minute)
	DefaultSigninTimeout   = Duration(30 * time.Second)
	DefaultLogFormat       = "text"
	DefaultLogLevel        = "info"

	DefaultMaxFrameKB         = 100
	DefaultMaxChannelNameLen  = 200
	DefaultMaxEventNameLen    = 200
	DefaultWriteBufferKB      = 1024
	DefaultClientEventsPerSec = 10
	DefaultMaxRequestBodyKB   = 256
	DefaultMaxUserInfoKB      = 1
	DefaultMaxUserIDLen       = 128
	DefaultMaxWatchlistSize   = 100

	DefaultMaxPresenceMembers = 100
	DefaultMaxEventPayloadKB  = 10
)

// ApplyDefaults replaces every zero-valued field that has a documented default.
// It is idempotent. Fields whose zero value is meaningful (MaxConnections = 0
// means unlimited, PathPrefix "" means the root, TLS files "" means no TLS)
// are left alone.
func (c *Config) ApplyDefaults() {
	setString(&c.Host, DefaultHost)
	setInt(&c.Port, DefaultPort)
	setString(&c.DataDir, DefaultDataDir)
	setInt(&c.ActivityTimeout, DefaultActivityTimeout)
	if c.PongTimeout == 0 {
		c.PongTimeout = DefaultPongTimeout
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.CacheTTL == 0 {
		c.CacheTTL = DefaultCacheTTL
	}
	if c.SigninTimeout == 0 {
		c.SigninTimeout = DefaultSigninTimeout
	}
	setString(&c.Log.Format, DefaultLogFormat)
	setString(&c.Log.Level, DefaultLogLevel)
	if c.Metrics.Enabled == nil {
		c.Metrics.Enabled = ptr(true)
	}

	l := &c.Limits
	setInt(&l.MaxFrameKB, DefaultMaxFrameKB)
	setInt(&l.MaxChannelNameLen, DefaultMaxChannelNameLen)
	setInt(&l.MaxEventNameLen, DefaultMaxEventNameLen)
	setInt(&l.WriteBufferKB, DefaultWriteBufferKB)
	setInt(&l.ClientEventsPerSec, DefaultClientEventsPerSec)
	setInt(&l.MaxRequestBodyKB, DefaultMaxRequestBodyKB)
	setInt(&l.MaxUserInfoKB, DefaultMaxUserInfoKB)
	setInt(&l.MaxUserIDLen, DefaultMaxUserIDLen)
	setInt(&l.MaxWatchlistSize, DefaultMaxWatchlistSize)

	c.applyWebhookDefaults()

	for i := range c.Apps {
		a := &c.Apps[i]
		if a.Enabled == nil {
			a.Enabled = ptr(true)
		}
		setInt(&a.MaxPresenceMembers, DefaultMaxPresenceMembers)
		setInt(&a.MaxEventPayloadKB, DefaultMaxEventPayloadKB)
	}
}

// MetricsEnabled reports whether /metrics is served (default true).
func (m MetricsConfig) MetricsEnabled() bool { return m.Enabled == nil || *m.Enabled }

// IsEnabled reports whether the app accepts connections (default true).
func (a App) IsEnabled() bool { return a.Enabled == nil || *a.Enabled }

func setString(p *string, def string) {
	if *p == "" {
		*p = def
	}
}

func setInt(p *int, def int) {
	if *p == 0 {
		*p = def
	}
}

func ptr[T any](v T) *T { return &v }
