// Package statsredis makes the dashboard's charts show the whole cluster:
// each node publishes its samples (stats.Sample, one per interval) to the
// cluster's Redis, and each node records the sum over all nodes in its own
// stats.Store.
//
// # How
//
// The store's Run hands each sample to Aggregator.Publish (stats.Deps.
// Publish) instead of recording it. Publish encodes it and returns at
// once; Run writes it, in one round trip (HSET + PEXPIRE), as this node's
// field of the interval's hash:
//
//	P:stats:T   hash  node id -> that node's encoded Sample (stats.Sample.MarshalBinary)
//	                  of the interval starting at T (unix ms); PEXPIRE 2 min (or 12 intervals)
//
// P is the broker's prefix (redis.prefix). The stores sample at the middle
// of each interval of wall-clock time; Run reads at the same phase, one
// interval later: at the middle of interval k it reads (HGETALL) interval
// k-1, which every node wrote at its own tick an interval earlier (give or
// take the nodes' clock differences), decodes every node's sample, sums
// them (stats.Sample.Merge, nodes in id order so every node computes the
// same sum) and records the sum with its Time at the middle of k-1. Counters add up over nodes; so do gauges:
// the cluster's connections are the sum of the nodes'. Every node records
// the same sums in its own history (its own file), so any node's dashboard
// shows the cluster, and a node that restarts keeps its history.
//
// # Limits
//
//   - A node's sample written after the others read the interval (a node
//     whose clock is behind by about an interval, or a write delayed that
//     long) is missed by them for that interval: counters are low there,
//     gauges too. Node clocks must agree within a few seconds (NTP); the
//     stores' Interval must be the same on every node (a sample of another
//     interval is refused as bad).
//   - An interval is recorded once per node: Run remembers the last one it
//     recorded, so a timer that fires early or twice changes nothing, and
//     one that fires late reads the intervals it skipped (up to
//     maxCatchUp), in order.
//   - While Redis cannot be reached nothing blocks: Publish keeps at most
//     maxPending samples for the next write and drops older ones; a
//     failed write or read is a gap in the charts (the reads are retried
//     at the next tick for up to maxCatchUp intervals, so a short outage
//     loses only what was not written). Failures are logged once per
//     streak and counted (metrics.StatsClusterMetrics).
//   - An interval no node wrote (all were down, Redis lost its data) has
//     no point: a gap, as for a single node that was down.
//   - A sample that does not decode (garbage, a node of another wire
//     version) is skipped, counted and logged at most once a minute.
package statsredis

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/rueidis"

	"github.com/heraldhq/herald/internal/metrics"
	"github.com/heraldhq/herald/internal/stats"
)

// Defaults and fixed bounds.
const (
	DefaultPrefix         = "herald"
	DefaultInterval       = 10 * time.Second
	DefaultCommandTimeout = 2 * time.Second

	// maxPending bounds the samples waiting for a write.
	maxPending = 6
	// maxCatchUp bounds the intervals one tick reads: those skipped by a
	// late timer or a failed read, up to a minute at the default interval.
	maxCatchUp = 6
	// minTTL is the shortest life of an interval's hash; at least
	// ttlIntervals intervals, so the latest catch-up still finds it.
	minTTL       = 2 * time.Minute
	ttlIntervals = 2 * maxCatchUp
	// warnEvery spaces the logs of bad samples.
	warnEvery = time.Minute
)

// Config configures an Aggregator. Zero values take the documented
// defaults.
type Config struct {
	// Prefix starts the keys, as the broker's (redis.prefix): "P:stats:T".
	// Default "herald".
	Prefix string
	// Node is this node's field in each interval's hash: its node id,
	// unique among running nodes (two nodes with one id overwrite each
	// other's samples). Required.
	Node string
	// Interval is the stores' sampling interval (stats.Config.Interval),
	// the same on every node; default 10 s. Whole milliseconds.
	Interval time.Duration
	// CommandTimeout bounds each Redis call; default 2 s.
	CommandTimeout time.Duration
}

// Deps are the aggregator's collaborators.
type Deps struct {
	// Client is the cluster's Redis (a client of its own, made with the
	// broker's settings); the aggregator uses it and does not close it.
	// Required.
	Client  rueidis.Client
	Logger  *slog.Logger                 // nil: discarded
	Metrics *metrics.StatsClusterMetrics // nil: not exported
	Now     func() time.Time             // nil: time.Now
}

// Recorder takes the cluster-wide sums: the node's stats.Store.
type Recorder interface {
	Record(*stats.Sample)
}

// Aggregator publishes this node's samples and records the cluster's
// sums. Build it with New, set its Publish as the store's
// stats.Deps.Publish and call Run with the store.
//
// mu (the pending samples) is a leaf, never held across a Redis call or
// Record.
type Aggregator struct {
	cfg Config
	c   rueidis.Client
	log *slog.Logger
	m   *metrics.StatsClusterMetrics
	now func() time.Time
	ttl time.Duration

	wake chan struct{} // a sample is pending

	mu          sync.Mutex
	pending     []pendingSample
	encLoggedAt time.Time // last log of a sample that could not be encoded
	// prev is the last sample published (what the node's field of its
	// interval holds): a later one of the same interval (a sampling tick
	// delayed past the middle of the next interval) is merged into it, as
	// a single node's rings merge it (Sample.Then), rather than
	// overwriting its counts.
	prev     *stats.Sample
	prevSlot int64

	// Owned by Run.
	last        int64 // last interval read (recorded or empty)
	started     bool  // last is set
	failing     [2]bool
	badLoggedAt time.Time
}

type pendingSample struct {
	slot int64
	data []byte
}

// operations, indexes of Aggregator.failing.
const (
	opPublish = iota
	opRead
)

var opNames = [2]string{metrics.StatsClusterPublish, metrics.StatsClusterRead}

// New builds an aggregator; it makes no call to Redis.
func New(cfg Config, deps Deps) (*Aggregator, error) {
	if cfg.Node == "" {
		return nil, errors.New("statsredis: Config.Node is required")
	}
	if deps.Client == nil {
		return nil, errors.New("statsredis: Deps.Client is required")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	cfg.Interval = cfg.Interval.Truncate(time.Millisecond)
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.CommandTimeout <= 0 {
		cfg.CommandTimeout = DefaultCommandTimeout
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Metrics == nil {
		deps.Metrics = metrics.NewStatsCluster(prometheus.NewRegistry())
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	return &Aggregator{
		cfg: cfg, c: deps.Client, log: deps.Logger.With("component", "stats.cluster", "node", cfg.Node),
		m: deps.Metrics, now: deps.Now, ttl: max(minTTL, ttlIntervals*cfg.Interval),
		wake: make(chan struct{}, 1),
	}, nil
}

// slot is the number of the interval holding t.
func (a *Aggregator) slot(t time.Time) int64 {
	iv := a.cfg.Interval.Nanoseconds()
	ns := t.UnixNano()
	k := ns / iv
	if ns%iv < 0 {
		k--
	}
	return k
}

// start is when interval k starts.
func (a *Aggregator) start(k int64) time.Time {
	return time.Unix(0, k*a.cfg.Interval.Nanoseconds())
}

// key is the hash of interval k: "P:stats:" + its start in unix ms.
func (a *Aggregator) key(k int64) string {
	return a.cfg.Prefix + ":stats:" + strconv.FormatInt(k*a.cfg.Interval.Milliseconds(), 10)
}

// Publish queues smp (this node's sample of one interval) for Run to
// write; it never waits for Redis. It does not keep smp.
func (a *Aggregator) Publish(smp *stats.Sample) {
	slot := a.slot(smp.Time)
	a.mu.Lock()
	cur := clone(smp)
	if a.prev != nil && a.prevSlot == slot {
		a.prev.Then(cur)
		cur = a.prev
	}
	a.prev, a.prevSlot = cur, slot
	data, err := cur.MarshalBinary()
	if err != nil {
		a.m.Errors.WithLabelValues(metrics.StatsClusterPublish).Inc()
		if now := a.now(); now.Sub(a.encLoggedAt) >= warnEvery {
			a.encLoggedAt = now
			a.log.Warn("dashboard sample not published to the cluster", "err", err)
		}
		a.mu.Unlock()
		return
	}
	if len(a.pending) == maxPending { // Redis is too slow: the oldest goes
		a.pending = slices.Delete(a.pending, 0, 1)
		a.m.Errors.WithLabelValues(metrics.StatsClusterPublish).Inc()
	}
	if n := len(a.pending); n > 0 && a.pending[n-1].slot == slot {
		a.pending[n-1].data = data // the merged sample replaces the unwritten one
	} else {
		a.pending = append(a.pending, pendingSample{slot: slot, data: data})
	}
	a.mu.Unlock()
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// clone is a deep copy of s: the store does not promise to leave a
// published sample alone.
func clone(s *stats.Sample) *stats.Sample {
	c := &stats.Sample{Time: s.Time, Server: s.Server, Apps: make(map[string]*stats.Values, len(s.Apps))}
	for id, v := range s.Apps {
		vv := *v
		c.Apps[id] = &vv
	}
	return c
}

// Run writes the published samples as they come and, at the middle of
// every interval, records the sum over the nodes of the previous one in
// rec, until ctx ends. It returns nil. A nil rec publishes only: a node
// without a dashboard still counts in the others' sums.
func (a *Aggregator) Run(ctx context.Context, rec Recorder) error {
	timer := time.NewTimer(a.untilTick())
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-a.wake:
			a.flush(ctx)
		case <-timer.C:
			a.flush(ctx)
			if rec != nil {
				a.aggregate(ctx, rec, a.now())
			}
			timer.Reset(a.untilTick())
		}
	}
}

// untilTick is the wait until the middle of the next interval.
func (a *Aggregator) untilTick() time.Duration {
	now := a.now()
	iv := a.cfg.Interval
	next := now.Truncate(iv).Add(iv / 2)
	if !next.After(now) {
		next = next.Add(iv)
	}
	return next.Sub(now)
}

// flush writes the pending samples in one round trip. What fails is
// dropped: the node is missing from those intervals' sums.
func (a *Aggregator) flush(ctx context.Context) {
	a.mu.Lock()
	batch := a.pending
	a.pending = nil
	a.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	cmds := make(rueidis.Commands, 0, 2*len(batch))
	for _, p := range batch {
		key := a.key(p.slot)
		cmds = append(cmds,
			a.c.B().Hset().Key(key).FieldValue().FieldValue(a.cfg.Node, rueidis.BinaryString(p.data)).Build(),
			a.c.B().Pexpire().Key(key).Milliseconds(a.ttl.Milliseconds()).Build())
	}
	cctx, cancel := context.WithTimeout(ctx, a.cfg.CommandTimeout)
	defer cancel()
	var err error
	for _, r := range a.c.DoMulti(cctx, cmds...) {
		if err = r.Error(); err != nil {
			break
		}
	}
	if err != nil && ctx.Err() == nil {
		a.m.Errors.WithLabelValues(metrics.StatsClusterPublish).Add(float64(len(batch)))
	}
	a.report(ctx, opPublish, err)
}

// aggregate reads the intervals before now's that were not read yet (the
// previous one, and those a late tick or a failed read skipped, up to
// maxCatchUp), oldest first, and records the sum of each one some node
// wrote.
func (a *Aggregator) aggregate(ctx context.Context, rec Recorder, now time.Time) {
	target := a.slot(now) - 1
	from := target - maxCatchUp + 1
	if !a.started {
		from = target
	} else {
		from = max(from, a.last+1)
	}
	if from > target {
		return // read already: the timer fired early or twice
	}
	cmds := make(rueidis.Commands, 0, target-from+1)
	for k := from; k <= target; k++ {
		cmds = append(cmds, a.c.B().Hgetall().Key(a.key(k)).Build())
	}
	cctx, cancel := context.WithTimeout(ctx, a.cfg.CommandTimeout)
	defer cancel()
	var err error
	for i, r := range a.c.DoMulti(cctx, cmds...) {
		var nodes map[string]string
		if nodes, err = r.AsStrMap(); err != nil {
			if ctx.Err() == nil {
				a.m.Errors.WithLabelValues(metrics.StatsClusterRead).Inc()
			}
			break // the later ones wait for the next tick: records stay in order
		}
		k := from + int64(i)
		a.last, a.started = k, true
		if sum, n := a.sum(k, nodes); n > 0 {
			rec.Record(sum)
			a.m.Intervals.Inc()
			a.m.Nodes.Set(float64(n))
		}
	}
	a.report(ctx, opRead, err)
}

// sum decodes the nodes' samples of interval k and adds them up, nodes in
// id order (so that every node computes the same float sums). n is the
// number of samples summed.
func (a *Aggregator) sum(k int64, nodes map[string]string) (sum *stats.Sample, n int) {
	sum = &stats.Sample{Time: a.start(k).Add(a.cfg.Interval / 2), Apps: map[string]*stats.Values{}}
	ids := make([]string, 0, len(nodes))
	for id := range nodes {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var smp stats.Sample
	for _, id := range ids {
		err := smp.UnmarshalBinary([]byte(nodes[id]))
		if err == nil && a.slot(smp.Time) != k {
			err = errors.New("statsredis: a sample of another interval (is the sampling interval the same on every node?)")
		}
		if err != nil {
			a.m.BadSamples.Inc()
			if now := a.now(); now.Sub(a.badLoggedAt) >= warnEvery {
				a.badLoggedAt = now
				a.log.Warn("a node's dashboard sample in Redis could not be read: skipped (logged at most once a minute)",
					"from_node", id, "key", a.key(k), "err", err)
			}
			continue
		}
		sum.Merge(&smp)
		n++
	}
	return sum, n
}

// report logs the first failure of op in a streak, and the recovery.
func (a *Aggregator) report(ctx context.Context, op int, err error) {
	switch {
	case err != nil && ctx.Err() != nil: // shutting down
	case err != nil && !a.failing[op]:
		a.failing[op] = true
		a.log.Warn("cluster stats: Redis call failed; the dashboard's charts have a gap until it works again (logged once)",
			"op", opNames[op], "err", err)
	case err == nil && a.failing[op]:
		a.failing[op] = false
		a.log.Info("cluster stats: Redis calls work again", "op", opNames[op])
	}
}
