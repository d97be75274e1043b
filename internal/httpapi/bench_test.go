package httpapi

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/internal/apps"
	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/metrics"
	"github.com/heraldhq/herald/internal/signing"
)

type nopBackend struct{ fakeBackend }

func (*nopBackend) Publish(context.Context, string, string, string, string, string) error { return nil }

// Channel answers what the vectors' fake server answered: one
// subscription, two presence members.
func (*nopBackend) Channel(context.Context, string, string) (broker.ChannelStats, error) {
	return broker.ChannelStats{Subscriptions: 1, Users: 2}, nil
}

// BenchmarkTrigger: one signed POST /events through the whole handler
// (app lookup, body read, signature, JSON, publish to a backend that does
// nothing): the API's own cost per request.
func BenchmarkTrigger(b *testing.B) {
	store, err := apps.NewStatic([]apps.App{{ID: "1", Key: cred1.Key, Secret: cred1.Secret, Enabled: true, MaxEventPayloadBytes: 10 << 10}})
	if err != nil {
		b.Fatal(err)
	}
	api := New(Config{}, Deps{Backend: &nopBackend{}, Apps: store, Metrics: metrics.New(prometheus.NewRegistry()),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	body := []byte(`{"name":"my-event","channels":["my-channel"],"data":"{\"message\":\"hello world\"}"}`)
	const path = "/apps/1/events"
	target := path + "?" + signing.SignRequest(cred1, http.MethodPost, path, nil, body, testNow).Encode()
	api.now = func() time.Time { return testNow }
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, target, bytes.NewReader(body))
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
}

// nodeRequest is one request of http_api_requests_node in the shared
// vectors: exactly what pusher-http-node sends.
type nodeRequest struct {
	Method   string            `json:"method"`
	Path     string            `json:"path"`
	RawQuery string            `json:"raw_query"`
	Headers  map[string]string `json:"headers"`
	Body     string            `json:"body"`
}

func loadNodeRequest(tb testing.TB, label string) (nodeRequest, string) {
	tb.Helper()
	raw, err := os.ReadFile("../../testdata/vectors.json")
	if err != nil {
		tb.Fatal(err)
	}
	var v struct {
		App struct {
			ID     string `json:"app_id"`
			Key    string `json:"key"`
			Secret string `json:"secret"`
		} `json:"app"`
		Requests []struct {
			Label    string      `json:"label"`
			Request  nodeRequest `json:"request"`
			Response string      `json:"fake_server_response_used"`
		} `json:"http_api_requests_node"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		tb.Fatal(err)
	}
	if v.App.ID != "1" || v.App.Key != "app-key" || v.App.Secret != "app-secret" {
		tb.Fatalf("vectors: unexpected app %+v", v.App)
	}
	for _, r := range v.Requests {
		if r.Label == label {
			return r.Request, r.Response
		}
	}
	tb.Fatalf("vectors: no request %q", label)
	return nodeRequest{}, ""
}

// benchBody is a request body the benchmark rewinds instead of
// reallocating.
type benchBody struct{ bytes.Reader }

func (*benchBody) Close() error { return nil }

// discardWriter is the least a ResponseWriter can be: it keeps the status
// and the body so the benchmark can check the answer.
type discardWriter struct {
	h    http.Header
	code int
	body bytes.Buffer
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}
func (w *discardWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.body.Write(p)
}

// benchNodeRequest serves the vector labelled label through the API
// handler without httptest: the request is what net/http's server hands a
// handler (URL parsed from the request URI, the SDK's headers, a body of
// Content-Length bytes), rebuilt from a template each time; the response
// writer discards. What is measured is the API's own work per request.
// want is the expected answer; "" means the one in the vector.
func benchNodeRequest(b *testing.B, label, want string) {
	nr, vecWant := loadNodeRequest(b, label)
	want = cmp.Or(want, vecWant)
	store, err := apps.NewStatic([]apps.App{{ID: "1", Key: "app-key", Secret: "app-secret", Enabled: true, MaxEventPayloadBytes: 10 << 10}})
	if err != nil {
		b.Fatal(err)
	}
	api := New(Config{}, Deps{Backend: &nopBackend{}, Apps: store, Metrics: metrics.New(prometheus.NewRegistry()),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return time.Unix(1700000000, 0) }})

	uri := nr.Path + "?" + nr.RawQuery
	u, err := url.ParseRequestURI(uri)
	if err != nil {
		b.Fatal(err)
	}
	hdr := http.Header{}
	for k, v := range nr.Headers {
		hdr.Set(k, v)
	}
	hdr.Set("Host", "127.0.0.1:8080")
	body := []byte(nr.Body)
	if n, _ := strconv.Atoi(hdr.Get("Content-Length")); n != len(body) {
		b.Fatalf("content-length %d, body %d bytes", n, len(body))
	}
	rb := &benchBody{}
	tmpl := http.Request{Method: nr.Method, URL: u, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: hdr,
		Body: rb, ContentLength: int64(len(body)), Host: "127.0.0.1:8080", RemoteAddr: "127.0.0.1:40000", RequestURI: uri}
	tmpl = *tmpl.WithContext(context.Background())
	req := new(http.Request)
	w := &discardWriter{h: http.Header{}}

	serve := func() {
		rb.Reset(body)
		*req = tmpl
		clear(w.h)
		w.code = 0
		w.body.Reset()
		api.ServeHTTP(w, req)
	}
	serve()
	if w.code != http.StatusOK || w.body.String() != want {
		b.Fatalf("got %d %s, want 200 %s", w.code, w.body.String(), want)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		serve()
		if w.code != http.StatusOK {
			b.Fatalf("%d %s", w.code, w.body.String())
		}
	}
}

// BenchmarkEventsNode: pusher-http-node's trigger("my-channel", "my-event",
// {message: "hello world"}) through the whole handler.
func BenchmarkEventsNode(b *testing.B) {
	benchNodeRequest(b, "trigger: single public channel", "")
}

// BenchmarkEventsNodeInfo: trigger to two channels with socket_id and
// info=user_count,subscription_count (the answer carries the counts).
func BenchmarkEventsNodeInfo(b *testing.B) {
	// The vector's fake server left out presence-room's subscription_count.
	benchNodeRequest(b, "trigger: multiple channels + socket_id + info",
		`{"channels":{"my-channel-1":{"subscription_count":1},"presence-room":{"subscription_count":1,"user_count":2}}}`)
}

// BenchmarkBatchEventsNode: pusher-http-node's triggerBatch of three events
// (public; presence with socket_id and info=user_count; encrypted).
func BenchmarkBatchEventsNode(b *testing.B) {
	benchNodeRequest(b, "triggerBatch: mixed (public, presence with socket_id+info, encrypted)", "")
}
