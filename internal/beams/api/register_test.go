package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/beams/devices"
	"github.com/heraldhq/herald/internal/beams/instance"
	"github.com/heraldhq/herald/internal/beams/pushtest"
)

var deviceIDRe = regexp.MustCompile(`^(web|fcm|apns)-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestVAPIDKey(t *testing.T) {
	e := newEnv(t)
	rec := e.do("GET", devBase+"/web-vapid-public-key", "")
	wantStatus(t, rec, 200)
	if rec.Body.String() != `{"vapidPublicKey":"`+e.in.VAPID.PublicString()+`"}` {
		t.Fatalf("reply %s", rec.Body)
	}
	none := newEnv(t, withInstance(func(in *instance.Instance) { in.VAPID = nil }))
	wantError(t, none.do("GET", devBase+"/web-vapid-public-key", ""), 404, "Not Found")
}

// webBody is a registration the web SDK sends for token.
func webBody(token string) string {
	return `{"token":"` + token + `","metadata":{"sdkVersion":"2.1.0"}}`
}

func TestRegisterWeb(t *testing.T) {
	e := newEnv(t, withConfig(Config{AllowPrivateEndpoints: true}))
	sub := pushtest.Start(t, nil).Subscribe(e.in.VAPID.PublicString())
	rec := e.do("POST", devBase+"/devices/web", webBody(sub.Token()), jsonType...)
	wantStatus(t, rec, 200)
	reply := decode[map[string]any](t, rec)
	id, _ := reply["id"].(string)
	if len(reply) != 1 || !deviceIDRe.MatchString(id) || !strings.HasPrefix(id, "web-") {
		t.Fatalf("reply %s", rec.Body)
	}
	d, err := e.store.Get(context.Background(), testID, id)
	if err != nil {
		t.Fatal(err)
	}
	if d.Endpoint != sub.Endpoint || d.P256dh != sub.P256dh || d.Auth != sub.Auth || d.Token != sub.Token() ||
		string(d.Metadata) != `{"sdkVersion":"2.1.0"}` {
		t.Fatalf("stored %+v", d)
	}
	// The same subscription again is the same device.
	again := decode[map[string]string](t, e.do("POST", devBase+"/devices/web", webBody(sub.Token()), jsonType...))
	if again["id"] != id {
		t.Fatalf("re-registration gave %s, want %s", again["id"], id)
	}
	// Other encodings of the token: no padding, URL alphabet.
	raw, _ := base64.StdEncoding.DecodeString(sub.Token())
	for _, tok := range []string{base64.RawStdEncoding.EncodeToString(raw), base64.URLEncoding.EncodeToString(raw), base64.RawURLEncoding.EncodeToString(raw)} {
		wantStatus(t, e.do("POST", devBase+"/devices/web", webBody(tok), jsonType...), 200)
	}
	// Keys in padded standard base64 are taken too, stored in base64url.
	var s map[string]any
	json.Unmarshal(raw, &s)
	keys := s["keys"].(map[string]any)
	p, _ := base64.RawURLEncoding.DecodeString(sub.P256dh)
	keys["p256dh"] = base64.StdEncoding.EncodeToString(p)
	j, _ := json.Marshal(s)
	rec = e.do("POST", devBase+"/devices/web", `{"token":"`+base64.StdEncoding.EncodeToString(j)+`"}`)
	wantStatus(t, rec, 200)
	d, _ = e.store.Get(context.Background(), testID, decode[map[string]string](t, rec)["id"])
	if d.P256dh != sub.P256dh || d.Metadata != nil {
		t.Fatalf("stored %+v", d)
	}
}

// subToken is a web device token for endpoint with the given keys.
func subToken(endpoint, p256dh, auth string) string {
	j, _ := json.Marshal(map[string]any{"endpoint": endpoint, "expirationTime": nil,
		"keys": map[string]string{"p256dh": p256dh, "auth": auth}})
	return base64.StdEncoding.EncodeToString(j)
}

func TestRegisterWebRefusals(t *testing.T) {
	strict := newEnv(t)
	lax := newEnv(t, withConfig(Config{AllowPrivateEndpoints: true}))
	sub := pushtest.Start(t, nil).Subscribe("k")
	p256dh, auth := sub.P256dh, sub.Auth
	for _, tc := range []struct {
		endpoint      string
		strict, laxOK bool
	}{
		{"https://fcm.googleapis.com/fcm/send/abc", true, true},
		{"https://updates.push.services.mozilla.com/wpush/v2/x", true, true},
		{"http://fcm.googleapis.com/fcm/send/abc", false, true},
		{"https://127.0.0.1/push", false, true},
		{"http://127.0.0.1:8099/push/sub-1", false, true},
		{"https://10.1.2.3/push", false, true},
		{"https://192.168.0.1/push", false, true},
		{"https://[::1]/push", false, true},
		{"https://localhost/push", false, true},
		{"https://169.254.169.254/latest/meta-data", false, false}, // cloud metadata: never
		{"ftp://push.example.com/x", false, false},
		{"", false, false},
		{"/relative", false, false},
	} {
		body := webBody(subToken(tc.endpoint, p256dh, auth))
		for _, x := range []struct {
			e  *env
			ok bool
		}{{strict, tc.strict}, {lax, tc.laxOK}} {
			rec := x.e.do("POST", devBase+"/devices/web", body, jsonType...)
			if x.ok {
				wantStatus(t, rec, 200)
			} else {
				wantError(t, rec, 400, "InvalidToken")
			}
		}
	}

	b64 := base64.RawURLEncoding
	pub, _ := b64.DecodeString(p256dh)
	notOnCurve := append([]byte{4}, make([]byte, 64)...)
	compressed := append([]byte{2}, pub[1:33]...)
	ep := "https://fcm.googleapis.com/fcm/send/abc"
	for name, tok := range map[string]string{
		"empty":             "",
		"not base64":        "!!!!",
		"not JSON":          base64.StdEncoding.EncodeToString([]byte("hello")),
		"p256dh missing":    subToken(ep, "", auth),
		"p256dh short":      subToken(ep, b64.EncodeToString(pub[:64]), auth),
		"p256dh bad start":  subToken(ep, b64.EncodeToString(append([]byte{5}, pub[1:]...)), auth),
		"p256dh off curve":  subToken(ep, b64.EncodeToString(notOnCurve), auth),
		"p256dh compressed": subToken(ep, b64.EncodeToString(compressed), auth),
		"auth missing":      subToken(ep, p256dh, ""),
		"auth 15 bytes":     subToken(ep, p256dh, b64.EncodeToString(make([]byte, 15))),
		"auth not base64":   subToken(ep, p256dh, "***"),
	} {
		rec := strict.do("POST", devBase+"/devices/web", webBody(tok), jsonType...)
		if rec.Code != 400 {
			t.Fatalf("%s: %d %s", name, rec.Code, rec.Body)
		}
		wantError(t, rec, 400, "InvalidToken")
	}
	good := subToken(ep, p256dh, auth)
	wantError(t, strict.do("POST", devBase+"/devices/web", `{"metadata":{}}`), 400, "InvalidToken")
	wantError(t, strict.do("POST", devBase+"/devices/web", `{"token":1}`), 400, "Bad Request")
	wantError(t, strict.do("POST", devBase+"/devices/web", `not json`), 400, "Bad Request")
	wantError(t, strict.do("POST", devBase+"/devices/web", ``), 400, "Bad Request")
	wantError(t, strict.do("POST", devBase+"/devices/web", `{"token":"`+good+`"} {}`), 400, "Bad Request")
	wantError(t, strict.do("POST", devBase+"/devices/web", `{"token":"`+good+`","metadata":[1]}`), 400, "Bad Request")
	big := `{"token":"` + good + `","metadata":{"x":"` + strings.Repeat("a", 16<<10) + `"}}`
	d := wantError(t, strict.do("POST", devBase+"/devices/web", big), 400, "Bad Request")
	if !strings.Contains(d, "16KiB") {
		t.Fatalf("too large: %q", d)
	}
	if n := strict.countDevices(); n != 2 { // the two public endpoints above
		t.Fatalf("%d devices registered by refused calls", n)
	}
}

func TestRegisterFCM(t *testing.T) {
	e := newEnv(t)
	rec := e.do("POST", devBase+"/devices/fcm", `{"token":"fcm-token:APA91b","knownPreviousClientIds":["x"],"metadata":{"sdkVersion":"1.9.0","androidVersion":"14"}}`, jsonType...)
	wantStatus(t, rec, 200)
	if !regexp.MustCompile(`^\{"id":"fcm-[0-9a-f-]{36}","initialInterestSet":\[\]\}$`).Match(rec.Body.Bytes()) {
		t.Fatalf("reply %s", rec.Body)
	}
	id := decode[map[string]any](t, rec)["id"].(string)
	wantStatus(t, e.do("POST", devBase+"/devices/fcm/"+id+"/interests/b", ""), 200)
	wantStatus(t, e.do("POST", devBase+"/devices/fcm/"+id+"/interests/a", ""), 200)
	rec = e.do("POST", devBase+"/devices/fcm", `{"token":"fcm-token:APA91b"}`)
	if rec.Body.String() != `{"id":"`+id+`","initialInterestSet":["a","b"]}` {
		t.Fatalf("re-registration reply %s", rec.Body)
	}
	for _, tok := range []string{`""`, `"with space"`, `"tab\t"`, `"ü"`, `"` + strings.Repeat("t", 4097) + `"`, `null`} {
		wantError(t, e.do("POST", devBase+"/devices/fcm", `{"token":`+tok+`}`), 400, "InvalidToken")
	}
	wantStatus(t, e.do("POST", devBase+"/devices/fcm", `{"token":"`+strings.Repeat("t", 4096)+`"}`), 200)
	// Metadata is bounded as PUT metadata is (2 KiB); the body may be larger.
	md := `{"sdkVersion":"` + strings.Repeat("v", 2<<10-17) + `"}`
	wantStatus(t, e.do("POST", devBase+"/devices/fcm", `{"token":"`+strings.Repeat("t", 4096)+`","metadata":`+md+`}`), 200)
	desc := wantError(t, e.do("POST", devBase+"/devices/fcm", `{"token":"t","metadata":{"a":1,`+md[1:]+`}`), 400, "Bad Request")
	if desc != "metadata is too large (max 2KiB)." {
		t.Fatalf("description %q", desc)
	}

	// Token refresh: the device keeps its id; another device that had the
	// token is gone (the token moved).
	other := decode[map[string]any](t, e.do("POST", devBase+"/devices/fcm", `{"token":"other"}`))["id"].(string)
	wantStatus(t, e.do("PUT", devBase+"/devices/fcm/"+id+"/token", `{"token":"other"}`, jsonType...), 200)
	d, err := e.store.Get(context.Background(), testID, id)
	if err != nil || d.Token != "other" {
		t.Fatalf("after refresh: %+v %v", d, err)
	}
	if _, err := e.store.Get(context.Background(), testID, other); !errors.Is(err, devices.ErrNotFound) {
		t.Fatalf("the token's old device survived: %v", err)
	}
	wantError(t, e.do("PUT", devBase+"/devices/fcm/"+id+"/token", `{"token":""}`), 400, "InvalidToken")
	wantError(t, e.do("PUT", devBase+"/devices/fcm/"+id+"/token", `{"token":"a b"}`), 400, "InvalidToken")
	wantError(t, e.do("PUT", devBase+"/devices/fcm/"+id+"/token", `[]`), 400, "Bad Request")
	wantError(t, e.do("PUT", devBase+"/devices/fcm/fcm-00000000-0000-4000-8000-000000000000/token", `{"token":"x"}`), 404, "Device Not Found")
	web := e.register(devices.Web, "w")
	wantError(t, e.do("PUT", devBase+"/devices/fcm/"+web.ID+"/token", `{"token":"x"}`), 404, "Device Not Found")
	wantError(t, e.do("PUT", devBase+"/devices/web/"+web.ID+"/token", `{"token":"x"}`), 404, "Not Found")
}

func TestRegisterAPNs(t *testing.T) {
	e := newEnv(t)
	tok := strings.Repeat("ab", 32)
	body := func(tok, bundle string) string {
		return fmt.Sprintf(`{"token":%q,"bundleIdentifier":%q,"metadata":{"sdkVersion":"4.0.0","iosVersion":"17.0"}}`, tok, bundle)
	}
	rec := e.do("POST", devBase+"/devices/apns", body(tok, "com.example.app"), jsonType...)
	wantStatus(t, rec, 200)
	if !regexp.MustCompile(`^\{"id":"apns-[0-9a-f-]{36}","initialInterestSet":\[\]\}$`).Match(rec.Body.Bytes()) {
		t.Fatalf("reply %s", rec.Body)
	}
	id := decode[map[string]any](t, rec)["id"].(string)
	// Upper case is the same token.
	again := decode[map[string]any](t, e.do("POST", devBase+"/devices/apns", body(strings.ToUpper(tok), "com.example.app")))
	if again["id"] != id {
		t.Fatalf("upper-case token gave another device: %v", again)
	}
	d, _ := e.store.Get(context.Background(), testID, id)
	if d.Token != tok || d.BundleID != "com.example.app" {
		t.Fatalf("stored %+v", d)
	}
	for _, bad := range []string{"", "abc", "zz" + tok[2:], strings.Repeat("ab", 201)} {
		wantError(t, e.do("POST", devBase+"/devices/apns", body(bad, "com.example.app")), 400, "InvalidToken")
	}
	wantStatus(t, e.do("POST", devBase+"/devices/apns", body(strings.Repeat("cd", 100), "")), 200) // no fixed length

	topics := newEnv(t, withInstance(func(in *instance.Instance) { in.APNsTopics = []string{"com.example.app", "com.example.other"} }))
	wantStatus(t, topics.do("POST", devBase+"/devices/apns", body(tok, "com.example.other")), 200)
	wantError(t, topics.do("POST", devBase+"/devices/apns", body(tok, "com.evil.app")), 400, "Bad Request")
	wantError(t, topics.do("POST", devBase+"/devices/apns", body(tok, "")), 400, "Bad Request")
	wantError(t, e.do("POST", devBase+"/devices/apns", body(tok, strings.Repeat("b", 256))), 400, "Bad Request")
}

func TestRegisterUnknownPlatform(t *testing.T) {
	e := newEnv(t)
	for _, p := range []string{"safari", "WEB", "gcm"} {
		wantError(t, e.do("POST", devBase+"/devices/"+p, `{"token":"x"}`), 404, "Not Found")
	}
}
