package test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/heraldhq/herald/internal/config"
)

// TestSlowConsumer: a subscriber that stops reading is closed once its
// bounded write buffer overflows, without slowing the publisher or a
// reading subscriber of the same channel, which gets every event in order.
func TestSlowConsumer(t *testing.T) {
	t.Parallel()
	s := startCountingServer(t, func(c *config.Config) { c.Limits.WriteBufferKB = 64 })
	const ch = "firehose"

	// The slow client subscribes, then never reads again.
	slow := dialNoReader(t, s, pusherPath(appKey))
	readOne := func(c *websocket.Conn) string {
		_ = c.SetReadDeadline(time.Now().Add(readTimeout))
		_, b, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("slow client: %v", err)
		}
		return string(b)
	}
	if f := readOne(slow.conn); !strings.Contains(f, "pusher:connection_established") {
		t.Fatalf("slow client: want connection_established, got %s", f)
	}
	if err := slow.conn.WriteJSON(map[string]any{"event": "pusher:subscribe", "data": map[string]any{"channel": ch}}); err != nil {
		t.Fatal(err)
	}
	if f := readOne(slow.conn); !strings.Contains(f, "subscription_succeeded") {
		t.Fatalf("slow client: want subscription_succeeded, got %s", f)
	}

	// The fast client counts events and checks their order.
	fast := dialNoReader(t, s, pusherPath(appKey))
	if f := readOne(fast.conn); !strings.Contains(f, "pusher:connection_established") {
		t.Fatalf("fast client: want connection_established, got %s", f)
	}
	if err := fast.conn.WriteJSON(map[string]any{"event": "pusher:subscribe", "data": map[string]any{"channel": ch}}); err != nil {
		t.Fatal(err)
	}
	if f := readOne(fast.conn); !strings.Contains(f, "subscription_succeeded") {
		t.Fatalf("fast client: want subscription_succeeded, got %s", f)
	}
	_ = fast.conn.SetReadDeadline(time.Time{})
	var received atomic.Int64
	readerErr := make(chan error, 1)
	go func() {
		for {
			_, b, err := fast.conn.ReadMessage()
			if err != nil {
				readerErr <- err
				return
			}
			var f struct{ Event, Data string }
			if strings.Contains(string(b), `"event":"pusher_internal:subscription_count"`) {
				continue // the option that makes s.subscriptionCount work sends them
			}
			if err := json.Unmarshal(b, &f); err != nil || f.Event != "seq" {
				readerErr <- fmt.Errorf("unexpected frame %.200s", b)
				return
			}
			seq, _, _ := strings.Cut(f.Data, ":")
			if want := received.Load(); seq != strconv.FormatInt(want, 10) {
				readerErr <- fmt.Errorf("event %s arrived when %d was due", seq, want)
				return
			}
			received.Add(1)
		}
	}()

	const batchSize, maxEvents = 10, 4000
	pad := strings.Repeat("p", 10_000)
	published := 0
	slowClosed := false
	for published < maxEvents && !slowClosed {
		items := make([]map[string]any, batchSize)
		for i := range items {
			items[i] = map[string]any{"name": "seq", "channel": ch, "data": strconv.Itoa(published+i) + ":" + pad}
		}
		if r := s.post("/apps/1/batch_events", map[string]any{"batch": items}); r.status != http.StatusOK {
			t.Fatalf("batch_events: %v", r)
		}
		published += batchSize
		if published%100 == 0 {
			slowClosed = s.subscriptionCount(ch) == 1
		}
		select {
		case err := <-readerErr:
			t.Fatalf("fast client after %d events: %v", received.Load(), err)
		default:
		}
	}
	if !slowClosed {
		eventually(t, readTimeout, "the slow consumer to be closed", func() bool { return s.subscriptionCount(ch) == 1 })
	}
	t.Logf("slow consumer closed after %d events of 10 KB", published)

	// The slow client now reads: behind what was already on its way it
	// finds the close frame 4100 (back off, then reconnect).
	if code, n := readToClose(slow.conn, 2*readTimeout); code != 4100 {
		t.Errorf("slow consumer: close code %d after %d frames, want 4100", code, n)
	}

	deadline := time.Now().Add(10 * time.Second)
	for received.Load() < int64(published) {
		select {
		case err := <-readerErr:
			t.Fatalf("fast client after %d of %d events: %v", received.Load(), published, err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("fast client received %d of %d events", received.Load(), published)
		}
		time.Sleep(10 * time.Millisecond)
	}

	if v := s.metricValue(`herald_slow_consumers_total{app_id="1"}`); v <= 0 {
		t.Errorf(`herald_slow_consumers_total{app_id="1"} = %v, want > 0`, v)
	}
}

// readToClose reads frames until the connection ends and returns the close
// code (-1: no close frame, 0: still open at the deadline) and how many
// data frames came first.
func readToClose(c *websocket.Conn, timeout time.Duration) (code, frames int) {
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	for {
		_, _, err := c.ReadMessage()
		if err == nil {
			frames++
			continue
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) && ce.Code != websocket.CloseAbnormalClosure {
			return ce.Code, frames
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			return 0, frames
		}
		return -1, frames
	}
}

// dialSmallWindow dials like pusher-js over a socket with a 4 KiB receive
// buffer, so a client that stops reading fills the server's bound after
// a few hundred KB instead of the megabytes loopback's buffers take.
func dialSmallWindow(t *testing.T, s *testServer) *websocket.Conn {
	t.Helper()
	nd := net.Dialer{Timeout: readTimeout, Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return errors.Join(err, serr)
	}}
	d := websocket.Dialer{HandshakeTimeout: readTimeout, NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		return nd.DialContext(ctx, network, addr)
	}}
	conn, _, err := d.Dial("ws://"+s.addr+pusherPath(appKey), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// TestSlowConsumersSee4100: clients that stop reading while large events
// go to their channel are closed as slow consumers, and every one of them
// that reads again (within the grace period) receives close 4100 after the
// frames that were already on their way. Pending frames are dropped, so
// what reaches them is bounded by write_buffer_kb.
func TestSlowConsumersSee4100(t *testing.T) {
	t.Parallel()
	s := startServer(t, func(c *config.Config) { c.Limits.WriteBufferKB = 64 })
	const n, ch = 20, "firehose"
	conns := make([]*websocket.Conn, n)
	for i := range conns {
		c := dialSmallWindow(t, s)
		for _, step := range []struct{ send, want string }{
			{"", "pusher:connection_established"},
			{`{"event":"pusher:subscribe","data":{"channel":"` + ch + `"}}`, "subscription_succeeded"},
		} {
			if step.send != "" {
				if err := c.WriteMessage(websocket.TextMessage, []byte(step.send)); err != nil {
					t.Fatal(err)
				}
			}
			_ = c.SetReadDeadline(time.Now().Add(readTimeout))
			if _, b, err := c.ReadMessage(); err != nil || !strings.Contains(string(b), step.want) {
				t.Fatalf("client %d: want %s, got %s %v", i, step.want, b, err)
			}
		}
		conns[i] = c
	}

	// Nobody reads; 5 KB events go out until all n are closed as slow.
	pad := strings.Repeat("p", 5_000)
	published := 0
	deadline := time.Now().Add(30 * time.Second)
	for s.metricValue(`herald_slow_consumers_total{app_id="1"}`) < n {
		if time.Now().After(deadline) {
			t.Fatalf("after %d events only %v of %d clients were closed as slow", published,
				s.metricValue(`herald_slow_consumers_total{app_id="1"}`), n)
		}
		items := make([]map[string]any, 10)
		for i := range items {
			items[i] = map[string]any{"name": "e", "channel": ch, "data": pad}
		}
		if r := s.post("/apps/1/batch_events", map[string]any{"batch": items}); r.status != http.StatusOK {
			t.Fatalf("batch_events: %v", r)
		}
		published += len(items)
	}
	// They left the hub at once (presence and counts do not wait for the
	// TCP connection to end).
	eventually(t, readTimeout, "slow consumers to leave the channel", func() bool { return !s.occupied(ch) })

	// Now they read.
	var wg sync.WaitGroup
	codes := make([]int, n)
	frames := make([]int, n)
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i], frames[i] = readToClose(c, 2*readTimeout)
		}()
	}
	wg.Wait()
	saw := 0
	for i, code := range codes {
		if code == 4100 {
			saw++
		} else {
			t.Errorf("client %d: close code %d after %d frames, want 4100", i, code, frames[i])
		}
		// What was on its way: at most the 64 KiB bound, the socket
		// buffers and the frame being written; never everything published.
		if frames[i] >= published {
			t.Errorf("client %d got all %d events: its pending frames were not dropped", i, published)
		}
	}
	t.Logf("%d events of 5 KB published; 4100 seen by %d of %d slow readers; frames before the close: %v", published, saw, n, frames)
}
