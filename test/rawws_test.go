package test

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/wsraw"
)

// rawWS is a WebSocket client over a bare TCP connection, for frames no
// WebSocket library would send (orphan continuations, fragmented pings,
// unmasked or invalid UTF-8 frames).
type rawWS struct {
	t    *testing.T
	conn net.Conn
	br   *bufio.Reader
}

// serverFrame is one frame the server sent.
type serverFrame = wsraw.Frame

// dialRaw opens path (request target) with a hand-made handshake and
// checks the 101 answer.
func dialRaw(t *testing.T, s *testServer, path string) *rawWS {
	t.Helper()
	conn, err := net.DialTimeout("tcp", s.addr, readTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	key := make([]byte, 16)
	_, _ = rand.Read(key)
	req := "GET " + path + " HTTP/1.1\r\nHost: " + s.addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + base64.StdEncoding.EncodeToString(key) + "\r\nSec-WebSocket-Version: 13\r\n\r\n"
	_ = conn.SetDeadline(time.Now().Add(readTimeout))
	if _, err := conn.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %s", resp.Status)
	}
	return &rawWS{t: t, conn: conn, br: br}
}

// connectRaw is dialRaw as pusher-js, up to connection_established.
func connectRaw(t *testing.T, s *testServer) *rawWS {
	t.Helper()
	c := dialRaw(t, s, pusherPath(appKey))
	if f := c.read(); f.Op != 0x1 || !strings.Contains(string(f.Payload), "pusher:connection_established") {
		t.Fatalf("want connection_established, got op %d %q", f.Op, f.Payload)
	}
	return c
}

// frame builds a masked client frame.
func maskedFrame(fin bool, op byte, payload []byte) []byte {
	return wsraw.ClientFrame(fin, op, payload)
}

func (c *rawWS) write(b []byte) {
	c.t.Helper()
	_ = c.conn.SetWriteDeadline(time.Now().Add(readTimeout))
	if _, err := c.conn.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// readErr reads one server frame.
func (c *rawWS) readErr(timeout time.Duration) (serverFrame, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(timeout))
	return wsraw.ReadServerFrame(c.br)
}

func (c *rawWS) read() serverFrame {
	c.t.Helper()
	f, err := c.readErr(readTimeout)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return f
}

// expectClose reads until a close frame and returns its code and reason;
// it fails the test when the connection ends without one.
func (c *rawWS) expectClose() (int, string) {
	c.t.Helper()
	for {
		f, err := c.readErr(readTimeout)
		if err != nil {
			c.t.Fatalf("connection ended without a close frame: %v", err)
		}
		if f.Op == 0x8 {
			reason := ""
			if len(f.Payload) > 2 {
				reason = string(f.Payload[2:])
			}
			return f.CloseCode(), reason
		}
	}
}

// expectEnd checks that after the close frame the server ends the TCP
// connection (EOF or reset) within the close grace period.
func (c *rawWS) expectEnd() {
	c.t.Helper()
	for {
		_, err := c.readErr(3 * time.Second)
		if err == nil {
			continue
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			c.t.Fatal("the server kept the connection open after its close frame")
		}
		return
	}
}
