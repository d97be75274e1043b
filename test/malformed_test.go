package test

import (
	"strings"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/heraldhq/herald/internal/config"
)

// TestMalformedInput sends the inputs that crash or confuse other servers,
// one after another on one connection: each gets its answer (pusher:error
// with code null, or nothing for an unknown pusher: event) and the
// connection keeps working, as does a bystander connection.
func TestMalformedInput(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	c := connect(t, s)
	bystander := connect(t, s)
	bystander.subscribe("room")

	for _, tc := range []struct {
		name, frame string
		wantError   bool
	}{
		{"invalid JSON", `{"event":"pusher:ping"`, true},
		{"not JSON at all", `hello there`, true},
		{"array", `[]`, true},
		{"number", `42`, true},
		{"string", `"str"`, true},
		{"null", `null`, true},
		{"object without event", `{}`, true},
		{"numeric event", `{"event":5}`, true},
		{"empty event", `{"event":""}`, true},
		{"subscribe without data", `{"event":"pusher:subscribe"}`, true},
		{"subscribe with data null", `{"event":"pusher:subscribe","data":null}`, true},
		{"subscribe with numeric channel", `{"event":"pusher:subscribe","data":{"channel":5}}`, true},
		{"subscribe with data an array", `{"event":"pusher:subscribe","data":[]}`, true},
		{"subscribe with empty channel", `{"event":"pusher:subscribe","data":{"channel":""}}`, true},
		{"unsubscribe without data", `{"event":"pusher:unsubscribe"}`, true},
		{"unknown pusher: event is ignored", `{"event":"pusher:foo","data":{}}`, false},
		{"unknown pusher_internal: event is ignored", `{"event":"pusher_internal:foo","data":{}}`, false},
		{"non-client event", `{"event":"hello","data":{}}`, true},
		{"deeply nested data", `{"event":"pusher:foo","data":` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + `}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.t = t
			c.sendRaw(tc.frame)
			fs := c.syncFrames()
			if !tc.wantError {
				if len(fs) != 0 {
					t.Errorf("want no answer, got %v", fs)
				}
				return
			}
			if len(fs) != 1 {
				t.Fatalf("want exactly one pusher:error, got %v", fs)
			}
			if e := fs[0].pusherError(t); e.Code != nil {
				t.Errorf("pusher:error code = %d, want null for malformed input", *e.Code)
			}
		})
	}
	c.t = t
	c.ping()
	c.subscribe("after-the-garbage")
	bystander.ping()
}

func TestOversizedFrame(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	c := connect(t, s)
	bystander := connect(t, s)
	bystander.subscribe("room")

	// Just under the 100 KiB default: read and answered normally.
	c.sendRaw(`{"event":"pusher:foo","data":"` + strings.Repeat("x", 90<<10) + `"}`)
	c.expectQuiet("a 90 KiB unknown pusher: event is ignored")

	c.sendRaw(`{"event":"pusher:foo","data":"` + strings.Repeat("x", 101<<10) + `"}`)
	c.expectClose(websocket.CloseMessageTooBig, readTimeout)

	bystander.ping()
	s.trigger("room", "still-here", "ok")
	if f := bystander.next(); f.Event != "still-here" {
		t.Errorf("bystander: want still-here, got %s", f)
	}
}

func TestConfiguredMaxFrame(t *testing.T) {
	t.Parallel()
	s := startServer(t, func(c *config.Config) { c.Limits.MaxFrameKB = 8 })
	c := connect(t, s)
	c.sendRaw(`{"event":"pusher:foo","data":"` + strings.Repeat("x", 7<<10) + `"}`)
	c.expectQuiet("a 7 KiB frame is under an 8 KiB limit")
	c.sendRaw(`{"event":"pusher:foo","data":"` + strings.Repeat("x", 9<<10) + `"}`)
	c.expectClose(websocket.CloseMessageTooBig, readTimeout)
}
