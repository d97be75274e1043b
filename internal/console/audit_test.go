package console

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/logthrottle"
	"github.com/heraldhq/herald/internal/testlog"
)

// jsonLines parses a JSON log.
func jsonLines(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(s), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// TestAuditLine: the schema of docs/audit-log.md, the same event on the
// console, clipped client input.
func TestAuditLine(t *testing.T) {
	var buf testlog.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	f, _ := newFeed(t, Config{})
	v := watch(t, f, "1", Filter{})

	AuditAuthFailure(log, nil, f, AuthFailure{AppID: "1", Key: "app-key", SocketID: "1.2", Remote: "10.0.0.1:5000",
		Channel: "private-a", Reason: ReasonBadSignature, Detail: "Invalid signature: expected HMAC SHA256 hex digest of 1.2:private-a"})
	AuditAuthFailure(log, nil, f, AuthFailure{Key: strings.Repeat("k", 100), Remote: "10.0.0.2:1",
		Endpoint: "websocket", Reason: ReasonUnknownKey})

	lines := jsonLines(t, buf.String())
	if len(lines) != 2 {
		t.Fatalf("%d lines: %s", len(lines), buf.String())
	}
	want := map[string]any{"level": "WARN", "msg": "auth failed", "audit": true, "app_id": "1", "app_key": "app-key",
		"socket_id": "1.2", "remote": "10.0.0.1:5000", "channel": "private-a", "reason": "bad_signature",
		"detail": "Invalid signature: expected HMAC SHA256 hex digest of 1.2:private-a"}
	for k, w := range want {
		if lines[0][k] != w {
			t.Errorf("%s = %v, want %v", k, lines[0][k], w)
		}
	}
	if _, ok := lines[0]["time"]; !ok {
		t.Error("no time")
	}
	if _, ok := lines[0]["endpoint"]; ok {
		t.Error("endpoint on a channel's line")
	}
	second := lines[1]
	if second["endpoint"] != "websocket" || second["app_id"] != "" || second["socket_id"] != "" || second["reason"] != "unknown_key" {
		t.Errorf("unknown key line: %v", second)
	}
	if k := second["app_key"].(string); len(k) > maxAuditKey+3 {
		t.Errorf("presented key not clipped: %d bytes", len(k))
	}

	// The console shows the first (the second has no app).
	got := drain(v)
	if len(got) != 1 || got[0].Type != AuthFailed || got[0].Reason != ReasonBadSignature || got[0].Channel != "private-a" ||
		got[0].Remote != "10.0.0.1:5000" || got[0].SocketID != "1.2" {
		t.Errorf("console: %+v", got)
	}
}

// TestAuditThrottled: a flood of failures from one connection writes the
// throttle's budget of lines; the rest are counted in its summary line.
func TestAuditThrottled(t *testing.T) {
	var buf testlog.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	th := logthrottle.New(logthrottle.Config{PerKey: 3}, log)
	for range 100 {
		AuditAuthFailure(log, th, nil, AuthFailure{AppID: "1", Key: "app-key", SocketID: "1.2", Remote: "10.0.0.1:5000",
			Endpoint: "pusher:signin", Reason: ReasonSigninRefused})
	}
	// Another address of the same app: a budget of its own.
	AuditAuthFailure(log, th, nil, AuthFailure{AppID: "1", Key: "app-key", Remote: "10.0.0.9:1", Endpoint: "events", Reason: ReasonBadSignature})
	th.Flush()
	audit, summaries := 0, 0
	for _, l := range jsonLines(t, buf.String()) {
		switch l["msg"] {
		case AuthMessage:
			audit++
		case "similar log lines suppressed":
			summaries++
			if l["lines"] != "auth failed: 97" || l["app_id"] != "1" || l["level"] != "WARN" {
				t.Errorf("summary %v", l)
			}
		}
	}
	if audit != 4 || summaries != 1 {
		t.Errorf("%d audit lines and %d summaries, want 3+1 and 1:\n%s", audit, summaries, buf.String())
	}
}
