package config

import "time"

// WebhooksConfig tunes webhook delivery for every app (the endpoints
// themselves are per app, in apps[].webhooks). Zero values mean the default.
type WebhooksConfig struct {
	// LeaveDelay holds channel_vacated and member_removed back; a rejoin
	// within it cancels both the leave and the rejoin (Pusher's semantics).
	LeaveDelay Duration `yaml:"leave_delay"` // default 3s
	// BatchWindow is how long an endpoint's first pending event waits for
	// more to share its request.
	BatchWindow Duration `yaml:"batch_window"` // default 100ms
	// BatchMaxEvents caps the events of one request.
	BatchMaxEvents int `yaml:"batch_max_events"` // default 50
	// Timeout bounds one request, response included.
	Timeout Duration `yaml:"timeout"` // default 5s
	// RetryWindow is how long a failing request is retried (with exponential
	// backoff) after its first attempt before it is recorded as dead.
	RetryWindow Duration `yaml:"retry_window"` // default 5m
	// MaxQueue bounds the stored events and batches waiting for delivery;
	// beyond it new events are dropped (counted and logged).
	MaxQueue int `yaml:"max_queue"` // default 100000
	// Workers bounds concurrent requests across all endpoints.
	Workers int `yaml:"workers"` // default 16
}

// Webhook delivery defaults.
const (
	DefaultWebhookLeaveDelay     = Duration(3 * time.Second)
	DefaultWebhookBatchWindow    = Duration(100 * time.Millisecond)
	DefaultWebhookBatchMaxEvents = 50
	DefaultWebhookTimeout        = Duration(5 * time.Second)
	DefaultWebhookRetryWindow    = Duration(5 * time.Minute)
	DefaultWebhookMaxQueue       = 100_000
	DefaultWebhookWorkers        = 16

	// Upper bounds: a request of thousands of events or thousands of
	// concurrent requests is a configuration mistake, not a tuning.
	maxWebhookBatchMaxEvents = 1000
	maxWebhookWorkers        = 1024
)

func (c *Config) applyWebhookDefaults() {
	w := &c.Webhooks
	setDefault(&w.LeaveDelay, DefaultWebhookLeaveDelay)
	setDefault(&w.BatchWindow, DefaultWebhookBatchWindow)
	setDefault(&w.BatchMaxEvents, DefaultWebhookBatchMaxEvents)
	setDefault(&w.Timeout, DefaultWebhookTimeout)
	setDefault(&w.RetryWindow, DefaultWebhookRetryWindow)
	setDefault(&w.MaxQueue, DefaultWebhookMaxQueue)
	setDefault(&w.Workers, DefaultWebhookWorkers)
}

func (v *validator) webhooks(w WebhooksConfig) {
	v.nonNegativeDuration("webhooks.leave_delay", w.LeaveDelay)
	v.nonNegativeDuration("webhooks.batch_window", w.BatchWindow)
	v.nonNegativeDuration("webhooks.timeout", w.Timeout)
	v.nonNegativeDuration("webhooks.retry_window", w.RetryWindow)
	v.nonNegative("webhooks.batch_max_events", w.BatchMaxEvents)
	v.nonNegative("webhooks.max_queue", w.MaxQueue)
	v.nonNegative("webhooks.workers", w.Workers)
	if w.BatchMaxEvents > maxWebhookBatchMaxEvents {
		v.add("webhooks.batch_max_events", "must be at most %d (got %d)", maxWebhookBatchMaxEvents, w.BatchMaxEvents)
	}
	if w.Workers > maxWebhookWorkers {
		v.add("webhooks.workers", "must be at most %d (got %d)", maxWebhookWorkers, w.Workers)
	}
}
