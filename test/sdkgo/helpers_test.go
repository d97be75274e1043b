package sdkgo_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// frame is one server frame; Data keeps the raw JSON value.
type frame struct {
	Event   string          `json:"event"`
	Channel string          `json:"channel"`
	Data    json.RawMessage `json:"data"`
	UserID  string          `json:"user_id"`
	raw     string
}

// dataString returns data when it is a JSON string (the protocol's form for
// every event but pusher:error) and fails the test otherwise.
func (f frame) dataString(t *testing.T) string {
	t.Helper()
	var s string
	if err := json.Unmarshal(f.Data, &s); err != nil {
		t.Fatalf("%s: data is not a JSON string: %s", f.Event, f.raw)
	}
	return s
}

// wsClient is a minimal Pusher protocol 7 client: one reader goroutine feeds
// frames; the test reads them with next/expect.
type wsClient struct {
	t        *testing.T
	conn     *websocket.Conn
	socketID string
	frames   chan frame
	done     chan struct{} // closed when the reader stops
	readErr  error         // set before done is closed
}

// dial connects to /app/{key} the way pusher-js does and waits for
// pusher:connection_established. The connection is closed when the test ends.
func dial(t *testing.T, key string) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws://"+herald.addr+"/app/"+key+"?protocol=7&client=js&version=8.6.0&flash=false", nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	c := &wsClient{t: t, conn: conn, frames: make(chan frame, 256), done: make(chan struct{})}
	t.Cleanup(func() {
		_ = conn.CloseNow()
		<-c.done
	})
	go c.readLoop()

	f := c.expect(func(f frame) bool { return f.Event == "pusher:connection_established" })
	var est struct {
		SocketID        string `json:"socket_id"`
		ActivityTimeout int    `json:"activity_timeout"`
	}
	if err := json.Unmarshal([]byte(f.dataString(t)), &est); err != nil || est.SocketID == "" {
		t.Fatalf("bad connection_established: %s", f.raw)
	}
	c.socketID = est.SocketID
	return c
}

func (c *wsClient) readLoop() {
	defer close(c.done)
	for {
		_, b, err := c.conn.Read(context.Background())
		if err != nil {
			c.readErr = err
			return
		}
		var f frame
		if json.Unmarshal(b, &f) != nil {
			f = frame{Event: "(not JSON)"}
		}
		f.raw = string(b)
		select {
		case c.frames <- f:
		default: // a test that stopped reading: drop rather than block the reader
		}
	}
}

func (c *wsClient) send(v any) {
	c.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		c.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := c.conn.Write(ctx, websocket.MessageText, b); err != nil {
		c.t.Fatalf("write %s: %v", b, err)
	}
}

// expect returns the first frame matching match, skipping others
// (subscription counts and the like); it fails after wait.
func (c *wsClient) expect(match func(frame) bool) frame {
	c.t.Helper()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	var skipped []string
	for {
		select {
		case f := <-c.frames:
			if match(f) {
				return f
			}
			skipped = append(skipped, f.raw)
		case <-c.done:
			c.t.Fatalf("connection ended (%v) before the expected frame; skipped: %q", c.readErr, skipped)
		case <-timer.C:
			c.t.Fatalf("no expected frame within %v; skipped: %q", wait, skipped)
		}
	}
}

// expectEvent waits for event on channel and returns its data string.
func (c *wsClient) expectEvent(channel, event string) string {
	c.t.Helper()
	f := c.expect(func(f frame) bool { return f.Channel == channel && f.Event == event })
	return f.dataString(c.t)
}

// expectClose waits for the server to close the connection and returns the close code.
func (c *wsClient) expectClose() websocket.StatusCode {
	c.t.Helper()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case <-c.frames:
		case <-c.done:
			for len(c.frames) > 0 {
				<-c.frames
			}
			return websocket.CloseStatus(c.readErr)
		case <-timer.C:
			c.t.Fatalf("connection not closed within %v", wait)
		}
	}
}

// subscribe sends pusher:subscribe with the auth answer an app's endpoint
// returned (nil for public channels) and waits for subscription_succeeded.
// It returns that frame's data.
func (c *wsClient) subscribe(channel string, authJSON []byte) string {
	c.t.Helper()
	c.sendSubscribe(channel, authJSON)
	f := c.expect(func(f frame) bool {
		return f.Channel == channel && (f.Event == "pusher_internal:subscription_succeeded" || f.Event == "pusher:subscription_error")
	})
	if f.Event != "pusher_internal:subscription_succeeded" {
		c.t.Fatalf("subscribe %s refused: %s", channel, f.raw)
	}
	return f.dataString(c.t)
}

func (c *wsClient) sendSubscribe(channel string, authJSON []byte) {
	c.t.Helper()
	data := map[string]any{"channel": channel}
	if authJSON != nil {
		var a map[string]string
		if err := json.Unmarshal(authJSON, &a); err != nil {
			c.t.Fatalf("auth answer is not a JSON object of strings: %s", authJSON)
		}
		for k, v := range a {
			data[k] = v
		}
	}
	c.send(map[string]any{"event": "pusher:subscribe", "data": data})
}

// ---------------------------------------------------------------- webhooks

// hook is one webhook request Herald sent.
type hook struct {
	Header http.Header
	Body   []byte
}

// hookReceiver records every webhook request; it answers 200.
type hookReceiver struct {
	mu    sync.Mutex
	hooks []hook
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	h.hooks = append(h.hooks, hook{Header: r.Header.Clone(), Body: body})
	h.mu.Unlock()
}

// waitFor returns the requests whose body mentions channel once there are
// at least n events on it (counted over those requests); it fails after wait.
func (h *hookReceiver) waitFor(t *testing.T, channel string, n int) []hook {
	t.Helper()
	needle := []byte(`"channel":"` + channel + `"`)
	deadline := time.Now().Add(wait)
	for {
		var got []hook
		events := 0
		h.mu.Lock()
		for _, k := range h.hooks {
			if c := bytes.Count(k.Body, needle); c > 0 {
				got = append(got, k)
				events += c
			}
		}
		h.mu.Unlock()
		if events >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d webhook events on %s within %v", events, n, channel, wait)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// signedPost sends a POST signed the way every Pusher server SDK signs one
// (auth_key, auth_timestamp, auth_version, body_md5; HMAC-SHA256 over
// "POST\n<path>\n<sorted query>"). For the one call pusher-http-go 5.1.1
// does not have: terminate_connections.
func signedPost(t *testing.T, path string, body []byte) (int, string) {
	t.Helper()
	q := signQuery("POST", path, body)
	req, err := http.NewRequest(http.MethodPost, "http://"+herald.addr+path+"?"+q, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := (&http.Client{Timeout: wait}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	return res.StatusCode, strings.TrimSpace(string(b))
}

func signQuery(method, path string, body []byte) string {
	params := map[string]string{
		"auth_key":       appKey,
		"auth_timestamp": strconv.FormatInt(time.Now().Unix(), 10),
		"auth_version":   "1.0",
	}
	if len(body) > 0 {
		sum := md5.Sum(body)
		params["body_md5"] = hex.EncodeToString(sum[:])
	}
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + params[k]
	}
	q := strings.Join(parts, "&")
	mac := hmac.New(sha256.New, []byte(appSecret))
	mac.Write([]byte(method + "\n" + path + "\n" + q))
	return q + "&auth_signature=" + hex.EncodeToString(mac.Sum(nil))
}
