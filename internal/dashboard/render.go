package dashboard

import (
	"bytes"
	"embed"
	"errors"
	"html/template"
	"net/http"
	"strconv"
	"time"

	"github.com/heraldhq/herald/internal/apps"
	"github.com/heraldhq/herald/internal/beams/instance/stored"
	"github.com/heraldhq/herald/internal/config"
)

//go:embed templates/*.html
var templateFiles embed.FS

// pageNames are the templates under templates/, each rendered inside
// layout.html.
var pageNames = []string{
	"login", "error", "delete",
	"apps", "app", "appform", "stats", "console",
	"beamslist", "beams", "beamsform",
}

type pages struct {
	byName map[string]*template.Template
}

func loadPages() *pages {
	p := &pages{byName: make(map[string]*template.Template, len(pageNames))}
	for _, name := range pageNames {
		p.byName[name] = template.Must(template.New(name).ParseFS(templateFiles,
			"templates/layout.html", "templates/"+name+".html"))
	}
	return p
}

// page is what the layout shows around every page's content.
type page struct {
	Title     string
	Base      string // link prefix: "" or "/dashboard"
	CSRF      string // the token every form carries
	LoggedOut bool   // no navigation or logout button
	Beams     bool   // the Beams pages exist
	Stats     bool   // the charts pages exist
	Console   bool   // the debug console pages exist
	Tester    bool   // the settings page has "Send test webhook" buttons
	Notice    string
	Error     string
	CSS, JS   string
}

func (h *Handler) newPage(c *call, title string) page {
	return page{Title: title, Base: c.base, CSRF: c.csrf, Beams: h.beams != nil, Stats: h.stats != nil, Console: h.console != nil,
		Tester: h.tester != nil, CSS: c.link(h.assets.url("dashboard.css")), JS: c.link(h.assets.url("dashboard.js"))}
}

// render executes the page into a buffer first, so a template failure is a
// clean 500 rather than half a page. Pages are never cached: several hold
// secrets, and all reflect live state.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, c *call, status int, name string, data any) {
	var buf bytes.Buffer
	if err := h.pages.byName[name].ExecuteTemplate(&buf, "layout", data); err != nil {
		h.log.Error("dashboard page failed to render", "page", name, "err", err)
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString("internal error\n")
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	} else {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(buf.Bytes())
	}
}

type errorPage struct {
	page
	Status  int
	Message string
	Back    string
}

// errorPage renders a full page with a clear message and status.
func (h *Handler) errorPage(w http.ResponseWriter, r *http.Request, c *call, status int, title, msg string) {
	p := &errorPage{page: h.newPage(c, title), Status: status, Message: msg, Back: c.link("/")}
	p.LoggedOut = c.sid == ""
	h.render(w, r, c, status, "error", p)
}

func (h *Handler) notFound(w http.ResponseWriter, r *http.Request, c *call) {
	h.errorPage(w, r, c, http.StatusNotFound, "Not found", "There is no page at this address.")
}

func (h *Handler) internalError(w http.ResponseWriter, r *http.Request, c *call, err error) {
	h.log.Error("dashboard request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	h.errorPage(w, r, c, http.StatusInternalServerError, "Internal error",
		"Something went wrong on the server; the log has the details. Try again later.")
}

// statusOf maps an error of the admin operations to a status: 0 means an
// infrastructure failure (500, logged).
func statusOf(err error) int {
	switch {
	case errors.Is(err, apps.ErrInvalid), errors.Is(err, stored.ErrInvalid):
		return http.StatusUnprocessableEntity
	case errors.Is(err, apps.ErrNotFound), errors.Is(err, stored.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, apps.ErrConflict), errors.Is(err, stored.ErrConflict):
		return http.StatusConflict
	}
	return 0
}

// fail renders err of an admin operation as an error page.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, c *call, err error) {
	switch st := statusOf(err); st {
	case 0:
		h.internalError(w, r, c, err)
	case http.StatusNotFound:
		h.errorPage(w, r, c, st, "Not found", err.Error())
	case http.StatusConflict:
		h.errorPage(w, r, c, st, "Conflict", err.Error())
	default:
		h.errorPage(w, r, c, st, "Invalid", err.Error())
	}
}

// formatTime shows a moment in UTC with how far away it is.
func formatTime(t, now time.Time) string {
	s := formatDate(t)
	d := t.Sub(now)
	switch {
	case d > 0:
		return s + " (in " + roundDuration(d) + ")"
	case d < 0:
		return s + " (" + roundDuration(-d) + " ago)"
	}
	return s
}

// formatDate shows a moment in UTC.
func formatDate(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

// roundDuration shows d to the minute (over an hour) or second, without
// zero units: "24h", "2h30m", "15m", "45s".
func roundDuration(d time.Duration) string {
	if d >= time.Hour {
		d = d.Round(time.Minute)
	} else {
		d = d.Round(time.Second)
	}
	return config.ShortDuration(d)
}
