package test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
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
	s := startServer(t, func(c *config.Config) { c.Limits.WriteBufferKB = 64 })
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

	// What reaches the slow client ends with close 4100 (back off, then
	// reconnect) or, when not even the close frame fitted, a dropped TCP
	// connection; never with another close code.
	_ = slow.conn.SetReadDeadline(time.Now().Add(readTimeout))
	for {
		_, _, err := slow.conn.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) && ce.Code != websocket.CloseAbnormalClosure { // 1006: no close frame
			if ce.Code != 4100 {
				t.Errorf("slow consumer closed with %d (%q), want 4100", ce.Code, ce.Text)
			}
		} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Errorf("slow consumer: connection still open after the server dropped it")
		} else {
			t.Logf("slow consumer: connection dropped without a close frame: %v", err)
		}
		break
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
