package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/heraldhq/herald/internal/signing"
)

func webhooksYAML(urls ...string) string {
	y := `apps:
  - id: app-id
    key: app-key
    secret: app-secret
    webhooks:
`
	for _, u := range urls {
		y += "      - url: " + u + "\n        event_types: [member_added]\n"
	}
	y += "  - id: bare\n    key: bare-key\n    secret: s\n"
	return y
}

func TestWebhooksTest(t *testing.T) {
	var signed atomic.Int32
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get("X-Pusher-Signature") == signing.SignWebhook("app-secret", body) &&
			strings.Contains(string(body), `"channel":"herald-webhook-test"`) {
			signed.Add(1)
		}
	}))
	defer ok.Close()
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden)
	}))
	defer failing.Close()

	good := write(t, "good.yaml", webhooksYAML(ok.URL+"/a", ok.URL+"/b"))
	r := cli(t, nil, nil, "webhooks", "test", "--app", "app-id", "--config", good)
	if r.code != exitOK || signed.Load() != 2 {
		t.Fatalf("code %d, %d signed requests\nstdout: %s\nstderr: %s", r.code, signed.Load(), r.stdout, r.stderr)
	}
	for _, want := range []string{ok.URL + "/a", ok.URL + "/b", "OK 200", "ms"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}

	// Config from HERALD_CONFIG, one endpoint failing: exit 1, both reported.
	mixed := write(t, "mixed.yaml", webhooksYAML(ok.URL, failing.URL))
	r = cli(t, map[string]string{"HERALD_CONFIG": mixed}, nil, "webhooks", "test", "--app", "app-id")
	if r.code != exitFailure || !strings.Contains(r.stdout, "FAIL HTTP 403 Forbidden") || !strings.Contains(r.stdout, "OK 200") {
		t.Fatalf("code %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "1 of 2 endpoints failed") {
		t.Errorf("stderr: %s", r.stderr)
	}
}

func TestWebhooksTestUsageErrors(t *testing.T) {
	cfg := write(t, "c.yaml", webhooksYAML("http://127.0.0.1:1/hook"))
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"no app":         {[]string{"webhooks", "test", "--config", cfg}, "--app ID is required"},
		"unknown app":    {[]string{"webhooks", "test", "--app", "nope", "--config", cfg}, `no app with id "nope"`},
		"no webhooks":    {[]string{"webhooks", "test", "--app", "bare", "--config", cfg}, "has no webhooks"},
		"bad config":     {[]string{"webhooks", "test", "--app", "a", "--config", write(t, "bad.yaml", badYAML)}, "invalid configuration"},
		"missing file":   {[]string{"webhooks", "test", "--app", "a", "--config", "/nonexistent.yaml"}, "invalid configuration"},
		"unknown flag":   {[]string{"webhooks", "test", "--bogus"}, "unknown flag"},
		"stray argument": {[]string{"webhooks", "test", "--app", "app-id", "--config", cfg, "extra"}, "unknown command"},
	} {
		t.Run(name, func(t *testing.T) {
			r := cli(t, nil, nil, tc.args...)
			if r.code != exitUsage || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("code %d, stderr %q, want 2 and %q", r.code, r.stderr, tc.want)
			}
		})
	}
	// An unreachable endpoint is a failure, not a usage error.
	r := cli(t, nil, nil, "webhooks", "test", "--app", "app-id", "--config", cfg)
	if r.code != exitFailure || !strings.Contains(r.stdout, "FAIL") {
		t.Errorf("code %d stdout %s", r.code, r.stdout)
	}
}
