package apns_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeAPNs is a loopback APNs provider API (spec 4.4, local fake): HTTP/2
// over TLS, the ES256 provider token checked with the test key's public
// half, every request recorded.
type fakeAPNs struct {
	srv      *httptest.Server
	pub      *ecdsa.PublicKey
	kid, iss string
	gone     string // the 410 answer for dead tokens

	mu            sync.Mutex
	reqs          []request
	dead          map[string]bool
	inject        map[string][]answer // by device token, in order
	expiredBefore int64               // tokens with an older iat are expired
	apnsID        string              // the apns-id of a 200; "": one per request
	n             int
}

type request struct {
	Proto, Method, Path string
	Header              http.Header
	Body                []byte
	JWT                 string
	IAT                 int64
}

// answer is an injected reply.
type answer struct {
	Status     int
	Reason     string
	RetryAfter string
	Raw        string // a body that is not Apple's JSON
	Abort      bool   // reset the stream: a network error
}

func startFake(t *testing.T, pub *ecdsa.PublicKey, kid, iss, gone string) *fakeAPNs {
	f := &fakeAPNs{pub: pub, kid: kid, iss: iss, gone: gone, dead: map[string]bool{}, inject: map[string][]answer{}}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	f.srv.EnableHTTP2 = true
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAPNs) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	jwt, _ := strings.CutPrefix(r.Header.Get("Authorization"), "bearer ")
	iat, jwtErr := f.verify(jwt)
	f.mu.Lock()
	f.reqs = append(f.reqs, request{Proto: r.Proto, Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body, JWT: jwt, IAT: iat})
	f.n++
	n := f.n
	expiredBefore := f.expiredBefore
	device, isDevice := strings.CutPrefix(r.URL.Path, "/3/device/")
	var inj *answer
	if q := f.inject[device]; len(q) > 0 && jwtErr == nil && iat >= expiredBefore {
		inj = &q[0]
		f.inject[device] = q[1:]
	}
	dead := f.dead[device]
	id := f.apnsID
	f.mu.Unlock()

	fail := func(status int, reason string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"reason":%q}`, reason)
	}
	switch {
	case r.Proto != "HTTP/2.0":
		fail(http.StatusHTTPVersionNotSupported, "HTTP2Required")
	case r.Header.Get("Authorization") == "":
		fail(http.StatusForbidden, "MissingProviderToken")
	case jwtErr != nil:
		fail(http.StatusForbidden, "InvalidProviderToken")
	case iat < expiredBefore:
		fail(http.StatusForbidden, "ExpiredProviderToken")
	case r.Method != http.MethodPost:
		fail(http.StatusMethodNotAllowed, "MethodNotAllowed")
	case !isDevice || device == "":
		fail(http.StatusNotFound, "BadPath")
	case r.Header.Get("Apns-Topic") == "":
		fail(http.StatusBadRequest, "MissingTopic")
	case len(body) == 0:
		fail(http.StatusBadRequest, "PayloadEmpty")
	case len(body) > 4096:
		fail(http.StatusRequestEntityTooLarge, "PayloadTooLarge")
	case !json.Valid(body):
		fail(http.StatusBadRequest, "BadPayload")
	case inj != nil && inj.Abort:
		panic(http.ErrAbortHandler)
	case inj != nil:
		if inj.RetryAfter != "" {
			w.Header().Set("Retry-After", inj.RetryAfter)
		}
		if inj.Raw != "" {
			w.WriteHeader(inj.Status)
			io.WriteString(w, inj.Raw)
			return
		}
		fail(inj.Status, inj.Reason)
	case dead:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusGone)
		io.WriteString(w, f.gone)
	default:
		if id == "" {
			id = fmt.Sprintf("00000000-0000-4000-8000-%012d", n)
		}
		w.Header().Set("Apns-Id", id)
		w.WriteHeader(http.StatusOK)
	}
}

// verify checks a provider token as Apple does and returns its iat.
func (f *fakeAPNs) verify(jwt string) (int64, error) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return 0, errors.New("not a JWT")
	}
	var head struct{ Alg, Kid string }
	var claims struct {
		Iss string
		Iat *int64
	}
	hb, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	cb, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err := errors.Join(err1, err2, err3, json.Unmarshal(hb, &head), json.Unmarshal(cb, &claims)); err != nil {
		return 0, err
	}
	if head.Alg != "ES256" || head.Kid != f.kid || claims.Iss != f.iss || claims.Iat == nil || len(sig) != 64 {
		return 0, fmt.Errorf("header %s claims %s", hb, cb)
	}
	h := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if !ecdsa.Verify(f.pub, h[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		return 0, errors.New("signature does not verify")
	}
	return *claims.Iat, nil
}

func (f *fakeAPNs) requests() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request(nil), f.reqs...)
}

func (f *fakeAPNs) kill(device string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dead[device] = true
}

func (f *fakeAPNs) answer(device string, a ...answer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inject[device] = append(f.inject[device], a...)
}

// expireBefore makes Apple call tokens issued before t expired.
func (f *fakeAPNs) expireBefore(t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.expiredBefore = t.Unix()
}

// distinctJWTs lists the provider tokens seen, in first-use order.
func (f *fakeAPNs) distinctJWTs() []request {
	var out []request
	seen := map[string]bool{}
	for _, r := range f.requests() {
		if !seen[r.JWT] {
			seen[r.JWT] = true
			out = append(out, r)
		}
	}
	return out
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testKey is a new P-256 key and its .p8 file.
func testKey(t *testing.T) (*ecdsa.PrivateKey, []byte) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return k, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}
