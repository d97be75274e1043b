package metrics

import "github.com/prometheus/client_golang/prometheus"

// Values of the "kind" label of herald_auth_failures_total. The dashboard's
// time series (internal/stats) group them by reason; a new kind must be
// added there too (its tests check every constant here is mapped).
const (
	AuthChannelSignature = "channel_signature" // private/presence subscription signature did not verify
	AuthAPISignature     = "api_signature"     // REST request refused by its signature (or its auth parameters)
	AuthAPITimestamp     = "api_timestamp"     // REST request whose auth_timestamp is outside the window
	AuthUnknownKey       = "unknown_key"       // app key unknown (WebSocket) or auth_key not the app's (REST)
	AuthOrigin           = "origin"            // WebSocket Origin not in the app's allow-list
	AuthSignin           = "signin"            // pusher:signin refused
	AuthSigninTimeout    = "signin_timeout"    // connection closed for not signing in in time
	AuthRateLimit        = "rate_limit"        // refused by an app's rate limit (REST 429)
)

// AuthKinds lists every kind above.
var AuthKinds = []string{AuthChannelSignature, AuthAPISignature, AuthAPITimestamp, AuthUnknownKey,
	AuthOrigin, AuthSignin, AuthSigninTimeout, AuthRateLimit}

// StatusClass is the "class" label of herald_api_app_requests_total for an
// HTTP status: "2xx", "4xx", "5xx"; anything else (never written by the
// API) is "other".
func StatusClass(status int) string {
	switch status / 100 {
	case 2:
		return "2xx"
	case 4:
		return "4xx"
	case 5:
		return "5xx"
	}
	return "other"
}

// StatsMetrics are the collectors of internal/stats (the dashboard's time
// series). No labels.
type StatsMetrics struct {
	// AppsEvicted counts apps whose history was dropped to make room for
	// a new one within the store's app limit (the least recently active
	// go first).
	AppsEvicted prometheus.Counter
	// AppsRefused counts new apps given no history because every app kept
	// was active in the same interval (the limit is too low).
	AppsRefused prometheus.Counter
	// SamplesLate counts samples refused because a newer one was already
	// recorded (the clock went back).
	SamplesLate prometheus.Counter
	// SaveErrors counts failed writes of the history file.
	SaveErrors prometheus.Counter
	// Apps is the number of apps whose history is kept.
	Apps prometheus.Gauge
}

// NewStats creates the time-series store's collectors and registers them on reg.
func NewStats(reg prometheus.Registerer) *StatsMetrics {
	m := &StatsMetrics{
		AppsEvicted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_stats_apps_evicted_total", Help: "Apps whose dashboard history was dropped to stay within the app limit.",
		}),
		AppsRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_stats_apps_refused_total", Help: "New apps given no dashboard history because every app kept was active (app limit too low).",
		}),
		SamplesLate: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_stats_samples_late_total", Help: "Dashboard samples refused because a newer one was already recorded.",
		}),
		SaveErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_stats_save_errors_total", Help: "Failed writes of the dashboard history file.",
		}),
		Apps: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "herald_stats_apps", Help: "Apps whose dashboard history is kept.",
		}),
	}
	reg.MustRegister(m.AppsEvicted, m.AppsRefused, m.SamplesLate, m.SaveErrors, m.Apps)
	return m
}
