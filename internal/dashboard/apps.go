package dashboard

import (
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/admin"
	"github.com/heraldhq/herald/internal/apps"
	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/stats"
)

// notices are the messages a redirect after a change may ask a page to
// show (?notice=...); only these, so a link cannot put words on a page.
var notices = map[string]string{
	"created":       "App created. Its secret stays hidden until you reveal it.",
	"saved":         "Settings saved.",
	"enabled":       "App enabled.",
	"disabled":      "App disabled: its connections are closed and new ones refused.",
	"rotated":       "Secret rotated. The previous secret keeps working until the expiry shown below; reveal the new one and update your backends before then.",
	"deleted":       "App deleted.",
	"beams-created": "Instance created. Its secret key stays hidden until you reveal it.",
	"beams-rotated": "Secret key rotated. The previous key keeps working until the expiry shown below; reveal the new one and update your servers before then.",
	"beams-deleted": "Instance deleted, with its devices.",
}

func notice(r *http.Request) string { return notices[r.URL.Query().Get("notice")] }

// redirect sends the browser to p (under the request's prefix) after a
// change, with a notice for the next page.
func redirect(w http.ResponseWriter, r *http.Request, c *call, p, noticeKey string) {
	if noticeKey != "" {
		p += "?notice=" + url.QueryEscape(noticeKey)
	}
	http.Redirect(w, r, c.link(p), http.StatusSeeOther)
}

func appPath(id string) string { return "/apps/" + url.PathEscape(id) }

// needApps answers 404 when there is no app store to manage.
func (h *Handler) needApps(w http.ResponseWriter, r *http.Request, c *call) bool {
	if h.apps != nil {
		return true
	}
	h.errorPage(w, r, c, http.StatusNotFound, "No app store",
		"Apps are defined in the config file here; set database_url to manage them from the dashboard.")
	return false
}

type appRow struct {
	ID, Key, Link string
	Enabled       bool
	Shadowed      string // why a config file's app hides this one; "": it does not
	Connections   string
	Alerts        int    // active spike alerts: a badge
	Charts        string // the app's charts, when there are charts pages
	Console       string // the app's debug console, when there is one
}

type appsPage struct {
	page
	Managed bool
	Config  appTable // the config file's apps, read-only
	Store   appTable // the app store's
}

// appTable is one table of the app list.
type appTable struct {
	Config    bool // the config file's apps: a marker instead of the state
	ShowConns bool
	Links     bool // a Links column (charts, console)
	Rows      []appRow
}

func (h *Handler) appList(w http.ResponseWriter, r *http.Request, c *call) {
	p := &appsPage{page: h.newPage(c, "Apps"), Managed: h.apps != nil}
	p.Notice = notice(r)
	p.Store = appTable{ShowConns: h.conns != nil, Links: h.stats != nil || h.console != nil}
	p.Config = p.Store
	p.Config.Config = true
	var alerts map[string]int
	if h.stats != nil {
		alerts = h.stats.AlertCounts()
	}
	row := func(a *apps.App) appRow {
		row := appRow{ID: a.ID, Key: a.Key, Link: c.link(appPath(a.ID)),
			Enabled: a.Enabled, Connections: h.connections(a.ID), Alerts: alerts[a.ID]}
		if h.stats != nil {
			row.Charts = c.link(appPath(a.ID) + "/stats")
		}
		if h.console != nil {
			row.Console = c.link(appPath(a.ID) + "/console")
		}
		return row
	}
	byID := func(a, b *apps.App) int { return strings.Compare(a.ID, b.ID) }
	// A copy: the config's slice is the server's.
	for _, a := range slices.SortedFunc(slices.Values(h.configApps()), byID) {
		p.Config.Rows = append(p.Config.Rows, row(a))
	}
	if h.apps != nil {
		list, err := h.apps.List(r.Context())
		if err != nil {
			h.internalError(w, r, c, err)
			return
		}
		slices.SortFunc(list, byID)
		shadow := h.shadowing()
		for _, a := range list {
			rw := row(a)
			rw.Shadowed = shadow.of(a)
			p.Store.Rows = append(p.Store.Rows, rw)
		}
	}
	h.render(w, r, c, http.StatusOK, "apps", p)
}

func (h *Handler) appListRedirect(w http.ResponseWriter, r *http.Request, c *call) {
	http.Redirect(w, r, c.link("/"), http.StatusSeeOther)
}

func (h *Handler) connections(id string) string {
	if h.conns == nil {
		return ""
	}
	return strconv.Itoa(h.conns.Connections(id))
}

// appPage is the App keys page: credentials, snippets, secret rotation and
// the actions on the app.
type appPage struct {
	page
	App             admin.App
	Link            string
	Config          bool          // a config file's app: read-only
	Shadowed        string        // what hides this app, or what it hides; "": nothing
	Limits          []numberValue // a config file's app's limits, shown read-only
	Test            *webhookTestView
	Secret          string // set once revealed
	ShowConns       bool
	Connections     string
	PreviousSecrets []string
	ShowUses        bool
	UseWindow       string
	Uses            []useRow
	PusherJS        string
	PusherNode      string
	DefaultGrace    string
	Grace           string
	Alerts          []alertBanner
}

// alertBanner is one active spike alert of the app, over its page.
type alertBanner struct {
	Title  string // "Spike in failed authorizations"
	Detail string // "240 in the last minute, baseline 3/min, since 17:32 UTC"
	Charts string // the app's charts page
}

var alertTitles = map[string]string{
	stats.AlertAuthFailures:   "Spike in failed authorizations",
	stats.AlertNewConnections: "Spike in new connections",
}

func (h *Handler) alertBanners(c *call, id string, now time.Time) []alertBanner {
	if h.stats == nil {
		return nil
	}
	var out []alertBanner
	for _, a := range h.stats.Alerts(id) {
		title := alertTitles[a.Kind]
		if title == "" {
			title = "Spike in " + a.Kind
		}
		since := a.Since.UTC()
		at := since.Format("15:04 UTC")
		if y, m, d := since.Date(); y != now.UTC().Year() || m != now.UTC().Month() || d != now.UTC().Day() {
			at = since.Format("2006-01-02 15:04 UTC")
		}
		out = append(out, alertBanner{Title: title, Charts: c.link(appPath(id) + "/stats"),
			Detail: formatCount(a.Count) + " in the last minute, baseline " + formatCount(a.Baseline) + "/min, since " + at})
	}
	return out
}

// formatCount shows a count, or an average: whole numbers as they are,
// a fraction to one decimal below 10 ("0.4"), else rounded.
func formatCount(x float64) string {
	switch {
	case x == math.Trunc(x):
		return strconv.FormatFloat(x, 'f', 0, 64)
	case x < 10:
		return strconv.FormatFloat(x, 'f', 1, 64)
	}
	return strconv.FormatFloat(math.Round(x), 'f', 0, 64)
}

type useRow struct {
	Generation string
	Count      uint64
}

// generations are the secret generations apps.SecretGeneration names.
var generations = []string{apps.SecretGeneration(0), apps.SecretGeneration(1)}

func (h *Handler) newAppPage(c *call, a *apps.App, revealed bool) *appPage {
	now := h.now()
	p := &appPage{
		page:         h.newPage(c, "App "+a.ID),
		App:          admin.FromApp(a, false),
		Link:         c.link(appPath(a.ID)),
		ShowConns:    h.conns != nil,
		Connections:  h.connections(a.ID),
		PusherJS:     h.cfg.pusherJSSnippet(a.Key),
		DefaultGrace: roundDuration(admin.DefaultGrace),
		Grace:        roundDuration(admin.DefaultGrace),
	}
	if revealed {
		p.Secret = a.Secret
	}
	p.PusherNode = h.cfg.pusherNodeSnippet(a.ID, a.Key, p.Secret)
	p.Alerts = h.alertBanners(c, a.ID, now)
	for _, ps := range a.PreviousSecrets {
		if now.Before(ps.ExpiresAt) {
			p.PreviousSecrets = append(p.PreviousSecrets, "expires "+formatTime(ps.ExpiresAt, now))
		} else {
			p.PreviousSecrets = append(p.PreviousSecrets, "expired "+formatTime(ps.ExpiresAt, now))
		}
	}
	if h.secretUs != nil {
		p.ShowUses, p.UseWindow = true, roundDuration(h.cfg.SecretUseWindow)
		uses := h.secretUs.SecretUses(a.ID, h.cfg.SecretUseWindow)
		for _, g := range generations {
			p.Uses = append(p.Uses, useRow{Generation: g, Count: uses[g]})
		}
	}
	return p
}

// app reads the app of the request's {id}; it answers for itself when it
// returns nil.
func (h *Handler) app(w http.ResponseWriter, r *http.Request, c *call) *apps.App {
	if !h.needApps(w, r, c) {
		return nil
	}
	a, err := admin.Show(r.Context(), h.apps, r.PathValue("id"))
	if err != nil {
		h.fail(w, r, c, err)
		return nil
	}
	return a
}

// servedAppPage is the App keys page of the request's {id} as it is
// served: a config file's app read-only, else the store's. It answers for
// itself when it returns nil.
func (h *Handler) servedAppPage(w http.ResponseWriter, r *http.Request, c *call, revealed bool) *appPage {
	a, fromConfig := h.servedApp(w, r, c)
	if a == nil {
		return nil
	}
	if !fromConfig {
		p := h.newAppPage(c, a, revealed)
		p.Shadowed = h.shadowing().of(a)
		return p
	}
	p, err := h.configAppPage(r.Context(), c, a, revealed)
	if err != nil {
		h.internalError(w, r, c, err)
		return nil
	}
	return p
}

func (h *Handler) appShow(w http.ResponseWriter, r *http.Request, c *call) {
	p := h.servedAppPage(w, r, c, false)
	if p == nil {
		return
	}
	p.Notice = notice(r)
	h.render(w, r, c, http.StatusOK, "app", p)
}

// appReveal shows the page with the secret: a POST, so it needs the CSRF
// token and is never a link that could be followed or prefetched. A
// config file's app's secret is revealed the same way: whoever holds the
// admin token runs the server and can read its config file anyway.
func (h *Handler) appReveal(w http.ResponseWriter, r *http.Request, c *call) {
	p := h.servedAppPage(w, r, c, true)
	if p == nil {
		return
	}
	h.log.Info("app secret revealed", "app_id", p.App.ID, "config_file", p.Config, "remote", c.remote)
	h.render(w, r, c, http.StatusOK, "app", p)
}

type appFormPage struct {
	page
	Form   *settingsForm
	Cancel string
}

func (h *Handler) renderAppForm(w http.ResponseWriter, r *http.Request, c *call, status int, f *settingsForm, errMsg string) {
	title, cancel := "New app", c.link("/")
	f.Action = c.link("/apps")
	if !f.Create {
		title, cancel = "Settings of app "+f.ID, c.link(appPath(f.ID))
		f.Action = c.link(appPath(f.ID) + "/edit")
	}
	p := &appFormPage{page: h.newPage(c, title), Form: f, Cancel: cancel}
	p.Error = errMsg
	h.render(w, r, c, status, "appform", p)
}

func (h *Handler) appNew(w http.ResponseWriter, r *http.Request, c *call) {
	if !h.needApps(w, r, c) {
		return
	}
	h.renderAppForm(w, r, c, http.StatusOK, formFromApp(defaultApp(), true), "")
}

func (h *Handler) appCreate(w http.ResponseWriter, r *http.Request, c *call) {
	if !h.needApps(w, r, c) {
		return
	}
	s, f, err := parseSettings(r.PostForm, true)
	if err != nil {
		h.renderAppForm(w, r, c, http.StatusUnprocessableEntity, f, err.Error())
		return
	}
	a, err := admin.Create(r.Context(), h.apps, s)
	if err != nil {
		h.formFailed(w, r, c, f, err)
		return
	}
	h.log.Info("app created", "app_id", a.ID, "remote", c.remote)
	redirect(w, r, c, appPath(a.ID), "created")
}

// formFailed shows a refused settings form again with the reason, or an
// error page for a failure that is not the form's fault.
func (h *Handler) formFailed(w http.ResponseWriter, r *http.Request, c *call, f *settingsForm, err error) {
	switch st := statusOf(err); st {
	case http.StatusUnprocessableEntity, http.StatusConflict:
		h.renderAppForm(w, r, c, st, f, err.Error())
	default:
		h.fail(w, r, c, err)
	}
}

func (h *Handler) appEdit(w http.ResponseWriter, r *http.Request, c *call) {
	if h.refuseConfigApp(w, r, c) {
		return
	}
	a := h.app(w, r, c)
	if a == nil {
		return
	}
	h.renderAppForm(w, r, c, http.StatusOK, formFromApp(admin.FromApp(a, false), false), "")
}

func (h *Handler) appUpdate(w http.ResponseWriter, r *http.Request, c *call) {
	if h.refuseConfigApp(w, r, c) || !h.needApps(w, r, c) {
		return
	}
	id := r.PathValue("id")
	s, f, err := parseSettings(r.PostForm, false)
	f.ID = id
	if err != nil {
		h.renderAppForm(w, r, c, http.StatusUnprocessableEntity, f, err.Error())
		return
	}
	a, err := admin.Update(r.Context(), h.apps, id, s)
	if err != nil {
		h.formFailed(w, r, c, f, err)
		return
	}
	h.log.Info("app updated", "app_id", a.ID, "remote", c.remote)
	redirect(w, r, c, appPath(a.ID), "saved")
}

func (h *Handler) appSetEnabled(enabled bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, c *call) {
		if h.refuseConfigApp(w, r, c) || !h.needApps(w, r, c) {
			return
		}
		a, err := admin.SetEnabled(r.Context(), h.apps, r.PathValue("id"), enabled)
		if err != nil {
			h.fail(w, r, c, err)
			return
		}
		h.log.Info("app enabled changed", "app_id", a.ID, "enabled", enabled, "remote", c.remote)
		n := "disabled"
		if enabled {
			n = "enabled"
		}
		redirect(w, r, c, appPath(a.ID), n)
	}
}

// parseGrace reads a rotation's grace period: empty means the default.
func parseGrace(v string) (time.Duration, string, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return admin.DefaultGrace, "", true
	}
	d, err := config.ParseDuration(v) // the config file's forms: 24h, 90m, 7d, 3600
	if err != nil {
		return 0, "Grace period: " + strconv.Quote(clip(v, 40)) + " is not a duration like 24h, 90m or 7d.", false
	}
	return time.Duration(d), "", true
}

func (h *Handler) appRotate(w http.ResponseWriter, r *http.Request, c *call) {
	if h.refuseConfigApp(w, r, c) || !h.needApps(w, r, c) {
		return
	}
	id, grace, ok := h.rotateWithGrace(w, r, c, func(grace time.Duration) (string, error) {
		a, err := admin.RotateSecret(r.Context(), h.apps, r.PathValue("id"), grace, h.now())
		if err != nil {
			return "", err
		}
		return a.ID, nil
	}, func(msg string) {
		if cur := h.app(w, r, c); cur != nil {
			p := h.newAppPage(c, cur, false)
			p.Error, p.Grace = msg, r.PostForm.Get("grace")
			h.render(w, r, c, http.StatusUnprocessableEntity, "app", p)
		}
	})
	if !ok {
		return
	}
	h.log.Info("app secret rotated", "app_id", id, "grace", grace, "remote", c.remote)
	redirect(w, r, c, appPath(id), "rotated")
}

// rotateWithGrace is the rotation of an app's secret or an instance's key:
// it reads the form's grace period and calls rotate with it. A grace the
// form or the store refuses (422) goes to refused, to show the page again
// with the message; any other error gets the error page. ok reports that
// the rotation happened (of the app or instance id).
func (h *Handler) rotateWithGrace(w http.ResponseWriter, r *http.Request, c *call,
	rotate func(time.Duration) (string, error), refused func(msg string)) (id string, grace time.Duration, ok bool) {
	grace, msg, ok := parseGrace(r.PostForm.Get("grace"))
	if ok {
		var err error
		id, err = rotate(grace)
		if statusOf(err) != http.StatusUnprocessableEntity {
			if err != nil {
				h.fail(w, r, c, err)
				return "", 0, false
			}
			return id, grace, true
		}
		msg = err.Error()
	}
	refused(msg)
	return "", 0, false
}

type deletePage struct {
	page
	Kind, ID, Action, Cancel string
}

func (h *Handler) renderDelete(w http.ResponseWriter, r *http.Request, c *call, status int, tmpl, kind, id, back, errMsg string) {
	p := &deletePage{page: h.newPage(c, "Delete "+kind+" "+id), Kind: kind, ID: id,
		Action: c.link(back + "/delete"), Cancel: c.link(back)}
	p.Error = errMsg
	h.render(w, r, c, status, tmpl, p)
}

func (h *Handler) appDeleteConfirm(w http.ResponseWriter, r *http.Request, c *call) {
	if h.refuseConfigApp(w, r, c) {
		return
	}
	a := h.app(w, r, c)
	if a == nil {
		return
	}
	h.renderDelete(w, r, c, http.StatusOK, "delete", "app", a.ID, appPath(a.ID), "")
}

// appDelete deletes the app once its id has been typed in confirmation.
func (h *Handler) appDelete(w http.ResponseWriter, r *http.Request, c *call) {
	if h.refuseConfigApp(w, r, c) {
		return
	}
	a := h.app(w, r, c)
	if a == nil {
		return
	}
	if strings.TrimSpace(r.PostForm.Get("confirm")) != a.ID {
		h.renderDelete(w, r, c, http.StatusUnprocessableEntity, "delete", "app", a.ID, appPath(a.ID),
			"Type the app id exactly to confirm; nothing was deleted.")
		return
	}
	if err := admin.Delete(r.Context(), h.apps, a.ID); err != nil {
		h.fail(w, r, c, err)
		return
	}
	h.log.Info("app deleted", "app_id", a.ID, "remote", c.remote)
	redirect(w, r, c, "/", "deleted")
}
