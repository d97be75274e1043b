package test

import (
	"encoding/json"
	"regexp"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/heraldhq/herald/internal/config"
)

var socketIDPattern = regexp.MustCompile(`^\d+\.\d+$`)

func TestConnectionEstablished(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		configured int
		want       int
	}{
		{"default activity_timeout", 0, 120},
		{"configured activity_timeout", 30, 30},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, func(c *config.Config) { c.ActivityTimeout = config.Seconds(tc.configured) })
			c := dial(t, s, "/app/app-key?protocol=7&client=js&version=8.6.0&flash=false")
			f := c.expect("pusher:connection_established")
			if f.has("channel") {
				t.Errorf("connection_established must not carry a channel: %s", f)
			}
			var d map[string]json.RawMessage
			f.dataJSON(t, &d) // fails unless data is a JSON string holding an object
			var socketID string
			if err := json.Unmarshal(d["socket_id"], &socketID); err != nil || !socketIDPattern.MatchString(socketID) {
				t.Errorf("socket_id %s does not match ^\\d+\\.\\d+$", d["socket_id"])
			}
			var timeout int
			if err := json.Unmarshal(d["activity_timeout"], &timeout); err != nil || timeout != tc.want {
				t.Errorf("activity_timeout = %s, want the integer %d", d["activity_timeout"], tc.want)
			}
			c.ping()
		})
	}
}

func TestSocketIDsAreUnique(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	seen := map[string]bool{}
	for range 20 {
		c := connect(t, s)
		if seen[c.socketID] {
			t.Fatalf("socket id %s handed out twice", c.socketID)
		}
		seen[c.socketID] = true
	}
}

func TestRefusedConnections(t *testing.T) {
	t.Parallel()
	s := startServer(t, func(c *config.Config) {
		c.Apps = append(c.Apps, config.App{ID: "2", Key: "disabled-key", Secret: "s2", Enabled: ptr(false)})
	})
	for _, tc := range []struct {
		name, path string
		code       int
	}{
		{"unknown key", "/app/no-such-key" + pusherQuery, 4001},
		{"wrong path /foo", "/foo" + pusherQuery, 4005},
		{"wrong path /app/", "/app/" + pusherQuery, 4005},
		{"protocol=3", "/app/app-key?protocol=3&client=js&version=8.6.0&flash=false", 4007},
		{"protocol=abc", "/app/app-key?protocol=abc&client=js&version=8.6.0&flash=false", 4007},
		{"disabled app", pusherPath("disabled-key"), 4003},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := dial(t, s.with(t), tc.path)
			frames := c.expectClose(tc.code, readTimeout)
			if len(frames) != 1 {
				t.Fatalf("want exactly one pusher:error before the close, got %v", frames)
			}
			e := frames[0].pusherError(t)
			if e.Code == nil || *e.Code != tc.code {
				t.Errorf("pusher:error code = %s, want %d", codeString(e.Code), tc.code)
			}
		})
	}
	t.Run("missing protocol is accepted", func(t *testing.T) {
		t.Parallel()
		c := dial(t, s.with(t), "/app/app-key?client=js&version=8.6.0&flash=false")
		c.established()
		c.ping()
	})
}

func TestMaxConnections(t *testing.T) {
	t.Parallel()
	s := startServer(t, func(c *config.Config) { c.Apps[0].MaxConnections = 1 })
	first := connect(t, s)
	second := dial(t, s, pusherPath(appKey))
	frames := second.expectClose(4004, readTimeout)
	if len(frames) != 1 {
		t.Fatalf("want one pusher:error before close 4004, got %v", frames)
	}
	if e := frames[0].pusherError(t); e.Code == nil || *e.Code != 4004 {
		t.Errorf("pusher:error code = %s, want 4004", codeString(e.Code))
	}
	first.ping()
	first.subscribe("still-works")

	// The quota frees up when the first connection goes away.
	first.close()
	eventually(t, readTimeout, "a slot to free up", func() bool {
		c := dial(t, s, pusherPath(appKey))
		f, err := c.nextErr(readTimeout)
		c.close()
		return err == nil && f.Event == "pusher:connection_established"
	})
}

func TestPusherPing(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	c := connect(t, s)
	c.sendRaw(`{"event":"pusher:ping","data":{}}`)
	f := c.expect("pusher:pong")
	if string(f.Data) != `"{}"` {
		t.Errorf(`pong data = %s, want the JSON string "{}"`, f.Data)
	}
	if f.has("channel") {
		t.Errorf("pong must not carry a channel: %s", f)
	}
	// A pusher:pong from the client is activity only: no answer.
	c.sendRaw(`{"event":"pusher:pong","data":{}}`)
	c.expectQuiet("after the client's pusher:pong")
}

func TestControlPing(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	c := connect(t, s)
	c.wmu.Lock()
	err := c.conn.WriteControl(websocket.PingMessage, []byte("probe-1"), time.Now().Add(readTimeout))
	c.wmu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-c.pongs:
		if p != "probe-1" {
			t.Errorf("pong payload = %q, want %q", p, "probe-1")
		}
	case <-time.After(readTimeout):
		t.Fatal("no pong control frame within 3s")
	}
	c.ping()
}
