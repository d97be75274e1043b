package hub

import (
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/heraldhq/herald/internal/apps"
	"github.com/heraldhq/herald/internal/policy"
)

// Sink is the transport side of one connection. Neither Send nor Queue
// blocks on a slow peer: unsent bytes are kept (bounded) and ErrSlowConsumer
// is returned past the bound, another error when the connection is already
// closed. Send may write on the caller's goroutine (one syscall) when
// nothing is pending; Queue leaves the write to the transport's writers, so
// a broadcast to many connections costs its caller no syscall. Frames keep
// their order per connection whichever is used. Close sends a close frame
// with code and reason, after the frames already accepted, and then closes
// the connection.
type Sink interface {
	Send(frame []byte) error
	Queue(frame []byte) error
	Close(code int, reason string)
}

// ErrSlowConsumer is what a Sink returns when a connection's queue of unsent
// bytes would pass its bound.
var ErrSlowConsumer = errors.New("write buffer full")

// Client is one WebSocket connection as the hub sees it.
type Client struct {
	hub      *Hub
	appPtr   atomic.Pointer[apps.App] // swapped when the app's settings change
	sink     Sink
	socketID string
	remote   string

	lastSeen    atomic.Int64 // unix nanos of the last frame received
	pingSentAt  atomic.Int64 // unix nanos of our unanswered pusher:ping, 0 if none
	gone        atomic.Bool  // disconnected from the hub
	closed      atomic.Bool  // Close was called
	authorized  atomic.Bool  // signed in or joined a private/presence channel (require_signin)
	connectedAt int64
	counted     bool     // counted at the broker against the app's connection quota
	wpos        wheelPos // place on the liveness wheel; guarded by its shard's mutex

	mu       sync.Mutex
	subs     []subscription // a slice: most connections hold few channels
	tokens   float64        // client-event token bucket
	tokensAt int64
	user     *policy.User // nil until pusher:signin succeeds
}

type subscription struct {
	channel string
	userID  string          // presence member id (never empty there); "" otherwise
	info    json.RawMessage // presence member info (re-sync needs it)
}

func (s subscription) presence() bool { return s.userID != "" }

// SocketID is the id announced in connection_established.
func (c *Client) SocketID() string { return c.socketID }

// App is the app the connection belongs to, as currently configured.
func (c *Client) App() *apps.App { return c.curApp() }

func (c *Client) curApp() *apps.App { return c.appPtr.Load() }

// Remote is the peer address, for logs.
func (c *Client) Remote() string { return c.remote }

// Touch records that a frame arrived from the client.
func (c *Client) Touch() {
	c.lastSeen.Store(c.hub.now().UnixNano())
	c.pingSentAt.Store(0)
}

// Send queues frame; a client that cannot keep up is closed with 4100 so it
// reconnects after a back-off, and never slows the sender.
func (c *Client) Send(frame []byte) {
	if c.deliver(frame, false) {
		c.hub.m.MessagesSent.WithLabelValues(c.curApp().ID).Inc()
	}
}

// deliver is Send without the metric: fan-out loops count their deliveries
// once per event instead of once per subscriber. queue hands the frame to
// the transport's writers instead of writing it on this goroutine.
func (c *Client) deliver(frame []byte, queue bool) bool {
	if c.closed.Load() {
		return false
	}
	var err error
	if queue {
		err = c.sink.Queue(frame)
	} else {
		err = c.sink.Send(frame)
	}
	if err != nil {
		if c.closed.Load() || !errors.Is(err, ErrSlowConsumer) {
			return false // the peer is gone; its close callback cleans up
		}
		c.SlowConsumer(err)
		return false
	}
	return true
}

// SlowConsumer counts and logs a connection whose unsent bytes passed their
// bound, and closes it with 4100. The transport calls it when it finds that
// out while writing; Send calls it when the Sink refuses a frame.
func (c *Client) SlowConsumer(err error) {
	// The publisher and the transport's writer can both find it out at
	// once: only the one that closes the connection counts it.
	if !c.closed.CompareAndSwap(false, true) {
		return
	}
	c.hub.m.SlowConsumers.WithLabelValues(c.curApp().ID).Inc()
	c.hub.throttle.Log(c.hub.log, slog.LevelWarn, c.socketID, c.curApp().ID, "closing slow consumer",
		"app_key", c.curApp().Key, "socket_id", c.socketID, "remote", c.remote, "err", err)
	c.sink.Close(4100, "Slow consumer: write buffer full")
}

// Close closes the connection once with code and reason; the transport's
// close callback then calls Hub.Disconnect.
func (c *Client) Close(code int, reason string) {
	if !c.closed.CompareAndSwap(false, true) {
		return
	}
	c.sink.Close(code, reason)
}

// findLocked returns the index of channel in c.subs, -1 when c does not
// hold it; the caller holds c.mu.
func (c *Client) findLocked(channel string) int {
	for i := range c.subs {
		if c.subs[i].channel == channel {
			return i
		}
	}
	return -1
}

// allowClientEventLocked takes one token from the per-connection bucket.
func (c *Client) allowClientEventLocked(now int64, perSec int) bool {
	elapsed := float64(now-c.tokensAt) / 1e9
	c.tokensAt = now
	c.tokens += elapsed * float64(perSec)
	if c.tokens > float64(perSec) {
		c.tokens = float64(perSec)
	}
	if c.tokens < 1 {
		return false
	}
	c.tokens--
	return true
}
