package test

import (
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/config"
)

func fastLiveness(c *config.Config) {
	c.ActivityTimeout = 1
	c.PongTimeout = config.Duration(time.Second)
}

func TestSilentClientIsPingedThenClosed(t *testing.T) {
	t.Parallel()
	s := startServer(t, fastLiveness)
	c := dial(t, s, pusherPath(appKey))
	if _, timeout := c.established(); timeout != 1 {
		t.Fatalf("activity_timeout = %d, want 1", timeout)
	}
	f, err := c.nextErr(4 * time.Second)
	if err != nil {
		t.Fatalf("a silent client must get pusher:ping: %v", err)
	}
	if f.Event != "pusher:ping" {
		t.Fatalf("want pusher:ping, got %s", f)
	}
	if string(f.Data) != `"{}"` && string(f.Data) != `{}` {
		t.Errorf("pusher:ping data = %s, want \"{}\"", f.Data)
	}
	if frames := c.expectClose(4201, 5*time.Second); len(frames) > 0 {
		t.Logf("frames before the close: %v", frames)
	}
}

func TestAnsweringClientStaysConnected(t *testing.T) {
	t.Parallel()
	s := startServer(t, fastLiveness)
	c := connect(t, s)
	pings := 0
	until := time.Now().Add(3500 * time.Millisecond)
	for time.Now().Before(until) {
		f, err := c.nextErr(time.Until(until))
		if err != nil {
			select {
			case <-c.done:
				t.Fatalf("connection closed although the client answered every ping: %v", c.err)
			default:
				continue // the window ended
			}
		}
		if f.Event != "pusher:ping" {
			t.Fatalf("unexpected frame %s", f)
		}
		pings++
		c.sendRaw(`{"event":"pusher:pong","data":{}}`)
	}
	if pings == 0 {
		t.Error("no pusher:ping within 3.5s with activity_timeout 1")
	}
	c.ping()
}
