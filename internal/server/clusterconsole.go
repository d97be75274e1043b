package server

import (
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/rueidis"

	redisbroker "github.com/heraldhq/herald/internal/broker/redis"
	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/console/consoleredis"
	"github.com/heraldhq/herald/internal/metrics"
)

// clusterConsole makes the debug console cluster-wide (cluster mode): its
// bridge forwards this node's events to the viewers of other nodes and
// theirs to this node's, on a Redis client of its own.
type clusterConsole struct {
	bridge *consoleredis.Bridge
	client rueidis.Client
}

// openClusterConsole connects the console bridge of node nodeID.
func openClusterConsole(cfg config.Config, nodeID string, reg prometheus.Registerer, log *slog.Logger) (*clusterConsole, error) {
	client, err := redisbroker.NewClient(redisbroker.Config{URL: cfg.Redis.URL, Prefix: cfg.Redis.Prefix, NodeID: nodeID})
	if err != nil {
		return nil, fmt.Errorf("debug console: %w", err)
	}
	b, err := consoleredis.New(consoleredis.Config{Prefix: cfg.Redis.Prefix, Node: nodeID},
		consoleredis.Deps{Client: client, Logger: log, Metrics: metrics.NewConsoleCluster(reg)})
	if err != nil {
		client.Close()
		return nil, fmt.Errorf("debug console: %w", err)
	}
	return &clusterConsole{bridge: b, client: client}, nil
}

// close closes the client, after the bridge's Run returned.
func (c *clusterConsole) close() { c.client.Close() }
