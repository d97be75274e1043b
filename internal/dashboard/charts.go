package dashboard

// uPlot (npm "uplot", MIT licence, © Leon Sorokin; the licence is in
// assets/vendor/uPlot.LICENSE.txt and served beside the files) draws the
// charts. web/package.json pins it; these two steps copy its built files
// into assets/vendor/, which is committed, so `go build` needs no Node.
//
//go:generate npm --prefix web ci --no-audit --no-fund
//go:generate node web/build.js

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/heraldhq/herald/internal/admin"
	"github.com/heraldhq/herald/internal/stats"
)

// StatsSource gives the charts their time series, and the app pages the
// alerts computed on them; *stats.Store implements it. Must be safe for
// concurrent use.
type StatsSource interface {
	// Series returns the points of one series of app ("" is the whole
	// server) at res, oldest first, only for the intervals that were
	// sampled; nil for an unknown app or series.
	Series(app, name, label string, res stats.Resolution) []stats.Point
	// Apps returns the ids of the apps with a history: without an app
	// store, the apps whose charts can be asked for.
	Apps() []string
	// Alerts returns the active spike alerts of app (nil: none), shown as
	// banners on its page.
	Alerts(app string) []stats.Alert
	// AlertCounts returns how many alerts each app with any has active,
	// shown as badges in the app list.
	AlertCounts() map[string]int
}

var _ StatsSource = (*stats.Store)(nil)

// chartRange is one choice of the range switch.
type chartRange struct {
	Name  string // the range parameter: "1h", "24h", "30d"
	Title string
	Per   string // the interval of a point, for the axis: "10 s", "minute", "hour"
	res   stats.Resolution
	poll  time.Duration // how often the page asks for new data; 0: never
}

var chartRanges = []chartRange{
	{Name: "1h", Title: "Last hour", Per: "10 s", res: stats.Res10s, poll: 10 * time.Second},
	{Name: "24h", Title: "Last 24 hours", Per: "minute", res: stats.Res1m, poll: time.Minute},
	{Name: "30d", Title: "Last 30 days", Per: "hour", res: stats.Res1h},
}

// rangeByName finds a range; "" is the first (the last hour).
func rangeByName(name string) (chartRange, bool) {
	if name == "" {
		return chartRanges[0], true
	}
	for _, r := range chartRanges {
		if r.Name == name {
			return r, true
		}
	}
	return chartRange{}, false
}

// statsExists tells whether app's charts can be shown: when the config
// file has the app; else, with an app store, when the store has it (a
// deleted app's history is not shown); without one, when the stats have a
// history of it (an app since removed from the config file).
func (h *Handler) statsExists(ctx context.Context, app string) (bool, error) {
	if h.configApp(app) != nil {
		return true, nil
	}
	if h.apps != nil {
		_, err := admin.Show(ctx, h.apps, app)
		if err == nil {
			return true, nil
		}
		switch statusOf(err) {
		case http.StatusNotFound, http.StatusUnprocessableEntity:
			return false, nil
		}
		return false, err
	}
	return slices.Contains(h.stats.Apps(), app), nil
}

// statsPage is a charts page: the server's (App "") or an app's.
type statsPage struct {
	page
	App      string // "": the whole server
	AppLink  string // the app's page, when it has one
	Server   string // the server's charts, from an app's
	Range    chartRange
	Ranges   []rangeLink
	DataURL  string
	Poll     int64 // seconds between refreshes of the data; 0: none
	Charts   []chartView
	UPlotCSS string
	UPlotJS  string
	ChartCSS string
	ChartJS  string
}

type rangeLink struct {
	Title, Link string
	Current     bool
}

type chartView struct {
	ID, Title, Help, Unit string
}

func (h *Handler) statsServer(w http.ResponseWriter, r *http.Request, c *call) {
	h.statsPage(w, r, c, "")
}

func (h *Handler) statsApp(w http.ResponseWriter, r *http.Request, c *call) {
	id := r.PathValue("id")
	ok, err := h.statsExists(r.Context(), id)
	switch {
	case err != nil:
		h.internalError(w, r, c, err)
	case !ok && h.apps == nil:
		h.errorPage(w, r, c, http.StatusNotFound, "Not found",
			"No app with this id has any activity recorded yet.")
	case !ok:
		h.errorPage(w, r, c, http.StatusNotFound, "Not found", "There is no app with this id.")
	default:
		h.statsPage(w, r, c, id)
	}
}

func (h *Handler) statsPage(w http.ResponseWriter, r *http.Request, c *call, app string) {
	rg, ok := rangeByName(r.URL.Query().Get("range"))
	if !ok {
		h.errorPage(w, r, c, http.StatusBadRequest, "Bad request", "The range must be 1h, 24h or 30d.")
		return
	}
	title, self := "Server stats", "/stats"
	if app != "" {
		title, self = "Stats of app "+app, appPath(app)+"/stats"
	}
	p := &statsPage{page: h.newPage(c, title), App: app, Range: rg,
		DataURL:  c.link("/stats/data") + "?" + url.Values{"app": {app}, "range": {rg.Name}}.Encode(),
		Poll:     int64(rg.poll / time.Second),
		UPlotCSS: c.link(h.assets.url("vendor/uPlot.min.css")), UPlotJS: c.link(h.assets.url("vendor/uPlot.iife.min.js")),
		ChartCSS: c.link(h.assets.url("charts.css")), ChartJS: c.link(h.assets.url("charts.js"))}
	if app != "" {
		p.Server = c.link("/stats?range=" + rg.Name)
		if h.apps != nil || h.configApp(app) != nil {
			p.AppLink = c.link(appPath(app))
		}
	}
	for _, o := range chartRanges {
		p.Ranges = append(p.Ranges, rangeLink{Title: o.Title, Link: c.link(self + "?range=" + o.Name), Current: o.Name == rg.Name})
	}
	for _, s := range chartSpecs {
		p.Charts = append(p.Charts, chartView{ID: s.ID, Title: s.Title, Help: s.Help, Unit: s.unit(rg)})
	}
	h.render(w, r, c, http.StatusOK, "stats", p)
}

// statsData is GET /stats/data?app=ID&range=1h|24h|30d: the charts' data
// as JSON (chartData); app "" or absent is the whole server.
func (h *Handler) statsData(w http.ResponseWriter, r *http.Request, c *call) {
	q := r.URL.Query()
	rg, ok := rangeByName(q.Get("range"))
	if !ok {
		writeJSON(w, r, http.StatusBadRequest, map[string]string{"error": "the range must be 1h, 24h or 30d"})
		return
	}
	app := q.Get("app")
	if app != "" {
		ok, err := h.statsExists(r.Context(), app)
		if err != nil {
			h.log.Error("dashboard request failed", "method", r.Method, "path", r.URL.Path, "err", err)
			writeJSON(w, r, http.StatusInternalServerError, map[string]string{"error": "internal error; the log has the details"})
			return
		}
		if !ok {
			writeJSON(w, r, http.StatusNotFound, map[string]string{"error": "no such app"})
			return
		}
	}
	writeJSON(w, r, http.StatusOK, buildChartData(h.stats, app, rg, h.now()))
}

// writeJSON answers v, never cached (the data is live and per session).
func writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`{"error":"internal error"}`)
	}
	body = append(body, '\n')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}
