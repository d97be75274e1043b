package stats

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"

	"github.com/heraldhq/herald/internal/metrics"
)

// Config bounds the store. Every zero value means the documented default.
type Config struct {
	// Path is the history file (bbolt). "" keeps the history in memory
	// only: nothing survives a restart.
	Path string
	// Interval is how often Run samples the collectors; 0 means 10 s.
	// Samples are recorded in the 10-second point that contains them: a
	// shorter period that divides 10 s merges several into one point, a
	// longer one leaves gaps.
	Interval time.Duration
	// SaveInterval is how often Run writes the history to Path; 0 means
	// one minute. Close writes it too.
	SaveInterval time.Duration
	// MaxApps bounds the apps whose history is kept; 0 means 1000. When a
	// new app needs room the least recently active one is dropped
	// (StatsMetrics.AppsEvicted), unless all were active in the same
	// interval: then the new app waits (StatsMetrics.AppsRefused).
	MaxApps int
	// AlertFactor is how many times its baseline (the average per minute
	// over the previous hour) an app's count of the last minute must reach
	// to raise an alert (alerts.go); 0 means 5.
	AlertFactor float64
	// AlertMinAuthFailures is the fewest failed authorizations in a minute
	// that raise an alert, whatever the baseline; 0 means 30.
	AlertMinAuthFailures int
	// AlertMinNewConnections is the fewest new connections in a minute
	// that raise an alert, whatever the baseline; 0 means 120.
	AlertMinNewConnections int
}

func (c *Config) setDefaults() {
	if c.Interval <= 0 {
		c.Interval = 10 * time.Second
	}
	if c.SaveInterval <= 0 {
		c.SaveInterval = time.Minute
	}
	if c.MaxApps <= 0 {
		c.MaxApps = 1000
	}
	if c.AlertFactor <= 0 {
		c.AlertFactor = 5
	}
	if c.AlertMinAuthFailures <= 0 {
		c.AlertMinAuthFailures = 30
	}
	if c.AlertMinNewConnections <= 0 {
		c.AlertMinNewConnections = 120
	}
}

// Deps are the store's collaborators.
type Deps struct {
	// Gatherer is what Run samples: Gatherer(m, w) in the server (any
	// Gatherer holding the table's families works, the registry too). nil
	// means Run samples nothing and only saves: samples come through Record.
	Gatherer prometheus.Gatherer
	// Publish, when set, receives each sample of Run instead of Record:
	// the cluster seam (see the package doc). nil: Run records its own.
	Publish func(*Sample)
	Logger  *slog.Logger          // nil: discarded
	Metrics *metrics.StatsMetrics // nil: not exported
	Now     func() time.Time      // nil: time.Now
}

// Point is one interval of a series. A counter's point holds in Sum what
// happened during the interval; a gauge's holds its largest (Max) and its
// latest (Last) value; the other fields are zero.
type Point struct {
	Time time.Time // start of the interval
	Sum  float64
	Max  float64
	Last float64
}

// Snapshot is the newest 10-second point of an app (or of the server).
type Snapshot struct {
	// Time is the start of that point; zero when there is none. It can be
	// old: the latest samples are missing (a restart, or in cluster mode
	// an interval Redis could not serve).
	Time time.Time
	// Values holds the point: what counters counted in those 10 seconds
	// (so far, when it is the current one), the latest value of gauges
	// (connections).
	Values Values
	// Active is the latest time the app had any activity (a count or a
	// connection); zero when unknown.
	Active time.Time
}

// Store keeps the history of every series of every app, bounded: three
// rings per series, MaxApps apps. Safe for concurrent use; queries return
// copies.
//
// Lock order: saveMu, then mu.
type Store struct {
	cfg     Config
	log     *slog.Logger
	m       *metrics.StatsMetrics
	now     func() time.Time
	gather  prometheus.Gatherer
	publish func(*Sample)

	saveMu sync.Mutex // one save at a time; guards db
	db     *bolt.DB   // nil: memory only, or closed

	mu      sync.RWMutex
	server  *appData
	apps    map[string]*appData
	gone    map[string]struct{} // apps dropped since the last save: their records are deleted then
	pruneAt int64               // next hour slot at which idle apps are pruned
	runFrom int64               // first sample of the current run without a break (alerts.go); 0: none yet
	lastAt  int64               // latest sample recorded
}

// Open builds the store and loads the history file. A missing file, or a
// damaged one (moved aside to Path+".damaged"), starts an empty history.
func Open(cfg Config, deps Deps) (*Store, error) {
	cfg.setDefaults()
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Metrics == nil {
		deps.Metrics = metrics.NewStats(prometheus.NewRegistry())
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	s := &Store{
		cfg: cfg, log: deps.Logger.With("component", "stats"), m: deps.Metrics, now: deps.Now, gather: deps.Gatherer, publish: deps.Publish,
		server: newAppData(), apps: map[string]*appData{}, gone: map[string]struct{}{},
	}
	if cfg.Path != "" {
		if err := s.openFile(); err != nil {
			return nil, err
		}
	}
	s.m.Apps.Set(float64(len(s.apps)))
	return s, nil
}

// Run samples the Gatherer every Interval, at the middle of each interval
// of wall-clock time, and writes the history every SaveInterval, until ctx
// ends; then it writes the history once more and returns that write's
// error. Call Close after Run has returned.
func (s *Store) Run(ctx context.Context) error {
	var sm *sampler
	if s.gather != nil {
		sm = newSampler()
		s.sample(sm, false) // baseline: what was counted before now is no interval's
	}
	lastSave := s.now()
	timer := time.NewTimer(s.untilTick())
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return s.save()
		case <-timer.C:
		}
		if sm != nil {
			s.sample(sm, true)
		}
		if now := s.now(); now.Sub(lastSave) >= s.cfg.SaveInterval {
			if err := s.save(); err != nil {
				s.log.Warn("could not save the dashboard history", "err", err)
			}
			lastSave = now
		}
		timer.Reset(s.untilTick())
	}
}

// untilTick is the wait until the middle of the next sampling interval, so
// that clock jitter never puts two samples in one 10-second point.
func (s *Store) untilTick() time.Duration {
	now := s.now()
	iv := s.cfg.Interval
	next := now.Truncate(iv).Add(iv / 2)
	if !next.After(now) {
		next = next.Add(iv)
	}
	return next.Sub(now)
}

// sample runs one pass of sm over the Gatherer and records its Sample.
func (s *Store) sample(sm *sampler, record bool) {
	families, err := s.gather.Gather()
	if err != nil && !sm.failing { // once per streak of failures, not every 10 s
		s.log.Warn("gathering metrics for the dashboard failed", "err", err)
	}
	sm.failing = err != nil
	if err != nil && len(families) == 0 {
		return // a gap; the next pass counts what this one missed
	}
	smp := sm.pass(families, s.now())
	switch {
	case !record:
	case s.publish != nil:
		s.publish(smp)
	default:
		s.Record(smp)
	}
}

// Record adds one interval's values. Samples must come in time order: one
// older than the newest recorded 10-second point is dropped
// (StatsMetrics.SamplesLate). An app not yet known is added only when it
// has a non-zero value. Record does not keep smp.
func (s *Store) Record(smp *Sample) {
	t := smp.Time.Unix()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.server.add(t, &smp.Server) {
		s.m.SamplesLate.Inc()
		return
	}
	// Known apps first, so that their activity in this interval counts
	// when a newcomer needs room.
	var newcomers []string
	for id, v := range smp.Apps {
		if a := s.apps[id]; a != nil {
			a.add(t, v)
		} else if id != "" && !v.isZero() {
			newcomers = append(newcomers, id)
		}
	}
	slices.Sort(newcomers)
	for _, id := range newcomers {
		if a := s.addAppLocked(id, t); a != nil {
			a.add(t, smp.Apps[id])
		}
	}
	s.pruneLocked(t)
	s.m.Apps.Set(float64(len(s.apps)))
	s.evaluateAlertsLocked(t)
}

// addAppLocked adds an app, making room by dropping the least recently
// active one; nil when all of them were active at t (a newcomer does not
// push out an app that is as active as it is: no churn when more than
// MaxApps apps are busy).
func (s *Store) addAppLocked(id string, t int64) *appData {
	if len(s.apps) >= s.cfg.MaxApps {
		var victim string
		oldest := int64(0)
		for vid, a := range s.apps {
			if victim == "" || a.active < oldest || (a.active == oldest && vid < victim) {
				victim, oldest = vid, a.active
			}
		}
		if slot := resolutions[Res10s].step; floorDiv(oldest, slot) >= floorDiv(t, slot) {
			s.m.AppsRefused.Inc()
			return nil
		}
		s.dropLocked(victim)
		s.m.AppsEvicted.Inc()
	}
	a := newAppData()
	s.apps[id] = a
	return a
}

func (s *Store) dropLocked(id string) {
	if a := s.apps[id]; a != nil {
		s.clearAlertsLocked(id, a)
	}
	delete(s.apps, id)
	s.gone[id] = struct{}{}
}

// pruneLocked drops, once an hour, the apps with no activity within the
// longest ring: all they have left is zeros.
func (s *Store) pruneLocked(t int64) {
	hour := floorDiv(t, resolutions[Res1h].step)
	if hour < s.pruneAt {
		return
	}
	s.pruneAt = hour + 1
	horizon := t - resolutions[Res1h].step*int64(resolutions[Res1h].n)
	for id, a := range s.apps {
		if a.active < horizon {
			s.dropLocked(id)
		}
	}
}

func (s *Store) dataLocked(app string) *appData {
	if app == "" {
		return s.server
	}
	return s.apps[app]
}

// Series returns the points of one series of app ("" is the server-wide
// total) at resolution res, oldest first, over the ring's span ending now.
// Only the intervals that were sampled have a point: a jump in Time is a
// gap (the server was down). The newest point may still be filling. Nil
// for an unknown app, series or resolution.
func (s *Store) Series(app, name, label string, res Resolution) []Point {
	i, ok := lookup(name, label)
	if !ok || res >= numRes {
		return nil
	}
	ri := resolutions[res]
	first, last := window(res, s.now())
	s.mu.RLock()
	defer s.mu.RUnlock()
	a := s.dataLocked(app)
	if a == nil || !a.rings[res].has {
		return nil
	}
	r := &a.rings[res]
	lo, hi := max(first, r.head-int64(ri.n)+1), min(last, r.head)
	if lo > hi {
		return nil
	}
	pts := make([]Point, 0, min(hi-lo+1, int64(r.presentCount())))
	for k := lo; k <= hi; k++ {
		p := pos(k, ri.n)
		if !r.isPresent(p) {
			continue
		}
		sum, mx, lst := r.point(i, p)
		pts = append(pts, Point{Time: time.Unix(k*ri.step, 0), Sum: sum, Max: mx, Last: lst})
	}
	return pts
}

// Current returns the newest 10-second point of app ("" is the server).
func (s *Store) Current(app string) Snapshot {
	s.mu.RLock()
	defer s.mu.RUnlock()
	a := s.dataLocked(app)
	if a == nil {
		return Snapshot{}
	}
	var snap Snapshot
	if a.active > 0 {
		snap.Active = time.Unix(a.active, 0)
	}
	r := &a.rings[Res10s]
	ri := resolutions[Res10s]
	if !r.has {
		return snap
	}
	p := pos(r.head, ri.n)
	if !r.isPresent(p) {
		return snap
	}
	snap.Time = time.Unix(r.head*ri.step, 0)
	for i := range catalog {
		sum, _, lst := r.point(i, p)
		if catalog[i].Kind == Gauge {
			snap.Values.v[i] = lst
		} else {
			snap.Values.v[i] = sum
		}
	}
	return snap
}

// Apps returns the ids of the apps with a history, sorted.
func (s *Store) Apps() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Sorted(maps.Keys(s.apps))
}

// Close writes the history and closes the file. The store stays readable;
// Record still works but nothing is saved any more.
func (s *Store) Close() error {
	err := s.save()
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	if s.db != nil {
		err = errors.Join(err, s.db.Close())
		s.db = nil
	}
	return err
}
