package pusher

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	testKey       = "app-key"
	testSecret    = "app-secret"
	testMasterKey = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=" // bytes 0x00…0x1f
	frozenUnix    = 1700000000
)

// roundTripFunc adapts a function to http.RoundTripper.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// captured is one request as it reached the transport.
type captured struct {
	Method, Path, RawPath, RawQuery string
	Header                          http.Header
	Body                            []byte
}

// recorder answers every request with status/body and keeps a copy of it.
type recorder struct {
	mu     sync.Mutex
	reqs   []captured
	status int
	body   string
}

func (rec *recorder) RoundTrip(r *http.Request) (*http.Response, error) {
	var body []byte
	if r.Body != nil {
		body, _ = io.ReadAll(r.Body)
		r.Body.Close()
	}
	rec.mu.Lock()
	rec.reqs = append(rec.reqs, captured{r.Method, r.URL.Path, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Clone(), body})
	status, resp := rec.status, rec.body
	rec.mu.Unlock()
	if status == 0 {
		status = 200
	}
	return &http.Response{
		StatusCode: status, Status: http.StatusText(status),
		Header: http.Header{"Content-Type": {"application/json"}},
		Body:   io.NopCloser(strings.NewReader(resp)), ContentLength: int64(len(resp)),
		Request: r,
	}, nil
}

func (rec *recorder) last(t *testing.T) captured {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.reqs) == 0 {
		t.Fatal("no request was sent")
	}
	return rec.reqs[len(rec.reqs)-1]
}

// fixedNonce yields the vectors' nonce, bytes 0x40…0x57, on every read.
type fixedNonce struct{}

func (fixedNonce) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(0x40 + i%24)
	}
	return len(p), nil
}

// newTestClient returns a client of app 1 with the vectors' credentials and
// master key, a frozen clock and the fixed nonce, sending through rt.
func newTestClient(t *testing.T, rt http.RoundTripper) *Client {
	t.Helper()
	c, err := New(Config{
		AppID: "1", Key: testKey, Secret: testSecret, Host: "127.0.0.1:6001",
		EncryptionMasterKeyBase64: testMasterKey,
		HTTPClient:                &http.Client{Transport: rt},
	})
	if err != nil {
		t.Fatal(err)
	}
	c.now = func() time.Time { return time.Unix(frozenUnix, 0) }
	c.nonce = fixedNonce{}
	return c
}

// failTransport fails the test if any request reaches it.
func failTransport(t *testing.T) http.RoundTripper {
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		t.Errorf("unexpected request %s %s", r.Method, r.URL)
		return nil, errors.New("no request expected")
	})
}

// jsonEqual reports whether a and b hold the same JSON value.
func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Fatalf("not JSON: %s: %v", a, err)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatalf("not JSON: %s: %v", b, err)
	}
	return reflect.DeepEqual(va, vb)
}

// vectorsPath is this module's copy of the SDK-generated vectors of the
// Pusher spec (the repository's testdata/README.md says how it is kept
// current).
const vectorsPath = "testdata/vectors.json"

type vectors struct {
	App struct {
		Key, Secret               string
		EncryptionMasterKeyBase64 string `json:"encryption_master_key_base64"`
	} `json:"app"`
	ChannelAuthorization []struct {
		Label string
		Input struct {
			SocketID     string `json:"socket_id"`
			ChannelName  string `json:"channel_name"`
			PresenceData *struct {
				UserID   json.RawMessage `json:"user_id"`
				UserInfo json.RawMessage `json:"user_info"`
			} `json:"presence_data"`
		}
		Output json.RawMessage
	} `json:"channel_authorization"`
	UserAuthentication []struct {
		Input struct {
			SocketID string `json:"socket_id"`
			User     struct {
				ID        string          `json:"id"`
				UserInfo  json.RawMessage `json:"user_info"`
				Watchlist []string        `json:"watchlist"`
			} `json:"user"`
		}
		Output json.RawMessage
	} `json:"user_authentication"`
	EncryptedChannel struct {
		Channel            string
		SharedSecretBase64 string `json:"shared_secret_base64"`
		ExampleEvent       struct {
			APIBodyDataField string `json:"api_body_data_field"`
			DecryptsToUTF8   string `json:"decrypts_to_utf8"`
		} `json:"example_event"`
	} `json:"encrypted_channel"`
	HTTPAPIRequestsNode []struct {
		Label   string
		Request struct {
			Method, Path string
			RawQuery     string `json:"raw_query"`
			Body         string
		}
		Signing struct {
			StringToSign  string `json:"string_to_sign"`
			AuthSignature string `json:"auth_signature"`
		}
		FakeServerResponseUsed string `json:"fake_server_response_used"`
	} `json:"http_api_requests_node"`
	HTTPAPIRequestsGo []struct {
		Label, Method, Path, Body string
		StringToSign              string `json:"string_to_sign"`
		AuthSignature             string `json:"auth_signature"`
	} `json:"http_api_requests_go"`
	AuthResponsesGo map[string]json.RawMessage `json:"auth_responses_go"`
	Webhooks        []struct {
		Label   string
		RawBody string `json:"raw_body"`
		Headers map[string]string
	} `json:"webhooks"`
}

// loadVectors reads vectors.json; a missing or malformed file fails the test.
func loadVectors(tb testing.TB) *vectors {
	tb.Helper()
	b, err := os.ReadFile(vectorsPath)
	if err != nil {
		tb.Fatal(err)
	}
	var v vectors
	if err := json.Unmarshal(b, &v); err != nil {
		tb.Fatal(err)
	}
	return &v
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }

// The server's checks, written apart from the SDK's own code so that they can
// serve as the tests' oracle (the server itself checks the SDK end to end in
// the repository's test/sdkgo).
var (
	socketIDRE    = regexp.MustCompile(`^[0-9]+\.[0-9]+$`)
	channelNameRE = regexp.MustCompile(`^[-a-zA-Z0-9_=@,.;]{1,200}$`)
)

func oracleHMAC(secret, msg string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(msg))
	return hex.EncodeToString(m.Sum(nil))
}

// oracleChannelAuth is the auth a server accepts for socketID on channel.
func oracleChannelAuth(socketID, channel string, channelData *string) string {
	msg := socketID + ":" + channel
	if channelData != nil {
		msg += ":" + *channelData
	}
	return testKey + ":" + oracleHMAC(testSecret, msg)
}

// verifySigned checks a request as the server does: the key, version and
// timestamp (seconds; its age is the caller's to check), body_md5 over the body, and auth_signature over the
// method, the path as sent and the query without auth_signature, keys
// lower-cased and sorted, values of one key joined with ",".
func verifySigned(method, path, rawQuery string, body []byte, key, secret string) error {
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return err
	}
	if q.Get("auth_key") != key || q.Get("auth_version") != "1.0" || !regexp.MustCompile(`^[0-9]{10}$`).MatchString(q.Get("auth_timestamp")) {
		return fmt.Errorf("auth_key %q, auth_version %q, auth_timestamp %q", q.Get("auth_key"), q.Get("auth_version"), q.Get("auth_timestamp"))
	}
	if len(body) > 0 {
		sum := md5.Sum(body)
		if q.Get("body_md5") != hex.EncodeToString(sum[:]) {
			return fmt.Errorf("body_md5 %q does not match the body", q.Get("body_md5"))
		}
	} else if q.Has("body_md5") {
		return errors.New("body_md5 without a body")
	}
	vals := map[string][]string{}
	for k, vs := range q {
		if lk := strings.ToLower(k); lk != "auth_signature" {
			vals[lk] = append(vals[lk], vs...)
		}
	}
	keys := make([]string, 0, len(vals))
	for k := range vals {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	pairs := make([]string, len(keys))
	for i, k := range keys {
		pairs[i] = k + "=" + strings.Join(vals[k], ",")
	}
	want := oracleHMAC(secret, strings.ToUpper(method)+"\n"+path+"\n"+strings.Join(pairs, "&"))
	if !hmac.Equal([]byte(q.Get("auth_signature")), []byte(want)) {
		return errors.New("auth_signature does not match")
	}
	return nil
}
