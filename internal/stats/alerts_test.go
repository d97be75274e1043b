package stats

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
)

// traffic is one app's counts per 10-second interval.
type traffic struct {
	auth  float64 // bad signatures
	conns float64 // new connections
}

func (tr traffic) series() map[[2]string]float64 {
	return map[[2]string]float64{
		{"auth_failures", "bad_signature"}: tr.auth,
		{"new_connections", ""}:            tr.conns,
		{"connections", ""}:                1,
	}
}

// alertRun records 10-second samples in the middle of each interval.
type alertRun struct {
	t  *testing.T
	s  *testStore
	at time.Time // the last sample's time
}

func newAlertRun(t *testing.T, cfg Config) *alertRun {
	s := open(t, cfg, hour0)
	return &alertRun{t: t, s: s, at: hour0.Add(-5 * time.Second)}
}

// step records n intervals of the same traffic per app.
func (r *alertRun) step(n int, apps map[string]traffic) {
	for range n {
		r.at = r.at.Add(10 * time.Second)
		r.s.clock.Set(r.at)
		smp := map[string]map[[2]string]float64{}
		for id, tr := range apps {
			smp[id] = tr.series()
		}
		r.s.Record(sample(r.at, smp))
	}
}

// stepUntil records intervals until app has an alert, at most n; false if
// none was raised.
func (r *alertRun) stepUntil(n int, app string, tr traffic) bool {
	for range n {
		r.step(1, map[string]traffic{app: tr})
		if len(r.s.Alerts(app)) > 0 {
			return true
		}
	}
	return false
}

// gauge is herald_app_alert{app_id=app,kind=kind}, -1 when the series
// does not exist.
func (r *alertRun) gauge(app, kind string) float64 {
	r.t.Helper()
	ch := make(chan prometheus.Metric, 64)
	r.s.m.AppAlert.Collect(ch)
	close(ch)
	for m := range ch {
		var d dto.Metric
		if err := m.Write(&d); err != nil {
			r.t.Fatal(err)
		}
		labels := map[string]string{}
		for _, l := range d.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["app_id"] == app && labels["kind"] == kind {
			return d.GetGauge().GetValue()
		}
	}
	return -1
}

func (r *alertRun) raised(kind string) float64 {
	return testutil.ToFloat64(r.s.m.AlertsRaised.WithLabelValues(kind))
}

// TestAlertSpikeRaises: an hour at a steady rate, then a burst of failed
// authorizations: the alert is raised with the baseline and threshold of
// the steady hour, and exported.
func TestAlertSpikeRaises(t *testing.T) {
	r := newAlertRun(t, Config{})
	steady := traffic{auth: 2, conns: 10} // 12 and 60 a minute
	r.step(6*70, map[string]traffic{"a": steady, "quiet": {conns: 1}})
	if got := r.s.AlertCounts(); len(got) != 0 {
		t.Fatalf("alerts during steady traffic: %v", got)
	}
	if !r.stepUntil(6, "a", traffic{auth: 40, conns: 10}) {
		t.Fatal("no alert after a minute of 240 failed authorizations a minute (baseline 12)")
	}
	al := r.s.Alerts("a")
	if len(al) != 1 || al[0].Kind != AlertAuthFailures {
		t.Fatalf("alerts %+v, want one of auth failures", al)
	}
	// 4 steady intervals and 2 of the burst: 4x2 + 2x40 = 88 >= 5 x 12.
	if a := al[0]; a.Baseline != 12 || a.Threshold != 60 || a.Count != 88 || !a.Since.Equal(r.at) {
		t.Errorf("alert %+v, want baseline 12, threshold 60, count 88, since %v", a, r.at)
	}
	if got := r.gauge("a", AlertAuthFailures); got != 1 {
		t.Errorf("herald_app_alert = %v, want 1", got)
	}
	if got := r.raised(AlertAuthFailures); got != 1 {
		t.Errorf("raised %v, want 1", got)
	}
	if got := r.s.AlertCounts(); len(got) != 1 || got["a"] != 1 {
		t.Errorf("AlertCounts %v, want a: 1", got)
	}
	if !strings.Contains(r.s.log.String(), "app alert raised") {
		t.Errorf("no log line:\n%s", r.s.log)
	}

	// A reconnection wave on top: a second alert of the same app.
	if !r.stepUntilCount(6, "a", traffic{auth: 40, conns: 200}, 2) {
		t.Fatalf("no new-connections alert: %+v", r.s.Alerts("a"))
	}
	kinds := []string{}
	for _, a := range r.s.Alerts("a") {
		kinds = append(kinds, a.Kind)
	}
	if !slices.Equal(kinds, []string{AlertAuthFailures, AlertNewConnections}) {
		t.Errorf("kinds %v", kinds)
	}
	if r.gauge("a", AlertNewConnections) != 1 || r.s.AlertCounts()["a"] != 2 {
		t.Errorf("gauge %v, counts %v", r.gauge("a", AlertNewConnections), r.s.AlertCounts())
	}
	if r.s.Alerts("quiet") != nil || r.s.Alerts("nope") != nil {
		t.Error("alerts on an app without a spike")
	}
}

func (r *alertRun) stepUntilCount(n int, app string, tr traffic, want int) bool {
	for range n {
		r.step(1, map[string]traffic{app: tr})
		if len(r.s.Alerts(app)) >= want {
			return true
		}
	}
	return false
}

// TestAlertSteadyTraffic: high traffic at a steady rate, from the app's
// first sample on, never alerts; nor does a slow ramp, nor the first
// minutes after the store starts (reconnections).
func TestAlertSteadyTraffic(t *testing.T) {
	r := newAlertRun(t, Config{})
	// From the first sample: 3,000 new connections and 600 failed
	// authorizations a minute; "restart" sees its whole reconnection wave
	// in the first minute, then nothing.
	r.step(6, map[string]traffic{"busy": {auth: 100, conns: 500}, "restart": {conns: 2000}})
	r.step(6*180, map[string]traffic{"busy": {auth: 100, conns: 500}, "restart": {}})
	// A ramp: +2% a minute for two hours.
	rate := 100.0
	for range 120 {
		r.step(6, map[string]traffic{"busy": {auth: 100, conns: 500}, "ramp": {auth: rate / 10, conns: rate}})
		rate *= 1.02
	}
	if got := r.raised(AlertAuthFailures) + r.raised(AlertNewConnections); got != 0 {
		t.Errorf("%v alerts raised, want none: %v", got, r.s.AlertCounts())
	}
	if n := testutil.CollectAndCount(r.s.m.AppAlert); n != 0 {
		t.Errorf("%d herald_app_alert series", n)
	}
}

// TestAlertNewApp: an app that appears after the store has run for a
// while is not flagged for small counts while it has little history (the
// minimum is its floor), nor for anything in its first minute; a real
// burst in its warm-up is.
func TestAlertNewApp(t *testing.T) {
	r := newAlertRun(t, Config{})
	r.step(6*30, map[string]traffic{"old": {conns: 1}})
	// 60 failed authorizations and 300 new connections a minute from the
	// first sample: above the minimums, below Factor x minimum.
	r.step(6*12, map[string]traffic{"young": {auth: 10, conns: 50}})
	if got := r.s.AlertCounts(); len(got) != 0 {
		t.Fatalf("alerts %v for a young app's ordinary counts", got)
	}
	// Its first minute: no baseline at all, nothing is raised whatever
	// the count.
	r.step(1, map[string]traffic{"newborn": {auth: 1000, conns: 1000}})
	r.step(5, map[string]traffic{"newborn": {auth: 1000, conns: 1000}})
	if got := r.s.Alerts("newborn"); got != nil {
		t.Fatalf("alerts in an app's first minute: %+v", got)
	}
	// A 2-minute-old app (baseline 60/min, floored at 30): 5 x 60 = 300.
	r.step(6*2, map[string]traffic{"fresh": {auth: 10}})
	if !r.stepUntil(6, "fresh", traffic{auth: 100}) {
		t.Fatal("no alert for a burst of failed authorizations in a young app")
	}
	if a := r.s.Alerts("fresh")[0]; a.Threshold != 300 {
		t.Errorf("threshold %v, want 300 (5 x its baseline)", a.Threshold)
	}
	// With a quiet young app the floor is Factor x minimum: 150.
	r.step(6*3, map[string]traffic{"tiny": {auth: 1}})
	r.step(6, map[string]traffic{"tiny": {auth: 20}}) // 120 a minute: below 150
	if got := r.s.Alerts("tiny"); got != nil {
		t.Errorf("young quiet app flagged at 120 a minute: %+v", got)
	}
}

// TestAlertSettle: nothing is raised in the first two minutes the store
// records, however high the counts against an old history: after a
// restart every client reconnects at once.
func TestAlertSettle(t *testing.T) {
	r := newAlertRun(t, Config{})
	r.step(6*60, map[string]traffic{"a": {conns: 1}})
	// A break of 5 minutes (a restart), then the reconnection wave.
	r.at = r.at.Add(5 * time.Minute)
	r.step(6*2-1, map[string]traffic{"a": {conns: 500}})
	if got := r.s.Alerts("a"); got != nil {
		t.Fatalf("alerts right after a break: %+v", got)
	}
	if !r.stepUntil(6, "a", traffic{conns: 500}) {
		t.Fatal("no alert once settled")
	}
}

// TestAlertClears: the alert stays while the count is above half the
// threshold that raised it (even as the spike lifts the baseline), clears
// below, and its series goes.
func TestAlertClears(t *testing.T) {
	r := newAlertRun(t, Config{})
	r.step(6*61, map[string]traffic{"a": {auth: 1}}) // 6 a minute: threshold 30 (the minimum)
	if !r.stepUntil(6, "a", traffic{auth: 10}) {
		t.Fatal("not raised")
	}
	if a := r.s.Alerts("a")[0]; a.Threshold != 30 {
		t.Fatalf("threshold %v, want 30", a.Threshold)
	}
	// Down to 18 a minute, above 15: still raised, for an hour.
	r.step(6*60, map[string]traffic{"a": {auth: 3}})
	if got := r.s.Alerts("a"); len(got) != 1 || got[0].Count != 18 || got[0].Peak != 39 {
		t.Fatalf("alerts %+v, want still active at 18 a minute, peak 39 (3 points of the burst, 3 of the tail)", got)
	}
	// 12 a minute: below 15.
	r.step(6, map[string]traffic{"a": {auth: 2}})
	if got := r.s.Alerts("a"); got != nil {
		t.Fatalf("alerts %+v, want cleared", got)
	}
	if g := r.gauge("a", AlertAuthFailures); g != -1 {
		t.Errorf("herald_app_alert still exported: %v", g)
	}
	if !strings.Contains(r.s.log.String(), "app alert cleared") {
		t.Error("no log line for the clear")
	}
	// An idle app (absent from the samples, as in a cluster aggregate)
	// clears too.
	r.step(6*60, map[string]traffic{"b": {conns: 1}})
	if !r.stepUntil(6, "b", traffic{conns: 200}) {
		t.Fatal("b not raised")
	}
	r.step(7, map[string]traffic{"other": {conns: 1}})
	if got := r.s.Alerts("b"); got != nil {
		t.Errorf("alerts %+v of an app gone idle", got)
	}
	if got := r.raised(AlertAuthFailures) + r.raised(AlertNewConnections); got != 2 {
		t.Errorf("raised %v, want 2", got)
	}
}

// TestAlertDroppedApp: an app whose history is dropped (evicted here)
// takes its alerts and their series with it.
func TestAlertDroppedApp(t *testing.T) {
	r := newAlertRun(t, Config{MaxApps: 2})
	r.step(6*60, map[string]traffic{"a": {conns: 1}, "b": {conns: 1}})
	if !r.stepUntil(6, "a", traffic{conns: 300}) {
		t.Fatal("not raised")
	}
	r.step(1, map[string]traffic{"b": {conns: 1}}) // a is the least recently active
	r.step(1, map[string]traffic{"c": {conns: 1}}) // and makes room for c
	if got := r.s.Apps(); !slices.Equal(got, []string{"b", "c"}) {
		t.Fatalf("apps %v, want a evicted", got)
	}
	if n := testutil.CollectAndCount(r.s.m.AppAlert); n != 0 {
		t.Errorf("%d herald_app_alert series left, want 0", n)
	}
	if r.s.Alerts("a") != nil || len(r.s.AlertCounts()) != 0 {
		t.Error("the dropped app still has alerts")
	}
}

// TestAlertConfig: the factor and minimums come from the config.
func TestAlertConfig(t *testing.T) {
	r := newAlertRun(t, Config{AlertFactor: 2, AlertMinNewConnections: 10})
	r.step(6*61, map[string]traffic{"a": {conns: 1}}) // 6 a minute
	r.step(6, map[string]traffic{"a": {conns: 2}})    // 12 a minute: 2 x 6, and >= 10
	al := r.s.Alerts("a")
	if len(al) != 1 || al[0].Threshold != 12 || al[0].Baseline != 6 {
		t.Errorf("alerts %+v, want one at threshold 12", al)
	}
}

// TestAlertAfterReload: the baseline of an app loaded from the history
// file is its recorded past, not a warm-up.
func TestAlertAfterReload(t *testing.T) {
	path := t.TempDir() + "/stats.db"
	r := newAlertRun(t, Config{Path: path})
	r.step(6*60, map[string]traffic{"a": {auth: 1}})
	if err := r.s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := open(t, Config{Path: path}, r.at)
	defer s2.Close()
	r.s = s2
	r.step(6*3, map[string]traffic{"a": {auth: 1}}) // settle
	if !r.stepUntil(6, "a", traffic{auth: 10}) {
		t.Fatal("not raised after a reload")
	}
	if a := r.s.Alerts("a")[0]; a.Baseline < 5.9 || a.Baseline > 6 || a.Threshold != 30 {
		t.Errorf("alert %+v, want the recorded baseline (~6/min) and threshold 30", a)
	}
}

// TestAlertCheckAllocatesNothing: the check after every Record, with the
// baselines computed again (a new minute each time), allocates nothing.
func TestAlertCheckAllocatesNothing(t *testing.T) {
	r := newAlertRun(t, Config{})
	apps := map[string]traffic{}
	for i := range 100 {
		apps[fmt.Sprint("app", i)] = traffic{auth: float64(i % 3), conns: float64(i)}
	}
	r.step(6*61, apps)
	at := r.at.Unix()
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	if n := testing.AllocsPerRun(20, func() {
		at += 60
		r.s.evaluateAlertsLocked(at)
	}); n != 0 {
		t.Errorf("%v allocations per check", n)
	}
}

// BenchmarkRecordWithAlerts1000Apps is Record of 1,000 apps, each with
// failed authorizations and new connections, after an hour of history.
// "record": one op is one 10-second sample, alerts included (one in six
// starts a minute and computes the baselines again); "alerts": the check
// alone, "baselines": the once-a-minute part alone.
func BenchmarkRecordWithAlerts1000Apps(b *testing.B) {
	s := open(b, Config{MaxApps: 1000}, hour0)
	smp := &Sample{Apps: map[string]*Values{}}
	for i := range 1000 {
		v := new(Values)
		v.Set("new_connections", "", float64(i%50))
		v.Set("auth_failures", "bad_signature", float64(i%3))
		v.Set("auth_failures", "rate_limited", float64(i%2))
		v.Set("connections", "", float64(i))
		smp.Apps[fmt.Sprint(100000+i)] = v
	}
	at := hour0.Add(5 * time.Second)
	for range 360 {
		smp.Time = at
		s.Record(smp)
		at = at.Add(10 * time.Second)
	}
	b.Run("record", func(b *testing.B) {
		for b.Loop() {
			smp.Time = at
			s.Record(smp)
			at = at.Add(10 * time.Second)
		}
	})
	b.Run("alerts", func(b *testing.B) {
		s.mu.Lock()
		defer s.mu.Unlock()
		for b.Loop() {
			s.evaluateAlertsLocked(at.Unix())
		}
	})
	b.Run("baselines", func(b *testing.B) {
		s.mu.Lock()
		defer s.mu.Unlock()
		minute := floorDiv(at.Unix(), 60)
		for b.Loop() {
			recorded := s.recordedMinutes(minute)
			for _, a := range s.apps {
				a.alerts.rebase(a, recorded, minute)
			}
		}
	})
}
