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
	DefaultAdminListen     = "127.0.0.1:9601"
	// AdminListenOff as admin_listen turns the admin listener off.
	AdminListenOff = "off"

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
	setDefault(&c.Host, DefaultHost)
	setDefault(&c.Port, DefaultPort)
	setDefault(&c.DataDir, DefaultDataDir)
	setDefault(&c.ActivityTimeout, DefaultActivityTimeout)
	setDefault(&c.PongTimeout, DefaultPongTimeout)
	setDefault(&c.ShutdownTimeout, DefaultShutdownTimeout)
	setDefault(&c.CacheTTL, DefaultCacheTTL)
	setDefault(&c.SigninTimeout, DefaultSigninTimeout)
	setDefault(&c.Log.Format, DefaultLogFormat)
	setDefault(&c.Log.Level, DefaultLogLevel)
	if c.AdminListen == "" {
		c.AdminListen, c.AdminListenDefaulted = DefaultAdminListen, true
	}
	if c.Metrics.Enabled == nil {
		c.Metrics.Enabled = ptr(true)
	}

	l := &c.Limits
	setDefault(&l.MaxFrameKB, DefaultMaxFrameKB)
	setDefault(&l.MaxChannelNameLen, DefaultMaxChannelNameLen)
	setDefault(&l.MaxEventNameLen, DefaultMaxEventNameLen)
	setDefault(&l.WriteBufferKB, DefaultWriteBufferKB)
	setDefault(&l.ClientEventsPerSec, DefaultClientEventsPerSec)
	setDefault(&l.MaxRequestBodyKB, DefaultMaxRequestBodyKB)
	setDefault(&l.MaxUserInfoKB, DefaultMaxUserInfoKB)
	setDefault(&l.MaxUserIDLen, DefaultMaxUserIDLen)
	setDefault(&l.MaxWatchlistSize, DefaultMaxWatchlistSize)

	c.applyWebhookDefaults()
	c.applyBeamsDefaults()
	setDefault(&c.Redis.Prefix, DefaultRedisPrefix)
	for i := range c.Beams.Instances {
		setDefault(&c.Beams.Instances[i].VAPIDSubject, DefaultVAPIDSubject)
	}

	for i := range c.Apps {
		a := &c.Apps[i]
		if a.Enabled == nil {
			a.Enabled = ptr(true)
		}
		setDefault(&a.MaxPresenceMembers, DefaultMaxPresenceMembers)
		setDefault(&a.MaxEventPayloadKB, DefaultMaxEventPayloadKB)
	}
}

// MetricsEnabled reports whether /metrics is served (default true).
func (m MetricsConfig) MetricsEnabled() bool { return m.Enabled == nil || *m.Enabled }

// IsEnabled reports whether the app accepts connections (default true).
func (a App) IsEnabled() bool { return a.Enabled == nil || *a.Enabled }

// setDefault sets *p to def when it holds the zero value.
func setDefault[T comparable](p *T, def T) {
	var zero T
	if *p == zero {
		*p = def
	}
}

func ptr[T any](v T) *T { return &v }
