package metrics

import "github.com/prometheus/client_golang/prometheus"

// WebhookMetrics are the collectors of internal/webhooks. Labels are the app
// id and a small fixed set of outcomes or reasons, never a URL or a channel.
type WebhookMetrics struct {
	// Events counts hub events by what became of them: queued (stored for
	// one endpoint, counted per endpoint once committed), debounced (a leave and the
	// rejoin that cancelled it), deduplicated (a repeated cache_miss) or
	// unrouted (no endpoint of the app wants it).
	Events *prometheus.CounterVec
	// Dropped counts events lost before they were stored, by reason:
	// queue_full (max_queue reached), inbox_full (the writer fell behind),
	// stopped (arrived after shutdown), app_not_found, queue_error (the
	// shared queue of cluster mode refused the entry).
	Dropped *prometheus.CounterVec
	// Requests counts delivery attempts by outcome: success, http_status,
	// timeout, network, invalid_url, endpoint_removed, app_not_found, app_lookup.
	Requests *prometheus.CounterVec
	// Delivered counts events acknowledged with a 2xx.
	Delivered *prometheus.CounterVec
	// DeadBatches and DeadEvents count requests given up on (retry window
	// over, or a permanent reason), by the reason of the last attempt.
	DeadBatches *prometheus.CounterVec
	DeadEvents  *prometheus.CounterVec
	// Retries counts failed requests that will be tried again (the others
	// are counted in DeadBatches).
	Retries *prometheus.CounterVec
	// Queue is the number of stored records (events, delayed leaves, batches).
	Queue prometheus.Gauge
	// RequestDuration is the latency of each attempt.
	RequestDuration *prometheus.HistogramVec

	// Cluster mode (the shared queue in the broker). QueuesHeld is how many
	// apps' queues this node delivers (it holds their hook leases); it has
	// no labels and is exported once cluster mode sets it.
	QueuesHeld *prometheus.GaugeVec
	// QueueEntriesRead counts the entries read from each app's shared
	// queue (an entry read again after a lease moved counts again).
	QueueEntriesRead *prometheus.CounterVec
	// AcksDropped counts acks of finished entries that were not sent, by
	// reason: lease_lost (the app's lease moved before they got through;
	// the next holder sends those entries again: at least once).
	AcksDropped *prometheus.CounterVec
}

// NewWebhooks creates the webhook collectors and registers them on reg.
func NewWebhooks(reg prometheus.Registerer) *WebhookMetrics {
	m := &WebhookMetrics{
		Events: counter(reg, "herald_webhook_events_total",
			"Webhook events by outcome (queued is counted per endpoint).", "app_id", "outcome"),
		Dropped: counter(reg, "herald_webhook_events_dropped_total",
			"Webhook events lost before being stored, by reason.", "app_id", "reason"),
		Requests:  counter(reg, "herald_webhook_requests_total", "Webhook delivery attempts by outcome.", "app_id", "outcome"),
		Delivered: counter(reg, "herald_webhook_events_delivered_total", "Webhook events acknowledged with a 2xx.", "app_id"),
		DeadBatches: counter(reg, "herald_webhook_batches_dead_total",
			"Webhook requests given up on, by reason.", "app_id", "reason"),
		DeadEvents: counter(reg, "herald_webhook_events_dead_total",
			"Webhook events in requests given up on, by reason.", "app_id", "reason"),
		Retries: counter(reg, "herald_webhook_retries_total",
			"Failed webhook requests scheduled for another attempt.", "app_id"),
		Queue: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "herald_webhook_queue_records", Help: "Stored webhook events, delayed leaves and batches awaiting delivery.",
		}),
		RequestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "herald_webhook_request_duration_seconds", Help: "Webhook request latency.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"app_id"}),
		QueuesHeld: gauge(reg, "herald_webhook_queues_held",
			"Apps whose shared webhook queue this node delivers (cluster mode)."),
		QueueEntriesRead: counter(reg, "herald_webhook_queue_entries_read_total",
			"Entries read from the shared webhook queue (cluster mode).", "app_id"),
		AcksDropped: counter(reg, "herald_webhook_acks_dropped_total",
			"Acks of delivered webhook entries not sent (the entries are delivered again), by reason.", "app_id", "reason"),
	}
	reg.MustRegister(m.Queue, m.RequestDuration)
	return m
}

// WebhookOutcomes are the values of the "outcome" label of
// herald_webhook_requests_total (and the "reason" of the dead counters):
// internal/webhooks uses these and no others.
var WebhookOutcomes = []string{"success", "http_status", "timeout", "network", "invalid_url",
	"endpoint_removed", "app_not_found", "app_lookup"}

// InitApp creates an app's delivery series at zero (attempts by outcome,
// events queued and delivered, retries), so the families are exported
// before the first webhook.
func (m *WebhookMetrics) InitApp(appID string) {
	for _, o := range WebhookOutcomes {
		m.Requests.WithLabelValues(appID, o)
	}
	m.Events.WithLabelValues(appID, "queued")
	m.Delivered.WithLabelValues(appID)
	m.Retries.WithLabelValues(appID)
}
