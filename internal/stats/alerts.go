package stats

import (
	"math/bits"
	"time"

	"github.com/heraldhq/herald/internal/metrics"
)

// Alert kinds: the "kind" label of herald_app_alert, and the name of the
// series each one watches (every label of it summed).
const (
	AlertAuthFailures   = metrics.AlertAuthFailures   // failed authorizations, every reason together
	AlertNewConnections = metrics.AlertNewConnections // new WebSocket connections
)

// Alert is an active spike of one kind in one app: its count of the last
// minute reached the threshold computed from the app's own recent past.
type Alert struct {
	Kind string // AlertAuthFailures or AlertNewConnections
	// Since is when it was raised (the end of the interval that raised it).
	Since time.Time
	// Count is how many happened in the last minute at the latest
	// evaluation; Peak is the largest Count since the alert was raised.
	Count, Peak float64
	// Baseline is the app's average per minute over the hour before the
	// alert was raised, and Threshold the count that raised it: the alert
	// clears when Count falls below half of Threshold.
	Baseline, Threshold float64
}

const (
	alertWindow = 60 // minutes averaged into the baseline
	alertWarmup = 10 // with fewer minutes of history, the baseline is at least the kind's minimum
	alertNow    = 6  // 10-second points in "the last minute"
	// alertSettle is how long the store records without a break before
	// it raises alerts: after a restart every client reconnects at once.
	alertSettle = 2 * 60
	// alertBreak is the gap between two samples that ends a run (the
	// sampling, or the cluster's aggregate, stopped), or three intervals
	// when Config.Interval is longer.
	alertBreak = 60
)

// Alert kinds, as indexes.
const (
	alertAuth = iota
	alertConns
	numAlertKinds
)

var alertNames = [numAlertKinds]string{alertAuth: AlertAuthFailures, alertConns: AlertNewConnections}

// alertSeries lists, per kind, the series summed: every series named
// like the kind, so a new reason of auth_failures is counted too.
var alertSeries = func() (s [numAlertKinds][]int) {
	for i, info := range catalog {
		for k, name := range alertNames {
			if info.Name == name {
				s[k] = append(s[k], i)
			}
		}
	}
	return s
}()

// alertMin is the fewest events in a minute that raise an alert of kind k.
func (c *Config) alertMin(k int) float64 {
	if k == alertAuth {
		return float64(c.AlertMinAuthFailures)
	}
	return float64(c.AlertMinNewConnections)
}

// alertState is one app's alerts and the baseline they are measured
// against. Fixed size: at most one alert per kind.
type alertState struct {
	start   int64 // minute slot of the app's oldest point, once started
	started bool
	minute  int64 // the minute slot base was computed in
	hist    int   // minutes of history averaged into base (up to alertWindow)
	base    [numAlertKinds]float64
	active  [numAlertKinds]Alert // a zero Since: not active
	// recent holds each kind's count in the latest 10-second slots, at
	// position slot mod alertNow, kept by appData.add: "now" without
	// touching the rings' columns (a cache miss each, per app).
	recent [alertNow]struct {
		slot  int64
		count [numAlertKinds]float64
	}
}

// note adds one sample, of 10-second slot k, to recent.
func (st *alertState) note(k int64, v *Values) {
	e := &st.recent[pos(k, alertNow)]
	if e.slot != k {
		e.slot, e.count = k, [numAlertKinds]float64{}
	}
	for kind, series := range alertSeries {
		for _, i := range series {
			e.count[kind] += v.v[i]
		}
	}
}

// lastMinute is each kind's count in the alertNow slots ending at k.
func (st *alertState) lastMinute(k int64) (c [numAlertKinds]float64) {
	for _, e := range st.recent {
		if e.slot > k-alertNow && e.slot <= k {
			for kind := range c {
				c[kind] += e.count[kind]
			}
		}
	}
	return c
}

// evaluateAlertsLocked checks every app after the sample ending at t was
// recorded: its count of the last minute (alertState.recent) against its
// baseline, which is read from the minute ring once a minute
// (BenchmarkRecordWithAlerts1000Apps).
func (s *Store) evaluateAlertsLocked(t int64) {
	if s.runFrom == 0 || t-s.lastAt >= max(alertBreak, 3*int64(s.cfg.Interval/time.Second)) {
		s.runFrom = t
	}
	s.lastAt = t
	settled := t-s.runFrom >= alertSettle
	k10 := floorDiv(t, resolutions[Res10s].step)
	minute := floorDiv(t, resolutions[Res1m].step)
	recorded := s.recordedMinutes(minute)
	for id, a := range s.apps {
		st := &a.alerts
		if !st.started || st.minute != minute {
			st.rebase(a, recorded, minute)
		}
		now := st.lastMinute(k10)
		for kind := range numAlertKinds {
			s.evaluateLocked(id, st, kind, now[kind], t, settled)
		}
	}
}

// rebase computes the baseline of minute: the average per minute over the
// previous alertWindow minutes, the current one excluded. Only minutes the
// store recorded count (the server-wide series has a point: a minute when
// the server was down is unknown, not zero), from the app's first full
// minute on (its first one is partial); a minute of those without a point
// of the app counts as zero (an idle app in a cluster aggregate).
func (st *alertState) rebase(a *appData, recorded uint64, minute int64) {
	if !st.started {
		st.start, st.started = a.firstMinute(minute), true
	}
	// The minutes that count, as bits from lo; then each allocated column
	// of the kinds' series is read over them (one column at a time: the
	// slots of a column are adjacent in memory).
	lo := max(minute-alertWindow, st.start+1)
	st.minute, st.hist = minute, 0
	if lo >= minute {
		st.base = [numAlertKinds]float64{}
		return
	}
	counted := recorded >> (lo - (minute - alertWindow))
	st.hist = bits.OnesCount64(counted)
	r := &a.rings[Res1m]
	n := resolutions[Res1m].n
	p0 := pos(lo, n)
	var held uint64 // bit m-lo: a counted minute with a point of the app
	for rest := counted; rest != 0; rest &= rest - 1 {
		j := bits.TrailingZeros64(rest)
		if m := lo + int64(j); r.has && m <= r.head && m > r.head-int64(n) && r.isPresent(wrap(p0+j, n)) {
			held |= 1 << j
		}
	}
	for kind, series := range alertSeries {
		sum := 0.0
		for _, i := range series {
			c := &r.cols[colBase[i]]
			if c.w == 0 {
				continue // never written: all zeros
			}
			for rest := held; rest != 0; rest &= rest - 1 {
				sum += c.get(wrap(p0+bits.TrailingZeros64(rest), n))
			}
		}
		st.base[kind] = 0
		if st.hist > 0 {
			st.base[kind] = sum / float64(st.hist)
		}
	}
}

// wrap is p mod n for 0 <= p < 2n.
func wrap(p, n int) int {
	if p >= n {
		return p - n
	}
	return p
}

// recordedMinutes is a bit per minute of the alertWindow before minute
// (bit 0: minute-alertWindow) that the store recorded: the server-wide
// series has a point for it.
func (s *Store) recordedMinutes(minute int64) uint64 {
	var out uint64
	for j := range int64(alertWindow) {
		if s.server.rings[Res1m].holds(Res1m, minute-alertWindow+j) {
			out |= 1 << j
		}
	}
	return out
}

// evaluateLocked raises or clears the alert of kind k of app id, whose
// count of the last minute is count.
//
// Raise (only once settled, and once the app has a full minute of
// history: without one there is nothing to compare with): count >=
// max(min, Factor x baseline), where during the warm-up (less than
// alertWarmup minutes of history) the baseline is taken as at least min: a
// young app needs Factor x min to be flagged. Clear: count below
// half the threshold that raised it. The threshold is kept from the raise,
// so a long spike, which lifts the baseline as it goes on, is not cleared
// by its own weight; and the count is over a sliding minute, so one quiet
// 10-second point does not clear it either.
func (s *Store) evaluateLocked(id string, st *alertState, k int, count float64, t int64, settled bool) {
	al := &st.active[k]
	name := alertNames[k]
	if !al.Since.IsZero() {
		al.Count, al.Peak = count, max(al.Peak, count)
		if count < al.Threshold/2 {
			s.log.Info("app alert cleared", "app_id", id, "kind", name, "since", al.Since.UTC(), "peak_per_minute", al.Peak)
			*al = Alert{}
			s.m.AppAlert.DeleteLabelValues(id, name)
		}
		return
	}
	if !settled || st.hist == 0 {
		return
	}
	lowest := s.cfg.alertMin(k)
	b := st.base[k]
	if st.hist < alertWarmup {
		b = max(b, lowest)
	}
	threshold := max(lowest, s.cfg.AlertFactor*b)
	if count < threshold {
		return
	}
	*al = Alert{Kind: name, Since: time.Unix(t, 0), Count: count, Peak: count, Baseline: st.base[k], Threshold: threshold}
	s.m.AppAlert.WithLabelValues(id, name).Set(1)
	s.m.AlertsRaised.WithLabelValues(name).Inc()
	s.log.Warn("app alert raised: a spike against the app's recent baseline", "app_id", id, "kind", name,
		"last_minute", count, "baseline_per_minute", st.base[k], "threshold", threshold)
}

// clearAlertsLocked removes the exported series of app id's alerts; its
// history is being dropped.
func (s *Store) clearAlertsLocked(id string, a *appData) {
	for k := range a.alerts.active {
		if !a.alerts.active[k].Since.IsZero() {
			s.m.AppAlert.DeleteLabelValues(id, alertNames[k])
		}
	}
}

// Alerts returns the active alerts of app, auth failures first; nil when
// none (or the app is unknown).
func (s *Store) Alerts(app string) []Alert {
	s.mu.RLock()
	defer s.mu.RUnlock()
	a := s.apps[app]
	if a == nil {
		return nil
	}
	var out []Alert
	for _, al := range a.alerts.active {
		if !al.Since.IsZero() {
			out = append(out, al)
		}
	}
	return out
}

// AlertCounts returns how many alerts each app has active, for the apps
// with at least one.
func (s *Store) AlertCounts() map[string]int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := map[string]int{}
	for id, a := range s.apps {
		for _, al := range a.alerts.active {
			if !al.Since.IsZero() {
				out[id]++
			}
		}
	}
	return out
}

// holds tells whether r has a point for slot k.
func (r *ring) holds(res Resolution, k int64) bool {
	n := resolutions[res].n
	return r.has && k <= r.head && k > r.head-int64(n) && r.isPresent(pos(k, n))
}

// oldest is the oldest slot r holds a point for.
func (r *ring) oldest(res Resolution) (int64, bool) {
	if !r.has {
		return 0, false
	}
	n := resolutions[res].n
	for k := r.head - int64(n) + 1; k <= r.head; k++ {
		if r.isPresent(pos(k, n)) {
			return k, true
		}
	}
	return 0, false
}

// firstMinute is the minute slot of the app's oldest point; def when it
// has none. The minute ring says it to the minute; the hour ring reaches
// further back, to the hour only, so it counts only for an hour before
// that of the minute ring's oldest point (its minutes left the ring).
func (a *appData) firstMinute(def int64) int64 {
	perHour := resolutions[Res1h].step / resolutions[Res1m].step
	first := def
	if k, ok := a.rings[Res1m].oldest(Res1m); ok {
		first = min(first, k)
	}
	if h, ok := a.rings[Res1h].oldest(Res1h); ok && h < floorDiv(first, perHour) {
		first = h * perHour
	}
	return first
}
