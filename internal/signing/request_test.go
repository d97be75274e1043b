package signing

import (
	"errors"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// vectorClock is the frozen clock the SDK vectors were captured with.
var vectorClock = unix(1700000000)

func unix(s int64) time.Time { return time.Unix(s, 0) }

func TestHTTPRequestVectorsNode(t *testing.T) {
	v := loadVectors(t)
	creds := []Credential{{v.App.Key, v.App.Secret}}
	for _, tc := range v.HTTPNode {
		t.Run(tc.Label, func(t *testing.T) {
			r := tc.Request
			replayVector(t, creds, r.Method, r.Path, r.RawQuery, r.Body, tc.Signing.StringToSign, tc.Signing.AuthSignature)
			if tc.Signing.BodyMD5 != nil {
				if got := MD5Hex([]byte(r.Body)); got != *tc.Signing.BodyMD5 {
					t.Errorf("MD5Hex = %s, want %s", got, *tc.Signing.BodyMD5)
				}
			}
		})
	}
}

func TestHTTPRequestVectorsGo(t *testing.T) {
	v := loadVectors(t)
	creds := []Credential{{v.App.Key, v.App.Secret}}
	for _, tc := range v.HTTPGo {
		t.Run(tc.Label, func(t *testing.T) {
			body := ""
			if tc.Body != nil {
				body = *tc.Body
			}
			replayVector(t, creds, tc.Method, tc.Path, tc.RawQuery, body, tc.StringToSign, tc.AuthSignature)

			// Our signer must produce the same signed query as the Go SDK.
			params := url.Values{}
			for k, val := range tc.ExtraParams {
				params.Set(k, val)
			}
			got := SignRequest(creds[0], tc.Method, tc.Path, params, []byte(body), vectorClock)
			want, err := url.ParseQuery(tc.RawQuery)
			if err != nil {
				t.Fatal(err)
			}
			if got.Encode() != want.Encode() {
				t.Errorf("SignRequest = %s\nwant          %s", got.Encode(), want.Encode())
			}
		})
	}
}

// replayVector checks one captured SDK request end to end: the string to
// sign we rebuild, the signature, acceptance with the clock frozen at
// capture time, and rejection (timestamp expired) at the real clock.
func replayVector(t *testing.T, creds []Credential, method, path, rawQuery, body, wantSTS, wantSig string) {
	t.Helper()
	q, err := parseQuery(rawQuery)
	if err != nil {
		t.Fatal(err)
	}
	if got := StringToSign(method, path, q); got != wantSTS {
		t.Fatalf("StringToSign = %q, want %q", got, wantSTS)
	}
	if got := HMACHex(creds[0].Secret, []byte(wantSTS)); got != wantSig {
		t.Fatalf("HMACHex = %s, want %s", got, wantSig)
	}
	cred, err := VerifyRequest(method, path, rawQuery, []byte(body), creds, vectorClock, 0)
	if err != nil {
		t.Fatalf("VerifyRequest at capture time: %v", err)
	}
	if cred != creds[0] {
		t.Fatalf("VerifyRequest returned %+v", cred)
	}
	_, err = VerifyRequest(method, path, rawQuery, []byte(body), creds, time.Now(), 0)
	var ve *VerifyError
	if !errors.As(err, &ve) || !strings.HasPrefix(ve.Reason, "Timestamp expired: ") {
		t.Fatalf("VerifyRequest at real now: %v, want timestamp expired", err)
	}
}

func TestSignRequestMatchesNodeSignedQueryString(t *testing.T) {
	v := loadVectors(t)
	var body string
	for _, ex := range v.DocsWorkedExamples {
		if ex.Body != "" {
			body = ex.Body
		}
	}
	want, err := url.ParseQuery(v.SignedQueryNode.Output)
	if err != nil {
		t.Fatal(err)
	}
	if want.Get("body_md5") != MD5Hex([]byte(body)) {
		t.Fatalf("docs body does not match the createSignedQueryString body")
	}
	got := SignRequest(Credential{v.App.Key, v.App.Secret}, "POST", "/apps/1/events", nil, []byte(body), vectorClock)
	if got.Encode() != want.Encode() {
		t.Errorf("SignRequest = %s\nwant          %s", got.Encode(), want.Encode())
	}
}

func TestCanonicalQuery(t *testing.T) {
	tests := []struct {
		name string
		q    url.Values
		want string
	}{
		{"empty", url.Values{}, ""},
		{"sorted byte-wise", url.Values{"b": {"1"}, "a_b": {"2"}, "a-b": {"3"}, "aB": {"4"}},
			"a-b=3&a_b=2&ab=4&b=1"},
		{"auth_signature dropped in any case",
			url.Values{"auth_signature": {"x"}, "AUTH_SIGNATURE": {"y"}, "Auth_Signature": {"z"}, "k": {"v"}}, "k=v"},
		{"keys lower-cased", url.Values{"Info": {"user_count"}}, "info=user_count"},
		{"values not escaped", url.Values{"filter_by_prefix": {"presence- a&b=c;%"}}, "filter_by_prefix=presence- a&b=c;%"},
		{"repeated key joined", url.Values{"channels[]": {"a", "b"}}, "channels[]=a,b"},
		{"case variants merged in key order", url.Values{"x": {"3"}, "X": {"1", "2"}}, "x=1,2,3"},
		{"key without values left out", url.Values{"gone": {}, "k": {""}}, "k="},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := CanonicalQuery(tc.q); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestStringToSignUppercasesMethod(t *testing.T) {
	if got := StringToSign("get", "/apps/1/channels", url.Values{"a": {"1"}}); got != "GET\n/apps/1/channels\na=1" {
		t.Errorf("got %q", got)
	}
}

func TestSignRequest(t *testing.T) {
	cred := Credential{"k", "s"}
	params := url.Values{"info": {"user_count,subscription_count"}, "AUTH_KEY": {"evil"}, "auth_signature": {"old"}}
	q := SignRequest(cred, "GET", "/apps/1/channels", params, nil, vectorClock)
	if _, ok := q["body_md5"]; ok {
		t.Error("body_md5 sent for an empty body")
	}
	if _, ok := q["AUTH_KEY"]; ok {
		t.Error("caller's AUTH_KEY kept next to auth_key")
	}
	if params.Get("auth_signature") != "old" || params.Get("auth_key") != "" {
		t.Error("params modified")
	}
	for k, want := range map[string]string{"auth_key": "k", "auth_timestamp": "1700000000", "auth_version": "1.0"} {
		if q.Get(k) != want {
			t.Errorf("%s = %q, want %q", k, q.Get(k), want)
		}
	}
	if _, err := VerifyRequest("GET", "/apps/1/channels", q.Encode(), nil, []Credential{cred}, vectorClock, 0); err != nil {
		t.Errorf("round trip: %v", err)
	}

	body := []byte(`{"name":"e"}`)
	q = SignRequest(cred, "POST", "/apps/1/events", nil, body, vectorClock)
	if q.Get("body_md5") != MD5Hex(body) {
		t.Errorf("body_md5 = %q", q.Get("body_md5"))
	}
	if _, err := VerifyRequest("POST", "/apps/1/events", q.Encode(), body, []Credential{cred}, vectorClock, 0); err != nil {
		t.Errorf("round trip with body: %v", err)
	}
}

// signedQuery returns a raw query signed like an SDK would send it.
func signedQuery(cred Credential, method, path string, params url.Values, body []byte, ts int64) string {
	return SignRequest(cred, method, path, params, body, unix(ts)).Encode()
}

func TestVerifyRequestRejects(t *testing.T) {
	cred := Credential{"app-key", "app-secret"}
	creds := []Credential{cred}
	const path = "/apps/1/events"
	body := []byte(`{"name":"e","data":"{}","channels":["c"]}`)
	good := signedQuery(cred, "POST", path, nil, body, 1700000000)
	goodQ, _ := url.ParseQuery(good)
	with := func(mutate func(q url.Values)) string {
		q := url.Values{}
		for k, v := range goodQ {
			q[k] = append([]string(nil), v...)
		}
		mutate(q)
		return q.Encode()
	}
	// resign builds a correctly signed query from arbitrary params, so that
	// each case fails for its own reason and not for a bad signature.
	resign := func(q url.Values) string {
		q.Del("auth_signature")
		q.Set("auth_signature", HMACHex(cred.Secret, []byte(StringToSign("POST", path, q))))
		return q.Encode()
	}

	tests := []struct {
		name       string
		method     string
		path       string
		query      string
		body       []byte
		creds      []Credential
		now        time.Time
		window     time.Duration
		wantPrefix string
	}{
		{name: "stale timestamp", query: good, now: unix(1700000600), wantPrefix: "Timestamp expired: Given timestamp (2023-11-14T22:13:20Z) not within 600s of server time (2023-11-14T22:23:20Z)"},
		{name: "future timestamp", query: good, now: unix(1700000000 - 600), wantPrefix: "Timestamp expired"},
		{name: "outside custom window", query: good, now: unix(1700000030), window: 30 * time.Second, wantPrefix: "Timestamp expired: Given timestamp (2023-11-14T22:13:20Z) not within 30s"},
		{name: "missing body_md5", query: resign(withDel(goodQ, "body_md5")), wantPrefix: "Missing parameter: body_md5"},
		{name: "wrong body_md5", query: resign(withSet(goodQ, "body_md5", MD5Hex([]byte("other")))), wantPrefix: "Invalid body_md5"},
		{name: "body altered", query: good, body: append([]byte(nil), append(body, ' ')...), wantPrefix: "Invalid body_md5"},
		{name: "body dropped", query: good, body: []byte{}, wantPrefix: "Invalid body_md5"},
		{name: "AUTH_SIGNATURE too", query: good + "&AUTH_SIGNATURE=" + goodQ.Get("auth_signature"), wantPrefix: "Duplicate parameter: auth_signature"},
		{name: "auth_signature twice", query: good + "&auth_signature=00", wantPrefix: "Duplicate parameter: auth_signature"},
		{name: "AUTH_KEY too", query: good + "&AUTH_KEY=app-key", wantPrefix: "Duplicate parameter: auth_key"},
		{name: "missing auth_key", query: with(func(q url.Values) { q.Del("auth_key") }), wantPrefix: "Missing parameter: auth_key"},
		{name: "missing auth_timestamp", query: with(func(q url.Values) { q.Del("auth_timestamp") }), wantPrefix: "Missing parameter: auth_timestamp"},
		{name: "missing auth_version", query: with(func(q url.Values) { q.Del("auth_version") }), wantPrefix: "Missing parameter: auth_version"},
		{name: "missing auth_signature", query: with(func(q url.Values) { q.Del("auth_signature") }), wantPrefix: "Missing parameter: auth_signature"},
		{name: "empty auth_signature", query: with(func(q url.Values) { q.Set("auth_signature", "") }), wantPrefix: "Missing parameter: auth_signature"},
		{name: "empty query", query: "", wantPrefix: "Missing parameter: auth_key"},
		{name: "version 2.0", query: resign(withSet(goodQ, "auth_version", "2.0")), wantPrefix: "Version not supported"},
		{name: "unknown key", query: resign(withSet(goodQ, "auth_key", "other-key")), wantPrefix: "Unknown auth_key"},
		{name: "no credentials", query: good, creds: []Credential{}, wantPrefix: "Unknown auth_key"},
		{name: "timestamp not a number", query: resign(withSet(goodQ, "auth_timestamp", "1700000000.5")), wantPrefix: "Invalid auth_timestamp"},
		{name: "flipped hex digit", query: with(func(q url.Values) { q.Set("auth_signature", flipHex(q.Get("auth_signature"))) }), wantPrefix: "Invalid signature: you should have sent HmacSHA256Hex(\"POST\\n/apps/1/events\\nauth_key=app-key&auth_timestamp=1700000000&auth_version=1.0&body_md5="},
		{name: "upper-case hex", query: with(func(q url.Values) { q.Set("auth_signature", strings.ToUpper(q.Get("auth_signature"))) }), wantPrefix: "Invalid signature"},
		{name: "extra param not signed", query: good + "&info=user_count", wantPrefix: "Invalid signature"},
		{name: "other path", path: "/apps/2/events", query: good, wantPrefix: "Invalid signature"},
		{name: "other method", method: "PUT", query: good, wantPrefix: "Invalid signature"},
		{name: "other secret", query: good, creds: []Credential{{"app-key", "rotated"}}, wantPrefix: "Invalid signature"},
		{name: "bad escape", query: good + "&x=%zz", wantPrefix: "Invalid query string"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			method, p, b, c, now := "POST", path, body, creds, vectorClock
			if tc.method != "" {
				method = tc.method
			}
			if tc.path != "" {
				p = tc.path
			}
			if tc.body != nil {
				b = tc.body
			}
			if tc.creds != nil {
				c = tc.creds
			}
			if !tc.now.IsZero() {
				now = tc.now
			}
			got, err := VerifyRequest(method, p, tc.query, b, c, now, tc.window)
			var ve *VerifyError
			if !errors.As(err, &ve) {
				t.Fatalf("VerifyRequest = %+v, %v; want *VerifyError", got, err)
			}
			if got != (Credential{}) {
				t.Errorf("credential %+v returned with an error", got)
			}
			if !strings.HasPrefix(ve.Error(), tc.wantPrefix) {
				t.Errorf("error %q\nwant prefix %q", ve.Error(), tc.wantPrefix)
			}
			for _, cr := range c {
				if strings.Contains(ve.Error(), cr.Secret) {
					t.Errorf("error text contains the secret: %q", ve.Error())
				}
			}
			if !strings.HasPrefix(tc.wantPrefix, "Invalid signature") && ve.LogReason() != ve.Error() {
				t.Errorf("LogReason %q differs from %q", ve.LogReason(), ve.Error())
			}
			sent, _ := url.ParseQuery(tc.query) // what parses is enough
			for _, sig := range sent["auth_signature"] {
				if len(sig) > 2 && strings.Contains(ve.LogReason(), sig) {
					t.Errorf("LogReason contains the signature sent: %q", ve.LogReason())
				}
			}
		})
	}
}

// TestVerifyRequestCheckOrder sends requests wrong in several ways at once:
// the complaint is the first in the hosted order (parameters, version, key,
// timestamp, body_md5, signature).
func TestVerifyRequestCheckOrder(t *testing.T) {
	cred := Credential{"app-key", "app-secret"}
	const path = "/apps/1/events"
	body := []byte(`{"name":"e","data":"{}","channels":["c"]}`)
	good, _ := url.ParseQuery(signedQuery(cred, "POST", path, nil, body, 1700000000))
	bad := func(edits map[string]string) string {
		q := withSet(good, "auth_signature", strings.Repeat("0", 64))
		for k, v := range edits {
			if v == "" {
				q.Del(k)
			} else {
				q.Set(k, v)
			}
		}
		return q.Encode()
	}
	stale := unix(1700000000 + 3600)
	tests := []struct {
		name       string
		query      string
		wantPrefix string
	}{
		{"missing key before bad version", bad(map[string]string{"auth_key": "", "auth_version": "2.0"}), "Missing parameter: auth_key"},
		{"version before unknown key", bad(map[string]string{"auth_version": "2.0", "auth_key": "other"}), "Version not supported"},
		{"unknown key before stale timestamp", bad(map[string]string{"auth_key": "other"}), "Unknown auth_key"},
		{"stale timestamp before body_md5", bad(map[string]string{"body_md5": MD5Hex(nil)}), "Timestamp expired"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := VerifyRequest("POST", path, tc.query, body, []Credential{cred}, stale, 0)
			if err == nil || !strings.HasPrefix(err.Error(), tc.wantPrefix) {
				t.Errorf("err = %v, want prefix %q", err, tc.wantPrefix)
			}
		})
	}
	// At the signing time: body_md5 before the signature, then the signature.
	if _, err := VerifyRequest("POST", path, bad(map[string]string{"body_md5": MD5Hex(nil)}), body, []Credential{cred}, vectorClock, 0); err == nil ||
		!strings.HasPrefix(err.Error(), "Invalid body_md5") {
		t.Errorf("body_md5 and signature wrong: err = %v, want Invalid body_md5", err)
	}
	if _, err := VerifyRequest("POST", path, bad(nil), body, []Credential{cred}, vectorClock, 0); err == nil ||
		!strings.HasPrefix(err.Error(), "Invalid signature") {
		t.Errorf("signature wrong: err = %v, want Invalid signature", err)
	}
}

func withSet(q url.Values, k, v string) url.Values {
	c := cloneValues(q)
	c.Set(k, v)
	return c
}

func withDel(q url.Values, k string) url.Values {
	c := cloneValues(q)
	c.Del(k)
	return c
}

func cloneValues(q url.Values) url.Values {
	c := make(url.Values, len(q))
	for k, v := range q {
		c[k] = append([]string(nil), v...)
	}
	return c
}

func TestVerifyRequestTimestampWindow(t *testing.T) {
	cred := Credential{"k", "s"}
	const ts = 1700000000
	q := signedQuery(cred, "GET", "/apps/1/channels", nil, nil, ts)
	tests := []struct {
		now    int64
		window time.Duration
		ok     bool
	}{
		{ts, 0, true},
		{ts + 599, 0, true},
		{ts - 599, 0, true},
		{ts + 600, 0, false},
		{ts - 600, 0, false},
		{ts + 599, -time.Second, true}, // negative means default
		{ts + 10, 10 * time.Second, false},
		{ts + 9, 10 * time.Second, true},
		{ts + 1, 1500 * time.Millisecond, true},
		{ts + 2, 1500 * time.Millisecond, false},
	}
	for _, tc := range tests {
		t.Run(strconv.FormatInt(tc.now-ts, 10)+"s/"+tc.window.String(), func(t *testing.T) {
			_, err := VerifyRequest("GET", "/apps/1/channels", q, nil, []Credential{cred}, unix(tc.now), tc.window)
			if (err == nil) != tc.ok {
				t.Errorf("err = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestVerifyRequestKeyRotation(t *testing.T) {
	oldCred, newCred, other := Credential{"k", "old"}, Credential{"k", "new"}, Credential{"k2", "s2"}
	creds := []Credential{other, oldCred, newCred}
	for _, signer := range []Credential{oldCred, newCred, other} {
		q := signedQuery(signer, "GET", "/apps/1/channels", nil, nil, 1700000000)
		got, err := VerifyRequest("GET", "/apps/1/channels", q, nil, creds, vectorClock, 0)
		if err != nil || got != signer {
			t.Errorf("signed by %+v: got %+v, %v", signer, got, err)
		}
	}
}

func TestVerifyRequestQueryForms(t *testing.T) {
	cred := Credential{"app-key", "app-secret"}
	params := url.Values{"info": {"user_count,subscription_count"}, "filter_by_prefix": {"presence-a;b"}}
	q := SignRequest(cred, "GET", "/apps/1/channels", params, nil, vectorClock)
	sig := q.Get("auth_signature")
	base := "auth_key=app-key&auth_timestamp=1700000000&auth_version=1.0"
	forms := map[string]string{
		"raw like Node and Go":                       base + "&filter_by_prefix=presence-a;b&info=user_count,subscription_count&auth_signature=" + sig,
		"percent-encoded":                            q.Encode(),
		"signature first, reordered, empty segments": "auth_signature=" + sig + "&&info=user_count%2Csubscription_count&" + base + "&filter_by_prefix=presence-a%3Bb&",
		"upper-case key":                             strings.Replace(base, "auth_key", "AUTH_KEY", 1) + "&filter_by_prefix=presence-a;b&info=user_count,subscription_count&auth_signature=" + sig,
	}
	for name, raw := range forms {
		if _, err := VerifyRequest("GET", "/apps/1/channels", raw, nil, []Credential{cred}, vectorClock, 0); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}

	// "+" decodes to a space, as in every form decoder.
	params = url.Values{"filter_by_prefix": {"a b"}}
	sig = SignRequest(cred, "GET", "/p", params, nil, vectorClock).Get("auth_signature")
	raw := base + "&filter_by_prefix=a+b&auth_signature=" + sig
	if _, err := VerifyRequest("GET", "/p", raw, nil, []Credential{cred}, vectorClock, 0); err != nil {
		t.Errorf("plus as space: %v", err)
	}
}
