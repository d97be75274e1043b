package test

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/signing"
)

// TestTLSConnectionsOnThePoller: WebSocket connections over TLS keep no
// goroutine once upgraded (they live on the poller like plaintext ones),
// get broadcasts in order including events larger than one TLS record,
// and their frames larger than a record (and split across reads) are read.
func TestTLSConnectionsOnThePoller(t *testing.T) {
	withTLS := selfSignedTLS(t)
	s := startServer(t, func(c *config.Config) {
		withTLS(c)
		c.Apps[0].MaxEventPayloadKB = 64 // room for an event of several TLS records
	})
	s.http.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}

	settle := func() int {
		// Goroutines of finished handshakes and HTTP requests end soon.
		n := runtime.NumGoroutine()
		for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); {
			time.Sleep(50 * time.Millisecond)
			m := runtime.NumGoroutine()
			if m == n {
				return m
			}
			n = m
		}
		return n
	}
	before := settle()
	const conns = 100
	var cs []*rawWS
	for range conns {
		c := dialRawMaybeTLS(t, s, pusherPath(appKey), true)
		if f := c.read(); !strings.Contains(string(f.Payload), "pusher:connection_established") {
			t.Fatalf("want connection_established, got %q", f.Payload)
		}
		cs = append(cs, c)
	}
	if grown := settle() - before; grown > conns/4 {
		t.Fatalf("%d goroutines more with %d TLS connections open: they are not on the poller", grown, conns)
	}

	for _, c := range cs {
		c.write(maskedFrame(true, 0x1, []byte(`{"event":"pusher:subscribe","data":{"channel":"tls-room"}}`)))
		if f := c.read(); !strings.Contains(string(f.Payload), "subscription_succeeded") {
			t.Fatalf("want subscription_succeeded, got %q", f.Payload)
		}
	}
	big := strings.Repeat("x", 40<<10) // three TLS records
	for i := range 5 {
		data := fmt.Sprint(i)
		if i == 2 {
			data = big
		}
		s.trigger("tls-room", "e", data)
	}
	for n, c := range cs {
		for i := range 5 {
			var ev struct{ Event, Data string }
			f := c.read()
			if err := json.Unmarshal(f.Payload, &ev); err != nil || ev.Event != "e" {
				t.Fatalf("connection %d, event %d: %q (%v)", n, i, f.Payload, err)
			}
			want := fmt.Sprint(i)
			if i == 2 {
				want = big
			}
			if ev.Data != want {
				t.Fatalf("connection %d, event %d: data of %d bytes, want %d", n, i, len(ev.Data), len(want))
			}
		}
	}

	// A 60 KiB ping from the client: four records, read in pieces; a
	// ping's payload is limited to 125 bytes, so send it as a text
	// message the server must parse whole: a pusher:ping with padding.
	pad := strings.Repeat(" ", 60<<10)
	msg := `{"event":"pusher:ping","data":{}` + pad + `}`
	c := cs[0]
	frame := maskedFrame(true, 0x1, []byte(msg))
	for len(frame) > 0 { // small writes: records and reads split anywhere
		n := min(len(frame), 7000)
		c.write(frame[:n])
		frame = frame[n:]
	}
	if f := c.read(); !strings.Contains(string(f.Payload), "pusher:pong") {
		t.Fatalf("want pusher:pong to a 60 KiB message, got %q", f.Payload)
	}

	// A graceful stop: every TLS client gets its 4200 close frame.
	stopped := make(chan error, 1)
	go func() { stopped <- s.stop(10 * time.Second) }()
	for n, c := range cs {
		if code, _ := c.expectClose(); code != 4200 {
			t.Fatalf("connection %d: close code %d on server stop, want 4200", n, code)
		}
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
}

// TestTLSMessageBeforeCloseFrame: a message and a close frame in one read
// are handled in order on a TLS connection: the message is not dropped
// because the close came with it (as on plaintext connections).
func TestTLSMessageBeforeCloseFrame(t *testing.T) {
	withTLS := selfSignedTLS(t)
	s := startServer(t, func(c *config.Config) {
		withTLS(c)
		c.Apps[0].EnableClientMessages = true
	})
	const ch = "private-tls-order"
	join := func() (*rawWS, string) {
		c := dialRawMaybeTLS(t, s, pusherPath(appKey), true)
		f := c.read()
		var ev struct{ Data string }
		var d struct {
			SocketID string `json:"socket_id"`
		}
		if json.Unmarshal(f.Payload, &ev) != nil || json.Unmarshal([]byte(ev.Data), &d) != nil || d.SocketID == "" {
			t.Fatalf("want connection_established, got %q", f.Payload)
		}
		sub, _ := json.Marshal(map[string]any{"event": "pusher:subscribe", "data": map[string]any{
			"channel": ch, "auth": signing.AuthorizeChannel(appKey, appSecret, d.SocketID, ch, nil)}})
		c.write(maskedFrame(true, 0x1, sub))
		if f := c.read(); !strings.Contains(string(f.Payload), "subscription_succeeded") {
			t.Fatalf("want subscription_succeeded, got %q", f.Payload)
		}
		return c, d.SocketID
	}
	b, _ := join()
	for i := range 20 {
		a, _ := join()
		msg := fmt.Sprintf(`{"event":"client-last","channel":%q,"data":{"i":%d}}`, ch, i)
		both := append(maskedFrame(true, 0x1, []byte(msg)), maskedFrame(true, 0x8, []byte{0x03, 0xe8})...)
		a.write(both) // one write: one TLS record, one read on the server
		if code, _ := a.expectClose(); code != 1000 {
			t.Fatalf("round %d: close answered with %d, want 1000", i, code)
		}
		f := b.read()
		if !strings.Contains(string(f.Payload), "client-last") || !strings.Contains(string(f.Payload), fmt.Sprintf(`\"i\":%d`, i)) {
			t.Fatalf("round %d: the message before the close frame was lost; B got %q", i, f.Payload)
		}
	}
}
