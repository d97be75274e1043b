package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// MasterSet is the name the sentinels of StartSentinel monitor the master
// under.
const MasterSet = "mymaster"

// cliTimeout bounds one redis-cli call (a paused server never answers).
const cliTimeout = 5 * time.Second

// SentinelConfig shapes StartSentinel's deployment. The zero value is one
// sentinel watching a master without replicas.
type SentinelConfig struct {
	// Sentinels is how many sentinel processes watch the master; 0 means
	// 1. Their quorum is a majority of them.
	Sentinels int
	// Replicas is how many replicas the master has (needed for Failover
	// and KillMaster); 0 means none.
	Replicas int
	// DownAfter is how long the master may not answer before a sentinel
	// takes it as down (with a quorum of them: failover). Default 5s.
	DownAfter time.Duration
	// DefaultPeriods keeps Sentinel's own info and publish periods, so a
	// demoted master goes on thinking it is the master for about 10 s
	// after a failover, as in production (default: shortened to ~1 s).
	DefaultPeriods bool
}

// Sentinel is a master, its replicas and the sentinels watching them under
// MasterSet, each a Server (sentinels run redis-server --sentinel).
type Sentinel struct {
	t         testing.TB
	downAfter time.Duration
	// Servers holds the data servers: Servers[0] starts as the master, the
	// others as its replicas. After a failover another one is the master
	// (see Master).
	Servers   []*Server
	Sentinels []*Server
}

// StartSentinel starts the master, its replicas (waiting until each has
// synced) and the sentinels, waits until every sentinel names the master
// and sees every replica, and stops them all in t.Cleanup (also when t
// fails).
//
// A failover is bounded by 10s; Failover forces one at once, KillMaster
// waits for the one the sentinels start on their own.
func StartSentinel(t testing.TB, cfg SentinelConfig) *Sentinel {
	t.Helper()
	needBinary(t, CLI)
	n := max(cfg.Sentinels, 1)
	if cfg.DownAfter <= 0 {
		cfg.DownAfter = 5 * time.Second
	}
	s := &Sentinel{t: t, downAfter: cfg.DownAfter}
	// Every data server may become the master: none waits for more
	// replicas before a full sync (the default waits 5s).
	noDelay := []string{"--repl-diskless-sync-delay", "0"}
	master := start(t, noDelay)
	s.Servers = append(s.Servers, master)
	for range cfg.Replicas {
		host, port, _ := net.SplitHostPort(master.Addr())
		s.Servers = append(s.Servers, start(t, append([]string{"--replicaof", host, port}, noDelay...)))
	}
	deadline := time.Now().Add(startTimeout)
	for _, r := range s.Servers[1:] {
		s.waitFor(deadline, r, "replica synced with its master", func() (bool, string, error) {
			out, err := cli(r.Addr(), "info", "replication")
			return strings.Contains(out, "master_link_status:up"), out, err
		})
	}

	conf := fmt.Sprintf("sentinel resolve-hostnames no\n"+
		"sentinel monitor %s 127.0.0.1 %d %d\n"+
		"sentinel down-after-milliseconds %[1]s %[4]d\n"+
		"sentinel failover-timeout %[1]s 10000\n",
		MasterSet, master.port, n/2+1, cfg.DownAfter.Milliseconds())
	for range n {
		// Sentinels rewrite their config file: each gets its own.
		path := filepath.Join(t.TempDir(), "sentinel.conf")
		if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		s.Sentinels = append(s.Sentinels, startConf(t, path, []string{"--sentinel"}))
	}
	deadline = time.Now().Add(startTimeout)
	for _, sen := range s.Sentinels {
		// Shorter periods (Redis's own tests do the same): a demoted master
		// is turned into a replica about 1s after a failover instead of 10s,
		// sentinels find each other sooner. A restarted sentinel is back to
		// the defaults.
		if !cfg.DefaultPeriods {
			if out, err := cli(sen.Addr(), "sentinel", "debug", "info-period", "500", "publish-period", "250"); err != nil || strings.TrimSpace(out) != "OK" {
				t.Fatalf("redistest: SENTINEL DEBUG on %s: %v %s", sen.Addr(), err, out)
			}
		}
		s.waitFor(deadline, sen, "sentinel names the master", func() (bool, string, error) {
			addr, err := masterAddr(sen)
			return addr == master.Addr(), addr, err
		})
		s.waitFor(deadline, sen, "sentinel sees every replica", func() (bool, string, error) {
			out, err := cli(sen.Addr(), "sentinel", "replicas", MasterSet)
			seen := 0
			for _, r := range s.Servers[1:] {
				if strings.Contains(out, "name\n"+r.Addr()+"\n") {
					seen++
				}
			}
			return seen == cfg.Replicas && !strings.Contains(out, "disconnected"), out, err
		})
	}
	return s
}

// URL is the sentinels' URL as the Redis broker takes it:
// redis://sentinel1?addr=sentinel2&addr=...&master_set=mymaster
func (s *Sentinel) URL() string {
	u := s.Sentinels[0].URL() + "?"
	for _, sen := range s.Sentinels[1:] {
		u += "addr=" + sen.Addr() + "&"
	}
	return u + "master_set=" + MasterSet
}

// Master is the data server the first sentinel names master now.
func (s *Sentinel) Master() *Server {
	s.t.Helper()
	addr, err := masterAddr(s.Sentinels[0])
	if err != nil {
		s.t.Fatalf("redistest: sentinel %s: %v", s.Sentinels[0].Addr(), err)
	}
	i := slices.IndexFunc(s.Servers, func(d *Server) bool { return d.Addr() == addr })
	if i < 0 {
		s.t.Fatalf("redistest: the sentinel names %s master, not one of ours", addr)
	}
	return s.Servers[i]
}

// Failover forces a failover (SENTINEL FAILOVER on the first sentinel),
// waits until every sentinel names another master and returns it. The old
// master is demoted to a replica of the new one a second or two later (the
// sentinels wait for it to report its role for a while): WaitReplica waits
// for that.
func (s *Sentinel) Failover() *Server {
	s.t.Helper()
	old := s.Master()
	if out, err := cli(s.Sentinels[0].Addr(), "sentinel", "failover", MasterSet); err != nil || strings.TrimSpace(out) != "OK" {
		s.t.Fatalf("redistest: SENTINEL FAILOVER: %v %s", err, out)
	}
	return s.waitNewMaster(old, 2*startTimeout)
}

// KillMaster kills the master (SIGKILL), waits until every sentinel names
// another one (DownAfter, then the failover) and returns it. With more
// than one sentinel the sentinels elect one of them to lead the failover,
// and a split vote delays it by 20s (twice the failover timeout): tests
// that kill the master are faster and steadier with one sentinel.
func (s *Sentinel) KillMaster() *Server {
	s.t.Helper()
	old := s.Master()
	old.Kill()
	return s.waitNewMaster(old, 2*startTimeout+s.downAfter)
}

// waitNewMaster waits up to d until every sentinel names a master other
// than old and returns it.
func (s *Sentinel) waitNewMaster(old *Server, d time.Duration) *Server {
	s.t.Helper()
	deadline := time.Now().Add(d)
	for _, sen := range s.Sentinels {
		s.waitFor(deadline, sen, "sentinel names a new master", func() (bool, string, error) {
			addr, err := masterAddr(sen)
			return err == nil && addr != old.Addr(), addr, err
		})
	}
	return s.Master()
}

// WaitReplica waits (bounded) until d is a replica whose link to the
// current master is up.
func (s *Sentinel) WaitReplica(d *Server) {
	s.t.Helper()
	master := s.Master()
	want := fmt.Sprintf("master_port:%d\nmaster_link_status:up", master.port)
	s.waitFor(time.Now().Add(2*startTimeout), d, "replica of "+master.Addr(), func() (bool, string, error) {
		out, err := cli(d.Addr(), "info", "replication")
		out = strings.ReplaceAll(out, "\r", "")
		return strings.Contains(out, "role:slave") && strings.Contains(out, want), out, err
	})
}

// WaitSynced waits (bounded) until every replica of the current master has
// what the master had written when WaitSynced was called.
func (s *Sentinel) WaitSynced() {
	s.t.Helper()
	master := s.Master()
	out, err := cli(master.Addr(), "info", "replication")
	want, ok := infoInt(out, "master_repl_offset")
	if err != nil || !ok {
		s.t.Fatalf("redistest: INFO replication on %s: %v %s", master.Addr(), err, out)
	}
	for _, d := range s.Servers {
		if d == master {
			continue
		}
		s.waitFor(time.Now().Add(startTimeout), d, fmt.Sprintf("replication offset %d", want), func() (bool, string, error) {
			out, err := cli(d.Addr(), "info", "replication")
			got, ok := infoInt(out, "slave_repl_offset")
			return ok && got >= want, out, err
		})
	}
}

// infoInt reads an integer field of an INFO reply.
func infoInt(info, field string) (int64, bool) {
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// waitFor polls cond until it holds or deadline passes; then it fails the
// test with what cond saw last and the server's log.
func (s *Sentinel) waitFor(deadline time.Time, srv *Server, what string, cond func() (ok bool, saw string, err error)) {
	s.t.Helper()
	for {
		ok, saw, err := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			srv.mu.Lock()
			log, _ := os.ReadFile(filepath.Join(srv.dir, fmt.Sprintf("redis-%d.log", srv.runs)))
			srv.mu.Unlock()
			s.t.Fatalf("redistest: %s: timed out waiting for: %s; last saw %q (%v)\nlog:\n%s", srv.Addr(), what, saw, err, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// masterAddr asks a sentinel for the master's host:port.
func masterAddr(sentinel *Server) (string, error) {
	out, err := cli(sentinel.Addr(), "sentinel", "get-master-addr-by-name", MasterSet)
	if err != nil {
		return "", err
	}
	f := strings.Fields(out)
	if len(f) != 2 {
		return "", fmt.Errorf("get-master-addr-by-name answered %q", out)
	}
	return net.JoinHostPort(f[0], f[1]), nil
}

// cli runs one redis-cli command against addr, bounded by cliTimeout.
func cli(addr string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	host, port, _ := net.SplitHostPort(addr)
	out, err := exec.CommandContext(ctx, CLI, append([]string{"-h", host, "-p", port}, args...)...).CombinedOutput()
	if err == nil && strings.HasPrefix(string(out), "ERR") {
		err = fmt.Errorf("%s", strings.TrimSpace(string(out)))
	}
	return string(out), err
}
