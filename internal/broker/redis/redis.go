// Package redis is the Broker that lets many Herald nodes share one Redis
// (standalone, Sentinel or Cluster, Redis >= 7.0).
//
// # Design
//
//   - Messages travel on sharded pub/sub (SPUBLISH / SSUBSCRIBE), so they
//     stay on the shard that owns the topic on Redis Cluster. One
//     dedicated connection per node carries the subscriptions (one per app
//     on Redis Cluster); its reader goroutine calls Handler.Deliver in the
//     order Redis sent the messages.
//   - Shared state lives in hashes under the app's hash tag {app} (see
//     keys.go). Each change (Join, Leave, SignIn, SignOut, connection
//     quota) is one Lua script that updates the state and publishes the
//     transition's frame in the same step: member events are ordered like
//     the state changes. The trade-off: one app's state and topics live on
//     one Redis Cluster shard (apps spread over shards, a single app does
//     not).
//   - Member versions come from the Redis clock in microseconds (or the
//     last version + 1 when higher), so they keep increasing across a
//     vacated channel and across a Redis restart that lost the counter.
//   - Each node holds a lease (P:nodes, deadline from the Redis clock) that
//     Run renews every Heartbeat. Survivors reap a node whose lease
//     expired: they remove its share with the same scripts and report the
//     transitions (member gone, vacated, count changed, offline) once to
//     Handler.Reaped.
//   - Cluster mode's webhooks go through one queue per app (a Redis
//     stream, hooks.go): the scripts that decide a transition append its
//     hook in the same step, so the queue follows the order of the state
//     changes; one node at a time (the holder of the app's hook lease)
//     delivers it.
//   - A node registers its share under a lease id (NodeID~tag) that changes
//     whenever the node registers its share again: after Redis lost it
//     (restart, flush, expired lease) and after a call whose outcome is
//     unknown (a timeout: the script may have run). The old id's leftovers
//     are removed as the new share is added, in the same scripts, so counts
//     stay exact and only net transitions are reported. A survivor can
//     never reap a share that was registered again: it has another id.
//   - The node's share is what its own calls registered (kept per socket,
//     which also makes a duplicate Join or an unknown Leave a no-op), plus
//     what Handler.Local lists that the broker has not seen yet.
//   - Run's end (clean shutdown) removes the node's lease and whatever
//     share is left; only member version keys stay, expiring within an hour.
//
// # What the handler must do
//
//   - Deliver runs on the pub/sub connection's reader: it must not block
//     (Redis drops a subscriber that falls behind by its
//     client-output-buffer-limit for pubsub; the broker then subscribes
//     again, and the messages in between are lost, as with any outage).
//   - Reaped may be called by the reaper and by a re-registration at once.
//   - Local is called while the calls that change the share wait: the
//     handler must not hold a lock Local needs while it calls Join, Leave,
//     SignIn, SignOut, AddConnection or RemoveConnection. It must drop a
//     socket from what Local lists before (or while) calling Leave,
//     SignOut or RemoveConnection for it.
//
// Lock order: Broker.gate, then Broker.sh.mu; dialMu, state, subsMu,
// hookMu and subConn.mu alone. No lock is held while calling Deliver or
// Reaped; during Redis calls only gate is held (read by the calls that
// change the share, write by a re-registration), hookMu by ClaimHooks and
// dialMu while dialling.
package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/rueidis"

	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/metrics"
)

var _ broker.Broker = (*Broker)(nil)

// Config configures the broker. Zero values take the documented defaults.
type Config struct {
	// URL locates Redis. Accepted forms (rueidis.ParseURL):
	//
	//	redis://[user:password@]host[:port][/db]     one Redis (port 6379, db 0 by default)
	//	rediss://...                                 the same over TLS (?skip_verify=true to not verify)
	//	unix://[user:password@]/path/redis.sock[?db=N]
	//	redis://host1:port?addr=host2:port&addr=host3:port
	//	                                             Redis Cluster: seed nodes (a single address
	//	                                             is used as a cluster too when it is one)
	//	redis://[user:password@]sentinel1:26379?addr=sentinel2:26379&master_set=mymaster
	//	                                             Sentinel: the hosts are sentinels, the master
	//	                                             is the one named master_set; user and password
	//	                                             are Redis's, not the sentinels'
	//
	// Query parameters: db, addr, master_set, dial_timeout and
	// write_timeout (Go durations; they override DialTimeout and
	// WriteTimeout), skip_verify, client_name. Others are refused.
	// Required.
	URL string
	// Prefix starts every key and pub/sub channel, so deployments can share
	// a Redis. Default "herald". No braces (they would break hash tags).
	Prefix string
	// NodeID names this node; default: 8 random hex digits. Letters,
	// digits, '.', '_' and '-' only, at most 64.
	NodeID string
	// LeaseTTL is how long a node that stopped heartbeating keeps its share
	// before a survivor reaps it. Default 10s.
	LeaseTTL time.Duration
	// Heartbeat is how often Run renews the lease; below LeaseTTL/2.
	// Default 2s.
	Heartbeat time.Duration
	// ReapEvery is how often Run looks for expired leases. Default 2s.
	ReapEvery time.Duration
	// CommandTimeout bounds each Redis call (on top of the caller's
	// context). Default 2s.
	CommandTimeout time.Duration
	// DialTimeout bounds connecting to Redis. Default 2s.
	DialTimeout time.Duration
	// WriteTimeout is how long a connection may wait for Redis to answer
	// before it is closed and dialled again. Default 5s.
	WriteTimeout time.Duration
	// PoolSize bounds the connections of the pool used for pub/sub and
	// large pipelines, per Redis server. Pub/sub takes one of them (one
	// per app with listeners on Redis Cluster, where an app's topics share
	// a slot). Default 64.
	PoolSize int
	// HookQueueMax bounds each app's webhook queue (cluster mode, see
	// hooks.go): beyond it the oldest entries are dropped. Trimming is
	// approximate (XADD MAXLEN ~), so the queue may hold up to about a
	// hundred more. Default 100000.
	HookQueueMax int
	// HookLease is how long a node's claim on an app's webhook queue holds
	// without being renewed (ClaimHooks); a dead node's queues go to
	// another node within it. Default 10s.
	HookLease time.Duration
}

// Deps are the broker's collaborators.
type Deps struct {
	Logger  *slog.Logger          // nil: discard
	Metrics *metrics.RedisMetrics // nil: collectors on a private registry
}

const (
	defaultPrefix         = "herald"
	defaultLeaseTTL       = 10 * time.Second
	defaultHeartbeat      = 2 * time.Second
	defaultReapEvery      = 2 * time.Second
	defaultCommandTimeout = 2 * time.Second
	defaultDialTimeout    = 2 * time.Second
	defaultWriteTimeout   = 5 * time.Second
	defaultPoolSize       = 64
	defaultHookQueueMax   = 100000
	defaultHookLease      = 10 * time.Second
	// pipelineMultiplex is log2 of the connections commands are
	// auto-pipelined on, per Redis server: 2.
	pipelineMultiplex = 1

	// redialEvery is how soon after a failed connection attempt callers
	// get that failure again instead of dialling themselves.
	redialEvery = 250 * time.Millisecond
	// bugLogEvery spaces the logs of calls failing from a bug.
	bugLogEvery = 10 * time.Second
)

// Broker is the Redis broker. Build it with New; call Run to keep the
// node alive in the cluster and Close after Run returned.
type Broker struct {
	cfg  Config
	opt  rueidis.ClientOption
	keys keys
	h    broker.Handler
	log  *slog.Logger
	m    *metrics.RedisMetrics

	dialMu  sync.Mutex
	cli     atomic.Pointer[client]
	dialErr error     // last failed dial, under dialMu
	dialAt  time.Time // when it failed

	health      atomic.Pointer[error] // nil pointer: never connected; *nil: up
	state       sync.Mutex            // orders markUp/markDown
	bugLoggedAt atomic.Int64          // unix ns of logBug's last log

	subsMu sync.Mutex
	subs   map[string]*subConn // by partition: app on Redis Cluster, "" otherwise

	gate sync.RWMutex // share calls (read) vs registering the share again (write)
	sh   share        // under gate and sh.mu

	hookMu   sync.Mutex      // serializes ClaimHooks and the release at Run's end
	hookHeld map[string]bool // apps whose hook lease this node may hold, under hookMu

	dirty       atomic.Bool    // a share call's outcome is unknown: register again
	registering atomic.Bool    // a re-registration runs
	noBeat      atomic.Bool    // tests: the heartbeat stops (a node too slow to renew its lease)
	regWG       sync.WaitGroup // waits for it

	stopRun   chan struct{} // closed by crash or Close: Run returns without cleanup
	stopOnce  sync.Once
	closed    chan struct{} // closed by Close: workers stop
	closeOnce sync.Once
	wg        sync.WaitGroup // subConn workers
}

type client struct {
	rueidis.Client
	cluster bool
}

// New checks cfg and builds the broker; it does not connect (see Ping).
func New(cfg Config, deps Deps, h broker.Handler) (*Broker, error) {
	if h == nil {
		return nil, errors.New("redis broker: nil handler")
	}
	cfg, err := withDefaults(cfg)
	if err != nil {
		return nil, err
	}
	opt, err := clientOption(cfg)
	if err != nil {
		return nil, err
	}
	b := &Broker{
		cfg:      cfg,
		opt:      opt,
		keys:     keys{prefix: cfg.Prefix},
		h:        h,
		log:      deps.Logger,
		m:        deps.Metrics,
		subs:     map[string]*subConn{},
		hookHeld: map[string]bool{},
		stopRun:  make(chan struct{}),
		closed:   make(chan struct{}),
	}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	b.log = b.log.With("component", "broker.redis", "node", cfg.NodeID)
	if b.m == nil {
		b.m = metrics.NewRedis(prometheus.NewRegistry())
	}
	b.m.Up.Set(0)
	b.sh.init(b.newLeaseID())
	return b, nil
}

// NewClient connects a Redis client of its own with the broker's settings
// for cfg (URL, Sentinel, TLS, timeouts): for other state a cluster node
// shares through Redis, such as the push-notification queue. The caller
// closes it.
func NewClient(cfg Config) (rueidis.Client, error) {
	cfg, err := withDefaults(cfg)
	if err != nil {
		return nil, err
	}
	opt, err := clientOption(cfg)
	if err != nil {
		return nil, err
	}
	c, err := rueidis.NewClient(opt)
	if err != nil {
		return nil, fmt.Errorf("redis: connect: %w", err)
	}
	return c, nil
}

func withDefaults(cfg Config) (Config, error) {
	if cfg.URL == "" {
		return cfg, errors.New("redis broker: URL is required")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = defaultPrefix
	}
	if strings.ContainsAny(cfg.Prefix, "{}") {
		return cfg, fmt.Errorf("redis broker: prefix %q: braces are not allowed", cfg.Prefix)
	}
	if cfg.NodeID == "" {
		cfg.NodeID = randomHex(4)
	}
	if !config.ValidNodeID(cfg.NodeID) { // the rule herald check-config applies
		return cfg, fmt.Errorf("redis broker: node id %q: want 1 to 64 letters, digits, '.', '_' or '-'", cfg.NodeID)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.LeaseTTL, defaultLeaseTTL)
	def(&cfg.Heartbeat, defaultHeartbeat)
	def(&cfg.ReapEvery, defaultReapEvery)
	def(&cfg.CommandTimeout, defaultCommandTimeout)
	def(&cfg.DialTimeout, defaultDialTimeout)
	def(&cfg.WriteTimeout, defaultWriteTimeout)
	def(&cfg.HookLease, defaultHookLease)
	if cfg.Heartbeat*2 > cfg.LeaseTTL {
		return cfg, fmt.Errorf("redis broker: heartbeat %s must be at most half the lease TTL %s", cfg.Heartbeat, cfg.LeaseTTL)
	}
	if cfg.PoolSize <= 0 {
		cfg.PoolSize = defaultPoolSize
	}
	if cfg.HookQueueMax <= 0 {
		cfg.HookQueueMax = defaultHookQueueMax
	}
	return cfg, nil
}

func clientOption(cfg Config) (rueidis.ClientOption, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return rueidis.ClientOption{}, fmt.Errorf("redis broker: URL: %w", redactErr(err))
	}
	switch u.Scheme {
	case "redis", "rediss", "unix":
	default:
		return rueidis.ClientOption{}, fmt.Errorf("redis broker: URL scheme %q: want redis, rediss or unix", u.Scheme)
	}
	for k := range u.Query() {
		if !slices.Contains(config.RedisURLParams, k) { // those rueidis.ParseURL reads; others are typos

			return rueidis.ClientOption{}, fmt.Errorf("redis broker: URL parameter %q is not supported", k)
		}
	}
	opt, err := rueidis.ParseURL(cfg.URL)
	if err != nil {
		return rueidis.ClientOption{}, fmt.Errorf("redis broker: URL: %w", redactErr(err))
	}
	q := u.Query()
	if !q.Has("dial_timeout") {
		opt.Dialer.Timeout = cfg.DialTimeout
	}
	if !q.Has("write_timeout") {
		opt.ConnWriteTimeout = cfg.WriteTimeout
	}
	if opt.ClientName == "" {
		opt.ClientName = "herald:" + cfg.NodeID
	}
	opt.Dialer.KeepAlive = time.Second
	opt.BlockingPoolSize = cfg.PoolSize
	opt.BlockingPoolCleanup = time.Minute
	opt.BlockingPoolMinSize = 1
	opt.PipelineMultiplex = pipelineMultiplex
	opt.ReadBufferEachConn = 256 << 10
	opt.WriteBufferEachConn = 256 << 10
	opt.DisableCache = true // no client-side caching: no CLIENT TRACKING
	opt.AlwaysRESP2 = false // pub/sub hooks need RESP3
	opt.ShuffleInit = true
	if opt.Sentinel.MasterSet != "" {
		opt.Sentinel.Dialer.Timeout = opt.Dialer.Timeout
		opt.Sentinel.Dialer.KeepAlive = opt.Dialer.KeepAlive
		opt.Sentinel.TLSConfig = opt.TLSConfig
		// Also poll the sentinels: a missed +switch-master would otherwise
		// keep the client on a demoted master.
		opt.Sentinel.TopologyRefreshInterval = 5 * time.Second
	}
	return opt, nil
}

// redactErr hides url.Parse errors: they quote the URL or a piece of it,
// and the piece can be the password ("redis://u:pa/ss@h" reads "u:pa" as
// host and port, and reports the port ":pa"). rueidis.ParseURL's own
// errors quote only the scheme, path or query.
func redactErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return errors.New("malformed (details hidden: they may quote the password)")
	}
	return err
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newLeaseID names a fresh registration of this node's share.
func (b *Broker) newLeaseID() string { return b.cfg.NodeID + "~" + randomHex(4) }

// NodeID names this node in the cluster.
func (b *Broker) NodeID() string { return b.cfg.NodeID }

// Ping connects if needed and checks that Redis answers; the server calls
// it at start to fail fast when Redis is unreachable.
func (b *Broker) Ping(ctx context.Context) error {
	c, err := b.client(ctx)
	if err != nil {
		return err
	}
	_, err = b.call(ctx, c, "ping", c.B().Ping().Build())
	return err
}

// Ready reports whether Redis answered the last heartbeat or command.
func (b *Broker) Ready() error {
	p := b.health.Load()
	if p == nil {
		return fmt.Errorf("redis: not connected yet: %w", broker.ErrUnavailable)
	}
	return *p
}

// Close stops the pub/sub connections and closes the Redis client. Call it
// after Run returned; calls made after Close fail.
func (b *Broker) Close() {
	b.stopOnce.Do(func() { close(b.stopRun) })
	b.closeOnce.Do(func() { close(b.closed) })
	b.wg.Wait()
	b.dialMu.Lock()
	c := b.cli.Swap(nil)
	b.dialErr, b.dialAt = errClosed, time.Now().Add(100*365*24*time.Hour)
	b.dialMu.Unlock()
	if c != nil {
		c.Close()
	}
}

var errClosed = errors.New("broker closed")

// client returns the Redis client, connecting on first use. rueidis
// reconnects by itself afterwards; until the first connection succeeds
// callers share one dial attempt every redialEvery.
func (b *Broker) client(ctx context.Context) (*client, error) {
	if c := b.cli.Load(); c != nil {
		return c, nil
	}
	b.dialMu.Lock()
	defer b.dialMu.Unlock()
	if c := b.cli.Load(); c != nil {
		return c, nil
	}
	if b.dialErr != nil && time.Since(b.dialAt) < redialEvery {
		return nil, b.unavailable("connect", b.dialErr)
	}
	if err := ctx.Err(); err != nil {
		return nil, b.unavailable("connect", err)
	}
	rc, err := rueidis.NewClient(b.opt)
	if err != nil {
		b.dialErr, b.dialAt = err, time.Now()
		b.m.CommandErrors.WithLabelValues("connect").Inc()
		b.markDown(err)
		return nil, b.unavailable("connect", err)
	}
	b.dialErr = nil
	c := &client{Client: rc, cluster: rc.Mode() == rueidis.ClientModeCluster}
	b.cli.Store(c)
	b.markUp()
	return c, nil
}

// timeout bounds one Redis call.
func (b *Broker) timeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, b.cfg.CommandTimeout)
}

// call runs one command bounded by CommandTimeout and classifies its
// error (see check).
func (b *Broker) call(ctx context.Context, c *client, op string, cmd rueidis.Completed) (rueidis.RedisMessage, error) {
	cctx, cancel := b.timeout(ctx)
	defer cancel()
	msg, err := c.Do(cctx, cmd).ToMessage()
	return msg, b.check(ctx, op, err)
}

// exec runs one script the same way; key (KEYS[1]) routes it.
func (b *Broker) exec(ctx context.Context, c *client, op string, s *rueidis.Lua, key string, args ...string) (rueidis.RedisMessage, error) {
	cctx, cancel := b.timeout(ctx)
	defer cancel()
	msg, err := s.Exec(cctx, c.Client, []string{key}, args).ToMessage()
	return msg, b.check(ctx, op, err)
}

// check classifies the error of a call made with (a child of) ctx: nil
// (or a nil reply) marks Redis up and returns nil. When ctx itself ended,
// the caller gave up: its error is returned as is. Otherwise the error is
// counted under op and:
//   - a failure only a bug explains (a script error, a reply of the wrong
//     shape) is logged and returned without broker.ErrUnavailable: Redis
//     answered, and retrying will not help;
//   - any other error wraps broker.ErrUnavailable, and when it is not a
//     Redis reply (a timeout, a broken connection: the call may or may not
//     have run) it also marks Redis down.
func (b *Broker) check(ctx context.Context, op string, err error) error {
	if err == nil || rueidis.IsRedisNil(err) {
		b.markUp()
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("redis %s: %w", op, ctx.Err())
	}
	b.m.CommandErrors.WithLabelValues(op).Inc()
	if isBug(err) {
		b.markUp()
		b.logBug(op, err)
		return fmt.Errorf("redis %s: %w", op, err)
	}
	if !isReply(err) {
		b.markDown(err)
	}
	return b.unavailable(op, err)
}

func (b *Broker) unavailable(op string, err error) error {
	return fmt.Errorf("redis %s: %w: %w", op, broker.ErrUnavailable, err)
}

// logBug logs what isBug found, at most once every bugLogEvery: a broken
// script fails every call.
func (b *Broker) logBug(op string, err error) {
	now := time.Now().UnixNano()
	last := b.bugLoggedAt.Load()
	if last != 0 && now-last < int64(bugLogEvery) || !b.bugLoggedAt.CompareAndSwap(last, now) {
		return
	}
	b.log.Error("redis call failed: Redis answered what the broker does not expect (a bug or a Redis too old, not an outage)",
		"op", op, "err", err)
}

// errReply marks a reply whose shape the caller does not expect.
var errReply = errors.New("unexpected reply")

// isReply tells a Redis error reply (the command ran and was refused)
// from a transport failure (it may or may not have run).
func isReply(err error) bool {
	_, ok := rueidis.IsRedisErr(err)
	return ok
}

// isBug tells the errors only a bug explains: a reply of the wrong shape,
// or an error reply with the generic ERR or WRONGTYPE code (a Lua error,
// wrong arguments, a key of the wrong type). The codes of operational
// refusals (LOADING, BUSY, READONLY, MASTERDOWN, CLUSTERDOWN, TRYAGAIN,
// OOM, NOAUTH, NOPERM...) mean Redis is not usable now: unavailable.
func isBug(err error) bool {
	var num *strconv.NumError
	if errors.Is(err, errReply) || rueidis.IsParseErr(err) || errors.As(err, &num) {
		return true
	}
	re, ok := rueidis.IsRedisErr(err)
	if !ok {
		return false
	}
	code, msg, _ := strings.Cut(re.Error(), " ")
	if code == "ERR" && strings.HasPrefix(msg, "max number of clients") {
		return false // a refusal under load, not a bug
	}
	return code == "ERR" || code == "WRONGTYPE"
}

func (b *Broker) markUp() {
	if p := b.health.Load(); p != nil && *p == nil {
		return
	}
	b.state.Lock()
	defer b.state.Unlock()
	if p := b.health.Load(); p != nil && *p == nil {
		return
	}
	var up error
	b.health.Store(&up)
	b.m.Up.Set(1)
	b.log.Info("redis reachable")
}

func (b *Broker) markDown(cause error) {
	if errors.Is(cause, errClosed) {
		return
	}
	b.state.Lock()
	defer b.state.Unlock()
	p := b.health.Load()
	wasUp := p != nil && *p == nil
	down := fmt.Errorf("redis unreachable: %w: %w", broker.ErrUnavailable, cause)
	b.health.Store(&down)
	b.m.Up.Set(0)
	if wasUp {
		b.m.Outages.Inc()
		b.log.Warn("redis unreachable", "err", cause)
	}
}
