package dashboard

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/heraldhq/herald/internal/console"
)

// Trigger publishes an event as the HTTP API would: the server implements
// it by making a signed request to its own API handler in-process, so
// validation, limits, metrics and console events are exactly an API call's.
// The error's text is shown on the console page as it is: it must not hold
// a secret. Must be safe for concurrent use.
type Trigger interface {
	Trigger(ctx context.Context, appID, channel, event, data string) error
}

// consoleNotices are the messages a redirect back to the console page may
// ask for (?notice=...), as with notices.
var consoleNotices = map[string]string{
	"triggered": "Event published.",
}

// consoleTypes are the event types a filter can name, in their order.
func consoleTypes() []string {
	var names []string
	for t := console.Type(1); t.String() != "unknown"; t++ {
		names = append(names, t.String())
	}
	return names
}

// consolePage is GET /apps/{id}/console: the live events of an app
// (drawn by console.js from the stream) and the event creator.
type consolePage struct {
	page
	AppID     string
	AppLink   string
	StreamURL string // without the filter's query
	Trigger   string // the event creator's action; "": no event creator
	Channel   string // the filter, as given in the page's query
	Types     []typeBox
	ConsCSS   string
	ConsJS    string
	// The event creator's fields, refilled after a failed plain POST.
	TChannel, TEvent, TData string
}

type typeBox struct {
	Name    string
	Checked bool
}

// consoleFilter reads the filter of a request: channel=, and types= as a
// comma-separated list or repeated (the checkboxes of the page's form).
func consoleFilter(q url.Values) (console.Filter, url.Values, error) {
	norm := url.Values{}
	if ch := q.Get("channel"); ch != "" {
		norm.Set("channel", ch)
	}
	var types []string
	for _, v := range q["types"] {
		for name := range strings.SplitSeq(v, ",") {
			if name = strings.TrimSpace(name); name != "" {
				// A name appears once per type at most: more is not a filter
				// but a flood, refused before it is joined and parsed.
				if len(types) >= maxFilterTypes {
					return console.Filter{}, norm, fmt.Errorf("too many event types (at most %d)", maxFilterTypes)
				}
				types = append(types, name)
			}
		}
	}
	if len(types) > 0 {
		norm.Set("types", strings.Join(types, ","))
	}
	f, err := console.ParseFilter(norm)
	return f, norm, err
}

func (h *Handler) newConsolePage(c *call, id string, q url.Values) *consolePage {
	link := c.link(appPath(id))
	p := &consolePage{page: h.newPage(c, "Console of app "+id), AppID: id, AppLink: link,
		StreamURL: link + "/console/stream", Channel: q.Get("channel"),
		ConsCSS: c.link(h.assets.url("console.css")), ConsJS: c.link(h.assets.url("console.js"))}
	if h.trigger != nil {
		p.Trigger = link + "/console/trigger"
	}
	selected := map[string]bool{}
	for name := range strings.SplitSeq(q.Get("types"), ",") {
		selected[name] = true
	}
	for _, name := range consoleTypes() {
		p.Types = append(p.Types, typeBox{Name: name, Checked: selected[name]})
	}
	return p
}

func (h *Handler) consoleShow(w http.ResponseWriter, r *http.Request, c *call) {
	a, _ := h.servedApp(w, r, c)
	if a == nil {
		return
	}
	_, q, err := consoleFilter(r.URL.Query())
	status := http.StatusOK
	if err != nil {
		q, status = url.Values{}, http.StatusBadRequest
	}
	p := h.newConsolePage(c, a.ID, q)
	p.Notice = consoleNotices[r.URL.Query().Get("notice")]
	if err != nil {
		p.Error = "Filter: " + err.Error()
	}
	h.render(w, r, c, status, "console", p)
}

// consoleStream is GET /apps/{id}/console/stream?channel=&types=: the
// app's events as Server-Sent Events (console.SSE). It is registered as
// public so that a missing session is a plain 401, which EventSource
// reports, rather than a redirect to the login page; it checks the
// session itself.
func (h *Handler) consoleStream(w http.ResponseWriter, r *http.Request, c *call) {
	if !h.streamSession(w, r, c) {
		return
	}
	a, _ := h.servedApp(w, r, c)
	if a == nil {
		return
	}
	f, _, err := consoleFilter(r.URL.Query())
	if err != nil {
		http.Error(w, "bad filter: "+err.Error(), http.StatusBadRequest)
		return
	}
	if r.Method == http.MethodHead { // no stream to hold open
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-store")
		return
	}
	h.log.Debug("console stream opened", "app_id", a.ID, "remote", c.remote)
	console.SSE(h.console, a.ID, f, w, r)
}

// streamSession is authenticate for the stream: without a live session
// the answer is 401, never a redirect.
func (h *Handler) streamSession(w http.ResponseWriter, r *http.Request, c *call) bool {
	if live, _ := h.session(r, c); live {
		return true
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Error(w, "not logged in", http.StatusUnauthorized)
	return false
}

// Bounds of the event creator's fields, in bytes. The API applies its own
// limits (the app's max event size among them); these only keep the
// dashboard's form sane.
const (
	maxTriggerName = 200
	maxTriggerData = MaxFormBytes - 1024
)

// consoleTrigger is POST /apps/{id}/console/trigger (channel, event,
// data): it publishes through Trigger. A script asking for JSON (Accept:
// application/json) gets {"ok":true} or {"error":...}; a plain form is
// redirected back to the console, or shown it again with the error.
func (h *Handler) consoleTrigger(w http.ResponseWriter, r *http.Request, c *call) {
	a, _ := h.servedApp(w, r, c)
	if a == nil {
		return
	}
	channel := strings.TrimSpace(r.PostForm.Get("channel"))
	event := strings.TrimSpace(r.PostForm.Get("event"))
	data := r.PostForm.Get("data")
	var msg string
	switch {
	case channel == "" || event == "":
		msg = "A channel and an event name are needed."
	case len(channel) > maxTriggerName || len(event) > maxTriggerName:
		msg = "The channel and the event name are at most 200 bytes each."
	case len(data) > maxTriggerData:
		msg = "The data is too large for the dashboard's form."
	default:
		if err := h.trigger.Trigger(r.Context(), a.ID, channel, event, data); err != nil {
			h.log.Info("console trigger refused", "app_id", a.ID, "remote", c.remote, "err", err)
			msg = err.Error()
		} else {
			h.log.Info("console trigger", "app_id", a.ID, "remote", c.remote, "event", event)
		}
	}
	if wantsJSON(r) {
		if msg != "" {
			writeJSON(w, r, http.StatusUnprocessableEntity, map[string]string{"error": msg})
		} else {
			writeJSON(w, r, http.StatusOK, map[string]bool{"ok": true})
		}
		return
	}
	if msg == "" {
		redirect(w, r, c, appPath(a.ID)+"/console", "triggered")
		return
	}
	p := h.newConsolePage(c, a.ID, url.Values{})
	p.Error = "Not published: " + msg
	p.TChannel, p.TEvent, p.TData = channel, event, data
	h.render(w, r, c, http.StatusUnprocessableEntity, "console", p)
}

func wantsJSON(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "application/json")
}

// maxFilterTypes bounds the types= names of a console filter (there are a
// dozen event types).
const maxFilterTypes = 32
