// Package metrics owns every Prometheus collector of the server. Collectors
// live on an injected registry so tests use a fresh one; labels are bounded
// (app id, reason, status), never a channel name or socket id.
package metrics

import "github.com/prometheus/client_golang/prometheus"

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
	APIRequests          *prometheus.CounterVec
	APIEventsPublished   *prometheus.CounterVec
	SecretUses           *prometheus.CounterVec
}

// New creates the collectors and registers them on reg.
func New(reg prometheus.Registerer) *Metrics {
	app := []string{"app_id"}
	m := &Metrics{
		Connections: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "herald_connections", Help: "Open WebSocket connections.",
		}, app),
		ConnectionsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_connections_total", Help: "WebSocket connections accepted.",
		}, app),
		ConnectionsRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_connections_rejected_total", Help: "WebSocket connections refused, by close code.",
		}, []string{"code"}),
		Channels: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "herald_channels", Help: "Occupied channels on this node.",
		}, app),
		MessagesReceived: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_ws_messages_received_total", Help: "WebSocket frames received from clients.",
		}, app),
		MessagesSent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_ws_messages_sent_total", Help: "WebSocket frames queued to clients.",
		}, app),
		SlowConsumers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_slow_consumers_total", Help: "Connections closed (4100) because their write buffer overflowed.",
		}, app),
		PongTimeouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_pong_timeouts_total", Help: "Connections closed (4201) because no pong arrived.",
		}, app),
		ClientEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_client_events_total", Help: "Client events relayed.",
		}, app),
		ClientEventsRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_client_events_rejected_total", Help: "Client events refused, by reason.",
		}, []string{"app_id", "reason"}),
		AuthFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_auth_failures_total", Help: "Failed authorizations, by kind.",
		}, []string{"app_id", "kind"}),
		ProtocolErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_protocol_errors_total", Help: "Malformed or refused client frames.",
		}, app),
		APIRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_api_requests_total", Help: "HTTP API requests, by endpoint and status.",
		}, []string{"endpoint", "status"}),
		SecretUses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_secret_verifications_total",
			Help: "Signatures verified, by kind (channel, user, api) and secret generation (primary, previous): shows when rotated-out secrets stop being used.",
		}, []string{"app_id", "kind", "generation"}),
		APIEventsPublished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_api_events_published_total", Help: "Events published through the HTTP API (one per channel).",
		}, app),
	}
	reg.MustRegister(m.Connections, m.ConnectionsTotal, m.ConnectionsRejected, m.Channels,
		m.MessagesReceived, m.MessagesSent, m.SlowConsumers, m.PongTimeouts, m.ClientEvents,
		m.ClientEventsRejected, m.AuthFailures, m.ProtocolErrors, m.APIRequests, m.APIEventsPublished, m.SecretUses)
	return m
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
}
