package dashboard

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/admin"
	"github.com/heraldhq/herald/internal/beams/instance/stored"
	"github.com/heraldhq/herald/internal/config"
)

// The Beams pages exist only with a Beams store (Deps.Beams); without one
// their paths are 404 like any unknown page.

func beamsPath(id string) string { return "/beams/" + url.PathEscape(id) }

func (h *Handler) needBeams(w http.ResponseWriter, r *http.Request, c *call) bool {
	if h.beams != nil {
		return true
	}
	h.notFound(w, r, c)
	return false
}

type beamsRow struct {
	ID, Link, VAPIDSubject, FCM, APNs, Created string
}

type beamsListPage struct {
	page
	Instances []beamsRow
}

func (h *Handler) beamsList(w http.ResponseWriter, r *http.Request, c *call) {
	if !h.needBeams(w, r, c) {
		return
	}
	list, err := h.beams.ListInstances(r.Context())
	if err != nil {
		h.internalError(w, r, c, err)
		return
	}
	p := &beamsListPage{page: h.newPage(c, "Beams instances")}
	p.Notice = notice(r)
	for _, in := range admin.BeamsList(list).Instances {
		row := beamsRow{ID: in.ID, Link: c.link(beamsPath(in.ID)), VAPIDSubject: vapidSubject(in.VAPIDSubject),
			Created: formatDate(in.CreatedAt)}
		if in.FCM != nil {
			row.FCM = in.FCM.ProjectID
		}
		if in.APNs != nil {
			row.APNs = in.APNs.Topic
		}
		p.Instances = append(p.Instances, row)
	}
	h.render(w, r, c, http.StatusOK, "beamslist", p)
}

func vapidSubject(s string) string {
	if s == "" {
		return config.DefaultVAPIDSubject + " (default)"
	}
	return s
}

// beamsPage is an instance's keys page.
type beamsPage struct {
	page
	Instance     admin.BeamsInstance
	VAPIDSubject string
	Link         string
	SecretKey    string // set once revealed
	PreviousKeys []string
	Created      string
	Snippet      string
	Grace        string
}

func (h *Handler) newBeamsPage(c *call, rec *stored.Record, revealed bool) *beamsPage {
	now := h.now()
	p := &beamsPage{
		page:     h.newPage(c, "Beams instance "+rec.ID),
		Instance: admin.FromBeamsRecord(rec, false),
		Link:     c.link(beamsPath(rec.ID)),
		Created:  formatDate(rec.CreatedAt),
		Grace:    roundDuration(admin.DefaultGrace),
	}
	p.VAPIDSubject = vapidSubject(p.Instance.VAPIDSubject)
	if revealed {
		p.SecretKey = rec.SecretKey
	}
	p.Snippet = h.cfg.beamsNodeSnippet(rec.ID, p.SecretKey)
	for _, k := range rec.PreviousKeys {
		state := "expires "
		if !now.Before(k.Until) {
			state = "expired "
		}
		p.PreviousKeys = append(p.PreviousKeys, state+formatTime(k.Until, now))
	}
	return p
}

// instance reads the instance of the request's {id}; it answers for itself
// when it returns nil.
func (h *Handler) instance(w http.ResponseWriter, r *http.Request, c *call) *stored.Record {
	if !h.needBeams(w, r, c) {
		return nil
	}
	rec, err := admin.ShowBeamsInstance(r.Context(), h.beams, r.PathValue("id"))
	if err != nil {
		h.fail(w, r, c, err)
		return nil
	}
	return rec
}

func (h *Handler) beamsShow(w http.ResponseWriter, r *http.Request, c *call) {
	rec := h.instance(w, r, c)
	if rec == nil {
		return
	}
	p := h.newBeamsPage(c, rec, false)
	p.Notice = notice(r)
	h.render(w, r, c, http.StatusOK, "beams", p)
}

func (h *Handler) beamsReveal(w http.ResponseWriter, r *http.Request, c *call) {
	rec := h.instance(w, r, c)
	if rec == nil {
		return
	}
	h.log.Info("beams instance secret key revealed", "instance_id", rec.ID, "remote", c.remote)
	h.render(w, r, c, http.StatusOK, "beams", h.newBeamsPage(c, rec, true))
}

func (h *Handler) beamsRotate(w http.ResponseWriter, r *http.Request, c *call) {
	if !h.needBeams(w, r, c) {
		return
	}
	id, grace, ok := h.rotateWithGrace(w, r, c, func(grace time.Duration) (string, error) {
		rec, err := admin.RotateBeamsKey(r.Context(), h.beams, r.PathValue("id"), grace, h.now())
		if err != nil {
			return "", err
		}
		return rec.ID, nil
	}, func(msg string) {
		if cur := h.instance(w, r, c); cur != nil {
			p := h.newBeamsPage(c, cur, false)
			p.Error, p.Grace = msg, r.PostForm.Get("grace")
			h.render(w, r, c, http.StatusUnprocessableEntity, "beams", p)
		}
	})
	if !ok {
		return
	}
	h.log.Info("beams instance key rotated", "instance_id", id, "grace", grace, "remote", c.remote)
	redirect(w, r, c, beamsPath(id), "beams-rotated")
}

// beamsForm is the create form's state; a refused form comes back as sent
// (it is the operator's own paste, on a page that is never cached).
type beamsForm struct {
	Action         string
	ID             string
	SecretKey      string
	VAPIDSubject   string
	ServiceAccount string
	APNsKey        string
	APNsKeyID      string
	APNsTeamID     string
	APNsTopic      string
	APNsProduction bool
}

type beamsFormPage struct {
	page
	Form   *beamsForm
	Cancel string
}

func (h *Handler) renderBeamsForm(w http.ResponseWriter, r *http.Request, c *call, status int, f *beamsForm, errMsg string) {
	f.Action = c.link("/beams")
	p := &beamsFormPage{page: h.newPage(c, "New Beams instance"), Form: f, Cancel: c.link("/beams")}
	p.Error = errMsg
	h.render(w, r, c, status, "beamsform", p)
}

func (h *Handler) beamsNew(w http.ResponseWriter, r *http.Request, c *call) {
	if !h.needBeams(w, r, c) {
		return
	}
	h.renderBeamsForm(w, r, c, http.StatusOK, &beamsForm{}, "")
}

// settings converts the form to what admin.CreateBeamsInstance takes: empty
// fields are left out (generated, or that push service off).
func (f *beamsForm) settings() admin.BeamsSettings {
	s := admin.BeamsSettings{ID: optional(f.ID), SecretKey: optional(f.SecretKey), VAPIDSubject: f.VAPIDSubject}
	if f.ServiceAccount != "" {
		raw, _ := json.Marshal(f.ServiceAccount) // a JSON string: the admin form accepts the text that way
		s.FCM = &admin.BeamsFCMSettings{ServiceAccount: raw}
	}
	if f.APNsKey != "" || f.APNsKeyID != "" || f.APNsTeamID != "" || f.APNsTopic != "" {
		s.APNs = &admin.BeamsAPNsSettings{Key: f.APNsKey, KeyID: f.APNsKeyID, TeamID: f.APNsTeamID,
			Topic: f.APNsTopic, Production: f.APNsProduction}
	}
	return s
}

func (h *Handler) beamsCreate(w http.ResponseWriter, r *http.Request, c *call) {
	if !h.needBeams(w, r, c) {
		return
	}
	v := r.PostForm
	f := &beamsForm{
		ID:             strings.TrimSpace(v.Get("id")),
		SecretKey:      strings.TrimSpace(v.Get("secret_key")),
		VAPIDSubject:   strings.TrimSpace(v.Get("vapid_subject")),
		ServiceAccount: strings.TrimSpace(v.Get("fcm_service_account")),
		APNsKey:        strings.TrimSpace(v.Get("apns_key")),
		APNsKeyID:      strings.TrimSpace(v.Get("apns_key_id")),
		APNsTeamID:     strings.TrimSpace(v.Get("apns_team_id")),
		APNsTopic:      strings.TrimSpace(v.Get("apns_topic")),
		APNsProduction: v.Get("apns_production") != "",
	}
	rec, err := admin.CreateBeamsInstance(r.Context(), h.beams, f.settings(), h.cfg.BeamsConfigIDs)
	if err != nil {
		switch st := statusOf(err); st {
		case http.StatusUnprocessableEntity, http.StatusConflict:
			h.renderBeamsForm(w, r, c, st, f, err.Error())
		default:
			h.fail(w, r, c, err)
		}
		return
	}
	h.log.Info("beams instance created", "instance_id", rec.ID, "remote", c.remote)
	redirect(w, r, c, beamsPath(rec.ID), "beams-created")
}

func (h *Handler) beamsDeleteConfirm(w http.ResponseWriter, r *http.Request, c *call) {
	rec := h.instance(w, r, c)
	if rec == nil {
		return
	}
	h.renderDelete(w, r, c, http.StatusOK, "delete", "Beams instance", rec.ID, beamsPath(rec.ID), "")
}

// beamsDelete deletes the instance and its devices once its id has been
// typed in confirmation.
func (h *Handler) beamsDelete(w http.ResponseWriter, r *http.Request, c *call) {
	rec := h.instance(w, r, c)
	if rec == nil {
		return
	}
	if !strings.EqualFold(strings.TrimSpace(r.PostForm.Get("confirm")), rec.ID) {
		h.renderDelete(w, r, c, http.StatusUnprocessableEntity, "delete", "Beams instance", rec.ID, beamsPath(rec.ID),
			"Type the instance id exactly to confirm; nothing was deleted.")
		return
	}
	if err := admin.DeleteBeamsInstance(r.Context(), h.beams, rec.ID, h.cfg.BeamsConfigIDs); err != nil {
		h.fail(w, r, c, err)
		return
	}
	h.log.Info("beams instance deleted", "instance_id", rec.ID, "remote", c.remote)
	redirect(w, r, c, "/beams", "beams-deleted")
}
