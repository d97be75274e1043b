package metrics

import "github.com/prometheus/client_golang/prometheus"

// StatsClusterMetrics are the collectors of the dashboard's cluster
// aggregation (internal/stats/statsredis): each node publishes its samples
// to Redis and records the sum over the nodes. Only Errors has a label,
// the operation (publish, read).
type StatsClusterMetrics struct {
	// Intervals counts the intervals summed over the nodes and recorded
	// in this node's history.
	Intervals prometheus.Counter
	// Errors counts this node's samples not published (a failed Redis
	// call, or dropped while Redis was too slow) and failed reads of an
	// interval's samples, by operation: publish, read.
	Errors *prometheus.CounterVec
	// BadSamples counts node samples found in Redis that could not be
	// decoded: skipped.
	BadSamples prometheus.Counter
	// Nodes is how many nodes' samples the last recorded interval summed.
	Nodes prometheus.Gauge
}

// Values of the "op" label of herald_stats_cluster_errors_total.
const (
	StatsClusterPublish = "publish"
	StatsClusterRead    = "read"
)

// NewStatsCluster creates the cluster aggregation's collectors and
// registers them on reg.
func NewStatsCluster(reg prometheus.Registerer) *StatsClusterMetrics {
	m := &StatsClusterMetrics{
		Intervals: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_stats_cluster_intervals_total",
			Help: "Intervals of the dashboard's charts summed over the cluster's nodes and recorded.",
		}),
		Errors: counter(reg, "herald_stats_cluster_errors_total",
			"Dashboard samples not published to Redis, and failed reads of the nodes' samples, by operation.", "op"),
		BadSamples: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_stats_cluster_bad_samples_total",
			Help: "Node samples in Redis that could not be decoded (skipped).",
		}),
		Nodes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "herald_stats_cluster_nodes",
			Help: "Nodes whose samples the last recorded interval of the dashboard's charts summed.",
		}),
	}
	reg.MustRegister(m.Intervals, m.BadSamples, m.Nodes)
	for _, op := range []string{StatsClusterPublish, StatsClusterRead} {
		m.Errors.WithLabelValues(op) // exported at 0
	}
	return m
}
