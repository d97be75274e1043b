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

// Values of the "kind" label of herald_app_alert and
// herald_app_alerts_raised_total: what spiked against the app's recent
// baseline (internal/stats, alerts.go).
const (
	AlertAuthFailures   = "auth_failures"   // failed authorizations, every reason together
	AlertNewConnections = "new_connections" // new WebSocket connections
)

// AlertKinds lists every kind above.
var AlertKinds = []string{AlertAuthFailures, AlertNewConnections}

// StatsMetrics are the collectors of internal/stats (the dashboard's time
// series and the app alerts computed on them). Only the alerts have
// labels: the app id and the alert kind (AlertKinds).
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
	// AppAlert is 1 for each app and kind with an active alert; the
	// series is deleted when the alert clears or the app's history is
	// dropped, so at most two per app kept.
	AppAlert *prometheus.GaugeVec
	// AlertsRaised counts alerts raised, by kind.
	AlertsRaised *prometheus.CounterVec
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
		AppAlert: gauge(reg, "herald_app_alert",
			"1 while an app has a spike of the kind against its recent baseline (see the dashboard's app page).", "app_id", "kind"),
		AlertsRaised: counter(reg, "herald_app_alerts_raised_total",
			"App alerts raised (a spike against the app's recent baseline), by kind.", "kind"),
	}
	reg.MustRegister(m.AppsEvicted, m.AppsRefused, m.SamplesLate, m.SaveErrors, m.Apps)
	for _, k := range AlertKinds {
		m.AlertsRaised.WithLabelValues(k) // exported at 0, so rate() sees the first one
	}
	return m
}
