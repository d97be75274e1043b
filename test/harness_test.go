package test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/server"
	"github.com/heraldhq/herald/internal/signing"
	"github.com/heraldhq/herald/internal/testlog"
)

// The app every test server has; tests add more through the mutate hook.
const (
	appID     = "1"
	appKey    = "app-key"
	appSecret = "app-secret"

	// readTimeout bounds every wait for a frame, an HTTP answer or a condition.
	readTimeout = 3 * time.Second
	// pusherQuery is the query string pusher-js 8.6.0 sends, captured verbatim.
	pusherQuery = "?protocol=7&client=js&version=8.6.0&flash=false"
)

var appCred = signing.Credential{Key: appKey, Secret: appSecret}

// pusherPath is the request target pusher-js uses for key.
func pusherPath(key string) string { return "/app/" + key + pusherQuery }

// testServer is one real Herald server running in-process.
type testServer struct {
	t     testing.TB
	addr  string
	admin string // the admin listener (metrics): 127.0.0.1:0 unless a test sets admin_listen
	cfg   config.Config
	http  *http.Client

	cancel  context.CancelFunc
	done    chan error // receives Run's result once
	stopped bool
	runErr  error
	logs    *testlog.Buffer

	// dropCountFrames: clients dialled to this server drop
	// pusher_internal:subscription_count frames (startCountingServer).
	dropCountFrames bool
}

// startServer runs Herald on 127.0.0.1:0 with app "1"/"app-key" (plus
// whatever mutate configures) and stops it when the test ends.
func startServer(t testing.TB, mutate func(*config.Config)) *testServer {
	t.Helper()
	return startServerWith(t, mutate, server.Options{})
}

// startServerWith is startServer with process options; the harness sets
// their Version, Stderr and listen callbacks.
func startServerWith(t testing.TB, mutate func(*config.Config), opts server.Options) *testServer {
	t.Helper()
	cfg := config.Config{
		Host:        "127.0.0.1",
		AdminListen: "127.0.0.1:0",
		Apps:        []config.App{{ID: appID, Key: appKey, Secret: appSecret}},
	}
	if mutate != nil {
		mutate(&cfg)
	}
	cfg.ApplyDefaults()
	cfg.Port = 0 // ApplyDefaults turns 0 into 6001; the tests want any free port
	if err := cfg.Validate(); err != nil {
		t.Fatalf("test config does not validate: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	listening := make(chan string, 1)
	adminAt := make(chan string, 1)
	s := &testServer{
		t:      t,
		cfg:    cfg,
		http:   &http.Client{Timeout: readTimeout},
		cancel: cancel,
		done:   make(chan error, 1),
		logs:   &testlog.Buffer{},
	}
	go func() {
		opts.Version, opts.Stderr = "test", s.logs
		opts.OnListen = func(a net.Addr) { listening <- a.String() }
		opts.OnAdminListen = func(a net.Addr) { adminAt <- a.String() }
		s.done <- server.Run(ctx, cfg, opts)
	}()
	select {
	case s.addr = <-listening:
		select { // OnAdminListen runs before OnListen, or never
		case s.admin = <-adminAt:
		default:
		}
	case err := <-s.done:
		cancel()
		t.Fatalf("server.Run returned before listening: %v", err)
	case <-time.After(5 * time.Second):
		cancel()
		t.Fatal("server did not report its address within 5s")
	}
	t.Cleanup(func() {
		if err := s.stop(15 * time.Second); err != nil {
			t.Errorf("server.Run: %v", err)
		}
		if t.Failed() {
			t.Logf("server log (tail):\n%s", s.logs.Tail(8<<10))
		}
	})
	return s
}

// startCountingServer is startServer with enable_subscription_count on for
// app 1, so that the HTTP API answers subscription_count (hosted Pusher
// answers it only then). Its clients drop the
// pusher_internal:subscription_count frames the option also sends: the
// tests using it count subscriptions, they are not about those frames
// (subcount_test.go is).
func startCountingServer(t testing.TB, mutate func(*config.Config)) *testServer {
	t.Helper()
	s := startServer(t, func(c *config.Config) {
		c.Apps[0].EnableSubscriptionCount = true
		if mutate != nil {
			mutate(c)
		}
	})
	s.dropCountFrames = true
	return s
}

// stop cancels the server's context and waits up to timeout for Run to return.
func (s *testServer) stop(timeout time.Duration) error {
	if s.stopped {
		return s.runErr
	}
	s.cancel()
	select {
	case err := <-s.done:
		s.stopped, s.runErr = true, err
		return err
	case <-time.After(timeout):
		return fmt.Errorf("did not return within %v of cancellation", timeout)
	}
}

func (s *testServer) baseURL() string {
	if s.cfg.TLS.Enabled() {
		return "https://" + s.addr
	}
	return "http://" + s.addr
}

// ---------------------------------------------------------------- WebSocket

// frame is one server frame. Data keeps the raw JSON value: a JSON string for
// most events, an object for pusher:error and pusher:subscription_error.
type frame struct {
	Event   string          `json:"event"`
	Channel string          `json:"channel"`
	Data    json.RawMessage `json:"data"` // nil when the key is absent
	UserID  *string         `json:"user_id"`

	raw  []byte
	keys map[string]json.RawMessage
}

func (f frame) String() string { return string(f.raw) }

func (f frame) has(key string) bool { _, ok := f.keys[key]; return ok }

// dataString returns data when it is a JSON string and fails the test otherwise.
func (f frame) dataString(t *testing.T) string {
	t.Helper()
	var s string
	if len(f.Data) == 0 || f.Data[0] != '"' || json.Unmarshal(f.Data, &s) != nil {
		t.Fatalf("%s: data is not a JSON string: %s", f.Event, f.raw)
	}
	return s
}

// dataJSON decodes the JSON held in the data string into v.
func (f frame) dataJSON(t *testing.T, v any) {
	t.Helper()
	s := f.dataString(t)
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("%s: data string is not JSON: %v: %s", f.Event, err, f.raw)
	}
}

// errorData is the object data of pusher:error.
type errorData struct {
	Code    *int // nil for JSON null
	Message string
}

// pusherError decodes a pusher:error frame, which must carry object data
// with a "code" (integer or null) and a "message".
func (f frame) pusherError(t *testing.T) errorData {
	t.Helper()
	if f.Event != "pusher:error" {
		t.Fatalf("want pusher:error, got %s", f.raw)
	}
	if f.has("channel") {
		t.Errorf("pusher:error must not carry a channel key: %s", f.raw)
	}
	var d map[string]json.RawMessage
	if err := json.Unmarshal(f.Data, &d); err != nil || d == nil {
		t.Fatalf("pusher:error data must be an object: %s", f.raw)
	}
	var e errorData
	code, ok := d["code"]
	if !ok {
		t.Fatalf("pusher:error data has no code key: %s", f.raw)
	}
	if string(code) != "null" {
		var n int
		if err := json.Unmarshal(code, &n); err != nil {
			t.Fatalf("pusher:error code is neither an integer nor null: %s", f.raw)
		}
		e.Code = &n
	}
	if err := json.Unmarshal(d["message"], &e.Message); err != nil {
		t.Errorf("pusher:error message is not a string: %s", f.raw)
	}
	return e
}

func codeString(c *int) string {
	if c == nil {
		return "null"
	}
	return fmt.Sprint(*c)
}

// wsClient is a raw protocol-7 client. A goroutine reads frames into a
// buffered channel so that tests can wait on them with deadlines.
type wsClient struct {
	t        *testing.T
	name     string
	conn     *websocket.Conn
	socketID string

	frames chan frame
	pongs  chan string   // payloads of RFC 6455 pong control frames
	done   chan struct{} // closed when the reader stops
	err    error         // why the reader stopped; read after done

	wmu sync.Mutex

	dropCounts bool // the reader drops pusher_internal:subscription_count frames
}

// dial opens a WebSocket to path (request target, query included) without
// waiting for any frame.
func dial(t *testing.T, s *testServer, path string) *wsClient {
	t.Helper()
	c := dialNoReader(t, s, path)
	c.startReader()
	return c
}

// dialNoReader opens a WebSocket whose frames the test reads itself
// (c.conn.ReadMessage), or never reads.
func dialNoReader(t *testing.T, s *testServer, path string) *wsClient {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: readTimeout}
	conn, resp, err := d.Dial("ws://"+s.addr+path, nil)
	if err != nil {
		status := ""
		if resp != nil {
			status = resp.Status
		}
		t.Fatalf("dial %s: %v %s", path, err, status)
	}
	c := &wsClient{
		t: t, name: path, conn: conn,
		frames: make(chan frame, 4096),
		pongs:  make(chan string, 16),
		done:   make(chan struct{}),

		dropCounts: s.dropCountFrames,
	}
	t.Cleanup(func() { _ = conn.Close() })
	return c
}

func (c *wsClient) startReader() {
	c.conn.SetPongHandler(func(data string) error {
		select {
		case c.pongs <- data:
		default:
		}
		return nil
	})
	go func() {
		defer close(c.done)
		for {
			typ, b, err := c.conn.ReadMessage()
			if err != nil {
				c.err = err
				return
			}
			if typ != websocket.TextMessage {
				c.err = fmt.Errorf("server sent a non-text data frame (type %d): %q", typ, b)
				return
			}
			f := frame{raw: b}
			if err := json.Unmarshal(b, &f.keys); err != nil {
				c.err = fmt.Errorf("server frame is not a JSON object: %q", b)
				return
			}
			if err := json.Unmarshal(b, &f); err != nil {
				c.err = fmt.Errorf("server frame does not decode: %v: %q", err, b)
				return
			}
			if c.dropCounts && f.Event == "pusher_internal:subscription_count" {
				continue
			}
			c.frames <- f
		}
	}()
}

// connect dials like pusher-js and waits for connection_established.
func connect(t *testing.T, s *testServer) *wsClient {
	t.Helper()
	return connectKey(t, s, appKey)
}

func connectKey(t *testing.T, s *testServer, key string) *wsClient {
	t.Helper()
	c := dial(t, s, pusherPath(key))
	c.established()
	return c
}

// established reads connection_established and records the socket id.
func (c *wsClient) established() (socketID string, activityTimeout int) {
	c.t.Helper()
	f := c.expect("pusher:connection_established")
	var d struct {
		SocketID        string `json:"socket_id"`
		ActivityTimeout int    `json:"activity_timeout"`
	}
	f.dataJSON(c.t, &d)
	c.socketID = d.SocketID
	return d.SocketID, d.ActivityTimeout
}

func (c *wsClient) sendRaw(s string) {
	c.t.Helper()
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.conn.SetWriteDeadline(time.Now().Add(readTimeout))
	if err := c.conn.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *wsClient) send(v any) {
	c.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		c.t.Fatal(err)
	}
	c.sendRaw(string(b))
}

// next returns the next frame; it fails the test on timeout or close.
func (c *wsClient) next() frame {
	c.t.Helper()
	f, err := c.nextErr(readTimeout)
	if err != nil {
		c.t.Fatalf("waiting for a frame: %v", err)
	}
	return f
}

func (c *wsClient) nextErr(timeout time.Duration) (frame, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case f := <-c.frames:
		return f, nil
	case <-c.done:
		select { // frames read before the close come first
		case f := <-c.frames:
			return f, nil
		default:
		}
		return frame{}, fmt.Errorf("connection closed: %v", c.err)
	case <-timer.C:
		return frame{}, fmt.Errorf("no frame within %v", timeout)
	}
}

// expect returns the next frame, which must be event.
func (c *wsClient) expect(event string) frame {
	c.t.Helper()
	f := c.next()
	if f.Event != event {
		c.t.Fatalf("want %s, got %s", event, f.raw)
	}
	return f
}

// waitEvent skips frames until one with event (and channel, when not "")
// arrives.
func (c *wsClient) waitEvent(event, channel string) frame {
	c.t.Helper()
	deadline := time.Now().Add(readTimeout)
	for {
		f, err := c.nextErr(time.Until(deadline))
		if err != nil {
			c.t.Fatalf("waiting for %s on %q: %v", event, channel, err)
		}
		if f.Event == event && (channel == "" || f.Channel == channel) {
			return f
		}
	}
}

// syncFrames sends pusher:ping and returns every frame that arrived before
// the pong. The server answers frames of one connection in order, so this is
// how a test proves that something was (not) sent in reply to earlier frames.
func (c *wsClient) syncFrames() []frame {
	c.t.Helper()
	c.sendRaw(`{"event":"pusher:ping","data":{}}`)
	var out []frame
	deadline := time.Now().Add(readTimeout)
	for {
		f, err := c.nextErr(time.Until(deadline))
		if err != nil {
			c.t.Fatalf("waiting for pusher:pong: %v (frames so far: %v)", err, out)
		}
		if f.Event == "pusher:pong" {
			if string(f.Data) != `"{}"` {
				c.t.Errorf(`pusher:pong data = %s, want the JSON string "{}"`, f.Data)
			}
			return out
		}
		out = append(out, f)
	}
}

// expectQuiet proves that nothing is pending for this client: the next frame
// after a fresh pusher:ping is the pong.
func (c *wsClient) expectQuiet(why string) {
	c.t.Helper()
	if fs := c.syncFrames(); len(fs) > 0 {
		c.t.Errorf("%s: want no frame, got %v", why, fs)
	}
}

// ping checks that the connection still works.
func (c *wsClient) ping() { c.t.Helper(); c.syncFrames() }

// expectClose reads frames until the server closes the connection and
// checks the close code. It returns the frames that came before the close.
func (c *wsClient) expectClose(code int, timeout time.Duration) []frame {
	c.t.Helper()
	var out []frame
	deadline := time.Now().Add(timeout)
	for {
		f, err := c.nextErr(time.Until(deadline))
		if err == nil {
			out = append(out, f)
			continue
		}
		select {
		case <-c.done:
		default:
			c.t.Fatalf("want close %d: %v (frames: %v)", code, err, out)
		}
		var ce *websocket.CloseError
		if !errors.As(c.err, &ce) {
			c.t.Fatalf("want close frame with code %d, connection ended with %v (frames: %v)", code, c.err, out)
		}
		if ce.Code != code {
			c.t.Fatalf("close code = %d (%q), want %d (frames: %v)", ce.Code, ce.Text, code, out)
		}
		return out
	}
}

func (c *wsClient) close() { _ = c.conn.Close() }

// subscribe subscribes to a channel that needs no auth.
func (c *wsClient) subscribe(channel string) {
	c.t.Helper()
	c.send(map[string]any{"event": "pusher:subscribe", "data": map[string]any{"auth": "", "channel": channel}})
	c.expectSucceeded(channel)
}

// expectSucceeded waits for the non-presence subscription_succeeded.
func (c *wsClient) expectSucceeded(channel string) {
	c.t.Helper()
	f := c.next()
	if f.Event != "pusher_internal:subscription_succeeded" || f.Channel != channel {
		c.t.Fatalf("want subscription_succeeded on %s, got %s", channel, f.raw)
	}
	if string(f.Data) != `"{}"` {
		c.t.Errorf(`subscription_succeeded data = %s, want exactly "{}" (a JSON string)`, f.Data)
	}
}

// subscribePrivate subscribes with a valid signature for this connection.
func (c *wsClient) subscribePrivate(channel string) {
	c.t.Helper()
	c.send(map[string]any{"event": "pusher:subscribe", "data": map[string]any{
		"auth": signing.AuthorizeChannel(appKey, appSecret, c.socketID, channel, nil), "channel": channel}})
	c.expectSucceeded(channel)
}

// sendPresenceSubscribe sends a correctly signed presence subscribe.
func (c *wsClient) sendPresenceSubscribe(channel, channelData string) {
	c.t.Helper()
	c.send(map[string]any{"event": "pusher:subscribe", "data": map[string]any{
		"auth":         signing.AuthorizeChannel(appKey, appSecret, c.socketID, channel, &channelData),
		"channel_data": channelData, "channel": channel}})
}

// presenceData is the decoded data of a presence subscription_succeeded.
type presenceData struct {
	Presence struct {
		IDs   []string                   `json:"ids"`
		Hash  map[string]json.RawMessage `json:"hash"`
		Count int                        `json:"count"`
	} `json:"presence"`
}

// subscribePresence joins a presence channel and returns the member list.
func (c *wsClient) subscribePresence(channel, channelData string) presenceData {
	c.t.Helper()
	c.sendPresenceSubscribe(channel, channelData)
	f := c.next()
	if f.Event != "pusher_internal:subscription_succeeded" || f.Channel != channel {
		c.t.Fatalf("want presence subscription_succeeded on %s, got %s", channel, f.raw)
	}
	var d presenceData
	f.dataJSON(c.t, &d)
	return d
}

// expectRefused checks that the frames answering a subscribe refused it:
// a pusher:error with code null and a pusher:subscription_error on the
// channel whose data is {type, error, status}; no subscription_succeeded.
func expectRefused(t *testing.T, channel string, frames []frame) {
	t.Helper()
	var sawError, sawSubErr bool
	for _, f := range frames {
		switch f.Event {
		case "pusher:error":
			e := f.pusherError(t)
			if e.Code != nil {
				t.Errorf("refused subscription: pusher:error code = %d, want null: %s", *e.Code, f.raw)
			}
			sawError = true
		case "pusher:subscription_error":
			if f.Channel != channel {
				t.Errorf("subscription_error channel = %q, want %q", f.Channel, channel)
			}
			var d struct {
				Type   *string `json:"type"`
				Error  *string `json:"error"`
				Status *int    `json:"status"`
			}
			if err := json.Unmarshal(f.Data, &d); err != nil || d.Type == nil || d.Error == nil || d.Status == nil {
				t.Errorf("subscription_error data must be an object {type, error, status}: %s", f.raw)
			}
			sawSubErr = true
		case "pusher_internal:subscription_succeeded":
			t.Errorf("subscription to %q must be refused, got %s", channel, f.raw)
		default:
			t.Errorf("unexpected frame while refusing %q: %s", channel, f.raw)
		}
	}
	if !sawError {
		t.Errorf("refused subscription to %q: no pusher:error (code null); frames: %v", channel, frames)
	}
	if !sawSubErr {
		t.Errorf("refused subscription to %q: no pusher:subscription_error; frames: %v", channel, frames)
	}
}

// ------------------------------------------------------------------- HTTP

// apiResponse is the status and body of an API call.
type apiResponse struct {
	status int
	body   []byte
	header http.Header
}

func (r apiResponse) String() string { return fmt.Sprintf("%d %s", r.status, r.body) }

// api sends a request signed with the app's credentials.
func (s *testServer) api(method, path string, params url.Values, body []byte) apiResponse {
	s.t.Helper()
	q := signing.SignRequest(appCred, method, path, params, body, time.Now())
	return s.do(method, path+"?"+q.Encode(), body)
}

// do sends a request as is (no signing).
func (s *testServer) do(method, target string, body []byte) apiResponse {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, s.baseURL()+target, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.http.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatalf("%s %s: reading body: %v", method, target, err)
	}
	return apiResponse{status: resp.StatusCode, body: b, header: resp.Header}
}

func (s *testServer) get(path string, params url.Values) apiResponse {
	s.t.Helper()
	return s.api(http.MethodGet, path, params, nil)
}

func (s *testServer) post(path string, v any) apiResponse {
	s.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		s.t.Fatal(err)
	}
	return s.api(http.MethodPost, path, nil, b)
}

// trigger publishes one event with POST /apps/1/events and requires 200.
func (s *testServer) trigger(channel, event, data string) {
	s.t.Helper()
	r := s.post("/apps/"+appID+"/events", map[string]any{"name": event, "channels": []string{channel}, "data": data})
	if r.status != http.StatusOK {
		s.t.Fatalf("trigger: %v", r)
	}
}

// subscriptionCount asks GET /channels/{name}?info=subscription_count
// (the server must answer it: startCountingServer).
func (s *testServer) subscriptionCount(channel string) int {
	s.t.Helper()
	r := s.get("/apps/"+appID+"/channels/"+channel, url.Values{"info": {"subscription_count"}})
	if r.status != http.StatusOK {
		s.t.Fatalf("GET channel %s: %v", channel, r)
	}
	var d struct {
		SubscriptionCount *int `json:"subscription_count"`
	}
	if err := json.Unmarshal(r.body, &d); err != nil || d.SubscriptionCount == nil {
		s.t.Fatalf("GET channel %s: no subscription_count (%v): %s", channel, err, r.body)
	}
	return *d.SubscriptionCount
}

// occupied asks GET /channels/{name} whether anyone is subscribed.
func (s *testServer) occupied(channel string) bool {
	s.t.Helper()
	r := s.get("/apps/"+appID+"/channels/"+channel, nil)
	var d struct {
		Occupied *bool `json:"occupied"`
	}
	if r.status != http.StatusOK || json.Unmarshal(r.body, &d) != nil || d.Occupied == nil {
		s.t.Fatalf("GET channel %s: %v", channel, r)
	}
	return *d.Occupied
}

// expectJSON checks that r is 200 and its body equals want as JSON.
func expectJSON(t testing.TB, r apiResponse, want string) {
	t.Helper()
	if r.status != http.StatusOK {
		t.Errorf("status = %d, want 200 (body %s)", r.status, r.body)
		return
	}
	if !jsonEqual(t, r.body, []byte(want)) {
		t.Errorf("body = %s, want %s", r.body, want)
	}
}

// expectStatus checks the status and that an error body is a JSON object.
func expectStatus(t *testing.T, r apiResponse, status int) {
	t.Helper()
	if r.status != status {
		t.Errorf("status = %d, want %d (body %s)", r.status, status, r.body)
	}
	var obj map[string]any
	if err := json.Unmarshal(r.body, &obj); err != nil || obj == nil {
		t.Errorf("body must be a JSON object, got %q", r.body)
	}
}

func jsonEqual(t testing.TB, a, b []byte) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		return false
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatalf("bad expectation %s: %v", b, err)
	}
	return reflect.DeepEqual(va, vb)
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// metrics fetches /metrics from the admin listener.
func (s *testServer) metrics() apiResponse {
	s.t.Helper()
	if s.admin == "" {
		s.t.Fatal("this test server has no admin listener (admin_listen is off)")
	}
	resp, err := s.http.Get("http://" + s.admin + "/metrics")
	if err != nil {
		s.t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		s.t.Fatalf("GET /metrics: %d %v", resp.StatusCode, err)
	}
	return apiResponse{status: resp.StatusCode, body: body}
}

// metricValue returns the value of the sample whose line starts with prefix
// (name and labels) on /metrics, or -1 when there is none.
func (s *testServer) metricValue(prefix string) float64 {
	s.t.Helper()
	r := s.metrics()
	for _, line := range strings.Split(string(r.body), "\n") {
		if rest, ok := strings.CutPrefix(line, prefix+" "); ok {
			var v float64
			if _, err := fmt.Sscan(rest, &v); err == nil {
				return v
			}
		}
	}
	return -1
}

func ptr[T any](v T) *T { return &v }

// with returns a view of s whose helpers report to t (for subtests).
func (s *testServer) with(t *testing.T) *testServer {
	c := *s
	c.t = t
	return &c
}
