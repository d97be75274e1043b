package badinput

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/wsraw"
)

// rawConn is a WebSocket client over a bare TCP connection, so rows can
// send what no WebSocket library would: invalid UTF-8, orphan
// continuations, fragmented control frames, unmasked frames.
type rawConn struct {
	conn net.Conn
	br   *bufio.Reader
	sid  string // socket id from connection_established ("" before)
}

// serverFrame is one frame the server sent.
type serverFrame struct {
	fin     bool
	op      byte
	payload []byte
}

const (
	opCont   = 0x0
	opText   = 0x1
	opBinary = 0x2
	opClose  = 0x8
	opPing   = 0x9
	opPong   = 0xA
)

// closeCode is the code of a close frame (1005 when it carries none).
func (f serverFrame) closeCode() int {
	if len(f.payload) < 2 {
		return 1005
	}
	return int(binary.BigEndian.Uint16(f.payload))
}

func (f serverFrame) closeReason() string {
	if len(f.payload) <= 2 {
		return ""
	}
	return string(f.payload[2:])
}

// openRaw opens target (request path and query) with a hand-made
// handshake and checks the 101 answer.
func openRaw(target string) (*rawConn, error) {
	conn, err := net.DialTimeout("tcp", addr, wait)
	if err != nil {
		return nil, err
	}
	key := make([]byte, 16)
	_, _ = rand.Read(key)
	req := "GET " + target + " HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + base64.StdEncoding.EncodeToString(key) + "\r\nSec-WebSocket-Version: 13\r\n\r\n"
	_ = conn.SetDeadline(time.Now().Add(wait))
	if _, err := conn.Write([]byte(req)); err != nil {
		_ = conn.Close()
		return nil, err
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("handshake: %w", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		_ = conn.Close()
		return nil, fmt.Errorf("handshake: %s", resp.Status)
	}
	_ = conn.SetDeadline(time.Time{})
	return &rawConn{conn: conn, br: br}, nil
}

// openPusher dials like pusher-js and reads connection_established.
func openPusher() (*rawConn, error) {
	c, err := openRaw("/app/" + appKey + pusherQuery)
	if err != nil {
		return nil, err
	}
	f, err := c.readFrame(wait)
	if err != nil {
		_ = c.conn.Close()
		return nil, fmt.Errorf("waiting for connection_established: %w", err)
	}
	var env struct {
		Event string `json:"event"`
		Data  string `json:"data"`
	}
	var d struct {
		SocketID string `json:"socket_id"`
	}
	if f.op != opText || json.Unmarshal(f.payload, &env) != nil || env.Event != "pusher:connection_established" ||
		json.Unmarshal([]byte(env.Data), &d) != nil || d.SocketID == "" {
		_ = c.conn.Close()
		return nil, fmt.Errorf("want connection_established with a socket id, got op %d %q", f.op, f.payload)
	}
	c.sid = d.SocketID
	return c, nil
}

// connectRaw is openPusher for one test.
func connectRaw(t *testing.T) *rawConn {
	t.Helper()
	c, err := openPusher()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.conn.Close() })
	return c
}

// frame builds a masked client frame.
func frame(fin bool, op byte, payload []byte) []byte { return wsraw.ClientFrame(fin, op, payload) }

// text is one complete masked text frame.
func text(s string) []byte { return frame(true, opText, []byte(s)) }

// concat joins frames into one write.
func concat(frames ...[]byte) []byte {
	var b []byte
	for _, f := range frames {
		b = append(b, f...)
	}
	return b
}

func (c *rawConn) write(b []byte) error {
	_ = c.conn.SetWriteDeadline(time.Now().Add(wait))
	_, err := c.conn.Write(b)
	return err
}

// readFrame reads one server frame.
func (c *rawConn) readFrame(timeout time.Duration) (serverFrame, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(timeout))
	f, err := wsraw.ReadServerFrame(c.br)
	return serverFrame{fin: f.Fin, op: f.Op, payload: f.Payload}, err
}

// describe renders a server frame for comparison: text frames as their
// JSON, other frames as a small JSON object naming the opcode.
func describe(f serverFrame) string {
	switch f.op {
	case opText:
		return string(f.payload)
	case opPong:
		b, _ := json.Marshal(map[string]string{"ws_pong": string(f.payload)})
		return string(b)
	case opClose:
		b, _ := json.Marshal(map[string]any{"ws_close": f.closeCode(), "reason": f.closeReason()})
		return string(b)
	}
	b, _ := json.Marshal(map[string]any{"ws_op": f.op, "payload": string(f.payload)})
	return string(b)
}

// wsPong is how describe renders a WebSocket pong control frame.
func wsPong(payload string) string {
	b, _ := json.Marshal(map[string]string{"ws_pong": payload})
	return string(b)
}

// syncFrames sends pusher:ping and returns every frame that arrived before
// the pusher:pong. The server answers one connection's frames in order, so
// these are the answers to everything sent before. A close frame or a
// dropped connection is an error.
func (c *rawConn) syncFrames() ([]string, error) {
	if err := c.write(text(`{"event":"pusher:ping","data":{}}`)); err != nil {
		return nil, fmt.Errorf("writing pusher:ping: %w", err)
	}
	var out []string
	deadline := time.Now().Add(wait)
	for {
		f, err := c.readFrame(time.Until(deadline))
		if err != nil {
			return out, fmt.Errorf("waiting for pusher:pong: %w (frames so far: %q)", err, out)
		}
		if f.op == opClose {
			return out, fmt.Errorf("the server closed the connection with %d %q (frames before: %q)", f.closeCode(), f.closeReason(), out)
		}
		if f.op == opText && isPong(f.payload) {
			return out, nil
		}
		out = append(out, describe(f))
	}
}

func isPong(b []byte) bool {
	var env struct {
		Event string `json:"event"`
	}
	return json.Unmarshal(b, &env) == nil && env.Event == "pusher:pong"
}

// closeFrames reads until the server's close frame and returns the frames
// before it and the close frame itself; an ended connection without a
// close frame is an error.
func (c *rawConn) closeFrames() (before []string, closing serverFrame, err error) {
	deadline := time.Now().Add(wait)
	for {
		f, err := c.readFrame(time.Until(deadline))
		if err != nil {
			return before, serverFrame{}, fmt.Errorf("no close frame: %w (frames so far: %q)", err, before)
		}
		if f.op == opClose {
			return before, f, nil
		}
		before = append(before, describe(f))
	}
}

// ended reports whether the server drops the TCP connection within
// timeout; frames still arriving are skipped.
func (c *rawConn) ended(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		f, err := c.readFrame(time.Until(deadline))
		if err == nil {
			if f.op == opClose {
				return fmt.Errorf("a second close frame: %d %q", f.closeCode(), f.closeReason())
			}
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return fmt.Errorf("the server kept the connection open %v after its close frame", timeout)
		}
		return nil // EOF or reset: the connection is gone
	}
}

// ----------------------------------------------------------- comparison

// sameFrames reports whether got equals want frame by frame, each compared
// as JSON values; a "data" member that is a string holding JSON is
// compared as that JSON (still required to be a string).
func sameFrames(got, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		g, gerr := normalize(got[i])
		w, werr := normalize(want[i])
		if werr != nil {
			panic(fmt.Sprintf("bad expectation %q: %v", want[i], werr))
		}
		if gerr != nil || !reflect.DeepEqual(g, w) {
			return false
		}
	}
	return true
}

func normalize(s string) (any, error) {
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return nil, err
	}
	if m, ok := v.(map[string]any); ok {
		if d, ok := m["data"].(string); ok {
			var inner any
			if strings.HasPrefix(d, "{") || strings.HasPrefix(d, "[") {
				if json.Unmarshal([]byte(d), &inner) == nil {
					m["data"] = map[string]any{"(JSON in a string)": inner}
				}
			}
		}
	}
	return v, nil
}

// expectFrames fails t unless got equals want (see sameFrames).
func expectFrames(t *testing.T, got, want []string) {
	t.Helper()
	if !sameFrames(got, want) {
		t.Errorf("answer mismatch\n got: %s\nwant: %s", list(got), list(want))
	}
}

func list(fs []string) string {
	if len(fs) == 0 {
		return "(nothing)"
	}
	return "\n  " + strings.Join(fs, "\n  ")
}

// ------------------------------------------------------ expected frames

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// errFrame is a pusher:error with code null.
func errFrame(msg string) string {
	return `{"event":"pusher:error","data":{"code":null,"message":` + quote(msg) + `}}`
}

// errCode is a pusher:error with a code.
func errCode(code int, msg string) string {
	return fmt.Sprintf(`{"event":"pusher:error","data":{"code":%d,"message":%s}}`, code, quote(msg))
}

// refused is the answer to a refused subscription: pusher:error (code
// null) and pusher:subscription_error on the channel.
func refused(channel, typ string, status int, msg string) []string {
	return []string{
		errFrame(msg),
		fmt.Sprintf(`{"event":"pusher:subscription_error","channel":%s,"data":{"type":%s,"error":%s,"status":%d}}`,
			quote(channel), quote(typ), quote(msg), status),
	}
}

// succeeded is a non-presence subscription_succeeded.
func succeeded(channel string) string {
	return `{"event":"pusher_internal:subscription_succeeded","channel":` + quote(channel) + `,"data":"{}"}`
}

// presenceSucceeded is a presence subscription_succeeded for one member.
func presenceSucceeded(channel, userID, userInfo string) string {
	inner := fmt.Sprintf(`{"presence":{"ids":[%s],"hash":{%s:%s},"count":1}}`, quote(userID), quote(userID), userInfo)
	return `{"event":"pusher_internal:subscription_succeeded","channel":` + quote(channel) + `,"data":` + quote(inner) + `}`
}
