package badinput

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/server"
	"github.com/heraldhq/herald/internal/testlog"
)

// The apps of the one test server: app 1 is the one every row talks to;
// app 2 has an API rate limit of one request per 10 s; app 3 is disabled.
const (
	appID     = "1"
	appKey    = "app-key"
	appSecret = "app-secret"

	limitedAppID  = "2"
	limitedKey    = "limited-key"
	limitedSecret = "limited-secret"

	disabledAppID  = "3"
	disabledKey    = "disabled-key"
	disabledSecret = "disabled-secret"

	// wait bounds every wait for a frame, an HTTP answer or a close.
	wait = 3 * time.Second
	// pusherQuery is the query string pusher-js 8.6.0 sends.
	pusherQuery = "?protocol=7&client=js&version=8.6.0&flash=false"
	// bystanderChannel is the public channel the bystander listens on.
	bystanderChannel = "bystander"
)

// addr is the server's address (127.0.0.1:port), set by TestMain.
var addr string

// logs holds the server log; its tail is printed when the suite fails.
var logs = &testlog.Buffer{}

// by is the healthy bystander connection every row is checked against.
var by *bystander

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	disabled := false
	cfg := config.Config{
		Host:        "127.0.0.1",
		AdminListen: "127.0.0.1:0",
		Apps: []config.App{
			{ID: appID, Key: appKey, Secret: appSecret, EnableClientMessages: true},
			{ID: limitedAppID, Key: limitedKey, Secret: limitedSecret, APIRateLimit: 0.1, APIRateBurst: 1},
			{ID: disabledAppID, Key: disabledKey, Secret: disabledSecret, Enabled: &disabled},
		},
	}
	cfg.ApplyDefaults()
	cfg.Port = 0 // ApplyDefaults turns 0 into 6001; any free port will do
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(os.Stderr, "badinput: test config does not validate: %v\n", err)
		return 1
	}

	ctx, cancel := context.WithCancel(context.Background())
	listening := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- server.Run(ctx, cfg, server.Options{
			Version:       "test",
			Stderr:        logs,
			OnListen:      func(a net.Addr) { listening <- a.String() },
			OnAdminListen: func(net.Addr) {},
		})
	}()
	stop := func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(15 * time.Second):
			return fmt.Errorf("server.Run did not return within 15s of cancellation")
		}
	}
	select {
	case addr = <-listening:
	case err := <-done:
		cancel()
		fmt.Fprintf(os.Stderr, "badinput: server.Run returned before listening: %v\n%s", err, logs.Tail(8<<10))
		return 1
	case <-time.After(5 * time.Second):
		_ = stop()
		fmt.Fprintf(os.Stderr, "badinput: the server did not report its address within 5s\n")
		return 1
	}

	var err error
	if by, err = newBystander(); err != nil {
		_ = stop()
		fmt.Fprintf(os.Stderr, "badinput: bystander: %v\n%s", err, logs.Tail(8<<10))
		return 1
	}
	code := m.Run()
	by.close()
	// Connections the client dialled but never used are "new" to the
	// server, which waits up to 5 s for them to send a request when it
	// shuts down.
	httpClient.CloseIdleConnections()
	if err := stop(); err != nil {
		fmt.Fprintf(os.Stderr, "badinput: stopping the server: %v\n", err)
		code = 1
	}
	if code != 0 {
		fmt.Fprintf(os.Stderr, "server log (tail):\n%s\n", logs.Tail(16<<10))
	}
	return code
}

// ------------------------------------------------------------- bystander

// bystander is a healthy pusher-js-like connection subscribed to
// bystanderChannel. checkBystander publishes an event with a unique name and
// waits for it; anything else the bystander receives is kept as stray.
type bystander struct {
	conn *websocket.Conn

	mu      sync.Mutex
	waiting map[string]chan struct{} // event name -> closed on arrival
	stray   []string                 // frames nobody waited for
	done    chan struct{}            // closed when the reader stops
	err     error                    // why the reader stopped; read after done
}

var checkSeq atomic.Int64

func newBystander() (*bystander, error) {
	d := websocket.Dialer{HandshakeTimeout: wait}
	conn, _, err := d.Dial("ws://"+addr+"/app/"+appKey+pusherQuery, nil)
	if err != nil {
		return nil, err
	}
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	var f struct{ Event, Channel string }
	if err := conn.ReadJSON(&f); err != nil || f.Event != "pusher:connection_established" {
		_ = conn.Close()
		return nil, fmt.Errorf("want connection_established, got %+v (%v)", f, err)
	}
	if err := conn.WriteMessage(websocket.TextMessage,
		[]byte(`{"event":"pusher:subscribe","data":{"auth":"","channel":"`+bystanderChannel+`"}}`)); err != nil {
		_ = conn.Close()
		return nil, err
	}
	if err := conn.ReadJSON(&f); err != nil || f.Event != "pusher_internal:subscription_succeeded" || f.Channel != bystanderChannel {
		_ = conn.Close()
		return nil, fmt.Errorf("want subscription_succeeded, got %+v (%v)", f, err)
	}
	_ = conn.SetReadDeadline(time.Time{})
	b := &bystander{conn: conn, waiting: make(map[string]chan struct{}), done: make(chan struct{})}
	go b.read()
	return b, nil
}

func (b *bystander) read() {
	defer close(b.done)
	for {
		_, msg, err := b.conn.ReadMessage()
		if err != nil {
			b.err = err
			return
		}
		var f struct{ Event, Channel string }
		_ = json.Unmarshal(msg, &f)
		b.mu.Lock()
		if ch, ok := b.waiting[f.Event]; ok && f.Channel == bystanderChannel {
			close(ch)
			delete(b.waiting, f.Event)
		} else if f.Event != "pusher:ping" { // the server's keep-alive is not news
			b.stray = append(b.stray, string(msg))
		}
		b.mu.Unlock()
	}
}

// expect registers interest in an event before it is published.
func (b *bystander) expect(event string) <-chan struct{} {
	ch := make(chan struct{})
	b.mu.Lock()
	b.waiting[event] = ch
	b.mu.Unlock()
	return ch
}

func (b *bystander) takeStray() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.stray
	b.stray = nil
	return s
}

func (b *bystander) close() { _ = b.conn.Close() }

// checkBystander proves that the server still serves others: an event
// published through the signed REST API reaches the bystander in time, and
// the bystander received nothing it should not have.
func checkBystander(t *testing.T) {
	t.Helper()
	if err := bystanderCheck(); err != nil {
		t.Error(err)
	}
}

func bystanderCheck() error {
	name := fmt.Sprintf("bystander-check-%d", checkSeq.Add(1))
	arrived := by.expect(name)
	r, err := do(signed("POST", "/apps/"+appID+"/events", nil,
		fmt.Sprintf(`{"name":%q,"channels":[%q],"data":"ok"}`, name, bystanderChannel), nil))
	if err != nil || r.status != 200 {
		return fmt.Errorf("bystander check: publishing failed: %v %v", r, err)
	}
	select {
	case <-arrived:
	case <-by.done:
		return fmt.Errorf("bystander check: the bystander connection ended: %v", by.err)
	case <-time.After(wait):
		return fmt.Errorf("bystander check: %s did not arrive within %v", name, wait)
	}
	if s := by.takeStray(); len(s) > 0 {
		return fmt.Errorf("bystander check: the bystander received frames nobody sent it: %q", s)
	}
	return nil
}
