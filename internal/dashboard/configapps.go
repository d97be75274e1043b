package dashboard

import (
	"context"
	"net/http"

	"github.com/heraldhq/herald/internal/admin"
	"github.com/heraldhq/herald/internal/apps"
)

// The config file's apps (Deps.ConfigApps) are served before the app
// store's (apps.Layered): the dashboard shows them the same way, read-only.
// Their pages, console and charts work as a stored app's; the pages that
// change an app answer 409 for them, since a change made here would not be
// what is served (and the config file would undo it at the next SIGHUP).

// configNote is what the pages say about changing a config file's app.
const configNote = "Defined in the config file: edit it there and send SIGHUP to the server (or restart it)."

// configApps returns the config file's apps; nil: none. The slice is the
// server's: never changed here.
func (h *Handler) configApps() []*apps.App {
	if h.config == nil {
		return nil
	}
	return h.config()
}

// configApp returns the config file's app with id, or nil.
func (h *Handler) configApp(id string) *apps.App {
	for _, a := range h.configApps() {
		if a.ID == id {
			return a
		}
	}
	return nil
}

// storeApp returns the app store's app with id; nil without one (or
// without a store).
func (h *Handler) storeApp(ctx context.Context, id string) (*apps.App, error) {
	if h.apps == nil {
		return nil, nil
	}
	a, err := admin.Show(ctx, h.apps, id)
	switch statusOf(err) {
	case http.StatusNotFound, http.StatusUnprocessableEntity:
		return nil, nil
	}
	return a, err
}

// servedApp reads the app of the request's {id} as the server serves it:
// the config file's first, then the store's. It answers for itself when
// it returns nil; fromConfig tells where the app came from. The pages that
// only show an app (its keys, console, charts, test webhooks) use it.
func (h *Handler) servedApp(w http.ResponseWriter, r *http.Request, c *call) (a *apps.App, fromConfig bool) {
	if a := h.configApp(r.PathValue("id")); a != nil {
		return a, true
	}
	if h.apps == nil && h.config != nil {
		h.errorPage(w, r, c, http.StatusNotFound, "Not found", "There is no app with this id.")
		return nil, false
	}
	return h.app(w, r, c), false
}

// refuseConfigApp answers 409 when the request's {id} is a config file's
// app, and reports whether it did. The pages that change an app call it
// first: an app of the store with the same id is shadowed, and changing it
// here would change nothing that is served.
func (h *Handler) refuseConfigApp(w http.ResponseWriter, r *http.Request, c *call) bool {
	id := r.PathValue("id")
	if h.configApp(id) == nil {
		return false
	}
	h.errorPage(w, r, c, http.StatusConflict, "Defined in the config file",
		"App "+id+" is defined in the config file, so the dashboard cannot change it. Edit the config file and send SIGHUP to the server (or restart it).")
	return true
}

// shadowing tells, for the apps of the store, which config file's app
// hides them: by id (the config app answers for the id) or by key
// (connections with the key go to the config app).
type shadowing struct {
	ids  map[string]bool
	keys map[string]string // key → the config app's id
}

func (h *Handler) shadowing() shadowing {
	s := shadowing{ids: map[string]bool{}, keys: map[string]string{}}
	for _, a := range h.configApps() {
		s.ids[a.ID] = true
		s.keys[a.Key] = a.ID
	}
	return s
}

// of returns why the store's app a is shadowed; "": it is not.
func (s shadowing) of(a *apps.App) string {
	if s.ids[a.ID] {
		return "Shadowed by the config file's app with the same id: requests for this id (the HTTP API, this dashboard) go to that app."
	}
	if id, ok := s.keys[a.Key]; ok {
		return "Key shadowed: connections with this key go to the config file's app " + id + "."
	}
	return ""
}

// configAppPage is the App keys page of a config file's app: its keys
// (the secret revealed as a stored app's is), snippets and settings, with
// no form that changes it.
func (h *Handler) configAppPage(ctx context.Context, c *call, a *apps.App, revealed bool) (*appPage, error) {
	p := h.newAppPage(c, a, revealed)
	p.Config = true
	for _, nf := range numberFields {
		p.Limits = append(p.Limits, numberValue{Name: nf.Name, Label: nf.Label, Help: nf.Help, Value: nf.get(&p.App)})
	}
	shadowed, err := h.storeApp(ctx, a.ID)
	if err != nil {
		return nil, err
	}
	if shadowed != nil {
		p.Shadowed = "The app store has an app with this id too: it is shadowed by this one, and the dashboard leaves it alone. Remove it with herald apps delete or the admin API if it is not needed (that closes the connections under this id)."
	}
	return p, nil
}
