package stats

import (
	"strconv"

	"github.com/heraldhq/herald/internal/metrics"
)

// scope says whom a metric's values are charged to.
type scope uint8

const (
	// both: the app of the app_id label, and the server (an empty or
	// absent app_id is charged to the server only).
	both scope = iota
	// appOnly: the app only; a serverOnly source gives the server-wide
	// value of the same series.
	appOnly
	// serverOnly: the server only (the metric has no app_id label, or it
	// has one that appOnly source counts better).
	serverOnly
)

// source maps one Prometheus metric family onto series. Every metric of the
// family goes to one series, chosen by its label named by label ("" means
// all go to series[""]), or is ignored when its value of that label is not
// in series.
type source struct {
	family string
	gauge  bool // a value to take as is; otherwise a counter, turned into per-interval deltas
	scope  scope
	label  string
	series map[string]int
}

// statusClasses maps the status codes the HTTP API answers with onto the
// three api_requests series.
func statusClasses() map[string]int {
	m := map[string]int{}
	for code := 200; code < 600; code++ {
		switch metrics.StatusClass(code) {
		case "2xx":
			m[strconv.Itoa(code)] = sAPI2xx
		case "4xx":
			m[strconv.Itoa(code)] = sAPI4xx
		case "5xx":
			m[strconv.Itoa(code)] = sAPI5xx
		}
	}
	return m
}

func one(series int) map[string]int { return map[string]int{"": series} }

// sources is THE table from Herald's Prometheus collectors (internal/metrics)
// to the dashboard's series. The app id is always the "app_id" label.
var sources = []source{
	// connections (gauge): open WebSocket connections; peak = Point.Max.
	{family: "herald_connections", gauge: true, series: one(sConnections)},
	// new_connections: WebSocket connections accepted (hub.Connect).
	{family: "herald_connections_total", series: one(sNewConnections)},
	// api_messages: events published through the REST API, one per channel.
	{family: "herald_api_events_published_total", series: one(sAPIMessages)},
	// client_events: client events relayed.
	{family: "herald_client_events_total", series: one(sClientEvents)},
	// deliveries: frames queued to sockets (broadcast fan-out, plus the
	// protocol's own replies: pong, subscription_succeeded...).
	{family: "herald_ws_messages_sent_total", series: one(sDeliveries)},
	// slow_consumers: connections closed with 4100.
	{family: "herald_slow_consumers_total", series: one(sSlowConsumers)},

	// api_requests by status class: per app from herald_api_app_requests_total,
	// server-wide from herald_api_requests_total (which also has the requests
	// for unknown app ids).
	{family: "herald_api_app_requests_total", scope: appOnly, label: "class",
		series: map[string]int{"2xx": sAPI2xx, "4xx": sAPI4xx, "5xx": sAPI5xx}},
	{family: "herald_api_requests_total", scope: serverOnly, label: "status", series: statusClasses()},

	// auth_failures by reason.
	{family: "herald_auth_failures_total", label: "kind", series: map[string]int{
		metrics.AuthChannelSignature: sAuthBadSignature,
		metrics.AuthAPISignature:     sAuthBadSignature,
		metrics.AuthAPITimestamp:     sAuthExpiredTimestamp,
		metrics.AuthUnknownKey:       sAuthUnknownKey,
		metrics.AuthOrigin:           sAuthOriginRefused,
		metrics.AuthSignin:           sAuthSigninRefused,
		metrics.AuthSigninTimeout:    sAuthSigninRefused,
		metrics.AuthRateLimit:        sAuthRateLimited,
	}},
	// Client events over the per-connection rate are refused rate limits too.
	{family: "herald_client_events_rejected_total", label: "reason",
		series: map[string]int{"rate_limit": sAuthRateLimited}},

	// webhooks (requests, each carrying a batch of events): delivered
	// (2xx), retried (failed, tried again later), failed (given up).
	{family: "herald_webhook_requests_total", label: "outcome", series: map[string]int{"success": sWebhooksDelivered}},
	{family: "herald_webhook_retries_total", series: one(sWebhooksRetried)},
	{family: "herald_webhook_batches_dead_total", series: one(sWebhooksFailed)},
}
