package server

import (
	"context"
	"net"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/internal/hub"
)

// hubConns gives the dashboard the live connection counts of the hub.
type hubConns struct{ h *hub.Hub }

func (c hubConns) Connections(appID string) int { return c.h.ConnectionCount(appID) }

// secretUses answers the dashboard's "which secret generation did recent
// requests use" from herald_secret_verifications_total: a snapshot of the
// counter per app and generation each minute (at most maxSnapshots kept),
// subtracted from the current values.
type secretUses struct {
	gather prometheus.Gatherer
	now    func() time.Time

	mu    sync.Mutex
	snaps []secretSnap // oldest first
}

type secretSnap struct {
	at     time.Time
	counts map[string]map[string]uint64 // app → generation → verifications
}

const (
	secretSnapEvery = time.Minute
	maxSecretSnaps  = 61 // an hour of minutes, the longest window asked
)

func newSecretUses(g prometheus.Gatherer) *secretUses {
	return &secretUses{gather: g, now: time.Now}
}

// run snapshots the counter every minute until ctx ends.
func (s *secretUses) run(ctx context.Context) error {
	t := time.NewTicker(secretSnapEvery)
	defer t.Stop()
	for {
		s.snapshot()
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (s *secretUses) snapshot() {
	c := s.read()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.snaps = append(s.snaps, secretSnap{at: s.now(), counts: c})
	if len(s.snaps) > maxSecretSnaps {
		s.snaps = s.snaps[len(s.snaps)-maxSecretSnaps:]
	}
}

// read sums the counter over kinds, per app and generation.
func (s *secretUses) read() map[string]map[string]uint64 {
	out := map[string]map[string]uint64{}
	families, _ := s.gather.Gather() // a partial answer is still useful
	for _, f := range families {
		if f.GetName() != "herald_secret_verifications_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			var app, gen string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "app_id":
					app = l.GetValue()
				case "generation":
					gen = l.GetValue()
				}
			}
			if out[app] == nil {
				out[app] = map[string]uint64{}
			}
			out[app][gen] += uint64(m.GetCounter().GetValue())
		}
	}
	return out
}

// SecretUses implements dashboard.SecretUse: the verifications of the last
// window, by generation (since the start when the server is younger).
func (s *secretUses) SecretUses(appID string, window time.Duration) map[string]uint64 {
	cur := s.read()[appID]
	s.mu.Lock()
	var base map[string]uint64
	since := s.now().Add(-window)
	for _, snap := range s.snaps { // the newest snapshot at or before the window's start
		if snap.at.After(since) {
			break
		}
		base = snap.counts[appID]
	}
	s.mu.Unlock()
	out := make(map[string]uint64, len(cur))
	for gen, n := range cur {
		if b := base[gen]; n > b {
			out[gen] = n - b
		}
	}
	return out
}

// snippetAddr is a bound address as a browser on this machine reaches it.
func snippetAddr(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return net.JoinHostPort(snippetHost(host), port)
}

// StatsFile is the dashboard's chart history in the data directory.
const StatsFile = "stats.db"
