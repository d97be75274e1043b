package stats

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// recorded is a reference copy of what a test recorded.
type recorded struct {
	t time.Time
	v Values
}

// expect aggregates the recorded samples of series i the slow way: group by
// interval, sum a counter, max and last of a gauge; only the intervals of
// the window ending at now.
func expect(recs []recorded, i int, res Resolution, now time.Time) []Point {
	step := resolutions[res].step
	first, last := window(res, now)
	var out []Point
	for _, r := range recs {
		k := floorDiv(r.t.Unix(), step)
		if k < first || k > last {
			continue
		}
		x := r.v.v[i]
		if len(out) == 0 || out[len(out)-1].Time.Unix() != k*step {
			out = append(out, Point{Time: time.Unix(k*step, 0)})
			if catalog[i].Kind == Gauge {
				out[len(out)-1].Max = x
			}
		}
		p := &out[len(out)-1]
		if catalog[i].Kind == Counter {
			p.Sum += x
		} else {
			p.Max = max(p.Max, x)
			p.Last = x
		}
	}
	return out
}

func samePoints(t *testing.T, what string, got, want []Point) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d points, want %d", what, len(got), len(want))
	}
	for j := range got {
		if !got[j].Time.Equal(want[j].Time) || got[j].Sum != want[j].Sum || got[j].Max != want[j].Max || got[j].Last != want[j].Last {
			t.Fatalf("%s: point %d = %+v, want %+v", what, j, got[j], want[j])
		}
	}
}

// TestDownsamplingExact records three hours of random samples with gaps
// (single missing intervals, a 25-minute outage) and several samples in
// some 10-second intervals, and checks every point of every resolution
// against the aggregate computed from the samples themselves.
func TestDownsamplingExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	start := hour0.Add(-17 * time.Minute)
	s := open(t, Config{}, start)
	var recs []recorded
	for k := range 3 * 360 {
		slot := start.Add(time.Duration(k) * 10 * time.Second)
		if k >= 200 && k < 350 { // outage: 25 minutes without samples
			continue
		}
		if rng.IntN(10) == 0 { // a missed interval
			continue
		}
		offsets := []time.Duration{5 * time.Second}
		if rng.IntN(5) == 0 {
			offsets = []time.Duration{2 * time.Second, 7 * time.Second} // a 5 s Interval
		}
		for _, off := range offsets {
			var v Values
			for i := range v.v {
				switch {
				case rng.IntN(3) == 0:
					// zero
				case catalog[i].Kind == Gauge:
					v.v[i] = float64(rng.IntN(70_000)) // crosses 65535: the column widens
				case i == sDeliveries:
					v.v[i] = float64(rng.IntN(1<<20)) / 4 // not integers: float64 column
				default:
					v.v[i] = float64(rng.IntN(100))
				}
			}
			at := slot.Add(off)
			s.Record(&Sample{Time: at, Apps: map[string]*Values{"app": &v}, Server: v})
			recs = append(recs, recorded{at, v})
		}
	}
	now := recs[len(recs)-1].t
	s.clock.Set(now)
	for _, app := range []string{"app", ""} {
		for i, info := range catalog {
			for res := range numRes {
				got := s.Series(app, info.Name, info.Label, res)
				samePoints(t, app+"/"+info.Name+"/"+info.Label+"/"+res.String(), got, expect(recs, i, res, now))
			}
		}
	}
	// The outage is a gap at 10 s and 1 min; the 10-second ring holds one hour.
	pts := s.Series("app", "connections", "", Res10s)
	if len(pts) > 360 || pts[0].Time.Before(now.Add(-time.Hour)) {
		t.Errorf("10 s ring: %d points from %v (now %v)", len(pts), pts[0].Time, now)
	}
	for _, p := range s.Series("app", "new_connections", "", Res1m) {
		if d := p.Time.Sub(start); d >= 2000*time.Second+10*time.Second && d < 3500*time.Second-60*time.Second {
			t.Errorf("a minute point inside the outage: %v", p.Time)
		}
	}
}

// TestRingBounds: old points fall off each ring; the rings never hold more
// than their length.
func TestRingBounds(t *testing.T) {
	s := open(t, Config{}, hour0)
	one := map[string]map[[2]string]float64{"a": {{"new_connections", ""}: 1}, "": {{"new_connections", ""}: 1}}
	// One sample an hour for 31 days, then one every 10 s for 70 minutes.
	at := hour0
	for range 31 * 24 {
		s.Record(sample(at.Add(5*time.Second), one))
		at = at.Add(time.Hour)
	}
	for range 7 * 60 {
		s.Record(sample(at.Add(5*time.Second), one))
		at = at.Add(10 * time.Second)
	}
	now := at.Add(-5 * time.Second)
	s.clock.Set(now)
	for res, want := range map[Resolution]int{Res10s: 360, Res1m: 1440, Res1h: 720} {
		pts := s.Series("a", "new_connections", "", res)
		first, _ := window(res, now)
		oldest := time.Unix(first*resolutions[res].step, 0)
		if res != Res1m && len(pts) != want {
			t.Errorf("%v: %d points, want %d", res, len(pts), want)
		}
		if len(pts) > want || pts[0].Time.Before(oldest) {
			t.Errorf("%v: %d points from %v, oldest allowed %v", res, len(pts), pts[0].Time, oldest)
		}
	}
	// The minute ring: the 22 hourly samples of the last day before the
	// dense 70 minutes (one point each), then 70 minutes of points.
	if pts := s.Series("a", "new_connections", "", Res1m); len(pts) != 22+70 {
		t.Errorf("1m: %d points, want %d", len(pts), 22+70)
	}
	// The hour ring's points sum their 10-second samples.
	h := s.Series("a", "new_connections", "", Res1h)
	if got := h[len(h)-1].Sum; got != 60 { // 10 minutes into the second dense hour
		t.Errorf("newest hour: sum %v, want 60", got)
	}
	if got := h[len(h)-2].Sum; got != 360 {
		t.Errorf("previous hour: sum %v, want 360", got)
	}
	if got := h[len(h)-3].Sum; got != 1 {
		t.Errorf("last hourly sample: sum %v, want 1", got)
	}
	// 30 days later the queries are empty: everything fell off.
	s.clock.Set(now.Add(31 * 24 * time.Hour))
	for res := range numRes {
		if pts := s.Series("a", "new_connections", "", res); len(pts) != 0 {
			t.Errorf("%v: %d points 31 days later", res, len(pts))
		}
	}
}

// TestLateSample: a sample older than the newest point is dropped and counted.
func TestLateSample(t *testing.T) {
	s := open(t, Config{}, hour0)
	one := map[string]map[[2]string]float64{"a": {{"new_connections", ""}: 1}}
	s.Record(sample(hour0.Add(25*time.Second), one))
	s.Record(sample(hour0.Add(15*time.Second), one))
	s.Record(sample(hour0.Add(29*time.Second), one)) // same interval: merged
	s.clock.Set(hour0.Add(29 * time.Second))
	if got := testutil.ToFloat64(s.m.SamplesLate); got != 1 {
		t.Errorf("late samples %v, want 1", got)
	}
	pts := s.Series("a", "new_connections", "", Res10s)
	if len(pts) != 1 || pts[0].Sum != 2 || !pts[0].Time.Equal(hour0.Add(20*time.Second)) {
		t.Errorf("points %+v", pts)
	}
}

// TestColumnWidths: values keep their exact value through widening.
func TestColumnWidths(t *testing.T) {
	var c column
	const n = 8
	vals := []float64{0, 1, 65535, 65536, 1 << 32, 0.25, -3, 1e300}
	c.set(0, n, 0)
	if c.w != 0 {
		t.Fatal("a zero allocated the column")
	}
	for i, x := range vals {
		c.set(i, n, x)
		for j := range i + 1 {
			if got := c.get(j); got != vals[j] {
				t.Fatalf("after %d values: slot %d = %v, want %v (width %d)", i+1, j, got, vals[j], c.w)
			}
		}
	}
	if !slices.Contains([]uint8{8}, c.w) {
		t.Errorf("width %d", c.w)
	}
}
