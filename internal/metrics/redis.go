package metrics

import "github.com/prometheus/client_golang/prometheus"

// RedisMetrics are the collectors of the Redis broker (internal/broker/redis).
// Labels are small fixed sets (operation names, reasons), never a channel,
// user or node id.
type RedisMetrics struct {
	// Up is 1 while Redis answers (heartbeats and commands succeed), 0 during
	// an outage.
	Up prometheus.Gauge
	// CommandErrors counts failed Redis operations by broker operation
	// (join, leave, publish, heartbeat, subscribe...).
	CommandErrors *prometheus.CounterVec
	// Outages counts transitions from reachable to unreachable.
	Outages prometheus.Counter
	// ReapedNodes counts dead nodes (expired leases) this node removed from
	// the shared state.
	ReapedNodes prometheus.Counter
	// Resyncs counts times this node registered its share again: after
	// Redis lost it (restart, flush, expired lease) or after a call whose
	// outcome was unknown (timeout).
	Resyncs prometheus.Counter
	// Dropped counts pub/sub messages received and not delivered, by
	// reason (malformed, unlistened).
	Dropped *prometheus.CounterVec
}

// NewRedis creates the Redis broker collectors and registers them on reg.
func NewRedis(reg prometheus.Registerer) *RedisMetrics {
	m := &RedisMetrics{
		Up: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "herald_redis_up", Help: "1 while Redis answers this node, 0 during an outage.",
		}),
		CommandErrors: counter(reg, "herald_redis_command_errors_total",
			"Failed Redis operations, by broker operation.", "op"),
		Outages: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_redis_outages_total", Help: "Times Redis became unreachable from this node.",
		}),
		ReapedNodes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_redis_reaped_nodes_total",
			Help: "Dead nodes (expired leases) whose share of the cluster state this node removed.",
		}),
		Resyncs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_redis_resyncs_total",
			Help: "Times this node registered its share of the cluster state again (Redis lost it, or a call's outcome was unknown).",
		}),
		Dropped: counter(reg, "herald_redis_messages_dropped_total",
			"Pub/sub messages received and not delivered, by reason (malformed, unlistened).", "reason"),
	}
	reg.MustRegister(m.Up, m.Outages, m.ReapedNodes, m.Resyncs)
	return m
}
