package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/beams/instance/stored"
	"github.com/heraldhq/herald/internal/config"
)

// BeamsStore holds the stored Beams instances the admin API and `herald
// beams` manage (sqldevices.Store). Its errors match stored.ErrNotFound,
// stored.ErrConflict and stored.ErrInvalid; any other is a failure.
type BeamsStore interface {
	CreateInstance(ctx context.Context, rec stored.Record) (*stored.Record, error)
	GetInstance(ctx context.Context, id string) (*stored.Record, error)
	ListInstances(ctx context.Context) ([]*stored.Record, error)
	DeleteInstance(ctx context.Context, id string) error
	RotateInstanceKey(ctx context.Context, id string, grace time.Duration, now time.Time) (*stored.Record, error)
}

// The functions below return errors matching stored.ErrInvalid,
// stored.ErrNotFound or stored.ErrConflict with errors.Is, each with a
// one-line message for people; any other error is an infrastructure
// failure.

func invalidBeams(field, msg string) error {
	return &stored.InvalidError{Problems: []stored.Problem{{Field: field, Message: msg}}}
}

func beamsNotFound(id string, err error) error {
	if errors.Is(err, stored.ErrNotFound) {
		return &kindError{msg: fmt.Sprintf("beams instance %q not found", clipID(id)), kind: stored.ErrNotFound}
	}
	return err
}

func clipID(id string) string {
	if len(id) > 64 {
		return id[:64] + "…"
	}
	return id
}

// configured reports whether id names one of the config file's instances
// (configIDs), in any case.
func configured(id string, configIDs []string) bool {
	for _, c := range configIDs {
		if strings.EqualFold(c, id) {
			return true
		}
	}
	return false
}

// CreateBeamsInstance stores a new instance from s; the id and secret key
// it leaves out are generated. An id of the config file's instances
// (configIDs) is refused: the config's would hide the stored one. It
// returns the stored instance, secret key included.
func CreateBeamsInstance(ctx context.Context, st BeamsStore, s BeamsSettings, configIDs []string) (*stored.Record, error) {
	rec := stored.Record{VAPIDSubject: s.VAPIDSubject}
	switch {
	case s.ID == nil:
		id, err := stored.NewID()
		if err != nil {
			return nil, err
		}
		rec.ID = id
	default:
		// UUIDs compare in any case; the SDKs are given the lower-case form.
		rec.ID = strings.ToLower(*s.ID)
	}
	switch {
	case s.SecretKey == nil:
		key, err := stored.NewSecretKey()
		if err != nil {
			return nil, err
		}
		rec.SecretKey = key
	case *s.SecretKey == "":
		return nil, invalidBeams("secret_key", "must not be empty (omit it to generate one)")
	default:
		rec.SecretKey = *s.SecretKey
	}
	if f := s.FCM; f != nil {
		acct, err := f.serviceAccount()
		if err != nil {
			return nil, err
		}
		rec.FCM = &stored.FCM{ServiceAccount: acct}
	}
	if a := s.APNs; a != nil {
		rec.APNs = &stored.APNs{Key: a.Key, KeyID: a.KeyID, TeamID: a.TeamID, Topic: a.Topic, Production: a.Production}
	}
	if err := rec.Validate(); err != nil {
		return nil, err
	}
	if configured(rec.ID, configIDs) {
		return nil, &kindError{msg: fmt.Sprintf("beams instance %s is defined in the config file; a stored one with its id would never be served", rec.ID), kind: stored.ErrConflict}
	}
	out, err := st.CreateInstance(ctx, rec)
	if errors.Is(err, stored.ErrConflict) {
		return nil, &kindError{msg: fmt.Sprintf("beams instance %s already exists", rec.ID), kind: stored.ErrConflict}
	}
	return out, err
}

// Stored ids are in lower case (UUIDs compare in any case), so the
// functions below look an id up in lower case.

// ShowBeamsInstance returns the stored instance id.
func ShowBeamsInstance(ctx context.Context, st BeamsStore, id string) (*stored.Record, error) {
	r, err := st.GetInstance(ctx, strings.ToLower(id))
	return r, beamsNotFound(id, err)
}

// DeleteBeamsInstance deletes the stored instance id with its devices. An
// id of the config file's instances (configIDs) is refused: the devices
// under it are the config instance's.
func DeleteBeamsInstance(ctx context.Context, st BeamsStore, id string, configIDs []string) error {
	if configured(id, configIDs) {
		return &kindError{msg: fmt.Sprintf("beams instance %s is defined in the config file, and deleting the stored one would delete that instance's devices; remove it from the config first", clipID(id)), kind: stored.ErrConflict}
	}
	return beamsNotFound(id, st.DeleteInstance(ctx, strings.ToLower(id)))
}

// RotateBeamsKey gives the stored instance id a new secret key; the old
// one keeps working for grace (0 to stored.MaxRotationGrace).
func RotateBeamsKey(ctx context.Context, st BeamsStore, id string, grace time.Duration, now time.Time) (*stored.Record, error) {
	r, err := st.RotateInstanceKey(ctx, strings.ToLower(id), grace, now)
	switch {
	case err == nil:
		return r, nil
	case errors.Is(err, stored.ErrNotFound):
		return nil, beamsNotFound(id, err)
	case errors.Is(err, stored.ErrInvalid), errors.Is(err, stored.ErrConflict):
		return nil, err
	}
	return nil, fmt.Errorf("rotate key of beams instance %q: %w", clipID(id), err)
}

// beamsRoutes adds the /admin/beams/ routes to m.
func (h *handler) beamsRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /admin/beams/instances", h.beamsList)
	m.HandleFunc("POST /admin/beams/instances", h.beamsCreate)
	m.HandleFunc("GET /admin/beams/instances/{id}", h.beamsShow)
	m.HandleFunc("DELETE /admin/beams/instances/{id}", h.beamsDelete)
	m.HandleFunc("POST /admin/beams/instances/{id}/rotate-key", h.beamsRotate)
	for path, allow := range map[string]string{
		"/admin/beams/instances":                 "GET, POST",
		"/admin/beams/instances/{id}":            "GET, DELETE",
		"/admin/beams/instances/{id}/rotate-key": "POST",
	} {
		m.HandleFunc(path, methodNotAllowed(allow))
	}
}

func (h *handler) beamsList(w http.ResponseWriter, r *http.Request) {
	list, err := h.beams.ListInstances(r.Context())
	if err != nil {
		h.beamsFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, BeamsList(list))
}

func (h *handler) beamsCreate(w http.ResponseWriter, r *http.Request) {
	var s BeamsSettings
	if !h.decode(w, r, &s, false) {
		return
	}
	rec, err := CreateBeamsInstance(r.Context(), h.beams, s, h.beamsConfigIDs)
	if err != nil {
		h.beamsFail(w, r, err)
		return
	}
	h.log.Info("beams instance created", "instance_id", rec.ID)
	w.Header().Set("Location", "/admin/beams/instances/"+rec.ID)
	writeJSON(w, http.StatusCreated, FromBeamsRecord(rec, true))
}

func (h *handler) beamsShow(w http.ResponseWriter, r *http.Request) {
	withSecret := false
	switch v := r.URL.Query().Get("show_secret"); v {
	case "1", "true":
		withSecret = true
	case "", "0", "false":
	default:
		writeError(w, http.StatusBadRequest, "bad_request", "show_secret must be 1 or 0")
		return
	}
	rec, err := ShowBeamsInstance(r.Context(), h.beams, r.PathValue("id"))
	if err != nil {
		h.beamsFail(w, r, err)
		return
	}
	if withSecret {
		h.log.Info("beams instance secret key shown", "instance_id", rec.ID)
	}
	writeJSON(w, http.StatusOK, FromBeamsRecord(rec, withSecret))
}

func (h *handler) beamsDelete(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := DeleteBeamsInstance(r.Context(), h.beams, id, h.beamsConfigIDs); err != nil {
		h.beamsFail(w, r, err)
		return
	}
	h.log.Info("beams instance deleted", "instance_id", id)
	w.WriteHeader(http.StatusNoContent)
}

func (h *handler) beamsRotate(w http.ResponseWriter, r *http.Request) {
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
	rec, err := RotateBeamsKey(r.Context(), h.beams, r.PathValue("id"), grace, h.now())
	if err != nil {
		h.beamsFail(w, r, err)
		return
	}
	h.log.Info("beams instance key rotated", "instance_id", rec.ID, "grace", grace)
	writeJSON(w, http.StatusOK, FromBeamsRecord(rec, true))
}

// beamsFail writes err as a JSON error with the status its kind calls for.
func (h *handler) beamsFail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, stored.ErrInvalid):
		writeError(w, http.StatusUnprocessableEntity, "invalid", err.Error())
	case errors.Is(err, stored.ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", err.Error())
	case errors.Is(err, stored.ErrConflict):
		writeError(w, http.StatusConflict, "conflict", err.Error())
	default:
		h.log.Error("admin request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		writeError(w, http.StatusInternalServerError, "internal", "internal error")
	}
}
