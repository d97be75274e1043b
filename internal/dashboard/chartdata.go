package dashboard

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/stats"
)

// chartSpec is one chart: the series of stats.Catalog that share a name,
// one line per label (a gauge has two: its latest and largest value).
type chartSpec struct {
	ID    string // the series name; the chart's element id is "chart-"+ID
	Title string
	Help  string
	noun  string // what it counts, for the axis: "messages" -> "messages per minute"
	gauge bool
	lines []chartLine
}

type chartLine struct {
	key, label          string // JSON key ("current", "peak", "4xx", "bad_signature"...) and legend
	series, seriesLabel string // the stats series: name and label
	peak                bool   // a gauge's largest value in the interval, not its latest
}

// unit is the axis label: a gauge's value, or what a counter counted
// during each point's interval (a per-bucket sum, not a rate).
func (s *chartSpec) unit(rg chartRange) string {
	if s.gauge {
		return s.noun
	}
	return s.noun + " per " + rg.Per
}

// chartInfo titles the charts, in the order shown; a series of the
// catalog missing here gets a chart after them, named after it.
var chartInfo = []chartSpec{
	{ID: "connections", Title: "Connections", noun: "connections",
		Help: "Open WebSocket connections: the latest value in each interval (current) and the largest (peak)."},
	{ID: "new_connections", Title: "New connections", noun: "connections",
		Help: "WebSocket connections accepted."},
	{ID: "api_messages", Title: "Messages published by the API", noun: "messages",
		Help: "Events published through the HTTP API, one per channel."},
	{ID: "client_events", Title: "Client events", noun: "events",
		Help: "Client events relayed to the other members of a channel."},
	{ID: "deliveries", Title: "Deliveries to sockets", noun: "messages",
		Help: "Messages queued to sockets: broadcasts fanned out, and the protocol's replies."},
	{ID: "api_requests", Title: "API requests by status", noun: "requests",
		Help: "HTTP API requests by the class of their answer's status."},
	{ID: "auth_failures", Title: "Failed authorizations by reason", noun: "failures",
		Help: "Refused signatures, keys, origins, sign-ins and rate limits."},
	{ID: "webhooks", Title: "Webhooks", noun: "requests",
		Help: "Webhook requests delivered, failed and retried later, and given up (failed)."},
	{ID: "slow_consumers", Title: "Slow-consumer disconnects", noun: "disconnects",
		Help: "Connections closed (4100) because they could not keep up with their messages."},
}

// chartSpecs are the charts, built once from the catalog.
var chartSpecs = buildChartSpecs(stats.Catalog())

func buildChartSpecs(catalog []stats.SeriesInfo) []chartSpec {
	specs := slices.Clone(chartInfo)
	find := func(name string) *chartSpec {
		for i := range specs {
			if specs[i].ID == name {
				return &specs[i]
			}
		}
		specs = append(specs, chartSpec{ID: name, Title: humanize(name), noun: "events"})
		return &specs[len(specs)-1]
	}
	for _, si := range catalog {
		s := find(si.Name)
		key, label := si.Label, humanize(si.Label)
		if si.Label == "" {
			key, label = si.Name, s.Title
		}
		if si.Kind != stats.Gauge {
			s.lines = append(s.lines, chartLine{key: key, label: label, series: si.Name, seriesLabel: si.Label})
			continue
		}
		s.gauge = true
		cur, peak := "current", "peak"
		if si.Label != "" {
			cur, peak = key+"_current", key+"_peak"
			label += " "
		} else {
			label = ""
		}
		s.lines = append(s.lines,
			chartLine{key: cur, label: label + "current", series: si.Name, seriesLabel: si.Label},
			chartLine{key: peak, label: label + "peak", series: si.Name, seriesLabel: si.Label, peak: true})
	}
	return slices.DeleteFunc(specs, func(s chartSpec) bool { return len(s.lines) == 0 })
}

func humanize(s string) string { return strings.ReplaceAll(s, "_", " ") }

// chartData is the JSON of GET /stats/data: every chart of one app (or of
// the server) over one range, in uPlot's layout (one x array, one array of
// values per line). Bounded: at most 2 x Resolution.Len() rows (a point,
// or a gap after one) of the catalog's lines (21): ~60,000 numbers.
type chartData struct {
	App    string      `json:"app"` // "": the whole server
	Range  string      `json:"range"`
	Step   int64       `json:"step"`  // seconds per point
	From   int64       `json:"from"`  // the window, unix seconds
	To     int64       `json:"to"`    // now
	Poll   int64       `json:"poll"`  // seconds between refreshes; 0: none
	Times  []int64     `json:"times"` // start of each point's interval, unix seconds
	Charts []chartJSON `json:"charts"`
}

type chartJSON struct {
	ID    string     `json:"id"`
	Title string     `json:"title"`
	Unit  string     `json:"unit"` // the axis label, "messages per minute", "connections"
	Lines []lineJSON `json:"lines"`
}

type lineJSON struct {
	Key    string     `json:"key"`
	Label  string     `json:"label"`
	Values nullFloats `json:"values"` // one per time; null: no point (a gap)
}

// nullFloats encodes NaN as null: uPlot draws a gap there.
type nullFloats []float64

func (v nullFloats) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 2+4*len(v))
	b = append(b, '[')
	for i, x := range v {
		if i > 0 {
			b = append(b, ',')
		}
		if math.IsNaN(x) || math.IsInf(x, 0) {
			b = append(b, "null"...)
		} else {
			b = strconv.AppendFloat(b, x, 'f', -1, 64)
		}
	}
	return append(b, ']'), nil
}

// buildChartData queries every line of every chart. Each query is its own
// read of the store, so a sample recorded meanwhile may give some lines
// one more point: the times are the union of all, the others null there.
// An interval without a point that follows one gets a null row, so that
// uPlot breaks the line over a gap (the server was down) instead of
// drawing across it.
func buildChartData(src StatsSource, app string, rg chartRange, now time.Time) *chartData {
	step := int64(rg.res.Step() / time.Second)
	last := now.Unix() - now.Unix()%step
	d := &chartData{App: app, Range: rg.Name, Step: step, From: last - step*int64(rg.res.Len()-1),
		To: now.Unix(), Poll: int64(rg.poll / time.Second)}

	pts := make([][][]stats.Point, len(chartSpecs))
	var seen []int64
	for i, s := range chartSpecs {
		pts[i] = make([][]stats.Point, len(s.lines))
		for j, l := range s.lines {
			if j > 0 && l.series == s.lines[j-1].series && l.seriesLabel == s.lines[j-1].seriesLabel {
				pts[i][j] = pts[i][j-1] // a gauge's peak: the same points
				continue
			}
			pts[i][j] = src.Series(app, l.series, l.seriesLabel, rg.res)
			for _, p := range pts[i][j] {
				seen = append(seen, p.Time.Unix())
			}
		}
	}
	slices.Sort(seen)
	seen = slices.Compact(seen)
	d.Times = make([]int64, 0, len(seen))
	for i, t := range seen {
		if i > 0 && t-seen[i-1] > step {
			d.Times = append(d.Times, seen[i-1]+step)
		}
		d.Times = append(d.Times, t)
	}

	d.Charts = make([]chartJSON, len(chartSpecs))
	for i, s := range chartSpecs {
		c := chartJSON{ID: s.ID, Title: s.Title, Unit: s.unit(rg), Lines: make([]lineJSON, len(s.lines))}
		for j, l := range s.lines {
			vals := make(nullFloats, len(d.Times))
			for k := range vals {
				vals[k] = math.NaN()
			}
			for _, p := range pts[i][j] {
				k, ok := slices.BinarySearch(d.Times, p.Time.Unix())
				if !ok {
					continue
				}
				switch {
				case !s.gauge:
					vals[k] = p.Sum
				case l.peak:
					vals[k] = p.Max
				default:
					vals[k] = p.Last
				}
			}
			c.Lines[j] = lineJSON{Key: l.key, Label: l.label, Values: vals}
		}
		d.Charts[i] = c
	}
	return d
}
