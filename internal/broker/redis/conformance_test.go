package redis

import (
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/broker/brokertest"
	"github.com/heraldhq/herald/internal/redistest"
)

// TestConformance runs the broker conformance suite on one Redis, each
// case's cluster under its own key prefix.
func TestConformance(t *testing.T) {
	runConformance(t, startRedis(t).URL())
}

// TestConformanceCluster runs it on a Redis Cluster of 3 masters: every
// script and pub/sub connection must stay within one slot.
func TestConformanceCluster(t *testing.T) {
	c := redistest.StartCluster(t, 3)
	probe := newNode(t, fastConfig(c.URL()))
	if err := probe.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	if !probe.cli.Load().cluster {
		t.Fatal("rueidis did not take the servers for a cluster")
	}
	runConformance(t, c.URL())
}

func runConformance(t *testing.T, url string) {
	brokertest.Run(t, func(t *testing.T) brokertest.Cluster {
		cfg := fastConfig(url)
		cfg.Prefix = "conf-" + randomHex(4)
		var mu sync.Mutex
		nodes := map[string]*Broker{} // the suite hands Crash a wrapper: find the node by id
		return brokertest.Cluster{
			Node: func(t *testing.T, h broker.Handler) broker.Broker {
				b, err := New(cfg, Deps{}, h)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(b.Close)
				mu.Lock()
				nodes[b.NodeID()] = b
				mu.Unlock()
				return b
			},
			Crash: func(t *testing.T, b broker.Broker) {
				mu.Lock()
				n := nodes[b.NodeID()]
				mu.Unlock()
				n.crash()
			},
			ReapWithin: cfg.LeaseTTL + cfg.ReapEvery + 2*time.Second,
		}
	})
}
