package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestStatusClass(t *testing.T) {
	for status, want := range map[int]string{200: "2xx", 204: "2xx", 400: "4xx", 429: "4xx", 503: "5xx", 101: "other", 302: "other", 0: "other"} {
		if got := StatusClass(status); got != want {
			t.Errorf("StatusClass(%d) = %q, want %q", status, got, want)
		}
	}
}

// TestAdditions: the collectors added for the dashboard's time series are
// registered, and the auth kinds are distinct.
func TestAdditions(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, w, s := New(reg), NewWebhooks(reg), NewStats(reg)
	m.APIAppRequests.WithLabelValues("1", StatusClass(200))
	w.Retries.WithLabelValues("1")
	s.AppsEvicted.Inc()
	s.AppAlert.WithLabelValues("1", AlertAuthFailures).Set(1)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, f := range families {
		got[f.GetName()] = true
	}
	for _, name := range []string{"herald_api_app_requests_total", "herald_webhook_retries_total",
		"herald_stats_apps_evicted_total", "herald_stats_apps_refused_total", "herald_stats_samples_late_total",
		"herald_stats_save_errors_total", "herald_stats_apps", "herald_app_alert", "herald_app_alerts_raised_total"} {
		if !got[name] {
			t.Errorf("%s not gathered", name)
		}
	}
	seen := map[string]bool{}
	for _, k := range AlertKinds {
		if seen[k] {
			t.Errorf("alert kind %q twice", k)
		}
		seen[k] = true
	}
	seen = map[string]bool{}
	for _, k := range AuthKinds {
		if seen[k] {
			t.Errorf("auth kind %q twice", k)
		}
		seen[k] = true
	}
}
