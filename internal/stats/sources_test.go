package stats

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/heraldhq/herald/internal/metrics"
)

// collectors builds the server's collectors on a fresh registry.
func collectors() (*prometheus.Registry, *metrics.Metrics, *metrics.WebhookMetrics) {
	reg := prometheus.NewRegistry()
	return reg, metrics.New(reg), metrics.NewWebhooks(reg)
}

func gather(t testing.TB, reg prometheus.Gatherer) []*dto.MetricFamily {
	t.Helper()
	f, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestSourcesExist checks every family of the table is one the server
// registers, with the type the table expects and the labels it reads: a
// renamed metric would otherwise leave a series silently at zero.
func TestSourcesExist(t *testing.T) {
	reg, m, w := collectors()
	m.InitApp("1")
	m.APIRequests.WithLabelValues("events", "200")
	m.APIAppRequests.WithLabelValues("1", "2xx")
	m.AuthFailures.WithLabelValues("1", metrics.AuthOrigin)
	m.ClientEventsRejected.WithLabelValues("1", "rate_limit")
	w.Requests.WithLabelValues("1", "success")
	w.Retries.WithLabelValues("1")
	w.DeadBatches.WithLabelValues("1", "timeout")
	got := map[string]*dto.MetricFamily{}
	for _, f := range gather(t, reg) {
		got[f.GetName()] = f
	}
	for _, src := range sources {
		f := got[src.family]
		if f == nil {
			t.Errorf("%s: not registered by internal/metrics", src.family)
			continue
		}
		want := dto.MetricType_COUNTER
		if src.gauge {
			want = dto.MetricType_GAUGE
		}
		if f.GetType() != want {
			t.Errorf("%s: type %v, table says %v", src.family, f.GetType(), want)
		}
		names := map[string]bool{}
		for _, l := range f.Metric[0].Label {
			names[l.GetName()] = true
		}
		if src.scope != serverOnly && !names["app_id"] {
			t.Errorf("%s: no app_id label", src.family)
		}
		if src.label != "" && !names[src.label] {
			t.Errorf("%s: no %q label", src.family, src.label)
		}
	}
}

// TestSourcesCoverAuthKinds: every kind of failed authorization the server
// counts lands in one of the dashboard's reasons.
func TestSourcesCoverAuthKinds(t *testing.T) {
	var auth *source
	for i := range sources {
		if sources[i].family == "herald_auth_failures_total" {
			auth = &sources[i]
		}
	}
	for _, k := range metrics.AuthKinds {
		if _, ok := auth.series[k]; !ok {
			t.Errorf("auth kind %q is not mapped to an auth_failures series", k)
		}
	}
	// and every reason has a source
	reasons := map[int]bool{}
	for _, i := range auth.series {
		reasons[i] = true
	}
	for i, s := range catalog {
		if s.Name == "auth_failures" && !reasons[i] {
			t.Errorf("auth_failures/%s has no kind", s.Label)
		}
	}
}

// TestSamplerMapping drives the real collectors and checks the values of
// each interval, per app and server-wide.
func TestSamplerMapping(t *testing.T) {
	reg, m, w := collectors()
	m.InitApp("1")
	m.InitApp("2")
	m.ConnectionsTotal.WithLabelValues("1").Add(100) // before the baseline: nobody's interval
	sm := newSampler()
	t0 := time.Unix(1_700_000_005, 0)
	sm.pass(gather(t, reg), t0)

	// Interval 1.
	m.Connections.WithLabelValues("1").Set(7)
	m.Connections.WithLabelValues("2").Set(3)
	m.ConnectionsTotal.WithLabelValues("1").Add(5)
	m.ConnectionsTotal.WithLabelValues("2").Add(2)
	m.APIEventsPublished.WithLabelValues("1").Add(4)
	m.ClientEvents.WithLabelValues("2").Add(6)
	m.MessagesSent.WithLabelValues("1").Add(1000)
	m.SlowConsumers.WithLabelValues("2").Inc()
	m.APIRequests.WithLabelValues("events", "200").Add(9)
	m.APIRequests.WithLabelValues("events", "401").Add(2)
	m.APIRequests.WithLabelValues("channels", "404").Inc() // unknown app id: server only
	m.APIRequests.WithLabelValues("events", "503").Inc()
	m.APIAppRequests.WithLabelValues("1", "2xx").Add(9)
	m.APIAppRequests.WithLabelValues("1", "4xx").Add(2)
	m.APIAppRequests.WithLabelValues("2", "5xx").Inc()
	m.AuthFailures.WithLabelValues("1", metrics.AuthChannelSignature).Inc()
	m.AuthFailures.WithLabelValues("1", metrics.AuthAPISignature).Inc()
	m.AuthFailures.WithLabelValues("1", metrics.AuthAPITimestamp).Inc()
	m.AuthFailures.WithLabelValues("", metrics.AuthUnknownKey).Add(3) // no app: server only
	m.AuthFailures.WithLabelValues("2", metrics.AuthOrigin).Inc()
	m.AuthFailures.WithLabelValues("2", metrics.AuthSignin).Inc()
	m.AuthFailures.WithLabelValues("2", metrics.AuthSigninTimeout).Inc()
	m.AuthFailures.WithLabelValues("2", metrics.AuthRateLimit).Inc()
	m.ClientEventsRejected.WithLabelValues("2", "rate_limit").Add(4)
	m.ClientEventsRejected.WithLabelValues("2", "other").Add(50) // not a series
	w.Requests.WithLabelValues("1", "success").Add(3)
	w.Requests.WithLabelValues("1", "timeout").Add(2) // an attempt: counted as retried or failed
	w.Retries.WithLabelValues("1").Inc()
	w.DeadBatches.WithLabelValues("1", "timeout").Inc()
	w.Events.WithLabelValues("1", "queued").Add(77) // not a series

	s1 := sm.pass(gather(t, reg), t0.Add(10*time.Second))
	want := map[string]map[[2]string]float64{
		"1": {
			{"connections", ""}: 7, {"new_connections", ""}: 5, {"api_messages", ""}: 4, {"deliveries", ""}: 1000,
			{"api_requests", "2xx"}: 9, {"api_requests", "4xx"}: 2,
			{"auth_failures", "bad_signature"}: 2, {"auth_failures", "expired_timestamp"}: 1,
			{"webhooks", "delivered"}: 3, {"webhooks", "retried"}: 1, {"webhooks", "failed"}: 1,
		},
		"2": {
			{"connections", ""}: 3, {"new_connections", ""}: 2, {"client_events", ""}: 6, {"slow_consumers", ""}: 1,
			{"api_requests", "5xx"}:             1,
			{"auth_failures", "origin_refused"}: 1, {"auth_failures", "signin_refused"}: 2, {"auth_failures", "rate_limited"}: 5,
		},
		"": {
			{"connections", ""}: 10, {"new_connections", ""}: 7, {"api_messages", ""}: 4, {"client_events", ""}: 6,
			{"deliveries", ""}: 1000, {"slow_consumers", ""}: 1,
			{"api_requests", "2xx"}: 9, {"api_requests", "4xx"}: 3, {"api_requests", "5xx"}: 1,
			{"auth_failures", "bad_signature"}: 2, {"auth_failures", "expired_timestamp"}: 1, {"auth_failures", "unknown_key"}: 3,
			{"auth_failures", "origin_refused"}: 1, {"auth_failures", "signin_refused"}: 2, {"auth_failures", "rate_limited"}: 5,
			{"webhooks", "delivered"}: 3, {"webhooks", "retried"}: 1, {"webhooks", "failed"}: 1,
		},
	}
	checkSample(t, "interval 1", s1, want)

	// Interval 2: deltas only; a reset counter counts from zero; a gauge
	// keeps its value.
	m.ConnectionsTotal.WithLabelValues("1").Add(1)
	m.MessagesSent.Reset() // every child gone: recreated below at zero
	m.MessagesSent.WithLabelValues("1").Add(40)
	m.AuthFailures.DeleteLabelValues("", metrics.AuthUnknownKey)
	m.AuthFailures.WithLabelValues("", metrics.AuthUnknownKey).Inc() // recreated: counts from zero
	s2 := sm.pass(gather(t, reg), t0.Add(20*time.Second))
	checkSample(t, "interval 2", s2, map[string]map[[2]string]float64{
		"1": {{"connections", ""}: 7, {"new_connections", ""}: 1, {"deliveries", ""}: 40},
		"2": {{"connections", ""}: 3},
		"":  {{"connections", ""}: 10, {"new_connections", ""}: 1, {"deliveries", ""}: 40, {"auth_failures", "unknown_key"}: 1},
	})

	// Interval 3: a counter lower than before (its collector replaced) is a reset.
	reg2, m2, _ := collectors()
	m2.InitApp("1")
	m2.ConnectionsTotal.WithLabelValues("1").Add(2) // was 106
	s3 := sm.pass(gather(t, reg2), t0.Add(30*time.Second))
	checkSample(t, "interval 3", s3, map[string]map[[2]string]float64{
		"1": {{"new_connections", ""}: 2},
		"":  {{"new_connections", ""}: 2},
	})
}

// checkSample compares every series of every app in want (and no other app).
func checkSample(t *testing.T, what string, s *Sample, want map[string]map[[2]string]float64) {
	t.Helper()
	for app, series := range want {
		v := &s.Server
		if app != "" {
			if v = s.Apps[app]; v == nil {
				t.Errorf("%s: app %q missing", what, app)
				continue
			}
		}
		for _, info := range catalog {
			if got, exp := v.Get(info.Name, info.Label), series[[2]string{info.Name, info.Label}]; got != exp {
				t.Errorf("%s: app %q %s/%s = %v, want %v", what, app, info.Name, info.Label, got, exp)
			}
		}
	}
	for app := range s.Apps {
		if _, ok := want[app]; !ok {
			t.Errorf("%s: unexpected app %q", what, app)
		}
	}
}

// TestGatherer: the direct Gatherer reads every family of the table and
// gives the same samples as the registry.
func TestGatherer(t *testing.T) {
	reg, m, w := collectors()
	for _, id := range []string{"1", "2", "3"} {
		m.InitApp(id)
		m.Connections.WithLabelValues(id).Set(2)
		m.APIAppRequests.WithLabelValues(id, "2xx").Inc()
		m.AuthFailures.WithLabelValues(id, metrics.AuthOrigin).Inc()
		m.ClientEventsRejected.WithLabelValues(id, "rate_limit").Inc()
		w.Requests.WithLabelValues(id, "success").Inc()
		w.Retries.WithLabelValues(id).Inc()
		w.DeadBatches.WithLabelValues(id, "timeout").Inc()
		w.RequestDuration.WithLabelValues(id).Observe(1) // not read
	}
	m.APIRequests.WithLabelValues("events", "200").Add(3)
	direct := Gatherer(m, w)
	names := map[string]bool{}
	for _, f := range gather(t, direct) {
		names[f.GetName()] = true
	}
	for _, src := range sources {
		if !names[src.family] {
			t.Errorf("%s: not gathered by Gatherer(m, w)", src.family)
		}
	}
	if len(names) != len(sources) {
		t.Errorf("Gatherer read %d families, the table has %d", len(names), len(sources))
	}
	a, b := newSampler(), newSampler()
	for i := range 3 {
		at := time.Unix(1_700_000_005+10*int64(i), 0)
		sa, sb := a.pass(gather(t, reg), at), b.pass(gather(t, direct), at)
		want := map[string]map[[2]string]float64{"": {}}
		for app, v := range sa.Apps {
			want[app] = map[[2]string]float64{}
			for _, info := range catalog {
				want[app][[2]string{info.Name, info.Label}] = v.Get(info.Name, info.Label)
			}
		}
		for _, info := range catalog {
			want[""][[2]string{info.Name, info.Label}] = sa.Server.Get(info.Name, info.Label)
		}
		checkSample(t, fmt.Sprint("pass ", i), sb, want)
		m.ConnectionsTotal.WithLabelValues("2").Inc()
		w.Retries.WithLabelValues("3").Add(2)
	}
	// Without webhooks.
	if g := Gatherer(m, nil); len(gather(t, g)) != len(sources)-3 {
		t.Errorf("Gatherer(m, nil) gathered %d families", len(gather(t, g)))
	}
}
