// Package metrics owns every Prometheus collector of the server. Collectors
// live on an injected registry so tests use a fresh one; labels are bounded
// (app id, reason, status), never a channel name or socket id.
package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics is the set of collectors.
type Metrics struct {
	Connections          *prometheus.GaugeVec
	ConnectionsTotal     *prometheus.CounterVec
	ConnectionsRejected  *prometheus.CounterVec
	Channels             *prometheus.GaugeVec
	MessagesReceived     *prometheus.CounterVec
	MessagesSent         *prometheus.CounterVec
	SlowConsumers        *prometheus.CounterVec
	PongTimeouts         *prometheus.CounterVec
	ClientEvents         *prometheus.CounterVec
	ClientEventsRejected *prometheus.CounterVec
	AuthFailures         *prometheus.CounterVec
	ProtocolErrors       *prometheus.CounterVec
	WSProtocolFailures   *prometheus.CounterVec
	AcceptErrors         *prometheus.CounterVec
	ConnectionsShed      *prometheus.CounterVec
	APIRequests          *prometheus.CounterVec
	APIEventsPublished   *prometheus.CounterVec
	SecretUses           *prometheus.CounterVec
	// APIAppRequests is APIRequests per known app, by status class
	// (StatusClass): what the dashboard charts per app. Requests for an
	// unknown app id are not counted here (APIRequests has them).
	APIAppRequests *prometheus.CounterVec
}

// New creates the collectors and registers them on reg.
func New(reg prometheus.Registerer) *Metrics {
	const app = "app_id"
	return &Metrics{
		Connections:         gauge(reg, "herald_connections", "Open WebSocket connections.", app),
		ConnectionsTotal:    counter(reg, "herald_connections_total", "WebSocket connections accepted.", app),
		ConnectionsRejected: counter(reg, "herald_connections_rejected_total", "WebSocket connections refused, by close code.", "code"),
		Channels:            gauge(reg, "herald_channels", "Occupied channels on this node.", app),
		MessagesReceived:    counter(reg, "herald_ws_messages_received_total", "WebSocket frames received from clients.", app),
		MessagesSent:        counter(reg, "herald_ws_messages_sent_total", "WebSocket frames queued to clients.", app),
		SlowConsumers: counter(reg, "herald_slow_consumers_total",
			"Connections closed (4100) because their write buffer overflowed.", app),
		PongTimeouts:         counter(reg, "herald_pong_timeouts_total", "Connections closed (4201) because no pong arrived.", app),
		ClientEvents:         counter(reg, "herald_client_events_total", "Client events relayed.", app),
		ClientEventsRejected: counter(reg, "herald_client_events_rejected_total", "Client events refused, by reason.", app, "reason"),
		AuthFailures:         counter(reg, "herald_auth_failures_total", "Failed authorizations, by kind.", app, "kind"),
		ProtocolErrors:       counter(reg, "herald_protocol_errors_total", "Malformed or refused client frames.", app),
		WSProtocolFailures: counter(reg, "herald_ws_protocol_failures_total",
			"Connections failed for breaking the WebSocket protocol, by close code (1002, 1007, 1009).", "code"),
		AcceptErrors: counter(reg, "herald_accept_errors_total",
			"accept(2) failures for lack of file descriptors, by listener.", "listener"),
		ConnectionsShed: counter(reg, "herald_connections_shed_total",
			"TCP connections answered with 503 and closed at accept: out of file descriptors, or plain HTTP connections past their bound.", "listener"),
		APIRequests: counter(reg, "herald_api_requests_total", "HTTP API requests, by endpoint and status.", "endpoint", "status"),
		APIEventsPublished: counter(reg, "herald_api_events_published_total",
			"Events published through the HTTP API (one per channel).", app),
		SecretUses: counter(reg, "herald_secret_verifications_total",
			"Signatures verified, by kind (channel, user, api) and secret generation (primary, previous): shows when rotated-out secrets stop being used.",
			app, "kind", "generation"),
		APIAppRequests: counter(reg, "herald_api_app_requests_total",
			"HTTP API requests for a known app, by status class (2xx, 4xx, 5xx).", app, "class"),
	}
}

// counter creates a counter vector and registers it, so no collector can be
// built and then left off the registry.
func counter(reg prometheus.Registerer, name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	reg.MustRegister(c)
	return c
}

// gauge is counter for a gauge vector.
func gauge(reg prometheus.Registerer, name, help string, labels ...string) *prometheus.GaugeVec {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	reg.MustRegister(g)
	return g
}

// InitApp creates the per-app series at zero so dashboards and alerts see
// them before the first connection.
func (m *Metrics) InitApp(appID string) {
	m.Connections.WithLabelValues(appID)
	m.ConnectionsTotal.WithLabelValues(appID)
	m.Channels.WithLabelValues(appID)
	m.MessagesReceived.WithLabelValues(appID)
	m.MessagesSent.WithLabelValues(appID)
	m.SlowConsumers.WithLabelValues(appID)
	m.PongTimeouts.WithLabelValues(appID)
	m.ClientEvents.WithLabelValues(appID)
	m.APIEventsPublished.WithLabelValues(appID)
	for _, kind := range AuthKinds {
		m.AuthFailures.WithLabelValues(appID, kind)
	}
	for _, class := range []string{"2xx", "4xx", "5xx"} {
		m.APIAppRequests.WithLabelValues(appID, class)
	}
}

// InitServer creates the series that belong to no app at zero, so the
// families are exported from the start: failed authorizations with an
// unknown app key (app_id "") and refused connections by each close code
// the WebSocket edge refuses with (rejectCodes; "503" is always added).
func (m *Metrics) InitServer(rejectCodes ...int) {
	m.AuthFailures.WithLabelValues("", AuthUnknownKey)
	m.ConnectionsRejected.WithLabelValues("503")
	for _, c := range rejectCodes {
		m.ConnectionsRejected.WithLabelValues(strconv.Itoa(c))
	}
}
