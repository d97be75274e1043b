package server

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/apps"
	"github.com/heraldhq/herald/internal/signing"
	"github.com/heraldhq/herald/internal/webhooks"
)

// The dashboard's tester sends through the webhook code, signed with the
// app it is given; an answer of any status is a result, no answer an error;
// its timeout never exceeds 5s.
func TestWebhookTester(t *testing.T) {
	var signed atomic.Bool
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		signed.Store(r.Header.Get("X-Pusher-Key") == "k" && r.Header.Get("X-Pusher-Signature") == signing.SignWebhook("s3cret", body))
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "busy")
	}))
	defer recv.Close()
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	a := &apps.App{ID: "1", Key: "k", Secret: "s3cret", Enabled: true,
		Webhooks: []apps.Webhook{{URL: recv.URL, EventTypes: []string{"channel_occupied"}}, {URL: gone.URL, EventTypes: []string{"channel_occupied"}}}}

	tr := newWebhookTester(time.Minute)
	if tr.client.Timeout != maxWebhookTestTimeout || newWebhookTester(time.Second).client.Timeout != time.Second ||
		newWebhookTester(0).client.Timeout != maxWebhookTestTimeout {
		t.Errorf("timeouts not capped at %v", maxWebhookTestTimeout)
	}
	res, err := tr.TestWebhook(context.Background(), a, recv.URL)
	if err != nil || res.Status != 503 || res.Body != "busy" || res.ContentType != "text/plain" || !signed.Load() {
		t.Errorf("answer %+v %v, signed %v", res, err, signed.Load())
	}
	res, err = tr.TestWebhook(context.Background(), a, gone.URL)
	if err == nil || res.Status != 0 || !strings.Contains(err.Error(), "connection refused") || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("no answer: %+v %v", res, err)
	}
	if _, err = tr.TestWebhook(context.Background(), a, "http://127.0.0.1:1/elsewhere"); err != webhooks.ErrNotEndpoint {
		t.Errorf("a URL of no endpoint: %v", err)
	}
}
