package stats

import (
	"encoding/binary"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// sampler turns gathered metric families into a Sample: counters into what
// they counted since the previous pass, gauges into their value. Owned by
// one goroutine (Run, or a test).
type sampler struct {
	byFamily map[string]int // family name -> index in sources
	prev     map[string]*prevValue
	gen      uint32
	key      []byte
	apps     int  // apps in the previous sample: the size to allocate
	failing  bool // the last Gather failed (Run logs the first failure only)
}

type prevValue struct {
	v   float64
	gen uint32 // pass that last saw it: a series gone from its family is forgotten
	src int    // index in sources
}

func newSampler() *sampler {
	s := &sampler{byFamily: make(map[string]int, len(sources)), prev: map[string]*prevValue{}}
	for i, src := range sources {
		s.byFamily[src.family] = i
	}
	return s
}

// pass reads families gathered at t. A counter seen for the first time
// counts from zero (it was created during the interval, or since the
// baseline pass); one lower than before was reset and counts from zero
// too. Run makes a baseline pass first and drops its sample, so what was
// counted before the store started is not charged to its first interval.
func (s *sampler) pass(families []*dto.MetricFamily, t time.Time) *Sample {
	s.gen++
	smp := &Sample{Time: t, Apps: make(map[string]*Values, s.apps)}
	slab := make([]Values, s.apps)     // one allocation for the usual apps
	seen := make([]bool, len(sources)) // sources whose family was gathered (a failed collector's are kept)
	for _, f := range families {
		si, ok := s.byFamily[f.GetName()]
		if !ok {
			continue
		}
		seen[si] = true
		src := &sources[si]
		if len(f.Metric) == 0 {
			continue
		}
		// Every metric of a family has the same label names, in order.
		first := f.Metric[0].Label
		appAt, pickAt := labelAt(first, "app_id"), labelAt(first, src.label)
		for _, m := range f.Metric {
			var app, pick string
			if len(m.Label) == len(first) {
				if appAt >= 0 {
					app = m.Label[appAt].GetValue()
				}
				if pickAt >= 0 {
					pick = m.Label[pickAt].GetValue()
				}
			} else {
				app, pick = labels(m, src.label)
			}
			idx, ok := src.series[pick]
			if !ok {
				continue
			}
			x := value(f.GetType(), m)
			if !src.gauge {
				x = s.delta(si, m, x)
			}
			if src.scope != appOnly {
				smp.Server.v[idx] += x
			}
			if src.scope != serverOnly && app != "" {
				v := smp.Apps[app]
				if v == nil {
					if len(slab) > 0 {
						v, slab = &slab[0], slab[1:]
					} else {
						v = new(Values)
					}
					smp.Apps[app] = v
				}
				v.v[idx] += x
			}
		}
	}
	for k, p := range s.prev {
		if p.gen != s.gen && seen[p.src] {
			delete(s.prev, k)
		}
	}
	s.apps = len(smp.Apps)
	return smp
}

// delta is what counter m of source si counted since the previous pass.
func (s *sampler) delta(si int, m *dto.Metric, x float64) float64 {
	k := binary.AppendUvarint(s.key[:0], uint64(si))
	for _, l := range m.Label {
		k = append(k, l.GetValue()...)
		k = append(k, 0xff) // not in UTF-8: values cannot run into each other
	}
	s.key = k
	p := s.prev[string(k)] // no allocation for a lookup
	if p == nil {
		s.prev[string(k)] = &prevValue{v: x, gen: s.gen, src: si}
		return x
	}
	d := x - p.v
	if d < 0 { // reset (the collector was recreated): it counted x since
		d = x
	}
	p.v, p.gen = x, s.gen
	return d
}

func labelAt(ls []*dto.LabelPair, name string) int {
	if name == "" {
		return -1
	}
	for i, l := range ls {
		if l.GetName() == name {
			return i
		}
	}
	return -1
}

// labels returns m's app_id and its value of the label named pick ("" when
// pick is "").
func labels(m *dto.Metric, pick string) (app, val string) {
	for _, l := range m.Label {
		switch l.GetName() {
		case "app_id":
			app = l.GetValue()
		case pick:
			val = l.GetValue()
		}
	}
	return app, val
}

func value(t dto.MetricType, m *dto.Metric) float64 {
	switch t {
	case dto.MetricType_COUNTER:
		return m.GetCounter().GetValue()
	case dto.MetricType_GAUGE:
		return m.GetGauge().GetValue()
	default:
		return m.GetUntyped().GetValue()
	}
}
