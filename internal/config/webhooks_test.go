package config

import (
	"strings"
	"testing"
	"time"
)

func TestWebhooksConfigFromYAML(t *testing.T) {
	var c Config
	errs := decodeYAML("t.yaml", []byte(`webhooks:
  leave_delay: 1s
  batch_window: 250ms
  batch_max_events: 10
  timeout: 2
  retry_window: 1m
  max_queue: 500
  workers: 4
`), &c)
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	c.ApplyDefaults()
	want := WebhooksConfig{
		LeaveDelay: Duration(time.Second), BatchWindow: Duration(250 * time.Millisecond), BatchMaxEvents: 10,
		Timeout: Duration(2 * time.Second), RetryWindow: Duration(time.Minute), MaxQueue: 500, Workers: 4,
	}
	if c.Webhooks != want {
		t.Fatalf("got %+v, want %+v", c.Webhooks, want)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestWebhooksConfigValidate(t *testing.T) {
	c := Config{Webhooks: WebhooksConfig{
		LeaveDelay: -1, BatchWindow: -1, Timeout: -1, RetryWindow: -1,
		BatchMaxEvents: 5000, MaxQueue: -1, Workers: 2000,
	}}
	var got []string
	for _, p := range Problems(c.Validate()) {
		got = append(got, p.Error())
	}
	for _, want := range []string{
		"webhooks.leave_delay: must not be negative",
		"webhooks.batch_window: must not be negative",
		"webhooks.timeout: must not be negative",
		"webhooks.retry_window: must not be negative",
		"webhooks.batch_max_events: must be at most 1000",
		"webhooks.max_queue: must not be negative",
		"webhooks.workers: must be at most 1024",
	} {
		found := false
		for _, g := range got {
			found = found || strings.HasPrefix(g, want)
		}
		if !found {
			t.Errorf("missing problem %q in %q", want, got)
		}
	}
}

func TestWebhookHeaderValueWithControlCharactersIsRefused(t *testing.T) {
	c := Config{Apps: []App{{ID: "1", Key: "k", Secret: "s", Webhooks: []Webhook{{
		URL: "http://127.0.0.1:1/h", EventTypes: []string{"client_event"},
		Headers: map[string]string{"X-Bad": "a\r\nX-Injected: 1"},
	}}}}}
	err := c.Validate()
	if err == nil || !strings.Contains(err.Error(), "control characters") {
		t.Fatalf("want a control-character problem, got %v", err)
	}
}
