package test

import (
	"encoding/json"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"github.com/heraldhq/herald/internal/admission"
	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/metrics"
)

// The files of deploy/ (deploy/README.md): Prometheus rules and a Grafana
// dashboard on Herald's own metrics. These tests keep them honest: every
// metric they name exists, and each rule has what Alertmanager and a
// reader need.
const (
	rulesFile   = "../deploy/prometheus/alerts.yaml"
	grafanaFile = "../deploy/grafana/herald.json"
)

// ruleFile is the part of a Prometheus rule file the checks read.
type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func readRules(t *testing.T) *ruleFile {
	t.Helper()
	b, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true) // a misspelt key is an error, not a rule without it
	if err := dec.Decode(&rf); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	return &rf
}

// recordingRegisterer remembers every collector registered, so their
// descriptions can be read: a vector with no series is not gathered, but
// it describes itself.
type recordingRegisterer struct {
	*prometheus.Registry
	collectors []prometheus.Collector
}

func (r *recordingRegisterer) Register(c prometheus.Collector) error {
	r.collectors = append(r.collectors, c)
	return r.Registry.Register(c)
}

func (r *recordingRegisterer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

var (
	reFQName     = regexp.MustCompile(`fqName: "([^"]+)"`)
	reMetricName = regexp.MustCompile(`\bherald_[a-zA-Z0-9_:]*`)
	reTypeLine   = regexp.MustCompile(`(?m)^# TYPE (\S+) `)
)

// heraldMetrics is every metric name Herald can export: the descriptions
// of all the collectors of internal/metrics and internal/admission on one
// registry, plus what a real server (with the dashboard, so the stats
// store's collectors too) registers by itself, from its /metrics.
func heraldMetrics(t *testing.T) map[string]bool {
	t.Helper()
	reg := &recordingRegisterer{Registry: prometheus.NewRegistry()}
	metrics.New(reg)
	metrics.NewWebhooks(reg)
	metrics.NewBeams(reg)
	metrics.NewRedis(reg)
	metrics.NewConsole(reg)
	metrics.NewStats(reg)
	admission.New(admission.Config{}, slog.New(slog.DiscardHandler), reg)
	names := map[string]bool{}
	ch := make(chan *prometheus.Desc, 64)
	go func() {
		for _, c := range reg.collectors {
			c.Describe(ch)
		}
		close(ch)
	}()
	for d := range ch {
		m := reFQName.FindStringSubmatch(d.String())
		if m == nil {
			t.Fatalf("no fqName in %s", d)
		}
		names[m[1]] = true
	}

	t.Setenv("HERALD_ADMIN_TOKEN", adminToken)
	s := startServer(t, func(c *config.Config) { c.DataDir = t.TempDir() })
	scraped := map[string]bool{}
	for _, m := range reTypeLine.FindAllStringSubmatch(string(s.metrics().body), -1) {
		scraped[m[1]] = true
		names[m[1]] = true
	}
	// The server wires the stats store's collectors (the app alerts) on
	// its registry: their counter is exported at zero from the start.
	for _, want := range []string{"herald_app_alerts_raised_total", "herald_app_store_up", "herald_connections"} {
		if !scraped[want] {
			t.Errorf("a server with the dashboard does not export %s", want)
		}
	}
	return names
}

// unknownMetrics returns the herald_ names in expr that Herald does not
// export. A histogram's series (_bucket, _sum, _count) count as their
// family's.
func unknownMetrics(expr string, known map[string]bool) []string {
	var out []string
	for _, name := range reMetricName.FindAllString(expr, -1) {
		if known[name] {
			continue
		}
		base := name
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(name, suffix); ok {
				base = b
			}
		}
		if base != name && known[base] {
			continue
		}
		out = append(out, name)
	}
	return out
}

// grafanaQueries walks the dashboard JSON and returns every query: the
// targets' expr, and the templating variables' queries.
func grafanaQueries(v any, key string, out *[]string) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			grafanaQueries(e, k, out)
		}
	case []any:
		for _, e := range x {
			grafanaQueries(e, key, out)
		}
	case string:
		if key == "expr" || key == "query" || key == "definition" {
			*out = append(*out, x)
		}
	}
}

func readDashboard(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile(grafanaFile)
	if err != nil {
		t.Fatal(err)
	}
	var d map[string]any
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", grafanaFile, err)
	}
	return d
}

// TestDeployMetricsExist: every metric the rules and the dashboard query
// is one Herald exports, so neither silently watches nothing.
func TestDeployMetricsExist(t *testing.T) {
	known := heraldMetrics(t)
	if len(known) < 50 {
		t.Fatalf("only %d metric names found: the collectors were not all registered", len(known))
	}
	// The check catches a name that does not exist.
	if got := unknownMetrics(`rate(herald_connections_total[5m]) + herald_nope_total + herald_webhook_request_duration_seconds_bucket`, known); !slices.Equal(got, []string{"herald_nope_total"}) {
		t.Fatalf("unknownMetrics = %q, want only herald_nope_total", got)
	}

	used := map[string]bool{}
	check := func(where, expr string) {
		t.Helper()
		for _, name := range reMetricName.FindAllString(expr, -1) {
			used[name] = true
		}
		if bad := unknownMetrics(expr, known); len(bad) > 0 {
			t.Errorf("%s: unknown metrics %q in %q", where, bad, expr)
		}
	}
	for _, g := range readRules(t).Groups {
		for _, r := range g.Rules {
			check(rulesFile+": "+r.Alert, r.Expr)
		}
	}
	var queries []string
	grafanaQueries(readDashboard(t), "", &queries)
	if len(queries) < 15 {
		t.Fatalf("%s: only %d queries found", grafanaFile, len(queries))
	}
	for _, q := range queries {
		check(grafanaFile, q)
	}
	for _, want := range []string{"herald_app_alert", "herald_auth_failures_total", "herald_connections_total",
		"herald_webhook_batches_dead_total", "herald_beams_deliveries_total", "herald_redis_up"} {
		if !used[want] {
			t.Errorf("neither file uses %s", want)
		}
	}
}

// TestDeployRulesWellFormed: one group "herald"; every rule an alert with
// an expression, a duration or a severity, a summary; names unique.
func TestDeployRulesWellFormed(t *testing.T) {
	rf := readRules(t)
	if len(rf.Groups) != 1 || rf.Groups[0].Name != "herald" {
		t.Fatalf("groups %+v, want one named herald", rf.Groups)
	}
	seen := map[string]bool{}
	for i, r := range rf.Groups[0].Rules {
		switch {
		case r.Alert == "":
			t.Errorf("rule %d: no alert name (recording rules: %q)", i, r.Record)
		case seen[r.Alert]:
			t.Errorf("alert %s twice", r.Alert)
		case strings.TrimSpace(r.Expr) == "":
			t.Errorf("%s: no expr", r.Alert)
		case r.For == "" && r.Labels["severity"] == "":
			t.Errorf("%s: neither for nor labels.severity", r.Alert)
		case r.Labels["severity"] != "" && r.Labels["severity"] != "warning" && r.Labels["severity"] != "critical":
			t.Errorf("%s: severity %q", r.Alert, r.Labels["severity"])
		case r.Annotations["summary"] == "":
			t.Errorf("%s: no annotations.summary", r.Alert)
		}
		seen[r.Alert] = true
		if strings.Count(r.Expr, "(") != strings.Count(r.Expr, ")") || strings.Count(r.Expr, "{") != strings.Count(r.Expr, "}") {
			t.Errorf("%s: unbalanced brackets in %q", r.Alert, r.Expr)
		}
	}
	for _, want := range []string{"HeraldAppSpike", "HeraldDown", "HeraldAuthFailuresHigh", "HeraldWebhooksFailing", "HeraldAPIErrors"} {
		if !seen[want] {
			t.Errorf("no %s rule", want)
		}
	}
	for _, r := range rf.Groups[0].Rules {
		if r.Alert == "HeraldAppSpike" && (!strings.Contains(r.Annotations["summary"], "$labels.app_id") || !strings.Contains(r.Annotations["summary"], "$labels.kind")) {
			t.Errorf("HeraldAppSpike's summary names neither app nor kind: %q", r.Annotations["summary"])
		}
	}
}

// TestDeployDashboardWellFormed: an importable dashboard: a schema
// version, a Prometheus data source variable every query uses, an app_id
// variable from label_values, panels with unique ids and queries.
func TestDeployDashboardWellFormed(t *testing.T) {
	d := readDashboard(t)
	if v, _ := d["schemaVersion"].(float64); v < 36 {
		t.Errorf("schemaVersion %v", d["schemaVersion"])
	}
	if d["uid"] == "" || d["title"] == "" {
		t.Error("no uid or title")
	}
	vars := map[string]map[string]any{}
	tmpl, _ := d["templating"].(map[string]any)
	list, _ := tmpl["list"].([]any)
	for _, v := range list {
		m, _ := v.(map[string]any)
		name, _ := m["name"].(string)
		vars[name] = m
	}
	if ds := vars["datasource"]; ds == nil || ds["type"] != "datasource" || ds["query"] != "prometheus" {
		t.Errorf("no Prometheus data source variable: %v", ds)
	}
	app := vars["app_id"]
	if app == nil {
		t.Fatal("no app_id variable")
	}
	var q []string
	grafanaQueries(app, "", &q)
	if !slices.ContainsFunc(q, func(s string) bool { return strings.HasPrefix(s, "label_values(") && strings.HasSuffix(s, ", app_id)") }) {
		t.Errorf("app_id variable queries %q, want label_values(..., app_id)", q)
	}

	panels, _ := d["panels"].([]any)
	ids := map[float64]bool{}
	titles := []string{}
	for _, p := range panels {
		m, _ := p.(map[string]any)
		id, _ := m["id"].(float64)
		if ids[id] {
			t.Errorf("panel id %v twice", id)
		}
		ids[id] = true
		if _, ok := m["gridPos"].(map[string]any); !ok {
			t.Errorf("panel %v: no gridPos", m["title"])
		}
		if m["type"] == "row" {
			continue
		}
		title, _ := m["title"].(string)
		titles = append(titles, title)
		targets, _ := m["targets"].([]any)
		if len(targets) == 0 {
			t.Errorf("panel %q: no targets", title)
		}
		for _, tg := range append([]any{m}, targets...) {
			ds, _ := tg.(map[string]any)["datasource"].(map[string]any)
			if ds["uid"] != "${datasource}" {
				t.Errorf("panel %q: data source %v, want the variable", title, ds)
			}
		}
	}
	for _, want := range []string{"Connections", "New connections/s", "Messages/s", "Deliveries/s", "API requests by status",
		"Failed authorizations by reason", "Webhooks delivered, retried, failed", "Slow consumers", "Active app alerts",
		"Beams deliveries by outcome"} {
		if !slices.Contains(titles, want) {
			t.Errorf("no panel %q (panels: %q)", want, titles)
		}
	}
}
