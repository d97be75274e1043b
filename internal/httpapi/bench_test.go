package httpapi

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/internal/apps"
	"github.com/heraldhq/herald/internal/metrics"
	"github.com/heraldhq/herald/internal/signing"
)

type nopBackend struct{ fakeBackend }

func (*nopBackend) Publish(context.Context, string, string, string, string, string) error { return nil }

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
