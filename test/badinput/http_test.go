package badinput

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/signing"
)

// apiReq is one REST request, sent exactly as built.
type apiReq struct {
	method string
	path   string // raw request path, sent as is (no cleaning, no escaping)
	query  string // raw query string, sent as is
	body   []byte

	chunked     bool  // send the body with Transfer-Encoding: chunked
	claimLength int64 // > 0: send only the headers, claiming this Content-Length
	// raw, when set, is sent over TCP as the whole request instead; its
	// path and query are those above.
	raw string

	sts string // the string to sign the builder signed, for expected messages
	sig string // the auth_signature sent
}

// apiResp is the status, headers and body of an answer.
type apiResp struct {
	status int
	header http.Header
	body   []byte
}

func (r apiResp) String() string { return fmt.Sprintf("%d %s", r.status, r.body) }

var httpClient = &http.Client{
	Timeout: wait,
	CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse // a redirect is an answer to check, not to follow
	},
}

// sign returns params plus the scheme parameters (auth_*, body_md5) signed
// at time at, as the SDKs sign, and the string it signed.
func sign(cred signing.Credential, method, path string, params url.Values, body []byte, at time.Time) (q url.Values, sts string) {
	q = signing.SignRequest(cred, method, path, params, body, at)
	sig := q.Get("auth_signature")
	q.Del("auth_signature")
	sts = signing.StringToSign(method, path, q)
	q.Set("auth_signature", sig)
	return q, sts
}

var appCred = signing.Credential{Key: appKey, Secret: appSecret}

// signed builds a request signed with app 1's credentials now; edit, when
// not nil, changes the query after signing (so the signature covers the
// query before the edit).
func signed(method, path string, params url.Values, body string, edit func(q url.Values)) apiReq {
	return signedWith(appCred, time.Now(), method, path, params, body, edit)
}

func signedWith(cred signing.Credential, at time.Time, method, path string, params url.Values, body string, edit func(q url.Values)) apiReq {
	var b []byte
	if body != "" {
		b = []byte(body)
	}
	q, sts := sign(cred, method, path, params, b, at)
	if edit != nil {
		edit(q)
	}
	return apiReq{method: method, path: path, query: q.Encode(), body: b, sts: sts, sig: q.Get("auth_signature")}
}

// publish is a signed POST /apps/1/events with body.
func publish(body string) apiReq {
	return signed(http.MethodPost, "/apps/"+appID+"/events", nil, body, nil)
}

// batch is a signed POST /apps/1/batch_events with body.
func batch(body string) apiReq {
	return signed(http.MethodPost, "/apps/"+appID+"/batch_events", nil, body, nil)
}

// do sends r and reads the whole answer.
func do(r apiReq) (apiResp, error) {
	if r.claimLength > 0 {
		target := r.path
		if r.query != "" {
			target += "?" + r.query
		}
		return doRaw(fmt.Sprintf("%s %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n",
			r.method, target, addr, r.claimLength))
	}
	if r.raw != "" {
		return doRaw(r.raw)
	}
	var rd io.Reader
	if r.body != nil {
		rd = bytes.NewReader(r.body)
		if r.chunked {
			rd = &chunky{b: r.body} // no length known: chunked encoding
		}
	}
	req, err := http.NewRequest(r.method, "http://"+addr+"/", rd)
	if err != nil {
		return apiResp{}, err
	}
	req.URL = &url.URL{Scheme: "http", Host: addr, Opaque: r.path, RawQuery: r.query}
	if r.chunked {
		req.ContentLength = -1
	}
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return apiResp{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return apiResp{}, fmt.Errorf("reading the body: %w", err)
	}
	return apiResp{status: resp.StatusCode, header: resp.Header, body: body}, nil
}

// chunky reads its bytes in pieces of at most 4 KiB and hides its length.
type chunky struct{ b []byte }

func (c *chunky) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), 4<<10)], c.b)
	c.b = c.b[n:]
	return n, nil
}

// doRaw sends req over a fresh TCP connection and reads the answer; a
// request head alone (claiming a body) must be answered without the body.
func doRaw(req string) (apiResp, error) {
	conn, err := net.DialTimeout("tcp", addr, wait)
	if err != nil {
		return apiResp{}, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(wait))
	if _, err := conn.Write([]byte(req)); err != nil {
		return apiResp{}, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return apiResp{}, fmt.Errorf("no answer: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return apiResp{}, err
	}
	return apiResp{status: resp.StatusCode, header: resp.Header, body: body}, nil
}

// checkAPIError checks an error answer: the status, a JSON content type
// and the body {"error": msg, "code": status}; with prefix, msg only has
// to start the error text.
func checkAPIError(t *testing.T, r apiResp, status int, msg string, prefix bool) {
	t.Helper()
	if r.status != status {
		t.Errorf("status = %d, want %d (body %s)", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var got struct {
		Error *string `json:"error"`
		Code  *int    `json:"code"`
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &keys); err != nil || json.Unmarshal(r.body, &got) != nil || got.Error == nil || got.Code == nil || len(keys) != 2 {
		t.Fatalf(`body must be exactly {"error": string, "code": int}, got %s`, r.body)
	}
	if *got.Code != status {
		t.Errorf("body code = %d, want %d", *got.Code, status)
	}
	if prefix {
		if !strings.HasPrefix(*got.Error, msg) {
			t.Errorf("error = %q, want it to start with %q", *got.Error, msg)
		}
	} else if *got.Error != msg {
		t.Errorf("error = %q\n          want %q", *got.Error, msg)
	}
}

// checkAPIOK checks a success answer: 200 and a JSON body equal to want.
func checkAPIOK(t *testing.T, r apiResp, want string) {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status = %d, want 200 (body %s)", r.status, r.body)
	}
	var g, w any
	if err := json.Unmarshal(r.body, &g); err != nil {
		t.Fatalf("body is not JSON: %q", r.body)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		panic(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("body = %s, want %s", r.body, want)
	}
}
