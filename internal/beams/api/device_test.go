package api

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/beams/devices"
	"github.com/heraldhq/herald/internal/beams/instance"
	"github.com/heraldhq/herald/internal/beams/token"
)

func TestGetAndDeleteDevice(t *testing.T) {
	e := newEnv(t)
	d := e.register(devices.Web, "tok")
	rec := e.do("GET", devBase+"/devices/web/"+d.ID, "")
	wantStatus(t, rec, 200)
	if rec.Body.String() != `{"id":"`+d.ID+`","platform":"web","userId":""}` {
		t.Fatalf("reply %s", rec.Body)
	}
	if err := e.store.SetMetadata(context.Background(), testID, d.ID, []byte(`{"sdkVersion":"2.1.0"}`)); err != nil {
		t.Fatal(err)
	}
	if err := e.store.SetUser(context.Background(), testID, d.ID, "alice", 0); err != nil {
		t.Fatal(err)
	}
	rec = e.do("GET", devBase+"/devices/web/"+d.ID, "")
	if rec.Body.String() != `{"id":"`+d.ID+`","platform":"web","userId":"alice","metadata":{"sdkVersion":"2.1.0"}}` {
		t.Fatalf("reply %s", rec.Body)
	}
	rec = e.do("DELETE", devBase+"/devices/web/"+d.ID, "")
	if rec.Code != 200 || rec.Body.Len() != 0 {
		t.Fatalf("delete: %d %s", rec.Code, rec.Body)
	}
	wantError(t, e.do("GET", devBase+"/devices/web/"+d.ID, ""), 404, "Device Not Found")
	wantError(t, e.do("DELETE", devBase+"/devices/web/"+d.ID, ""), 404, "Device Not Found")
}

// TestDeviceNotFound: unknown ids, and ids under another platform's path,
// are 404 Device Not Found on every device route.
func TestDeviceNotFound(t *testing.T) {
	e := newEnv(t)
	web := e.register(devices.Web, "w")
	fcm := e.register(devices.FCM, "f")
	tok := token.Generate(testID, testSecret, "alice", frozen)
	for _, path := range []string{
		"/devices/web/web-00000000-0000-4000-8000-000000000000",
		"/devices/fcm/" + web.ID, // a web id under fcm
		"/devices/apns/" + web.ID,
		"/devices/web/" + fcm.ID,
		"/devices/web/" + strings.TrimPrefix(web.ID, "web-"),
		"/devices/safari/" + web.ID,
	} {
		for _, r := range []struct{ method, suffix, body string }{
			{"GET", "", ""}, {"DELETE", "", ""},
			{"POST", "/interests/a", ""}, {"DELETE", "/interests/a", ""},
			{"PUT", "/interests", `{"interests":["a"]}`}, {"GET", "/interests", ""},
			{"PUT", "/user", ""}, {"PUT", "/metadata", `{}`},
		} {
			rec := e.do(r.method, devBase+path+r.suffix, r.body, "Authorization", "Bearer "+tok)
			if d := wantError(t, rec, 404, "Device Not Found"); d != "Device not found" {
				t.Fatalf("%s %s: description %q", r.method, path+r.suffix, d)
			}
		}
	}
	// Nothing happened to the real devices.
	for _, d := range []devices.Device{web, fcm} {
		got, err := e.store.Get(context.Background(), testID, d.ID)
		if err != nil || got.UserID != "" {
			t.Fatalf("%s: %+v %v", d.ID, got, err)
		}
	}
}

func (e *env) interests(id string) []string {
	e.t.Helper()
	list, _, err := e.store.Interests(context.Background(), testID, id, "", devices.MaxPageSize)
	if err != nil {
		e.t.Fatal(err)
	}
	return list
}

func TestInterests(t *testing.T) {
	e := newEnv(t)
	d := e.register(devices.Web, "tok")
	base := devBase + "/devices/web/" + d.ID + "/interests"
	for _, name := range []string{"hello", "a%40b", "x%3Dy%2Cz%3B", "_-=@,.;", strings.Repeat("z", 164)} {
		rec := e.do("POST", base+"/"+name, "")
		if rec.Code != 200 || rec.Body.Len() != 0 {
			t.Fatalf("add %s: %d %s", name, rec.Code, rec.Body)
		}
	}
	wantStatus(t, e.do("POST", base+"/hello", ""), 200) // idempotent
	want := []string{"_-=@,.;", "a@b", "hello", "x=y,z;", strings.Repeat("z", 164)}
	if got := e.interests(d.ID); !slices.Equal(got, want) {
		t.Fatalf("interests %q", got)
	}
	for _, bad := range []string{"a%2Fb", "a:b", "a%20b", "%C3%BC", strings.Repeat("z", 165)} {
		wantError(t, e.do("POST", base+"/"+bad, ""), 400, "Bad Request")
		wantError(t, e.do("DELETE", base+"/"+bad, ""), 400, "Bad Request")
	}
	wantStatus(t, e.do("DELETE", base+"/a%40b", ""), 200)
	wantStatus(t, e.do("DELETE", base+"/never", ""), 200) // idempotent
	if got := e.interests(d.ID); len(got) != 4 || slices.Contains(got, "a@b") {
		t.Fatalf("after delete %q", got)
	}

	// PUT replaces the set; duplicates count once.
	rec := e.do("PUT", base, `{"interests":["donuts","hello","donuts"]}`, jsonType...)
	if rec.Code != 200 || rec.Body.Len() != 0 {
		t.Fatalf("set: %d %s", rec.Code, rec.Body)
	}
	if got := e.interests(d.ID); !slices.Equal(got, []string{"donuts", "hello"}) {
		t.Fatalf("after set %q", got)
	}
	wantStatus(t, e.do("PUT", base, `{"interests":[]}`), 200)
	if got := e.interests(d.ID); len(got) != 0 {
		t.Fatalf("after clear %q", got)
	}
	for _, body := range []string{`{"interests":["ok","a:b"]}`, `{"interests":[""]}`, `{"interests":null}`, `{}`, `{"interests":"a"}`, `{"interests":[1]}`, `[]`, `x`} {
		wantError(t, e.do("PUT", base, body), 400, "Bad Request")
	}

	// The cap: 5000 distinct names (plus duplicates) are fine, 5001 are not.
	names := make([]string, 0, devices.MaxInterests+1)
	for i := range devices.MaxInterests {
		names = append(names, fmt.Sprintf(`"interest-%04d"`, i))
	}
	names = append(names, `"interest-0000"`)
	wantStatus(t, e.do("PUT", base, `{"interests":[`+strings.Join(names, ",")+`]}`), 200)
	wantError(t, e.do("POST", base+"/one-more", ""), 422, "Unprocessable Entity")
	names = append(names, `"interest-5000"`)
	wantError(t, e.do("PUT", base, `{"interests":[`+strings.Join(names, ",")+`]}`), 422, "Unprocessable Entity")
	if n := len(e.interests(d.ID)); n != devices.MaxInterests {
		t.Fatalf("%d interests after refusals", n)
	}
	big := `{"interests":["` + strings.Repeat("a", 1<<20) + `"]}`
	if d := wantError(t, e.do("PUT", base, big), 400, "Bad Request"); !strings.Contains(d, "1024KiB") {
		t.Fatalf("too large: %q", d)
	}
}

type interestPage struct {
	Interests []string          `json:"interests"`
	Meta      map[string]string `json:"responseMetadata"`
}

func TestListInterests(t *testing.T) {
	e := newEnv(t)
	d := e.register(devices.FCM, "tok")
	base := devBase + "/devices/fcm/" + d.ID + "/interests"
	rec := e.do("GET", base, "")
	if rec.Body.String() != `{"interests":[],"responseMetadata":{}}` {
		t.Fatalf("empty list %s", rec.Body)
	}
	var want []string
	for i := range 250 {
		want = append(want, fmt.Sprintf("i%03d", i))
	}
	if err := e.store.SetInterests(context.Background(), testID, d.ID, want); err != nil {
		t.Fatal(err)
	}
	// Default page size 100.
	p := decode[interestPage](t, e.do("GET", base, ""))
	if len(p.Interests) != 100 || p.Meta["nextCursor"] == "" {
		t.Fatalf("default page: %d, %v", len(p.Interests), p.Meta)
	}
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		q := "?limit=90"
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		rec := e.do("GET", base+q, "")
		wantStatus(t, rec, 200)
		p := decode[interestPage](t, rec)
		got = append(got, p.Interests...)
		if p.Meta == nil {
			t.Fatalf("no responseMetadata: %s", rec.Body)
		}
		cursor = p.Meta["nextCursor"]
		if cursor == "" {
			if pages != 2 || !strings.HasSuffix(rec.Body.String(), `"responseMetadata":{}}`) {
				t.Fatalf("last page %d: %s", pages, rec.Body)
			}
			break
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("pages gave %d interests", len(got))
	}
	// A huge limit is lowered, not refused.
	if p := decode[interestPage](t, e.do("GET", base+"?limit=100000", "")); len(p.Interests) != 250 {
		t.Fatalf("limit 100000 gave %d", len(p.Interests))
	}
	for _, q := range []string{"?limit=0", "?limit=-1", "?limit=abc", "?limit=1.5", "?cursor=%21%21", "?cursor=%FF"} {
		wantError(t, e.do("GET", base+q, ""), 400, "Bad Request")
	}
}

// jwt signs claims with HS256 (or the given alg, signature still HS256).
func jwt(alg, claims, secret string) string {
	b := base64.RawURLEncoding
	s := b.EncodeToString([]byte(`{"alg":"`+alg+`","typ":"JWT"}`)) + "." + b.EncodeToString([]byte(claims))
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(s))
	return s + "." + b.EncodeToString(m.Sum(nil))
}

func TestSetUser(t *testing.T) {
	e := newEnv(t, withConfig(Config{ExtraIssuers: []string{"https://push.example.com"}}), withInstance(func(in *instance.Instance) {
		in.Secrets = []instance.Secret{{Key: testSecret}, {Key: "old", Until: frozen.Add(time.Hour)}}
		in.MaxDevicesPerUser = 2
	}))
	put := func(d devices.Device, auth string) *httptest.ResponseRecorder {
		if auth == "" {
			return e.do("PUT", devBase+"/devices/"+string(d.Platform)+"/"+d.ID+"/user", "")
		}
		return e.do("PUT", devBase+"/devices/"+string(d.Platform)+"/"+d.ID+"/user", "", "Authorization", auth)
	}
	user := func(d devices.Device) string {
		t.Helper()
		got, err := e.store.Get(context.Background(), testID, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got.UserID
	}
	now := frozen.Unix()
	iss := token.Issuer(testID)
	d1 := e.register(devices.Web, "1")
	for name, auth := range map[string]string{
		"missing":    "",
		"not bearer": "Basic " + token.Generate(testID, testSecret, "alice", frozen),
		"empty":      "Bearer ",
		"garbage":    "Bearer abc",
		"alg none":   "Bearer " + jwt("none", fmt.Sprintf(`{"exp":%d,"iss":%q,"sub":"alice"}`, now+60, iss), testSecret),
		"alg none unsigned": "Bearer " + base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." +
			base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf(`{"exp":%d,"iss":%q,"sub":"alice"}`, now+60, iss))) + ".",
		"RS256":          "Bearer " + jwt("RS256", fmt.Sprintf(`{"exp":%d,"iss":%q,"sub":"alice"}`, now+60, iss), testSecret),
		"expired":        "Bearer " + token.Generate(testID, testSecret, "alice", frozen.Add(-25*time.Hour)),
		"wrong key":      "Bearer " + token.Generate(testID, "not-the-secret", "alice", frozen),
		"other instance": "Bearer " + token.Generate("11111111-0000-0000-0000-000000000000", testSecret, "alice", frozen),
		"wrong issuer":   "Bearer " + jwt("HS256", fmt.Sprintf(`{"exp":%d,"iss":"https://evil.example.com","sub":"alice"}`, now+60), testSecret),
	} {
		rec := put(d1, auth)
		if rec.Code != 401 {
			t.Fatalf("%s: %d %s", name, rec.Code, rec.Body)
		}
		wantError(t, rec, 401, "Unauthorized")
	}
	for name, auth := range map[string]string{
		"no sub":    "Bearer " + jwt("HS256", fmt.Sprintf(`{"exp":%d,"iss":%q}`, now+60, iss), testSecret),
		"empty sub": "Bearer " + jwt("HS256", fmt.Sprintf(`{"exp":%d,"iss":%q,"sub":""}`, now+60, iss), testSecret),
		"long sub":  "Bearer " + token.Generate(testID, testSecret, strings.Repeat("u", 165), frozen),
	} {
		rec := put(d1, auth)
		if rec.Code != 422 {
			t.Fatalf("%s: %d %s", name, rec.Code, rec.Body)
		}
		wantError(t, rec, 422, "Unprocessable Entity")
	}
	if u := user(d1); u != "" {
		t.Fatalf("refused tokens set user %q", u)
	}

	alice := "Bearer " + token.Generate(testID, testSecret, "alice", frozen)
	rec := put(d1, alice)
	if rec.Code != 200 || rec.Body.Len() != 0 || user(d1) != "alice" {
		t.Fatalf("set user: %d %s, user %q", rec.Code, rec.Body, user(d1))
	}
	wantStatus(t, put(d1, alice), 200) // the same user again
	d := wantError(t, put(d1, "Bearer "+token.Generate(testID, testSecret, "bob", frozen)), 422, "Unprocessable Entity")
	if !strings.Contains(d, "another user") {
		t.Fatalf("other user: %q", d)
	}
	// A key in its rotation grace signs valid tokens; after it, not.
	d2 := e.register(devices.FCM, "2")
	wantStatus(t, put(d2, "Bearer "+token.Generate(testID, "old", "alice", frozen)), 200)
	// The self-hosted issuer of the config.
	d3 := e.register(devices.APNS, "3")
	wantError(t, put(d3, "Bearer "+jwt("HS256", fmt.Sprintf(`{"exp":%d,"iss":"https://push.example.com","sub":"alice"}`, now+60), testSecret)),
		422, "Unprocessable Entity") // issuer fine, but alice is full
	d = wantError(t, put(d3, alice), 422, "Unprocessable Entity")
	if !strings.Contains(d, "most devices") {
		t.Fatalf("user cap: %q", d)
	}
	wantStatus(t, put(d3, "Bearer "+jwt("HS256", fmt.Sprintf(`{"exp":%d,"iss":"https://push.example.com","sub":"carol"}`, now+60), testSecret)), 200)
	e.clock.advance(2 * time.Hour)
	d4 := e.register(devices.Web, "4")
	wantError(t, put(d4, "Bearer "+token.Generate(testID, "old", "dave", e.clock.Now())), 401, "Unauthorized")
	// Once stored, the token's expiry does not matter; a token made at the
	// start is now expired for a new association (exp 24 h + 30 s leeway).
	e.clock.advance(23 * time.Hour)
	wantError(t, put(d4, "Bearer "+token.Generate(testID, testSecret, "dave", frozen)), 401, "Unauthorized")
	if u := user(d1); u != "alice" {
		t.Fatalf("user %q", u)
	}
	if e.refused("auth") == 0 {
		t.Fatal("token refusals not counted as auth")
	}
	// Neither the tokens nor the secret are logged.
	if logs := e.logs.String(); strings.Contains(logs, testSecret) || strings.Contains(logs, "eyJ") {
		t.Fatalf("secret material in the log: %s", logs)
	}
}

func TestSetMetadata(t *testing.T) {
	e := newEnv(t)
	d := e.register(devices.APNS, "ab")
	path := devBase + "/devices/apns/" + d.ID + "/metadata"
	rec := e.do("PUT", path, `{"sdkVersion":"4.0.0","iosVersion":"17.0"}`, jsonType...)
	if rec.Code != 200 || rec.Body.Len() != 0 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	got, _ := e.store.Get(context.Background(), testID, d.ID)
	if string(got.Metadata) != `{"sdkVersion":"4.0.0","iosVersion":"17.0"}` {
		t.Fatalf("metadata %s", got.Metadata)
	}
	for _, body := range []string{``, `[]`, `"x"`, `null`, `{"a":1}x`, `{"a":"` + strings.Repeat("x", 16<<10) + `"}`} {
		wantError(t, e.do("PUT", path, body), 400, "Bad Request")
	}
	// At most 2 KiB: far above what the SDKs send (spec 2.1).
	fits := `{"sdkVersion":"` + strings.Repeat("x", 2<<10-17) + `"}`
	wantStatus(t, e.do("PUT", path, fits), 200)
	desc := wantError(t, e.do("PUT", path, fits+" "), 400, "Bad Request")
	if !strings.Contains(desc, "max 2KiB") {
		t.Fatalf("description %q", desc)
	}
}
