package metrics

import "github.com/prometheus/client_golang/prometheus"

// ConsoleClusterMetrics are the collectors of the debug console's cluster
// bridge (internal/console/consoleredis): events forwarded to the viewers
// of other nodes through Redis, and received from them. Labels are fixed
// words (reason, op), never an app or a channel.
type ConsoleClusterMetrics struct {
	// Forwarded counts this node's events published for other nodes'
	// viewers.
	Forwarded prometheus.Counter
	// Received counts events of other nodes shown to this node's viewers
	// (before their filters).
	Received prometheus.Counter
	// Dropped counts events lost on the way, by reason: queue_full (the
	// forwarder's queue was full: Redis too slow or unreachable),
	// publish_failed (the Redis call failed), malformed (a message that
	// did not decode or was too large).
	Dropped *prometheus.CounterVec
	// Errors counts failed Redis calls, by operation: poll (advertise this
	// node's watched apps and read the others'), publish, subscribe.
	Errors *prometheus.CounterVec
	// RemoteApps is how many apps other nodes' viewers watch, as last
	// polled.
	RemoteApps prometheus.Gauge
}

// Values of the labels of herald_console_cluster_dropped_total and
// herald_console_cluster_errors_total.
const (
	ConsoleQueueFull     = "queue_full"
	ConsolePublishFailed = "publish_failed"
	ConsoleMalformed     = "malformed"

	ConsolePoll      = "poll"
	ConsolePublish   = "publish"
	ConsoleSubscribe = "subscribe"
)

// NewConsoleCluster creates the console bridge's collectors and registers
// them on reg.
func NewConsoleCluster(reg prometheus.Registerer) *ConsoleClusterMetrics {
	m := &ConsoleClusterMetrics{
		Forwarded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_console_cluster_forwarded_total",
			Help: "Debug console events published to Redis for the viewers of other nodes.",
		}),
		Received: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_console_cluster_received_total",
			Help: "Debug console events received from other nodes for this node's viewers.",
		}),
		Dropped: counter(reg, "herald_console_cluster_dropped_total",
			"Debug console events not forwarded to or received from other nodes, by reason.", "reason"),
		Errors: counter(reg, "herald_console_cluster_errors_total",
			"Failed Redis calls of the debug console's cluster bridge, by operation.", "op"),
		RemoteApps: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "herald_console_cluster_remote_apps",
			Help: "Apps watched in the debug console of other nodes, as last polled.",
		}),
	}
	reg.MustRegister(m.Forwarded, m.Received, m.RemoteApps)
	for _, r := range []string{ConsoleQueueFull, ConsolePublishFailed, ConsoleMalformed} {
		m.Dropped.WithLabelValues(r) // exported at 0
	}
	for _, op := range []string{ConsolePoll, ConsolePublish, ConsoleSubscribe} {
		m.Errors.WithLabelValues(op)
	}
	return m
}
