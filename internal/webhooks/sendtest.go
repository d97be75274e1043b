package webhooks

import (
	"context"
	"net/http"
	"time"

	"github.com/heraldhq/herald/internal/apps"
)

// TestChannel is the channel named in the event SendTest sends.
const TestChannel = "herald-webhook-test"

// TestResult is the outcome of SendTest for one endpoint.
type TestResult struct {
	URL     string
	Status  int           // HTTP status; 0 when no response arrived
	Latency time.Duration // until the response was read, or the failure
	Err     error         // nil on a 2xx; a *StatusError for other statuses
}

// SendTest posts one signed channel_occupied event for TestChannel to every
// endpoint of app, one after the other, each bounded by the client's
// timeout (nil client: NewClient(DefaultTimeout)). It ignores the
// endpoints' event-type and channel filters: it tests reachability and
// signature checking, not routing. Nothing is stored or retried.
func SendTest(ctx context.Context, app *apps.App, client *http.Client, now time.Time) []TestResult {
	timeout := DefaultTimeout
	if client == nil {
		client = NewClient(timeout)
	} else {
		if client.Timeout > 0 {
			timeout = client.Timeout
		}
		client = noRedirects(client)
	}
	body := buildBody(now.UnixMilli(), [][]byte{[]byte(`{"name":"channel_occupied","channel":"` + TestChannel + `"}`)})
	out := make([]TestResult, 0, len(app.Webhooks))
	for _, w := range app.Webhooks {
		start := time.Now()
		status, err := post(ctx, client, timeout, w, app.Key, app.Secret, body)
		// The URL is reported beside the error already.
		out = append(out, TestResult{URL: w.URL, Status: status, Latency: time.Since(start), Err: withoutURL(err)})
	}
	return out
}
