package fcm_test

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/beams/fcm"
)

// The service account of the vectors (providerFakes.googleOAuthToken).
const (
	testProject = "demo-project"
	testEmail   = "beams@demo-project.iam.gserviceaccount.com"
	testKeyID   = "0123456789abcdef"
	testScope   = "https://www.googleapis.com/auth/firebase.messaging"
	// The vector's assertion iat: the fake clock starts there.
	testEpoch = 1795874292
)

// testKey is one RSA key for the whole run (generating one takes a while).
var testKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

func pemPKCS8(t *testing.T) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(testKey())
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

func pemPKCS1() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(testKey())}))
}

// accountJSON is a service-account file as the Cloud console writes it.
func accountJSON(t *testing.T, tokenURI string, change func(map[string]any)) []byte {
	t.Helper()
	m := map[string]any{
		"type":                        "service_account",
		"project_id":                  testProject,
		"private_key_id":              testKeyID,
		"private_key":                 pemPKCS8(t),
		"client_email":                testEmail,
		"client_id":                   "100000000000000000001",
		"auth_uri":                    "https://accounts.google.com/o/oauth2/auth",
		"token_uri":                   tokenURI,
		"auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
	}
	if change != nil {
		change(m)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// clock is a settable time shared by the sender and the fake.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// failure is a canned answer of the fake token endpoint.
type failure struct {
	status     int
	body       string
	retryAfter string
}

// recorded is one request to messages:send.
type recorded struct {
	method, path, authorization, contentType string
	body                                     []byte
}

// fakeGoogle is the loopback stand-in for Google's token endpoint and FCM
// (spec 4.5 "Local fakes"). Device tokens choose FCM's answer; any other
// token is delivered.
type fakeGoogle struct {
	t     *testing.T
	srv   *httptest.Server
	clock *clock

	mu         sync.Mutex
	tokenReqs  int
	issued     map[string]bool // access token -> still valid
	sends      []recorded
	tokenFail  *failure
	tokenDelay time.Duration
	tokenGate  chan struct{} // non-nil: the next token request waits for it to close
	tokenSeen  chan struct{} // closed when a gated token request has arrived
	lastHeader map[string]any
	lastClaims map[string]any
	lastForm   map[string]string
}

func startFake(t *testing.T) *fakeGoogle {
	f := &fakeGoogle{t: t, clock: &clock{t: time.Unix(testEpoch, 0)}, issued: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", f.token)
	mux.HandleFunc("POST /v1/projects/{project}/messages:send", f.send)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeGoogle) tokenURI() string { return f.srv.URL + "/token" }

// sender is an fcm.Sender for the fake, on its clock.
func (f *fakeGoogle) sender(t *testing.T) *fcm.Sender {
	t.Helper()
	acct, err := fcm.LoadServiceAccount(accountJSON(t, f.tokenURI(), nil))
	if err != nil {
		t.Fatal(err)
	}
	return &fcm.Sender{Account: acct, BaseURL: f.srv.URL, Client: f.srv.Client(), Now: f.clock.Now}
}

func (f *fakeGoogle) tokenRequests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tokenReqs
}

func (f *fakeGoogle) recordedSends() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.sends...)
}

// revokeAll makes FCM refuse every access token issued so far.
func (f *fakeGoogle) revokeAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k := range f.issued {
		f.issued[k] = false
	}
}

func (f *fakeGoogle) set(fn func(f *fakeGoogle)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// token checks the assertion as Google would (RS256 with the account's
// public key, the claims of spec 4.5 on the fake clock) and issues a
// fixed access token.
func (f *fakeGoogle) token(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.tokenReqs++
	n := f.tokenReqs
	fail, delay, gate, seen := f.tokenFail, f.tokenDelay, f.tokenGate, f.tokenSeen
	f.tokenGate, f.tokenSeen = nil, nil
	f.mu.Unlock()

	if gate != nil {
		close(seen)
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
	}
	if delay > 0 {
		time.Sleep(delay)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		f.t.Errorf("token request Content-Type %q", ct)
	}
	if err := r.ParseForm(); err != nil {
		f.t.Errorf("token request form: %v", err)
	}
	header, claims, err := verifyAssertion(r.PostForm.Get("assertion"), &testKey().PublicKey)
	if err != nil {
		f.t.Errorf("assertion: %v", err)
		http.Error(w, `{"error":"invalid_grant","error_description":"Invalid JWT Signature."}`, http.StatusBadRequest)
		return
	}
	now := f.clock.Now().Unix()
	for k, want := range map[string]any{"alg": "RS256", "typ": "JWT", "kid": testKeyID} {
		if header[k] != want {
			f.t.Errorf("assertion header %s = %v, want %v", k, header[k], want)
		}
	}
	for k, want := range map[string]any{"iss": testEmail, "scope": testScope, "aud": f.tokenURI(), "iat": float64(now), "exp": float64(now + 3600)} {
		if claims[k] != want {
			f.t.Errorf("assertion claim %s = %v, want %v", k, claims[k], want)
		}
	}
	if g := r.PostForm.Get("grant_type"); g != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		f.t.Errorf("grant_type %q", g)
	}
	f.mu.Lock()
	f.lastHeader, f.lastClaims = header, claims
	f.lastForm = map[string]string{"grant_type": r.PostForm.Get("grant_type"), "contentType": r.Header.Get("Content-Type")}
	f.mu.Unlock()

	if fail != nil {
		if fail.retryAfter != "" {
			w.Header().Set("Retry-After", fail.retryAfter)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(fail.status)
		io.WriteString(w, fail.body)
		return
	}
	access := "ya29.fake-access-token"
	if n > 1 {
		access = fmt.Sprintf("ya29.fake-access-token-%d", n)
	}
	f.mu.Lock()
	f.issued[access] = true
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"access_token":%q,"expires_in":3599,"token_type":"Bearer"}`, access)
}

func verifyAssertion(jwt string, pub *rsa.PublicKey) (header, claims map[string]any, err error) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return nil, nil, fmt.Errorf("%d parts", len(parts))
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, nil, err
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
		return nil, nil, err
	}
	for i, to := range []*map[string]any{&header, &claims} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			return nil, nil, err
		}
		if err := json.Unmarshal(raw, to); err != nil {
			return nil, nil, err
		}
	}
	return header, claims, nil
}

// FCM's error answers (shapes from the v1 reference), by device token.
var fcmErrors = map[string]struct {
	status     int
	retryAfter string
	body       string
}{
	"dead":            {404, "", `{"error":{"code":404,"message":"Requested entity was not found.","status":"NOT_FOUND","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"UNREGISTERED"}]}}`},
	"mismatch":        {403, "", `{"error":{"code":403,"message":"SenderId mismatch","status":"PERMISSION_DENIED","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"SENDER_ID_MISMATCH"}]}}`},
	"invalid":         {400, "", `{"error":{"code":400,"message":"Request contains an invalid argument.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"INVALID_ARGUMENT"},{"@type":"type.googleapis.com/google.rpc.BadRequest","fieldViolations":[{"field":"message.token","description":"Invalid registration token"}]}]}}`},
	"invalid-message": {400, "", `{"error":{"code":400,"message":"The registration token is not a valid FCM registration token","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"INVALID_ARGUMENT"}]}}`},
	"bad-payload":     {400, "", `{"error":{"code":400,"message":"Invalid value at 'message.android.ttl' (type.googleapis.com/google.protobuf.Duration), \"forever\"","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.BadRequest","fieldViolations":[{"field":"message.android.ttl","description":"Invalid value at 'message.android.ttl'"}]}]}}`},
	"quota":           {429, "30", `{"error":{"code":429,"message":"Quota exceeded for quota metric 'Send requests'.","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"QUOTA_EXCEEDED"}]}}`},
	"unavailable":     {503, "5", `{"error":{"code":503,"message":"The service is currently unavailable.","status":"UNAVAILABLE","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"UNAVAILABLE"}]}}`},
	"internal":        {500, "", `{"error":{"code":500,"message":"Internal error encountered.","status":"INTERNAL","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"INTERNAL"}]}}`},
	"third-party":     {401, "", `{"error":{"code":401,"message":"Auth error from APNS or Web Push Service","status":"UNAUTHENTICATED","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"THIRD_PARTY_AUTH_ERROR"}]}}`},
	"permission":      {403, "", `{"error":{"code":403,"message":"Permission 'cloudmessaging.messages.create' denied on resource '//cloudresourcemanager.googleapis.com/projects/demo-project' (or it may not exist).","status":"PERMISSION_DENIED"}}`},
	"too-big":         {413, "", `<html>Request Entity Too Large</html>`},
}

// send plays FCM's messages:send.
func (f *fakeGoogle) send(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.sends = append(f.sends, recorded{r.Method, r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("Content-Type"), body})
	access, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	valid := f.issued[access]
	f.mu.Unlock()

	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	if !valid {
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"error":{"code":401,"message":"Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.","status":"UNAUTHENTICATED"}}`)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json; charset=UTF-8" {
		f.t.Errorf("send Content-Type %q", ct)
	}
	if p := r.PathValue("project"); p != testProject {
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"error":{"code":404,"message":"Requested entity was not found.","status":"NOT_FOUND"}}`)
		return
	}
	var m struct {
		Message struct {
			Token string `json:"token"`
		} `json:"message"`
	}
	if err := json.Unmarshal(body, &m); err != nil || m.Message.Token == "" {
		f.t.Errorf("send body %s: %v", body, err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if m.Message.Token == "hangup" {
		panic(http.ErrAbortHandler) // the connection drops without an answer
	}
	if e, ok := fcmErrors[m.Message.Token]; ok {
		if e.retryAfter != "" {
			w.Header().Set("Retry-After", e.retryAfter)
		}
		w.WriteHeader(e.status)
		io.WriteString(w, e.body)
		return
	}
	io.WriteString(w, `{"name":"projects/demo-project/messages/0:1700000000000000%abcdef"}`)
}
