package server

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/rueidis"

	redisbroker "github.com/heraldhq/herald/internal/broker/redis"
	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/metrics"
	"github.com/heraldhq/herald/internal/stats/statsredis"
)

// clusterStats makes the dashboard's charts cluster-wide (cluster mode):
// its aggregator publishes this node's samples to Redis and records the
// sums over the nodes in the node's store, on a Redis client of its own.
type clusterStats struct {
	agg    *statsredis.Aggregator
	client rueidis.Client
}

// openClusterStats connects the aggregator of node nodeID; interval is the
// store's sampling interval (0: the default).
func openClusterStats(cfg config.Config, nodeID string, interval time.Duration, reg prometheus.Registerer, log *slog.Logger) (*clusterStats, error) {
	client, err := redisbroker.NewClient(redisbroker.Config{URL: cfg.Redis.URL, Prefix: cfg.Redis.Prefix, NodeID: nodeID})
	if err != nil {
		return nil, fmt.Errorf("dashboard stats: %w", err)
	}
	agg, err := statsredis.New(statsredis.Config{Prefix: cfg.Redis.Prefix, Node: nodeID, Interval: interval},
		statsredis.Deps{Client: client, Logger: log, Metrics: metrics.NewStatsCluster(reg)})
	if err != nil {
		client.Close()
		return nil, fmt.Errorf("dashboard stats: %w", err)
	}
	return &clusterStats{agg: agg, client: client}, nil
}

// close closes the client, after the aggregator's Run returned.
func (c *clusterStats) close() { c.client.Close() }
