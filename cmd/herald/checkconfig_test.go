package main

import (
	"strings"
	"testing"
)

// check-config names the key and line of every mistake, and suggests the key
// an unknown one was meant to be.
func TestCheckConfigNamesKeys(t *testing.T) {
	file := write(t, "h.yaml", `host: 10.0.0.300
port: sixty
webhook:
  timeout: 5s
activity_timeout: 2.5s
apps:
  - id: a
    key: k
    secret: s
    max_presence_members: 1.5
`)
	r := cli(t, nil, nil, "check-config", "--config", file)
	if r.code != exitFailure {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	want := []string{
		`h.yaml:2: port: "sixty" is not a number`,
		`h.yaml:3: unknown key "webhook" at top level — did you mean "webhooks"?`,
		`h.yaml:5: activity_timeout: "2.5s" is not a whole number of seconds`,
		`h.yaml:10: apps[0].max_presence_members: "1.5" is not a whole number`,
		`host: "10.0.0.300" is not an IP address or host name (an IPv4 address is four numbers of 0-255)`,
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != len(want) {
		t.Fatalf("got %d lines, want %d:\n%s", len(lines), len(want), r.stdout)
	}
	for i, l := range lines {
		if !strings.HasSuffix(l, want[i]) {
			t.Errorf("line %d:\ngot  %s\nwant …%s", i+1, l, want[i])
		}
	}
	if !strings.Contains(r.stderr, "5 problems") {
		t.Errorf("stderr %q", r.stderr)
	}
}

// --activity-timeout reads like the key: 120, 120s and 2m.
func TestServeActivityTimeoutFlag(t *testing.T) {
	file := write(t, "c.yaml", goodYAML)
	for _, v := range []string{"120", "120s", "2m"} {
		r := cli(t, nil, nil, "serve", "--config", file, "--activity-timeout", v)
		if r.code != exitOK || r.cfg.ActivityTimeout != 120 {
			t.Errorf("--activity-timeout %s: exit %d, activity_timeout %d, stderr %q", v, r.code, r.cfg.ActivityTimeout, r.stderr)
		}
	}
	r := cli(t, nil, nil, "serve", "--config", file, "--activity-timeout", "1.5s")
	if r.code != exitUsage || !strings.Contains(r.stderr, "whole number of seconds") {
		t.Errorf("--activity-timeout 1.5s: exit %d, stderr %q", r.code, r.stderr)
	}
}

// A value the loader refuses is reported once: not also as missing.
func TestCheckConfigBadValueReportedOnce(t *testing.T) {
	file := write(t, "t.yaml", `apps:
  - id: a
    key: k
    secret: s3cret-s3cret-s3cret
    previous_secrets:
      - secret: old-s3cret-s3cret
        expires_at: tomorrow
`)
	r := cli(t, nil, nil, "check-config", "--config", file)
	if r.code != exitFailure {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 1 || !strings.HasSuffix(lines[0], `t.yaml:7: apps[0].previous_secrets[0].expires_at: "tomorrow" is not a time like 2026-01-31T00:00:00Z`) {
		t.Fatalf("want one line about expires_at, got:\n%s", r.stdout)
	}
}
