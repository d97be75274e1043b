package redistest

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// CLI is the redis-cli that creates clusters.
const CLI = "/usr/bin/redis-cli"

// Cluster is a Redis Cluster of masters without replicas, each a Server
// with cluster mode on.
type Cluster struct {
	Servers []*Server
}

// StartCluster starts n (>= 3) servers, joins them into a cluster covering
// every slot, waits until each says cluster_state:ok and stops them in
// t.Cleanup.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	needBinary(t, CLI)
	if n < 3 {
		t.Fatalf("redistest: a cluster needs at least 3 masters, not %d", n)
	}
	c := &Cluster{}
	args := []string{"--cluster", "create"}
	for range n {
		s := start(t, []string{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "5000"})
		c.Servers = append(c.Servers, s)
		args = append(args, s.Addr())
	}
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command(CLI, args...).CombinedOutput(); err != nil {
		t.Fatalf("redistest: redis-cli %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	deadline := time.Now().Add(startTimeout)
	for _, s := range c.Servers {
		for {
			out, err := exec.Command(CLI, "-h", "127.0.0.1", "-p", fmt.Sprint(s.port), "cluster", "info").CombinedOutput()
			if err == nil && strings.Contains(string(out), "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("redistest: cluster not ok after %s: %v\n%s", startTimeout, err, out)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return c
}

// URL lists every server as a seed: redis://first?addr=second&addr=...
func (c *Cluster) URL() string {
	u := c.Servers[0].URL()
	for i, s := range c.Servers[1:] {
		sep := "&"
		if i == 0 {
			sep = "?"
		}
		u += sep + "addr=" + s.Addr()
	}
	return u
}
