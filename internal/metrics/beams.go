package metrics

import "github.com/prometheus/client_golang/prometheus"

// BeamsMetrics are the push-notification collectors. Labels are bounded:
// instance ids come from the config and the app store; platforms, outcomes
// and reasons are fixed sets.
type BeamsMetrics struct {
	// Requests counts Beams API requests by route group (publish, users,
	// device, reporting) and status code.
	Requests *prometheus.CounterVec
	// Publishes counts accepted publishes by target (interests, users).
	Publishes *prometheus.CounterVec
	// Refused counts refused API requests by reason (auth, rate_limited,
	// invalid, not_found, queue_full).
	Refused *prometheus.CounterVec
	// Deliveries counts push attempts by platform and outcome (delivered,
	// gone, retry, config_error, rejected, skipped, given_up; breaker_open: not made, breaker open).
	Deliveries *prometheus.CounterVec
	// DevicesDeleted counts devices deleted because their push service
	// said they are gone, by platform.
	DevicesDeleted *prometheus.CounterVec
	// Queue is the number of publishes stored and not yet delivered.
	Queue prometheus.Gauge
	// RetriesPending is the number of deliveries waiting for a retry.
	RetriesPending prometheus.Gauge
	// SendDuration is the latency of one push request, by platform.
	SendDuration *prometheus.HistogramVec
	// PublishLatency is the time from accepting a publish to the end of
	// its first pass over its targets (retries not included).
	PublishLatency prometheus.Histogram
}

// NewBeams creates the push-notification collectors and registers them on reg.
func NewBeams(reg prometheus.Registerer) *BeamsMetrics {
	m := &BeamsMetrics{
		Requests: counter(reg, "herald_beams_requests_total",
			"Beams API requests by route group and status code.", "instance_id", "route", "code"),
		Publishes: counter(reg, "herald_beams_publishes_total",
			"Publishes accepted and queued, by target.", "instance_id", "target"),
		Refused: counter(reg, "herald_beams_refused_total",
			"Beams API requests refused, by reason.", "instance_id", "reason"),
		Deliveries: counter(reg, "herald_beams_deliveries_total",
			"Push attempts by platform and outcome.", "instance_id", "platform", "outcome"),
		DevicesDeleted: counter(reg, "herald_beams_devices_deleted_total",
			"Devices deleted because their push service said they are gone.", "instance_id", "platform"),
		Queue: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "herald_beams_queue_publishes", Help: "Publishes stored and not yet delivered.",
		}),
		RetriesPending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "herald_beams_retries_pending", Help: "Deliveries waiting for a retry.",
		}),
		SendDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "herald_beams_send_duration_seconds", Help: "Latency of one push request to a push service.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"platform"}),
		PublishLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "herald_beams_publish_seconds", Help: "Time from accepting a publish to the end of its first pass over its devices.",
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}),
	}
	reg.MustRegister(m.Queue, m.RetriesPending, m.SendDuration, m.PublishLatency)
	return m
}
