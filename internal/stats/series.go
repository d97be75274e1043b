package stats

import "time"

// Kind tells how a series is sampled and down-sampled.
type Kind uint8

const (
	// Counter: each point holds how many happened during its interval
	// (Point.Sum); a coarser point is the sum of its finer ones.
	Counter Kind = iota
	// Gauge: each point holds the largest (Point.Max) and the latest
	// (Point.Last) value seen during its interval.
	Gauge
)

func (k Kind) String() string {
	if k == Gauge {
		return "gauge"
	}
	return "counter"
}

// SeriesInfo names one series of the fixed set every app (and the
// server-wide total) has.
type SeriesInfo struct {
	Name  string // "connections", "auth_failures"...
	Label string // "" or the breakdown: "4xx", "bad_signature", "retried"...
	Kind  Kind
}

// Series indexes. The position in catalog is the id written in the history
// file: append new series at the end, never reorder or reuse one.
const (
	sConnections = iota
	sNewConnections
	sAPIMessages
	sClientEvents
	sDeliveries
	sSlowConsumers
	sAPI2xx
	sAPI4xx
	sAPI5xx
	sAuthBadSignature
	sAuthExpiredTimestamp
	sAuthUnknownKey
	sAuthOriginRefused
	sAuthSigninRefused
	sAuthRateLimited
	sWebhooksDelivered
	sWebhooksRetried
	sWebhooksFailed
	numSeries
)

// catalog is the fixed set of series; sources.go says where each comes from.
var catalog = [numSeries]SeriesInfo{
	sConnections:          {"connections", "", Gauge},
	sNewConnections:       {"new_connections", "", Counter},
	sAPIMessages:          {"api_messages", "", Counter},
	sClientEvents:         {"client_events", "", Counter},
	sDeliveries:           {"deliveries", "", Counter},
	sSlowConsumers:        {"slow_consumers", "", Counter},
	sAPI2xx:               {"api_requests", "2xx", Counter},
	sAPI4xx:               {"api_requests", "4xx", Counter},
	sAPI5xx:               {"api_requests", "5xx", Counter},
	sAuthBadSignature:     {"auth_failures", "bad_signature", Counter},
	sAuthExpiredTimestamp: {"auth_failures", "expired_timestamp", Counter},
	sAuthUnknownKey:       {"auth_failures", "unknown_key", Counter},
	sAuthOriginRefused:    {"auth_failures", "origin_refused", Counter},
	sAuthSigninRefused:    {"auth_failures", "signin_refused", Counter},
	sAuthRateLimited:      {"auth_failures", "rate_limited", Counter},
	sWebhooksDelivered:    {"webhooks", "delivered", Counter},
	sWebhooksRetried:      {"webhooks", "retried", Counter},
	sWebhooksFailed:       {"webhooks", "failed", Counter},
}

// Catalog lists every series, in a fixed order.
func Catalog() []SeriesInfo { return append([]SeriesInfo(nil), catalog[:]...) }

// seriesIndex finds a series by name and label.
var seriesIndex = func() map[[2]string]int {
	m := make(map[[2]string]int, numSeries)
	for i, s := range catalog {
		m[[2]string{s.Name, s.Label}] = i
	}
	return m
}()

func lookup(name, label string) (int, bool) {
	i, ok := seriesIndex[[2]string{name, label}]
	return i, ok
}

// Values holds one number per series for one interval: how many happened
// (a counter) or the value (a gauge). The zero value is all zeros.
type Values struct {
	v [numSeries]float64
}

// Get returns the value of a series; 0 for an unknown one.
func (v Values) Get(name, label string) float64 {
	if i, ok := lookup(name, label); ok {
		return v.v[i]
	}
	return 0
}

// Set sets the value of a series; false for an unknown one.
func (v *Values) Set(name, label string, x float64) bool {
	i, ok := lookup(name, label)
	if ok {
		v.v[i] = x
	}
	return ok
}

// Add adds o to v, series by series: the interval's counts and gauges of
// two nodes make the cluster's.
func (v *Values) Add(o *Values) {
	for i := range v.v {
		v.v[i] += o.v[i]
	}
}

func (v *Values) isZero() bool { return v.v == [numSeries]float64{} }

// Sample is the output of one sampling pass: what happened during one
// interval, per app and for the whole server.
//
// It is the cluster seam: a node may publish its samples (to Redis, say)
// and an aggregator sums the samples of every node for the same interval
// with Merge and hands the result to Store.Record. Counters add up;
// gauges add up too (connections of the cluster = sum over nodes).
type Sample struct {
	// Time is when the interval ended; the sample is recorded in the
	// 10-second slot that contains it.
	Time time.Time
	// Apps holds the values charged to each app, by app id.
	Apps map[string]*Values
	// Server holds the server-wide values: the sum over apps plus what no
	// app can be charged with (a WebSocket for an unknown key, a REST
	// request for an unknown app id).
	Server Values
}

// Then adds a later sample of the same node and interval to s: counters
// add up, gauges take o's value (the latest), as the rings merge two
// samples of one 10-second point; s.Time becomes o's.
func (s *Sample) Then(o *Sample) {
	s.combine(o, (*Values).then)
	// An app missing from o had no activity since s: its gauges are 0 now.
	for id, v := range s.Apps {
		if _, ok := o.Apps[id]; !ok {
			v.then(&Values{})
		}
	}
	s.Time = o.Time
}

func (v *Values) then(o *Values) {
	for i := range v.v {
		if catalog[i].Kind == Gauge {
			v.v[i] = o.v[i]
		} else {
			v.v[i] += o.v[i]
		}
	}
}

// Merge adds o's values to s (app by app, and server-wide); s.Time stays.
func (s *Sample) Merge(o *Sample) { s.combine(o, (*Values).Add) }

// combine applies f to s's and o's values, app by app (apps only in o are
// added to s) and server-wide.
func (s *Sample) combine(o *Sample, f func(v, ov *Values)) {
	if s.Apps == nil {
		s.Apps = make(map[string]*Values, len(o.Apps))
	}
	for id, ov := range o.Apps {
		v := s.Apps[id]
		if v == nil {
			v = new(Values)
			s.Apps[id] = v
		}
		f(v, ov)
	}
	f(&s.Server, &o.Server)
}
