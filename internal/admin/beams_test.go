package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/beams/devices/sqldevices"
	"github.com/heraldhq/herald/internal/beams/instance/stored"
	"github.com/heraldhq/herald/internal/beams/instance/stored/storedtest"
)

const configBeamsID = "c0ffee00-0000-4000-8000-00000000c0de"

// newBeamsHarness serves the admin API with st as its Beams store and one
// config instance, configBeamsID.
func newBeamsHarness(t *testing.T, st BeamsStore) *harness {
	t.Helper()
	hs := &harness{t: t, store: newFake(), logs: &bytes.Buffer{}, now: time.Now().UTC().Truncate(time.Second)}
	log := slog.New(slog.NewTextHandler(hs.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	hs.h = New(Config{Token: token, BeamsConfigIDs: []string{strings.ToUpper(configBeamsID)}},
		Deps{Apps: hs.store, Beams: st, Logger: log, Now: func() time.Time { return hs.now }})
	return hs
}

func sqliteBeams(t *testing.T) BeamsStore {
	t.Helper()
	st, err := sqldevices.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "apps.db"), sqldevices.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

var (
	reUUID  = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	reHex64 = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

func TestBeamsAdminLifecycle(t *testing.T) { testBeamsLifecycle(t, newFakeBeams()) }

// TestBeamsAdminLifecycleSQLite runs the same requests over the real store.
func TestBeamsAdminLifecycleSQLite(t *testing.T) { testBeamsLifecycle(t, sqliteBeams(t)) }

func testBeamsLifecycle(t *testing.T, st BeamsStore) {
	hs := newBeamsHarness(t, st)
	acct, p8 := storedtest.ServiceAccount(), storedtest.APNsKey()
	secrets := []string{acct[strings.Index(acct, "BEGIN"):][:120], p8[40:100]}

	// Everything generated.
	r := hs.do("POST", "/admin/beams/instances", "{}")
	hs.want(r, http.StatusCreated, "")
	var gen BeamsInstance
	r.json(t, &gen)
	if !reUUID.MatchString(gen.ID) || !reHex64.MatchString(gen.SecretKey) || gen.FCM != nil || gen.APNs != nil ||
		gen.Version != 1 || gen.CreatedAt.IsZero() || len(gen.PreviousKeys) != 0 {
		t.Fatalf("generated %+v", gen)
	}
	if r.header.Get("Location") != "/admin/beams/instances/"+gen.ID {
		t.Errorf("Location %q", r.header.Get("Location"))
	}
	secrets = append(secrets, gen.SecretKey)

	// Everything given; the id in upper case is stored in lower case; the
	// service account as an object.
	const shopID = "5a0b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d"
	body, _ := json.Marshal(map[string]any{
		"id": strings.ToUpper(shopID), "secret_key": "shop-secret-key-0123456789", "vapid_subject": "mailto:ops@shop.example.com",
		"fcm":  map[string]any{"service_account": json.RawMessage(acct)},
		"apns": map[string]any{"key": p8, "key_id": "KEY1234567", "team_id": "TEAM123456", "topic": "com.shop.app", "production": true},
	})
	r = hs.do("POST", "/admin/beams/instances", string(body))
	hs.want(r, http.StatusCreated, "")
	var shop BeamsInstance
	r.json(t, &shop)
	want := BeamsInstance{
		ID: shopID, SecretKey: "shop-secret-key-0123456789", VAPIDSubject: "mailto:ops@shop.example.com",
		FCM:          &BeamsFCM{ProjectID: "herald-test", ClientEmail: "push@herald-test.iam.gserviceaccount.com"},
		APNs:         &BeamsAPNs{KeyID: "KEY1234567", TeamID: "TEAM123456", Topic: "com.shop.app", Production: true},
		PreviousKeys: []PreviousSecret{}, Version: 1, CreatedAt: shop.CreatedAt, UpdatedAt: shop.UpdatedAt,
	}
	if !jsonEqual(t, shop, want) {
		t.Errorf("created\n%+v\nwant\n%+v", shop, want)
	}
	noSecrets(t, r.body, secrets) // the credentials' keys are never echoed
	got, err := st.GetInstance(context.Background(), shopID)
	if err != nil || got.FCM.ServiceAccount != acct || got.APNs.Key != p8 {
		t.Fatalf("stored %v, %v", got, err)
	}
	secrets = append(secrets, "shop-secret-key-0123456789")

	// The service account as a JSON string works too.
	body, _ = json.Marshal(map[string]any{"fcm": map[string]any{"service_account": acct}})
	hs.want(hs.do("POST", "/admin/beams/instances", string(body)), http.StatusCreated, "")

	// List and show carry no secret key.
	r = hs.do("GET", "/admin/beams/instances", "")
	hs.want(r, http.StatusOK, "")
	var list BeamsInstanceList
	r.json(t, &list)
	if len(list.Instances) != 3 || list.Instances[0].ID > list.Instances[1].ID || list.Instances[1].ID > list.Instances[2].ID {
		t.Errorf("list %+v", list)
	}
	if strings.Contains(r.body, `"secret_key"`) {
		t.Errorf("list has a secret_key: %s", r.body)
	}
	noSecrets(t, r.body, secrets)
	r = hs.do("GET", "/admin/beams/instances/"+shopID, "")
	hs.want(r, http.StatusOK, "")
	noSecrets(t, r.body, secrets)
	r = hs.do("GET", "/admin/beams/instances/"+shopID+"?show_secret=1", "")
	hs.want(r, http.StatusOK, "")
	var shown BeamsInstance
	r.json(t, &shown)
	if shown.SecretKey != shop.SecretKey {
		t.Errorf("show_secret=1: %q", shown.SecretKey)
	}
	hs.want(hs.do("GET", "/admin/beams/instances/"+shopID+"?show_secret=yes", ""), http.StatusBadRequest, "bad_request")
	hs.want(hs.do("GET", "/admin/beams/instances/"+strings.ToUpper(shopID), ""), http.StatusOK, "") // UUIDs in any case
	hs.want(hs.do("GET", "/admin/beams/instances/nope", ""), http.StatusNotFound, "not_found")

	// Rotate: the new key is shown, the old one only by its expiry.
	r = hs.do("POST", "/admin/beams/instances/"+shopID+"/rotate-key", `{"grace": "1h"}`)
	hs.want(r, http.StatusOK, "")
	var rot BeamsInstance
	r.json(t, &rot)
	if !reHex64.MatchString(rot.SecretKey) || rot.SecretKey == shop.SecretKey || rot.Version != 2 ||
		len(rot.PreviousKeys) != 1 || !rot.PreviousKeys[0].ExpiresAt.Equal(hs.now.Add(time.Hour)) {
		t.Fatalf("rotated %+v", rot)
	}
	noSecrets(t, r.body, []string{shop.SecretKey})
	if got, _ := st.GetInstance(context.Background(), shopID); got.SecretKey != rot.SecretKey || got.PreviousKeys[0].Key != shop.SecretKey {
		t.Error("rotation not stored")
	}
	secrets = append(secrets, rot.SecretKey)
	r = hs.do("POST", "/admin/beams/instances/"+gen.ID+"/rotate-key", "") // the default grace
	hs.want(r, http.StatusOK, "")
	var rot2 BeamsInstance
	r.json(t, &rot2)
	if len(rot2.PreviousKeys) != 1 || !rot2.PreviousKeys[0].ExpiresAt.Equal(hs.now.Add(DefaultGrace)) {
		t.Errorf("default grace: %+v", rot2.PreviousKeys)
	}
	secrets = append(secrets, rot2.SecretKey)
	for _, g := range []string{`"-1h"`, `"1000h"`, `"soon"`} {
		hs.want(hs.do("POST", "/admin/beams/instances/"+shopID+"/rotate-key", `{"grace": `+g+`}`), http.StatusUnprocessableEntity, "invalid")
	}
	hs.want(hs.do("POST", "/admin/beams/instances/nope/rotate-key", `{}`), http.StatusNotFound, "not_found")

	// Delete.
	hs.want(hs.do("DELETE", "/admin/beams/instances/"+shopID, ""), http.StatusNoContent, "")
	hs.want(hs.do("GET", "/admin/beams/instances/"+shopID, ""), http.StatusNotFound, "not_found")
	hs.want(hs.do("DELETE", "/admin/beams/instances/"+shopID, ""), http.StatusNotFound, "not_found")

	logs := hs.logs.String()
	noSecrets(t, logs, append(secrets, token))
	for _, msg := range []string{"beams instance created", "beams instance key rotated", "beams instance deleted", "beams instance secret key shown"} {
		if !strings.Contains(logs, msg) {
			t.Errorf("log lacks %q:\n%s", msg, logs)
		}
	}
}

func TestBeamsAdminBadInput(t *testing.T)       { testBeamsBadInput(t, newFakeBeams()) }
func TestBeamsAdminBadInputSQLite(t *testing.T) { testBeamsBadInput(t, sqliteBeams(t)) }

func testBeamsBadInput(t *testing.T, st BeamsStore) {
	hs := newBeamsHarness(t, st)
	const a = "aaaaaaaa-0000-4000-8000-000000000001"
	hs.want(hs.do("POST", "/admin/beams/instances", `{"id": "`+a+`"}`), http.StatusCreated, "")
	p8, _ := json.Marshal(storedtest.APNsKey())

	cases := []struct {
		name, method, path, body string
		status                   int
		code, msg                string
	}{
		{"duplicate id", "POST", "/admin/beams/instances", `{"id": "` + a + `"}`, 409, "conflict", "beams instance " + a + " already exists"},
		{"config id", "POST", "/admin/beams/instances", `{"id": "` + configBeamsID + `"}`, 409, "conflict", "config file"},
		{"delete config id", "DELETE", "/admin/beams/instances/" + configBeamsID, ``, 409, "conflict", "remove it from the config first"},
		{"bad id", "POST", "/admin/beams/instances", `{"id": "instance-1"}`, 422, "invalid", "id: \"instance-1\" is not a UUID"},
		{"empty secret", "POST", "/admin/beams/instances", `{"secret_key": ""}`, 422, "invalid", "secret_key: must not be empty"},
		{"short secret", "POST", "/admin/beams/instances", `{"secret_key": "abc"}`, 422, "invalid", "secret_key"},
		{"subject", "POST", "/admin/beams/instances", `{"vapid_subject": "ops@example.com"}`, 422, "invalid", "vapid_subject"},
		{"fcm not an account", "POST", "/admin/beams/instances", `{"fcm": {"service_account": {"type": "x"}}}`, 422, "invalid", "fcm.service_account"},
		{"fcm a number", "POST", "/admin/beams/instances", `{"fcm": {"service_account": 3}}`, 422, "invalid", "fcm.service_account"},
		{"fcm missing", "POST", "/admin/beams/instances", `{"fcm": {}}`, 422, "invalid", "fcm.service_account: must be set"},
		{"apns ids", "POST", "/admin/beams/instances", `{"apns": {"key": ` + string(p8) + `, "key_id": "k", "team_id": "TEAM123456", "topic": "t"}}`, 422, "invalid", "apns.key_id"},
		{"apns key", "POST", "/admin/beams/instances", `{"apns": {"key": "x", "key_id": "KEY1234567", "team_id": "TEAM123456", "topic": "t"}}`, 422, "invalid", "apns.key: the .p8 key is not PEM"},
		{"unknown field", "POST", "/admin/beams/instances", `{"instance_id": "x"}`, 400, "bad_request", "instance_id"},
		{"read-only field", "POST", "/admin/beams/instances", `{"previous_keys": []}`, 400, "bad_request", "previous_keys"},
		{"empty body", "POST", "/admin/beams/instances", ``, 400, "bad_request", "invalid JSON"},
		{"too large", "POST", "/admin/beams/instances", `{"vapid_subject": "mailto:` + strings.Repeat("x", MaxBodyBytes) + `"}`, 413, "too_large", "64 KiB"},
		{"grace", "POST", "/admin/beams/instances/" + a + "/rotate-key", `{"grace": "3 days"}`, 422, "invalid", "grace"},
		{"method", "PATCH", "/admin/beams/instances/" + a, `{}`, 405, "method_not_allowed", "GET, DELETE"},
		{"method on list", "DELETE", "/admin/beams/instances", ``, 405, "method_not_allowed", "GET, POST"},
		{"method on rotate", "GET", "/admin/beams/instances/" + a + "/rotate-key", ``, 405, "method_not_allowed", "POST"},
		{"unknown path", "GET", "/admin/beams/nothing", ``, 404, "not_found", "no such"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := hs.do(c.method, c.path, c.body)
			if r.code != c.status {
				t.Fatalf("status %d, want %d: %s", r.code, c.status, r.body)
			}
			var e Error
			r.json(t, &e)
			if e.Code != c.code || !strings.Contains(e.Error, c.msg) || strings.Contains(e.Error, "\n") {
				t.Errorf("error %+v, want code %q and a one-line message with %q", e, c.code, c.msg)
			}
			if strings.Contains(e.Error, storedtest.APNsKey()[40:80]) {
				t.Errorf("the error quotes a key: %s", e.Error)
			}
		})
	}
	list, err := st.ListInstances(context.Background())
	if err != nil || len(list) != 1 || list[0].ID != a || list[0].Version != 1 {
		t.Errorf("bad input changed the store: %v, %v", list, err)
	}
}

// Without a Beams store the routes do not exist: 404 in JSON, like any
// unknown admin path.
func TestBeamsAdminOff(t *testing.T) {
	hs := newHarness(t, token)
	for _, r := range []resp{
		hs.do("GET", "/admin/beams/instances", ""),
		hs.do("POST", "/admin/beams/instances", "{}"),
		hs.do("POST", "/admin/beams/instances/x/rotate-key", ""),
	} {
		hs.want(r, http.StatusNotFound, "not_found")
	}
	// And behind the token like everything else.
	hs = newBeamsHarness(t, newFakeBeams())
	hs.want(hs.do("GET", "/admin/beams/instances", "", ""), http.StatusUnauthorized, "unauthorized")
	hs.want(hs.do("POST", "/admin/beams/instances", "{}", "Bearer wrong-token-0123456789"), http.StatusForbidden, "forbidden")
}

func TestBeamsAdminStoreFailure(t *testing.T) {
	fake := newFakeBeams()
	fake.fail = errDown
	hs := newBeamsHarness(t, fake)
	for _, r := range []resp{
		hs.do("GET", "/admin/beams/instances", ""),
		hs.do("POST", "/admin/beams/instances", "{}"),
		hs.do("GET", "/admin/beams/instances/a", ""),
		hs.do("DELETE", "/admin/beams/instances/a", ""),
		hs.do("POST", "/admin/beams/instances/a/rotate-key", ""),
	} {
		hs.want(r, http.StatusInternalServerError, "internal")
		if strings.Contains(r.body, "database is down") {
			t.Errorf("the store error leaked to the client: %s", r.body)
		}
	}
	if !strings.Contains(hs.logs.String(), "database is down") {
		t.Errorf("the store error was not logged:\n%s", hs.logs.String())
	}
}

func TestFromBeamsRecord(t *testing.T) {
	rec := storedtest.Record("5a0b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d")
	rec.PreviousKeys = []stored.PreviousKey{{Key: "old-key-0123456789abc", Until: time.Unix(1e9, 0)}}
	out := FromBeamsRecord(&rec, false)
	b, _ := json.Marshal(out)
	for _, secret := range []string{rec.SecretKey, "old-key", "PRIVATE KEY"} {
		if strings.Contains(string(b), secret) {
			t.Errorf("%s shows %q", b, secret)
		}
	}
	if out.FCM.ProjectID != "herald-test" || out.APNs.Topic != "com.example.app" || len(out.PreviousKeys) != 1 {
		t.Errorf("%+v", out)
	}
	b, _ = json.Marshal(FromBeamsRecord(&stored.Record{ID: "x"}, false))
	for _, field := range []string{`"fcm":null`, `"apns":null`, `"previous_keys":[]`, `"vapid_subject":""`} {
		if !strings.Contains(string(b), field) {
			t.Errorf("%s lacks %s", b, field)
		}
	}
}
