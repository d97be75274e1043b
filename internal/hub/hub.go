// Package hub holds the node-local realtime state: connected clients, the
// sharded channel index and presence membership. It fans events out as
// pre-encoded bytes and never blocks on a slow client: every Sink is
// non-blocking and bounded, and a client that overflows is closed.
package hub

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"hash/maphash"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/heraldhq/herald/internal/apps"
	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/broker/memory"
	"github.com/heraldhq/herald/internal/console"
	"github.com/heraldhq/herald/internal/logthrottle"
	"github.com/heraldhq/herald/internal/metrics"
	"github.com/heraldhq/herald/internal/policy"
	"github.com/heraldhq/herald/internal/protocol"
)

const numShards = 64

// Config holds the hub's limits. Zero values mean the documented default.
type Config struct {
	ActivityTimeout time.Duration // default 120s: silence after which we ping the client
	PongTimeout     time.Duration // default 30s: wait after our ping before closing with 4201
	SweepInterval   time.Duration // default 1s: liveness check period
	// LostLeaveGrace is how long the broker must be reachable again after
	// an outage before presence leaves it could not record are announced
	// (lost.go): time for every node to register its share again.
	// Default 6s (three heartbeats of the Redis broker).
	LostLeaveGrace     time.Duration
	MaxChannelNameLen  int           // default 200 (policy)
	MaxEventNameLen    int           // default 200
	MaxUserInfoBytes   int           // default 1024 (policy): presence channel_data size
	MaxUserIDLen       int           // default 128 (policy)
	ClientEventsPerSec int           // default 10
	MaxChannelsPerConn int           // default 1000
	MaxWatchlistSize   int           // default 100 (policy): ids kept from a sign-in's watchlist
	CacheTTL           time.Duration // default 30m: lifetime of a cache channel's last event
	SigninTimeout      time.Duration // default 30s: require_signin grace period
}

func (c *Config) setDefaults() {
	if c.ActivityTimeout <= 0 {
		c.ActivityTimeout = 120 * time.Second
	}
	if c.PongTimeout <= 0 {
		c.PongTimeout = 30 * time.Second
	}
	if c.SweepInterval <= 0 {
		c.SweepInterval = time.Second
	}
	if c.LostLeaveGrace <= 0 {
		c.LostLeaveGrace = 6 * time.Second
	}
	if c.MaxEventNameLen <= 0 {
		c.MaxEventNameLen = 200
	}
	if c.ClientEventsPerSec <= 0 {
		c.ClientEventsPerSec = 10
	}
	if c.MaxChannelsPerConn <= 0 {
		c.MaxChannelsPerConn = 1000
	}
	if c.CacheTTL <= 0 {
		c.CacheTTL = 30 * time.Minute
	}
	if c.SigninTimeout <= 0 {
		c.SigninTimeout = 30 * time.Second
	}
}

// Deps are the hub's collaborators.
type Deps struct {
	Logger  *slog.Logger     // required
	Metrics *metrics.Metrics // required
	Now     func() time.Time // default time.Now
	// Observer receives channel and presence events (webhooks); nil = none.
	Observer Observer
	// Throttle bounds the log lines clients can cause; nil writes them all.
	Throttle *logthrottle.Throttle
	// Broker builds the cluster seam with the hub as its handler; nil means
	// one node, in memory.
	Broker broker.Factory
	// Apps finds an app by id for what the broker reports without a
	// connection at hand (a dead node's members); nil ignores those reports.
	Apps apps.Store
	// Console receives the debug console's events (subscriptions, client
	// events, members, failed authorizations); nil emits nothing.
	Console *console.Feed
}

// Hub is safe for concurrent use.
type Hub struct {
	cfg      Config
	pol      *policy.Policy // what a client may do: names, signatures, member and user data
	log      *slog.Logger
	throttle *logthrottle.Throttle
	m        *metrics.Metrics
	now      func() time.Time
	obs      Observer
	b        broker.Broker
	apps     apps.Store
	console  *console.Feed // nil: no debug console
	seed     maphash.Seed

	shards [numShards]shard

	clientsMu sync.RWMutex
	clients   map[string]*Client // by socket id
	perApp    map[string]int     // live connections per app id

	users userIndex
	lost  lostLeaves // presence leaves the broker could not record (lost.go)

	closing atomic.Bool

	live wheel // when each connection's liveness is next looked at (liveness.go)
}

// New builds a hub; call Run to start its liveness sweeper.
func New(cfg Config, deps Deps) *Hub {
	cfg.setDefaults()
	if deps.Now == nil {
		deps.Now = time.Now
	}
	pol := policy.New(policy.Config{MaxChannelNameLen: cfg.MaxChannelNameLen, MaxUserIDLen: cfg.MaxUserIDLen,
		MaxUserInfoBytes: cfg.MaxUserInfoBytes, MaxWatchlistSize: cfg.MaxWatchlistSize, Now: deps.Now})
	h := &Hub{
		cfg:      cfg,
		pol:      pol,
		log:      deps.Logger.With("component", "hub"),
		throttle: deps.Throttle,
		m:        deps.Metrics,
		now:      deps.Now,
		obs:      deps.Observer,
		apps:     deps.Apps,
		console:  deps.Console,
		seed:     maphash.MakeSeed(),
		clients:  make(map[string]*Client),
		perApp:   make(map[string]int),
	}
	h.live.init(cfg.SweepInterval.Nanoseconds(), deps.Now().UnixNano())
	h.users.conns = make(map[chanKey]map[*Client]struct{})
	h.users.watchers = make(map[chanKey]map[*Client]struct{})
	for i := range h.shards {
		h.shards[i].channels = make(map[chanKey]*channel)
	}
	if deps.Broker == nil {
		h.b = memory.New(memory.Config{}, h)
	} else {
		h.b = deps.Broker(h)
	}
	return h
}

// Broker is the cluster seam the hub was built with.
func (h *Hub) Broker() broker.Broker { return h.b }

// Run sweeps connections for liveness and runs the broker until ctx is
// cancelled.
func (h *Hub) Run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return h.b.Run(gctx) })
	g.Go(func() error {
		t := time.NewTicker(h.cfg.SweepInterval)
		defer t.Stop()
		for {
			select {
			case <-gctx.Done():
				return nil
			case <-t.C:
				h.sweep()
				h.flushCounts(gctx)
				h.announceLost(gctx)
			}
		}
	})
	err := g.Wait()
	if cl, ok := h.b.(interface{ Close() }); ok {
		cl.Close() // the Redis broker's connections; after Run, as it asks
	}
	return err
}

// ActivityTimeoutSeconds is the value announced in connection_established.
func (h *Hub) ActivityTimeoutSeconds() int {
	return int(h.cfg.ActivityTimeout / time.Second)
}

// Connect registers a new connection for app. It fails with close code 4004
// when the app is at its connection quota and 4200 while shutting down.
func (h *Hub) Connect(ctx context.Context, app *apps.App, sink Sink, remote string) (*Client, error) {
	if h.closing.Load() {
		return nil, &protocol.Error{Code: protocol.CodeReconnect, Message: "Server is shutting down", Close: true}
	}
	c := &Client{hub: h, sink: sink, remote: remote}
	c.appPtr.Store(app)
	now := h.now().UnixNano()
	c.lastSeen.Store(now)
	c.tokens = float64(h.clientEventsPerSec(app))
	c.tokensAt = now
	c.connectedAt = now

	if app.MaxConnections > 0 {
		// The quota holds for the cluster: counted at the broker.
		ok, err := h.b.AddConnection(ctx, app.ID, app.MaxConnections)
		if err != nil {
			return nil, &protocol.Error{Code: protocol.CodeReconnect, Message: "Cluster state unavailable, try again", Close: true}
		}
		if !ok {
			return nil, &protocol.Error{Code: protocol.CodeOverQuota, Message: "Over connection quota", Close: true}
		}
		c.counted = true
	}
	h.clientsMu.Lock()
	for {
		c.socketID = newSocketID()
		if _, dup := h.clients[c.socketID]; !dup {
			break
		}
	}
	h.clients[c.socketID] = c
	h.perApp[app.ID]++
	h.clientsMu.Unlock()
	h.scheduleLiveness(c)
	h.m.Connections.WithLabelValues(app.ID).Inc()
	h.m.ConnectionsTotal.WithLabelValues(app.ID).Inc()
	return c, nil
}

// Disconnect removes c from every channel and from the registry. Safe to
// call more than once.
func (h *Hub) Disconnect(c *Client) {
	if !c.gone.CompareAndSwap(false, true) {
		return
	}
	h.live.remove(c)
	ctx := context.Background()
	c.mu.Lock()
	subs := c.subs
	c.subs = nil
	user := c.user
	c.mu.Unlock()
	for _, s := range subs {
		h.leave(ctx, c, s)
		h.showSub(c, console.Unsubscribed, s.channel, "disconnected")
	}
	if user != nil {
		h.signOut(ctx, c, user)
	}
	if c.counted {
		if err := h.b.RemoveConnection(ctx, c.curApp().ID); err != nil {
			h.throttle.Log(h.log, slog.LevelWarn, "broker", "", "connection count not updated: shared state unavailable", "err", err)
		}
	}
	h.clientsMu.Lock()
	delete(h.clients, c.socketID)
	if h.perApp[c.curApp().ID]--; h.perApp[c.curApp().ID] <= 0 {
		delete(h.perApp, c.curApp().ID)
	}
	h.clientsMu.Unlock()
	h.m.Connections.WithLabelValues(c.curApp().ID).Dec()
}

// TotalConnections returns the live connections of every app.
func (h *Hub) TotalConnections() int {
	h.clientsMu.RLock()
	defer h.clientsMu.RUnlock()
	return len(h.clients)
}

// UpdateApp gives the live connections of app its new settings and
// secrets (a rotation or a change of limits takes effect at once).
func (h *Hub) UpdateApp(app *apps.App) {
	h.clientsMu.RLock()
	defer h.clientsMu.RUnlock()
	for _, c := range h.clients {
		if cur := c.curApp(); cur.ID == app.ID && cur != app {
			c.appPtr.Store(app)
			if app.RequireSignin && !cur.RequireSignin {
				h.scheduleLiveness(c) // its sign-in deadline may now be due
			}
		}
	}
}

// CloseApp closes every connection of app (it was disabled or deleted).
func (h *Hub) CloseApp(appID string, code int, reason string) int {
	h.clientsMu.RLock()
	var list []*Client
	for _, c := range h.clients {
		if c.curApp().ID == appID {
			list = append(list, c)
		}
	}
	h.clientsMu.RUnlock()
	frame := protocol.ErrorFrame(code, reason)
	for _, c := range list {
		c.Send(frame)
		c.Close(code, reason)
	}
	return len(list)
}

// ConnectionCount returns the live connections of app.
func (h *Hub) ConnectionCount(appID string) int {
	h.clientsMu.RLock()
	defer h.clientsMu.RUnlock()
	return h.perApp[appID]
}

// CloseAll starts shutdown: new connections are refused and every live
// connection is closed with code (4200 makes clients reconnect elsewhere).
func (h *Hub) CloseAll(code int, reason string) {
	h.closing.Store(true)
	for _, c := range h.allClients() {
		c.Close(code, reason)
	}
}

// allClients copies the live connections, so work on them happens outside
// clientsMu.
func (h *Hub) allClients() []*Client {
	h.clientsMu.RLock()
	defer h.clientsMu.RUnlock()
	list := make([]*Client, 0, len(h.clients))
	for _, c := range h.clients {
		list = append(list, c)
	}
	return list
}

// newSocketID returns "<a>.<b>" with two random decimal integers, the format
// every Pusher server SDK validates (^\d+\.\d+$).
func newSocketID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	a := binary.LittleEndian.Uint32(b[:4]) % 1_000_000_000
	c := binary.LittleEndian.Uint32(b[4:]) % 1_000_000_000
	buf := make([]byte, 0, 21)
	buf = strconv.AppendUint(buf, uint64(a), 10)
	buf = append(buf, '.')
	buf = strconv.AppendUint(buf, uint64(c), 10)
	return string(buf)
}
