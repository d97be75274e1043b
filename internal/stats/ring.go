package stats

import (
	"fmt"
	"math/bits"
	"time"
	"unsafe"
)

// Resolution is one of the three rings every series has.
type Resolution uint8

const (
	Res10s Resolution = iota // 10-second points over the last hour (360)
	Res1m                    // 1-minute points over the last day (1440)
	Res1h                    // 1-hour points over the last 30 days (720)
	numRes
)

type resInfo struct {
	step  int64 // seconds per point
	n     int   // points in the ring
	chunk int   // points per record in the history file (one point of the next resolution, a day for Res1h)
}

var resolutions = [numRes]resInfo{
	Res10s: {step: 10, n: 360, chunk: 6},
	Res1m:  {step: 60, n: 1440, chunk: 60},
	Res1h:  {step: 3600, n: 720, chunk: 24},
}

// Step is the interval of one point.
func (r Resolution) Step() time.Duration { return time.Duration(resolutions[r].step) * time.Second }

// Len is the number of points the ring keeps.
func (r Resolution) Len() int { return resolutions[r].n }

func (r Resolution) String() string {
	switch r {
	case Res10s:
		return "10s"
	case Res1m:
		return "1m"
	case Res1h:
		return "1h"
	}
	return fmt.Sprintf("Resolution(%d)", uint8(r))
}

// Columns: a counter has one (its sum), a gauge two (max, then last).
var colBase, numCols = func() (base [numSeries]int, n int) {
	for i, s := range catalog {
		base[i] = n
		n++
		if s.Kind == Gauge {
			n++
		}
	}
	return base, n
}()

// ring is one resolution of one app's series. Slot k (unix seconds / step)
// lives at position k mod n; a position holds data only while its slot is
// within the n slots ending at head and its present bit is set (a clear bit
// is a gap: no sample for that interval).
type ring struct {
	head    int64
	has     bool // head is set (something was recorded or loaded)
	present []uint64
	cols    []column
}

func newRing(res Resolution) ring {
	n := resolutions[res].n
	return ring{present: make([]uint64, (n+63)/64), cols: make([]column, numCols)}
}

func pos(k int64, n int) int {
	p := int(k % int64(n))
	if p < 0 {
		p += n
	}
	return p
}

func (r *ring) isPresent(p int) bool { return r.present[p/64]&(1<<(p%64)) != 0 }

// advance makes slot k writable: slots between the head and k are cleared
// (gaps). It refuses a slot older than the head.
func (r *ring) advance(k int64, n int) bool {
	switch {
	case !r.has:
		r.has, r.head = true, k
	case k < r.head:
		return false
	case k-r.head >= int64(n):
		clear(r.present)
		for i := range r.cols {
			clear(r.cols[i].b)
		}
		r.head = k
	case k > r.head:
		for j := r.head + 1; j <= k; j++ {
			p := pos(j, n)
			r.present[p/64] &^= 1 << (p % 64)
			for i := range r.cols {
				r.cols[i].clear(p)
			}
		}
		r.head = k
	}
	return true
}

// add merges one interval's values into slot k: counters add up, a gauge
// keeps its largest and its latest value. Because every ring receives every
// sample, a minute point is exactly the aggregate of its six 10-second
// points and an hour point of its sixty minute points, gaps included.
func (r *ring) add(res Resolution, k int64, v *Values) bool {
	n := resolutions[res].n
	if !r.advance(k, n) {
		return false
	}
	p := pos(k, n)
	was := r.isPresent(p)
	r.present[p/64] |= 1 << (p % 64)
	for i, x := range v.v {
		c := &r.cols[colBase[i]]
		if catalog[i].Kind == Counter {
			if x != 0 {
				c.set(p, n, c.get(p)+x)
			}
			continue
		}
		if !was || x > c.get(p) {
			c.set(p, n, x)
		}
		r.cols[colBase[i]+1].set(p, n, x)
	}
	return true
}

// point reads series i at position p.
func (r *ring) point(i, p int) (sum, hi, last float64) {
	c := &r.cols[colBase[i]]
	if catalog[i].Kind == Counter {
		return c.get(p), 0, 0
	}
	return 0, c.get(p), r.cols[colBase[i]+1].get(p)
}

// window is the range of slots a query may return at time now: the ring's
// length ending at now's slot.
func window(res Resolution, now time.Time) (first, last int64) {
	ri := resolutions[res]
	last = floorDiv(now.Unix(), ri.step)
	return last - int64(ri.n) + 1, last
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

const (
	sizeofColumn  = unsafe.Sizeof(column{})
	sizeofAppData = unsafe.Sizeof(appData{})
)

func (r *ring) bytes() int {
	n := cap(r.present)*8 + cap(r.cols)*int(sizeofColumn)
	for i := range r.cols {
		n += r.cols[i].bytes()
	}
	return n
}

func (r *ring) presentCount() int {
	n := 0
	for _, w := range r.present {
		n += bits.OnesCount64(w)
	}
	return n
}

// appData is the history of one app (or of the whole server).
type appData struct {
	rings  [numRes]ring
	active int64         // unix seconds of the latest sample with a non-zero value
	saved  [numRes]int64 // each ring's head when it was last written to the file
	stored [numRes]bool  // saved is set
	alerts alertState    // the app's spike alerts (alerts.go); unused for the server
}

func newAppData() *appData {
	a := &appData{}
	for res := range numRes {
		a.rings[res] = newRing(res)
	}
	return a
}

// add records one interval ending at t; false when it is older than what
// the 10-second ring already holds.
func (a *appData) add(t int64, v *Values) bool {
	if !a.rings[Res10s].add(Res10s, floorDiv(t, resolutions[Res10s].step), v) {
		return false
	}
	// The coarser rings cannot be behind the finer one, except after a
	// load that lost part of the file: then what they refuse is skipped.
	a.rings[Res1m].add(Res1m, floorDiv(t, resolutions[Res1m].step), v)
	a.rings[Res1h].add(Res1h, floorDiv(t, resolutions[Res1h].step), v)
	a.alerts.note(floorDiv(t, resolutions[Res10s].step), v)
	if !v.isZero() {
		a.active = max(a.active, t)
	}
	return true
}

func (a *appData) bytes() int {
	n := int(sizeofAppData)
	for i := range a.rings {
		n += a.rings[i].bytes()
	}
	return n
}
