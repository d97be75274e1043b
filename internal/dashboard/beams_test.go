package dashboard

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/beams/instance/stored"
	"github.com/heraldhq/herald/internal/beams/instance/stored/storedtest"
)

const configInstanceID = "c0ffee00-0000-4000-8000-00000000c0de"

var reInstancePath = regexp.MustCompile(`^/beams/([0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12})\?notice=beams-created$`)

func (hs *harness) instance(id string) *stored.Record {
	hs.t.Helper()
	rec, err := hs.beams.GetInstance(context.Background(), id)
	if err != nil {
		hs.t.Fatalf("instance %s: %v", id, err)
	}
	return rec
}

func TestBeamsLifecycle(t *testing.T) {
	hs := newHarness(t, harnessOpts{beams: true, cfg: Config{PublicHost: "push.example.com", PublicPort: 8443,
		BeamsConfigIDs: []string{strings.ToUpper(configInstanceID)}}})
	hs.login()
	hs.want(hs.get("/"), http.StatusOK, `href="/beams"`)
	hs.want(hs.get("/beams"), http.StatusOK, "No stored Beams instances", `href="/beams/new"`)
	hs.want(hs.get("/beams/new"), http.StatusOK, `name="vapid_subject"`, `name="fcm_service_account"`, `name="apns_key"`)

	// Everything generated.
	r := hs.post("/beams", url.Values{"vapid_subject": {"mailto:ops@example.com"}})
	m := reInstancePath.FindStringSubmatch(r.location())
	if r.code != http.StatusSeeOther || m == nil {
		t.Fatalf("create: %d to %q:\n%s", r.code, r.location(), r.body)
	}
	id := m[1]
	rec := hs.instance(id)
	if len(rec.SecretKey) != 64 || rec.VAPIDSubject != "mailto:ops@example.com" || rec.FCM != nil || rec.APNs != nil {
		t.Fatalf("stored %+v", rec)
	}
	page := hs.get(r.location())
	hs.want(page, http.StatusOK, "Instance created.", id, "mailto:ops@example.com", "Reveal",
		"instanceId: &#39;"+id+"&#39;,", "secretKey: process.env.BEAMS_SECRET_KEY,",
		"endpoint: &#39;push.example.com&#39;,", "port: 8443,")
	if strings.Contains(page.body, rec.SecretKey) {
		t.Fatal("the secret key is shown before it is revealed")
	}
	list := hs.get("/beams")
	hs.want(list, http.StatusOK, `href="/beams/`+id+`"`, "mailto:ops@example.com")
	if strings.Contains(list.body, rec.SecretKey) {
		t.Fatal("the list shows the secret key")
	}

	// Reveal.
	hs.want(hs.post("/beams/"+id+"/reveal", url.Values{csrfField: {"forged"}}), http.StatusForbidden)
	hs.want(hs.post("/beams/"+id+"/reveal", nil), http.StatusOK, `id="secret-key"`, rec.SecretKey, "secretKey: &#39;"+rec.SecretKey+"&#39;,")
	if logs := hs.logs.String(); !strings.Contains(logs, "beams instance secret key revealed") || !strings.Contains(logs, "instance_id="+id) || strings.Contains(logs, rec.SecretKey) {
		t.Errorf("reveal log:\n%s", logs)
	}

	// Rotate: the old key is listed with its expiry.
	hs.wantRedirect(hs.post("/beams/"+id+"/rotate", url.Values{"grace": {"90m"}}), "/beams/"+id+"?notice=beams-rotated")
	after := hs.instance(id)
	if after.SecretKey == rec.SecretKey || len(after.PreviousKeys) != 1 || after.PreviousKeys[0].Key != rec.SecretKey ||
		!after.PreviousKeys[0].Until.Equal(hs.clock().Add(90*time.Minute)) {
		t.Fatalf("after rotation %+v", after)
	}
	page = hs.get("/beams/" + id + "?notice=beams-rotated")
	hs.want(page, http.StatusOK, "Secret key rotated.", "previous key 0: expires 2026-03-01 13:30:00 UTC (in 1h30m)")
	if strings.Contains(page.body, rec.SecretKey) || strings.Contains(page.body, after.SecretKey) {
		t.Error("a key is shown unrevealed")
	}
	hs.want(hs.post("/beams/"+id+"/rotate", url.Values{"grace": {"later"}}), http.StatusUnprocessableEntity, "not a duration", `value="later"`)
	hs.want(hs.post("/beams/00000000-0000-0000-0000-00000000beef/rotate", url.Values{"grace": {"soon"}}), http.StatusNotFound)
	hs.want(hs.post("/beams/"+id+"/rotate", url.Values{"grace": {"2000h"}}), http.StatusUnprocessableEntity)
	if hs.instance(id).SecretKey != after.SecretKey {
		t.Error("a refused rotation rotated")
	}

	// Delete, confirmed by the id (in any case).
	hs.want(hs.get("/beams/"+id+"/delete"), http.StatusOK, `data-confirm="`+id+`"`, "every device")
	hs.want(hs.post("/beams/"+id+"/delete", url.Values{"confirm": {id[:8]}}), http.StatusUnprocessableEntity, "nothing was deleted")
	hs.instance(id)
	hs.wantRedirect(hs.post("/beams/"+id+"/delete", url.Values{"confirm": {strings.ToUpper(id)}}), "/beams?notice=beams-deleted")
	if _, err := hs.beams.GetInstance(context.Background(), id); !errors.Is(err, stored.ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
	hs.want(hs.get("/beams/"+id), http.StatusNotFound, "not found")
	hs.want(hs.post("/beams/"+id+"/rotate", nil), http.StatusNotFound)
}

func TestBeamsCreateWithCredentials(t *testing.T) {
	hs := newHarness(t, harnessOpts{beams: true, cfg: Config{BeamsConfigIDs: []string{configInstanceID}}})
	hs.login()
	acct, p8 := storedtest.ServiceAccount(), storedtest.APNsKey()
	const id = "5e1f7a2c-1111-4222-8333-444455556666"
	r := hs.post("/beams", url.Values{
		"id": {strings.ToUpper(id)}, "secret_key": {"my-own-secret-key-0123"},
		"fcm_service_account": {acct},
		"apns_key":            {p8}, "apns_key_id": {"ABCDEFGHIJ"}, "apns_team_id": {"KLMNOPQRST"},
		"apns_topic": {"com.example.app"}, "apns_production": {"1"},
	})
	hs.wantRedirect(r, "/beams/"+id+"?notice=beams-created")
	rec := hs.instance(id)
	if rec.SecretKey != "my-own-secret-key-0123" || rec.FCM == nil || rec.FCM.ServiceAccount != acct ||
		rec.APNs == nil || !rec.APNs.Production || rec.APNs.Topic != "com.example.app" {
		t.Fatalf("stored %+v", rec)
	}
	page := hs.post("/beams/"+id+"/reveal", nil)
	hs.want(page, http.StatusOK, "topic <code>com.example.app</code>", "production", "my-own-secret-key-0123")
	for _, secret := range []string{p8[40:100], acct[strings.Index(acct, "BEGIN"):][:120]} {
		if strings.Contains(page.body, secret) {
			t.Error("a credential's private key is on the page")
		}
	}

	// Refused: the form comes back as sent, with the reason.
	for _, c := range []struct {
		form url.Values
		code int
		msg  string
	}{
		{url.Values{"id": {id}}, http.StatusConflict, "already exists"},
		{url.Values{"id": {configInstanceID}}, http.StatusConflict, "config file"},
		{url.Values{"id": {"not-a-uuid"}}, http.StatusUnprocessableEntity, "id"},
		{url.Values{"vapid_subject": {"ops@example.com"}}, http.StatusUnprocessableEntity, "vapid_subject"},
		{url.Values{"secret_key": {"short"}}, http.StatusUnprocessableEntity, "secret_key"},
		{url.Values{"fcm_service_account": {"{not json"}}, http.StatusUnprocessableEntity, "fcm"},
		{url.Values{"apns_topic": {"com.example.app"}}, http.StatusUnprocessableEntity, "apns"},
	} {
		r := hs.post("/beams", c.form)
		hs.want(r, c.code, c.msg, `name="vapid_subject"`)
		for k, v := range c.form {
			if !strings.Contains(r.body, v[0]) {
				t.Errorf("%v: the form lost %s", c.form, k)
			}
		}
	}
	if list, _ := hs.beams.ListInstances(context.Background()); len(list) != 1 {
		t.Errorf("%d instances stored, want 1", len(list))
	}
	// The config file's instance is not deleted from here.
	hs.want(hs.post("/beams/"+configInstanceID+"/delete", url.Values{"confirm": {configInstanceID}}), http.StatusNotFound)
}

func TestNoBeamsStore(t *testing.T) {
	hs := newHarness(t, harnessOpts{})
	hs.login()
	if strings.Contains(hs.get("/").body, `href="/beams"`) {
		t.Error("a Beams link without a Beams store")
	}
	for _, p := range []string{"/beams", "/beams/new", "/beams/" + configInstanceID} {
		hs.want(hs.get(p), http.StatusNotFound)
	}
	hs.want(hs.post("/beams", nil), http.StatusNotFound)
}
