package server

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/internal/broker"
	redisbroker "github.com/heraldhq/herald/internal/broker/redis"
	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/metrics"
)

// clusterSetup builds the hub's broker: nil factory (one node, in memory)
// without a redis section, the Redis broker with one.
type clusterSetup struct {
	factory broker.Factory
	prefix  string
	nodeID  string // the broker's NodeID
	err     error  // from building the broker inside the factory
}

func (c *clusterSetup) enabled() bool { return c.factory != nil }

// built reports a failure to build the broker (the hub calls the factory
// while it is built, so the error surfaces after hub.New).
func (c *clusterSetup) built() error { return c.err }

// openCluster checks the redis section and that Redis answers, so a bad URL
// or an unreachable server is a clear error at start, not a silent
// single-node run.
func openCluster(ctx context.Context, cfg config.Config, reg prometheus.Registerer, log *slog.Logger) (*clusterSetup, error) {
	if !cfg.Redis.Enabled() {
		return &clusterSetup{}, nil
	}
	nodeID := cfg.NodeID
	if nodeID == "" {
		nodeID = config.NewNodeID()
	}
	rcfg := redisbroker.Config{URL: cfg.Redis.URL, Prefix: cfg.Redis.Prefix, NodeID: nodeID}
	deps := redisbroker.Deps{Logger: log, Metrics: metrics.NewRedis(reg)}
	// Probe with a broker of its own before the hub exists: the URL and
	// the server are checked once, here.
	probe, err := redisbroker.New(rcfg, deps, nopHandler{})
	if err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err = probe.CheckServer(pctx)
	cancel()
	probe.Close()
	if err != nil {
		return nil, fmt.Errorf("redis at %s: %w", cfg.Redis.Redacted(), err)
	}
	c := &clusterSetup{prefix: cfg.Redis.Prefix, nodeID: nodeID}
	c.factory = func(h broker.Handler) broker.Broker {
		b, err := redisbroker.New(rcfg, deps, h)
		if err != nil {
			c.err = fmt.Errorf("redis: %w", err)
			return nil
		}
		return b
	}
	return c, nil
}

type nopHandler struct{}

func (nopHandler) Deliver(broker.Message)                  {}
func (nopHandler) Reaped(context.Context, []broker.Change) {}
func (nopHandler) Local() broker.LocalState                { return broker.LocalState{} }
