package test

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestLogFloodIsBounded: 10,000 refused subscriptions (bad signatures: the
// audit trail of failed authorizations) from one connection write a
// handful of lines, and every suppressed one is counted in a summary line,
// so the trail stays whole; a second connection of the same app still gets
// lines of its own. The same holds for signed API requests with bad
// signatures.
func TestLogFloodIsBounded(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	const n = 10_000
	c := dialNoReader(t, s, pusherPath(appKey))
	_ = c.conn.SetReadDeadline(time.Now().Add(readTimeout))
	if _, _, err := c.conn.ReadMessage(); err != nil { // connection_established
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { // 2 frames per refusal: pusher:error and pusher:subscription_error
		for range 2 * n {
			_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, _, err := c.conn.ReadMessage(); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for i := range n {
		msg := fmt.Sprintf(`{"event":"pusher:subscribe","data":{"channel":"private-audit-%d","auth":"%s:%064d"}}`, i%7, appKey, i)
		if err := c.conn.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("reading the refusals: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("refusals did not all arrive within 30s")
	}

	// Another connection of the app: its own budget.
	other := connect(t, s)
	other.send(map[string]any{"event": "pusher:subscribe", "data": map[string]any{"channel": "private-other", "auth": appKey + ":bad"}})
	expectRefused(t, "private-other", other.syncFrames())

	// 500 API requests with a bad signature from one address.
	for i := range 500 {
		r := s.do(http.MethodGet, "/apps/1/channels?auth_key=app-key&auth_timestamp="+strconv.FormatInt(time.Now().Unix(), 10)+
			"&auth_version=1.0&auth_signature="+fmt.Sprintf("%064d", i), nil)
		if r.status != http.StatusUnauthorized {
			t.Fatalf("bad signature: %v", r)
		}
	}

	if err := s.stop(15 * time.Second); err != nil { // the last window's summary is written at shutdown
		t.Fatal(err)
	}
	logs := s.logs.String()
	refusedLines := strings.Count(logs, `msg="subscription refused"`)
	apiLines := strings.Count(logs, `msg="api request rejected"`)
	total := strings.Count(logs, "\n")
	if refusedLines > 10 || refusedLines < 2 {
		t.Errorf("%d 'subscription refused' lines for %d refusals on two connections: want the first few of each only", refusedLines, n+1)
	}
	if apiLines > 10 {
		t.Errorf("%d 'api request rejected' lines for 500 bad signatures", apiLines)
	}
	// Every refusal is accounted for: written, or counted in a summary.
	suppressed := 0
	for _, m := range regexp.MustCompile(`subscription refused: (\d+)`).FindAllStringSubmatch(logs, -1) {
		v, _ := strconv.Atoi(m[1])
		suppressed += v
	}
	if refusedLines+suppressed != n+1 {
		t.Errorf("%d lines + %d suppressed = %d, want all %d refusals accounted for", refusedLines, suppressed, refusedLines+suppressed, n+1)
	}
	if !strings.Contains(logs, "level=WARN msg=\"similar log lines suppressed\"") {
		t.Errorf("the summary of failed authorizations is not at WARN (the audit level)")
	}
	t.Logf("%d refused subscriptions + 500 bad API signatures: %d log lines in all (%d 'subscription refused', %d 'api request rejected', rest start/stop and summaries)",
		n+1, total, refusedLines, apiLines)
}
