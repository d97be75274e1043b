package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestRegistered checks every collector is on the registry it was given:
// series created by InitApp and by one use of each webhook collector must
// all be gathered.
func TestRegistered(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	w := NewWebhooks(reg)
	m.InitApp("1")
	m.ConnectionsRejected.WithLabelValues("4001")
	m.ClientEventsRejected.WithLabelValues("1", "rate")
	m.AuthFailures.WithLabelValues("1", "api_signature")
	m.ProtocolErrors.WithLabelValues("1")
	m.APIRequests.WithLabelValues("events", "200")
	m.SecretUses.WithLabelValues("1", "api", "primary")
	w.Events.WithLabelValues("1", "queued")
	w.Dropped.WithLabelValues("1", "queue_full")
	w.Requests.WithLabelValues("1", "success")
	w.Delivered.WithLabelValues("1")
	w.DeadBatches.WithLabelValues("1", "timeout")
	w.DeadEvents.WithLabelValues("1", "timeout")
	w.RequestDuration.WithLabelValues("1").Observe(0.1)

	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, f := range families {
		got[f.GetName()] = true
	}
	for _, name := range []string{
		"herald_connections", "herald_connections_total", "herald_connections_rejected_total", "herald_channels",
		"herald_ws_messages_received_total", "herald_ws_messages_sent_total", "herald_slow_consumers_total",
		"herald_pong_timeouts_total", "herald_client_events_total", "herald_client_events_rejected_total",
		"herald_auth_failures_total", "herald_protocol_errors_total", "herald_api_requests_total",
		"herald_api_events_published_total", "herald_secret_verifications_total", "herald_api_app_requests_total",
		"herald_webhook_events_total", "herald_webhook_events_dropped_total", "herald_webhook_requests_total",
		"herald_webhook_events_delivered_total", "herald_webhook_batches_dead_total", "herald_webhook_events_dead_total",
		"herald_webhook_queue_records", "herald_webhook_request_duration_seconds",
	} {
		if !got[name] {
			t.Errorf("%s not gathered", name)
		}
	}
	if len(got) != 24 {
		t.Errorf("gathered %d families, want 24", len(got))
	}
}
