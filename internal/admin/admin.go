// Package admin serves the HTTP admin API under /admin/: list, create,
// show, update, enable, disable, delete apps and rotate their secrets, over
// an apps.Manager, and the same for stored Beams instances under
// /admin/beams/instances (beams.go), behind a bearer token that is never an
// app secret. It also holds the JSON forms (App, BeamsInstance) and the
// management operations (Create, RotateSecret, CreateBeamsInstance, ...)
// the `herald apps` and `herald beams` CLIs share.
package admin

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/apps"
	"github.com/heraldhq/herald/internal/config"
)

// MaxBodyBytes bounds a request body; larger ones get 413.
const MaxBodyBytes = 64 << 10

// Config configures the admin API.
type Config struct {
	// Token is the bearer token every request must carry. Empty means the
	// admin API is off: every request gets 404.
	Token string
	// BeamsConfigIDs are the ids of the config file's Beams instances: a
	// stored instance with one of them is neither created nor deleted
	// (the config's would hide it; its devices are the config's).
	BeamsConfigIDs []string
}

// Deps are what the admin API works through.
type Deps struct {
	Apps apps.Manager
	// Beams holds the stored Beams instances; nil: the /admin/beams/
	// routes answer 404 like any unknown path.
	Beams  BeamsStore
	Logger *slog.Logger     // nil: discard
	Now    func() time.Time // nil: time.Now; the clock of rotations
}

type handler struct {
	token [sha256.Size]byte
	on    bool
	apps  apps.Manager
	beams BeamsStore
	log   *slog.Logger
	now   func() time.Time
	mux   *http.ServeMux

	beamsConfigIDs []string
}

// New returns the admin API handler. It serves paths starting with /admin/;
// mount it on the server's mux (under the path prefix, stripped).
func New(cfg Config, d Deps) http.Handler {
	h := &handler{on: cfg.Token != "", token: sha256.Sum256([]byte(cfg.Token)), apps: d.Apps, beams: d.Beams,
		log: d.Logger, now: d.Now, beamsConfigIDs: cfg.BeamsConfigIDs}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	h.log = h.log.With("component", "admin")
	if h.now == nil {
		h.now = time.Now
	}
	m := http.NewServeMux()
	m.HandleFunc("GET /admin/apps", h.list)
	m.HandleFunc("POST /admin/apps", h.create)
	m.HandleFunc("GET /admin/apps/{id}", h.show)
	m.HandleFunc("PATCH /admin/apps/{id}", h.update)
	m.HandleFunc("DELETE /admin/apps/{id}", h.delete)
	m.HandleFunc("POST /admin/apps/{id}/enable", h.setEnabled(true))
	m.HandleFunc("POST /admin/apps/{id}/disable", h.setEnabled(false))
	m.HandleFunc("POST /admin/apps/{id}/rotate-secret", h.rotate)
	// Known paths with another method: 405 in JSON, not the mux's text.
	for path, allow := range map[string]string{
		"/admin/apps":                    "GET, POST",
		"/admin/apps/{id}":               "GET, PATCH, DELETE",
		"/admin/apps/{id}/enable":        "POST",
		"/admin/apps/{id}/disable":       "POST",
		"/admin/apps/{id}/rotate-secret": "POST",
	} {
		m.HandleFunc(path, methodNotAllowed(allow))
	}
	if h.beams != nil {
		h.beamsRoutes(m)
	}
	m.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such admin endpoint")
	})
	h.mux = m
	return h
}

// methodNotAllowed answers a known path asked with another method: 405
// in JSON, not the mux's text.
func methodNotAllowed(allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Allow", allow)
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed; use "+allow)
	}
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.on {
		http.NotFound(w, r) // the admin API is off: look like any unknown path
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	token, ok := bearer(r.Header.Get("Authorization"))
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="herald-admin"`)
		writeError(w, http.StatusUnauthorized, "unauthorized", "missing admin token (Authorization: Bearer <token>)")
		return
	}
	got := sha256.Sum256([]byte(token)) // equal lengths: the comparison leaks nothing
	if subtle.ConstantTimeCompare(got[:], h.token[:]) != 1 {
		h.log.Warn("admin request with a wrong token", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
		writeError(w, http.StatusForbidden, "forbidden", "wrong admin token")
		return
	}
	h.mux.ServeHTTP(w, r)
}

// bearer extracts the token of an "Authorization: Bearer <token>" header.
func bearer(header string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false
	}
	return token, true
}

func (h *handler) list(w http.ResponseWriter, r *http.Request) {
	list, err := h.apps.List(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, List(list))
}

// AppList is the JSON form of a list of apps (no secrets).
type AppList struct {
	Apps []App `json:"apps"`
}

// List converts apps to their JSON list form, sorted by id, without secrets.
func List(list []*apps.App) AppList {
	out := AppList{Apps: make([]App, 0, len(list))}
	for _, a := range list {
		out.Apps = append(out.Apps, FromApp(a, false))
	}
	slices.SortFunc(out.Apps, func(a, b App) int { return strings.Compare(a.ID, b.ID) })
	return out
}

func (h *handler) create(w http.ResponseWriter, r *http.Request) {
	var s Settings
	if !h.decode(w, r, &s, false) {
		return
	}
	a, err := Create(r.Context(), h.apps, s)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.log.Info("app created", "app_id", a.ID)
	w.Header().Set("Location", "/admin/apps/"+a.ID)
	writeJSON(w, http.StatusCreated, FromApp(a, true))
}

func (h *handler) show(w http.ResponseWriter, r *http.Request) {
	a, err := Show(r.Context(), h.apps, r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	withSecret := false
	switch v := r.URL.Query().Get("show_secret"); v {
	case "1", "true":
		withSecret = true
	case "", "0", "false":
	default:
		writeError(w, http.StatusBadRequest, "bad_request", "show_secret must be 1 or 0")
		return
	}
	if withSecret {
		h.log.Info("app secret shown", "app_id", a.ID)
	}
	writeJSON(w, http.StatusOK, FromApp(a, withSecret))
}

func (h *handler) update(w http.ResponseWriter, r *http.Request) {
	var s Settings
	if !h.decode(w, r, &s, false) {
		return
	}
	a, err := Update(r.Context(), h.apps, r.PathValue("id"), s)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.log.Info("app updated", "app_id", a.ID)
	writeJSON(w, http.StatusOK, FromApp(a, false))
}

func (h *handler) setEnabled(enabled bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a, err := SetEnabled(r.Context(), h.apps, r.PathValue("id"), enabled)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		h.log.Info("app enabled changed", "app_id", a.ID, "enabled", enabled)
		writeJSON(w, http.StatusOK, FromApp(a, false))
	}
}

func (h *handler) delete(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := Delete(r.Context(), h.apps, id); err != nil {
		h.fail(w, r, err)
		return
	}
	h.log.Info("app deleted", "app_id", id)
	w.WriteHeader(http.StatusNoContent)
}

// RotateRequest is the body of POST /admin/apps/{id}/rotate-secret.
type RotateRequest struct {
	// Grace is how long the old secret keeps working, as "24h" or "90m";
	// empty means DefaultGrace.
	Grace string `json:"grace"`
}

func (h *handler) rotate(w http.ResponseWriter, r *http.Request) {
	var req RotateRequest
	if !h.decode(w, r, &req, true) {
		return
	}
	grace := DefaultGrace
	if req.Grace != "" {
		gd, err := config.ParseDuration(req.Grace) // the config file's forms: 24h, 90m, 7d, 3600
		if err != nil {
			writeError(w, http.StatusUnprocessableEntity, "invalid", "grace: "+req.Grace+" is not a duration like 24h, 90m or 7d")
			return
		}
		grace = time.Duration(gd)
	}
	a, err := RotateSecret(r.Context(), h.apps, r.PathValue("id"), grace, h.now())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.log.Info("app secret rotated", "app_id", a.ID, "grace", grace)
	writeJSON(w, http.StatusOK, FromApp(a, true))
}

// decode reads a JSON object body of at most MaxBodyBytes into v, unknown
// fields rejected; an empty body is allowed when emptyOK.
func (h *handler) decode(w http.ResponseWriter, r *http.Request, v any, emptyOK bool) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, "too_large", "request body larger than 64 KiB")
		return false
	case err != nil:
		writeError(w, http.StatusBadRequest, "bad_request", "cannot read the request body")
		return false
	case len(bytes.TrimSpace(body)) == 0:
		if !emptyOK {
			writeError(w, http.StatusBadRequest, "bad_request", "invalid JSON body: empty; send a JSON object")
		}
		return emptyOK
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", "invalid JSON body: "+strings.TrimPrefix(err.Error(), "json: "))
		return false
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, "bad_request", "invalid JSON body: more than one value")
		return false
	}
	return true
}

// fail writes err as a JSON error with the status its kind calls for.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, apps.ErrInvalid):
		writeError(w, http.StatusUnprocessableEntity, "invalid", err.Error())
	case errors.Is(err, apps.ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", err.Error())
	case errors.Is(err, apps.ErrConflict):
		writeError(w, http.StatusConflict, "conflict", err.Error())
	default:
		h.log.Error("admin request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		writeError(w, http.StatusInternalServerError, "internal", "internal error")
	}
}

// Error is the JSON body of every error response.
type Error struct {
	Error string `json:"error"`
	Code  string `json:"code"` // bad_request, unauthorized, forbidden, not_found, conflict, invalid, too_large, ...
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, Error{Error: msg, Code: code})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
