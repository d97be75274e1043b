package webhooks

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/internal/console"
	"github.com/heraldhq/herald/internal/metrics"
)

// TestConsoleSeesDeliveries: each attempt shows on the app's console with
// the endpoint's host only, the status and the outcome.
func TestConsoleSeesDeliveries(t *testing.T) {
	rcv := newReceiver(t, func(n int, _ []byte) int {
		if n == 0 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	feed := console.New(console.Config{}, console.Deps{})
	v, cancel, _ := feed.Watch("1", console.Filter{})
	defer cancel()
	hookURL := rcv.URL + "/hooks/secret-path-token?token=secret-query"
	d, err := New(fast(dbPath(t)), Deps{Apps: store(t, app("1", hook(hookURL))), Logger: slog.New(slog.DiscardHandler),
		Metrics: metrics.NewWebhooks(prometheus.NewRegistry()), Console: feed})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() { stop(); <-done }()

	d.Observe(clientEvent("1", "private-c", 1))
	u, _ := url.Parse(rcv.URL)
	var got []console.Event
	for len(got) < 2 {
		select {
		case e := <-v.Events():
			got = append(got, e)
		case <-time.After(5 * time.Second):
			t.Fatalf("console events: %+v", got)
		}
	}
	want := []struct {
		status  int
		outcome string
	}{{500, "http_status"}, {200, "success"}}
	for i, w := range want {
		e := got[i]
		if e.Type != console.Webhook || e.Endpoint != u.Host || e.Status != w.status || e.Reason != w.outcome ||
			!strings.Contains(e.Detail, "attempt "+string(rune('1'+i))) {
			t.Errorf("attempt %d: %+v", i+1, e)
		}
		if strings.Contains(e.Endpoint+e.Detail, "secret") {
			t.Errorf("attempt %d shows the URL's path or query: %+v", i+1, e)
		}
	}
}
