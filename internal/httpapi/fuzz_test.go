package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"

	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/internal/apps"
	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/metrics"
	"github.com/heraldhq/herald/internal/protocol"
	"github.com/heraldhq/herald/internal/signing"
)

// The fuzz targets here drive the whole handler through a request parsed
// from its wire form, signed like an SDK signs it (or not at all), so the
// fuzzed bytes reach the body, query and path parsers behind the
// signature check. Every answer must be JSON with a documented status;
// what reaches the backend must respect every limit.

// Limits small enough for a fuzzer to cross.
const (
	fuzzMaxBody    = 4096
	fuzzMaxPayload = 1024
)

// vectorCred is the app of vectors.json: id 1, key app-key, secret app-secret.
var vectorCred = signing.Credential{Key: "app-key", Secret: "app-secret"}

// publishCall is one Backend.Publish.
type publishCall struct{ channel, event, data, socketID string }

// recBackend records what the API asks of the hub.
type recBackend struct {
	published []publishCall
	prefixes  []string // Channels calls
	channels  []string // Channel calls
	users     []string // PresenceUsers calls
	term      []string // TerminateUser calls
}

func (b *recBackend) Publish(_ context.Context, appID, channel, event, data, exceptSocketID string) error {
	b.published = append(b.published, publishCall{channel, event, data, exceptSocketID})
	return nil
}
func (b *recBackend) Channel(_ context.Context, appID, name string) (broker.ChannelStats, error) {
	b.channels = append(b.channels, name)
	return broker.ChannelStats{Users: 2, Subscriptions: 3}, nil
}
func (b *recBackend) Channels(_ context.Context, appID, prefix string) (map[string]broker.ChannelStats, error) {
	b.prefixes = append(b.prefixes, prefix)
	return map[string]broker.ChannelStats{prefix + "x": {Users: 1, Subscriptions: 1}, "#server-to-user-1": {}}, nil
}
func (b *recBackend) PresenceUsers(_ context.Context, appID, name string) ([]string, error) {
	b.users = append(b.users, name)
	return []string{"1", "2"}, nil
}
func (b *recBackend) Cached(context.Context, string, string) (broker.CacheEntry, bool, error) {
	return broker.CacheEntry{Event: "e", Data: "d"}, true, nil
}
func (b *recBackend) TerminateUser(_ context.Context, appID, userID string) error {
	b.term = append(b.term, userID)
	return nil
}
func (b *recBackend) Allow(context.Context, string, float64, int) (time.Duration, bool, error) {
	return 0, true, nil
}

// fuzzAPI is app 1 with the vectors' credentials, payloads limited to
// fuzzMaxPayload, bodies to fuzzMaxBody, the vectors' clock.
func fuzzAPI(tb testing.TB) (*API, *recBackend) {
	tb.Helper()
	store, err := apps.NewStatic([]apps.App{
		// subscription_count answered (the vectors ask for it).
		{ID: "1", Key: vectorCred.Key, Secret: vectorCred.Secret, Enabled: true, MaxEventPayloadBytes: fuzzMaxPayload, EnableSubscriptionCount: true},
	})
	if err != nil {
		tb.Fatal(err)
	}
	b := &recBackend{}
	api := New(Config{MaxBodyBytes: fuzzMaxBody}, Deps{
		Backend: b, Apps: store, Metrics: metrics.New(prometheus.NewRegistry()),
		Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return testNow },
	})
	return api, b
}

// wireRequest parses a request from its wire form, as the server would;
// false when net/http would not accept the request line.
func wireRequest(method, uri string, body []byte) (*http.Request, bool) {
	var b bytes.Buffer
	b.WriteString(method + " " + uri + " HTTP/1.1\r\nHost: herald.test\r\nContent-Type: application/json\r\n")
	b.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n")
	b.Write(body)
	r, err := http.ReadRequest(bufio.NewReader(&b))
	if err != nil {
		return nil, false
	}
	r.RemoteAddr = "192.0.2.1:1234"
	return r, true
}

// serve runs r through api and checks what every answer must be: JSON,
// a documented status, the error shape for refusals.
func serve(t *testing.T, api *API, r *http.Request, allowed ...int) (int, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	api.ServeHTTP(rec, r)
	if !slices.Contains(allowed, rec.Code) {
		t.Fatalf("%s %s: status %d (allowed %v), body %s", r.Method, r.URL, rec.Code, allowed, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s %s: Content-Type %q", r.Method, r.URL, ct)
	}
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil || m == nil {
		t.Fatalf("%s %s: body %q is not a JSON object: %v", r.Method, r.URL, rec.Body, err)
	}
	if rec.Code != http.StatusOK {
		if msg, _ := m["error"].(string); msg == "" || m["code"] != float64(rec.Code) {
			t.Fatalf("%s %s: refusal body %s", r.Method, r.URL, rec.Body)
		}
	}
	return rec.Code, m
}

// signedPost builds POST path with body, signed with the vectors' app.
func signedPost(t *testing.T, path string, body []byte) *http.Request {
	t.Helper()
	q := signing.SignRequest(vectorCred, http.MethodPost, path, nil, body, testNow)
	r, ok := wireRequest(http.MethodPost, path+"?"+q.Encode(), body)
	if !ok {
		t.Fatalf("cannot build POST %s", path)
	}
	return r
}

// seedBodies are the event bodies of the vectors' captured SDK requests.
func seedBodies(f *testing.F, path string) {
	f.Helper()
	b, err := os.ReadFile("../../testdata/vectors.json")
	if err != nil {
		f.Fatal(err)
	}
	var v struct {
		Node []struct {
			Request struct{ Path, Body string }
		} `json:"http_api_requests_node"`
		Go []struct{ Path, Body string } `json:"http_api_requests_go"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		f.Fatal(err)
	}
	for _, r := range v.Node {
		if r.Request.Path == path {
			f.Add([]byte(r.Request.Body))
		}
	}
	for _, r := range v.Go {
		if r.Path == path {
			f.Add([]byte(r.Body))
		}
	}
}

// wantEvent is an event body as encoding/json reads it, the reference for
// what the API publishes.
type wantEvent struct {
	Name     *string         `json:"name"`
	Data     json.RawMessage `json:"data"`
	Channels []string        `json:"channels"`
	Channel  *string         `json:"channel"`
	SocketID *string         `json:"socket_id"`
}

// checkPublished compares what one accepted event published with the body.
func checkPublished(t *testing.T, ev wantEvent, got []publishCall) {
	t.Helper()
	chans := ev.Channels
	if chans == nil && ev.Channel != nil {
		chans = []string{*ev.Channel}
	}
	var uniq []string
	for _, ch := range chans {
		if !slices.Contains(uniq, ch) {
			uniq = append(uniq, ch)
		}
	}
	if len(got) != len(uniq) {
		t.Fatalf("published %d events for channels %q", len(got), uniq)
	}
	for i, p := range got {
		if p.channel != uniq[i] || ev.Name == nil || p.event != *ev.Name {
			t.Fatalf("published %+v, want channel %q event %v", p, uniq[i], ev.Name)
		}
		if id, ok := protocol.UserChannelID(p.channel); ok {
			if !protocol.ValidChannelName(id, 128) {
				t.Fatalf("published to user channel %q", p.channel)
			}
		} else if !protocol.ValidChannelName(p.channel, 200) {
			t.Fatalf("published to channel %q", p.channel)
		}
		if p.event == "" || len(p.event) > 200 || len(p.data) > fuzzMaxPayload {
			t.Fatalf("published event %q with %d bytes of data", p.event, len(p.data))
		}
		if p.socketID != "" && !protocol.ValidSocketID(p.socketID) {
			t.Fatalf("published excluding socket %q", p.socketID)
		}
		var s string
		if d := ev.Data; len(d) > 0 && d[0] == '"' && json.Unmarshal(d, &s) == nil && p.data != s {
			t.Fatalf("string data %s published as %q", d, p.data)
		}
	}
}

func FuzzEventsBody(f *testing.F) {
	seedBodies(f, "/apps/1/events")
	for _, s := range []string{
		`{"name":"e","data":"x","channel":"c"}`,
		`{"name":"e","data":{"a":[1,2]},"channels":["a","a","b"],"socket_id":"1.1","info":"user_count,subscription_count"}`,
		`{"name":"e","data":"x","channels":["private-encrypted-x","b"]}`,
		`{"name":"e","data":"x","channels":["#server-to-user-u1"]}`,
		`{"name":"","data":"x","channels":["c"]}`, `{"name":"e","channels":["c"]}`, `{"name":"e","data":null,"channels":[]}`,
		`{"name":"e","data":"x","channels":["a b"]}`, `{"name":"e","data":"x","channels":["c"],"socket_id":"x"}`,
		`{"NAME":"e","Data":"x","CHANNEL":"c"}`, `{"name":1}`, `[]`, `null`, ``, `{`,
		`{"name":"e","data":"` + strings.Repeat("d", fuzzMaxPayload+1) + `","channel":"c"}`,
		`{"name":"e","data":"x","channel":"c"}` + strings.Repeat(" ", fuzzMaxBody),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		b, _, ok := postPublish(t, "/apps/1/events", body)
		if !ok {
			return
		}
		var ev wantEvent
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Fatalf("accepted body %q that encoding/json refuses: %v", body, err)
		}
		checkPublished(t, ev, b.published)
	})
}

// postPublish sends body, correctly signed, to a publish endpoint and
// checks what holds for every answer: a JSON body with 200, 400 or 413;
// 413 for a body over the limit; nothing published when refused. ok is
// true when the request was accepted.
func postPublish(t *testing.T, path string, body []byte) (b *recBackend, resp map[string]any, ok bool) {
	t.Helper()
	api, b := fuzzAPI(t)
	status, resp := serve(t, api, signedPost(t, path, body), 200, 400, 413)
	if len(body) > fuzzMaxBody && status != http.StatusRequestEntityTooLarge {
		t.Fatalf("%d-byte body answered %d, limit %d", len(body), status, fuzzMaxBody)
	}
	if status != http.StatusOK {
		if len(b.published) > 0 {
			t.Fatalf("refused (%d) but published %+v", status, b.published)
		}
		return b, resp, false
	}
	return b, resp, true
}

func FuzzBatchEventsBody(f *testing.F) {
	seedBodies(f, "/apps/1/batch_events")
	for _, s := range []string{
		`{"batch":[{"name":"e","data":"x","channel":"c"},{"name":"e2","data":{"a":1},"channel":"presence-p","info":"user_count"}]}`,
		`{"batch":[{"name":"e","data":"x","channels":["a","b"]}]}`,
		`{"batch":[{"name":"e","data":"x","channels":["a"],"channel":"b"}]}`,
		`{"batch":[` + strings.Repeat(`{"name":"e","data":"x","channel":"c"},`, 10) + `{"name":"e","data":"x","channel":"c"}]}`,
		`{"batch":[]}`, `{"batch":{}}`, `{"batch":null}`, `{}`, `{"batch":[{}]}`, `{"batch":[null]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		b, resp, ok := postPublish(t, "/apps/1/batch_events", body)
		if !ok {
			return
		}
		var req struct{ Batch []wantEvent }
		if err := json.Unmarshal(body, &req); err != nil {
			t.Fatalf("accepted body %q that encoding/json refuses: %v", body, err)
		}
		if len(req.Batch) == 0 || len(req.Batch) > 10 || len(b.published) != len(req.Batch) {
			t.Fatalf("batch of %d published %d events", len(req.Batch), len(b.published))
		}
		for i, ev := range req.Batch {
			checkPublished(t, ev, b.published[i:i+1])
		}
		if list, ok := resp["batch"].([]any); ok && len(list) != len(req.Batch) {
			t.Fatalf("batch of %d answered with %d results", len(req.Batch), len(list))
		}
	})
}

// formValues decodes a raw query the way the signature check does: split on
// "&" only, %XX and "+" decoded; false on a bad escape.
func formValues(raw string) (url.Values, bool) {
	q := url.Values{}
	for _, part := range strings.Split(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		key, err1 := url.QueryUnescape(k)
		val, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			return nil, false
		}
		q[key] = append(q[key], val)
	}
	return q, true
}

// infoHas reports whether an info list names attr (what parseInfo reads).
func infoHas(info, attr string) bool {
	for _, f := range strings.Split(info, ",") {
		if strings.TrimSpace(f) == attr {
			return true
		}
	}
	return false
}

// FuzzQueryEndpoints sends the GET endpoints and terminate_connections a
// fuzzed path segment and fuzzed query parameters, sent raw and signed over
// their decoded form as an SDK would sign them. A signed request is never
// refused as unauthenticated, and the handler acts on the parameters the
// signature covers.
func FuzzQueryEndpoints(f *testing.F) {
	for _, s := range []struct {
		ep       uint8
		seg, raw string
	}{
		{0, "", ""}, {0, "", "filter_by_prefix=presence-&info=user_count"}, {0, "", "info=subscription_count"},
		{0, "", "filter_by_prefix=private-&info=user_count"}, {0, "", "filter_by_prefix=a%2Bb+c"},
		{1, "my-channel", "info=subscription_count,cache"}, {1, "presence-room", "info=user_count"},
		{1, "cache-prices", "info=cache"}, {1, "a b", ""}, {1, "private-x", "info=user_count"},
		{2, "presence-room", ""}, {2, "private-room", ""}, {2, "é", ""},
		{3, "user-1", ""}, {3, strings.Repeat("u", 129), ""}, {3, "#x", "a=1&a=2"},
		// ";" is a channel-name character; the signature check splits on "&" only.
		{0, "", "filter_by_prefix=presence-&x=a;b"}, {1, "presence-room", "info=user_count&x=;"},
	} {
		f.Add(s.ep, s.seg, s.raw)
	}
	f.Fuzz(func(t *testing.T, ep uint8, seg, raw string) {
		params, ok := formValues(raw)
		if !ok || (ep%4 != 0 && (seg == "" || seg == "." || seg == "..")) {
			return // ServeMux redirects to the cleaned path
		}
		for k := range params {
			switch strings.ToLower(k) {
			case "auth_key", "auth_timestamp", "auth_version", "auth_signature", "body_md5":
				return // SignRequest replaces these; the raw copy would be a duplicate
			}
		}
		method, path := http.MethodGet, "/apps/1/channels"
		switch ep % 4 {
		case 1:
			path += "/" + url.PathEscape(seg)
		case 2:
			path += "/" + url.PathEscape(seg) + "/users"
		case 3:
			method, path = http.MethodPost, "/apps/1/users/"+url.PathEscape(seg)+"/terminate_connections"
		}
		auth := signing.SignRequest(vectorCred, method, path, params, nil, testNow)
		for k := range params {
			auth.Del(k)
		}
		uri := path + "?" + auth.Encode()
		if raw != "" {
			uri = path + "?" + raw + "&" + auth.Encode()
		}
		r, ok := wireRequest(method, uri, nil)
		if !ok {
			return
		}
		api, b := fuzzAPI(t)
		status, resp := serve(t, api, r, 200, 400, 404)
		if status != http.StatusOK {
			return
		}
		info := params.Get("info")
		switch ep % 4 {
		case 0:
			if want := params.Get("filter_by_prefix"); len(b.prefixes) != 1 || b.prefixes[0] != want {
				t.Fatalf("query %q: listed channels with prefixes %q, the signed filter_by_prefix is %q", raw, b.prefixes, want)
			}
			if infoHas(info, "user_count") && !strings.HasPrefix(params.Get("filter_by_prefix"), "presence-") {
				t.Fatalf("query %q: user_count served without a presence- prefix", raw)
			}
		case 1:
			if len(b.channels) != 1 || b.channels[0] != seg {
				t.Fatalf("path segment %q: read channels %q", seg, b.channels)
			}
			for _, attr := range []string{"user_count", "subscription_count"} {
				if _, got := resp[attr]; got != infoHas(info, attr) {
					t.Fatalf("query %q: %s in answer = %v, signed info is %q", raw, attr, got, info)
				}
			}
		case 2:
			if len(b.users) != 1 || b.users[0] != seg || protocol.Classify(seg).Type != protocol.Presence {
				t.Fatalf("path segment %q: listed users of %q", seg, b.users)
			}
		case 3:
			if len(b.term) != 1 || b.term[0] != seg || !protocol.ValidChannelName(seg, 128) {
				t.Fatalf("path segment %q: terminated %q", seg, b.term)
			}
		}
	})
}

// FuzzRequestSignature sends fuzzed method, path, query and body: the
// handler answers 2xx only when signing.VerifyRequest accepts the request
// as the handler received it, never 5xx, always JSON.
func FuzzRequestSignature(f *testing.F) {
	b, err := os.ReadFile("../../testdata/vectors.json")
	if err != nil {
		f.Fatal(err)
	}
	var v struct {
		Node []struct {
			Request struct {
				Method, Path string
				RawQuery     string `json:"raw_query"`
				Body         string
			}
		} `json:"http_api_requests_node"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		f.Fatal(err)
	}
	for _, r := range v.Node {
		f.Add(r.Request.Method, r.Request.Path, r.Request.RawQuery, []byte(r.Request.Body))
	}
	f.Add("GET", "/apps/1/channels", "auth_key=app-key&AUTH_SIGNATURE=1&auth_signature=2", []byte(nil))
	f.Add("DELETE", "/apps/1/channels", "", []byte(nil))
	f.Add("GET", "/apps/2/channels", "auth_key=app-key", []byte(nil))
	f.Add("POST", "/apps/1/events", "auth_key=app-key&auth_timestamp=1700000000&auth_version=1.0&body_md5=x&auth_signature=y", []byte("{}"))
	f.Fuzz(func(t *testing.T, method, path, rawQuery string, body []byte) {
		if !strings.HasPrefix(path, "/apps/") {
			return // the server routes only /apps/... here
		}
		uri := path
		if rawQuery != "" {
			uri += "?" + rawQuery
		}
		r, ok := wireRequest(method, uri, body)
		if !ok {
			return
		}
		api, _ := fuzzAPI(t)
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, r)
		if rec.Code == http.StatusMovedPermanently || rec.Code == http.StatusTemporaryRedirect {
			return // ServeMux cleaning a path with "..", "//" and the like
		}
		if rec.Code >= 500 {
			t.Fatalf("%s %s: status %d: %s", method, uri, rec.Code, rec.Body)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" || !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("%s %s: %d with Content-Type %q, body %q", method, uri, rec.Code, ct, rec.Body)
		}
		if rec.Code/100 == 2 {
			if _, err := signing.VerifyRequest(r.Method, r.URL.EscapedPath(), r.URL.RawQuery, body,
				[]signing.Credential{vectorCred}, testNow, 0); err != nil {
				t.Fatalf("%s %s answered %d but does not verify: %v", method, uri, rec.Code, err)
			}
		}
	})
}
