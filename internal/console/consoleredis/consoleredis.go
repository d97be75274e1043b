// Package consoleredis makes the debug console cluster-wide: a viewer on
// any node sees the app's events of every node, through the cluster's
// Redis.
//
// # How
//
// Every node runs a Bridge next to its console.Feed. Each poll period
// (default 1 s, and at once when this node's set of watched apps changes)
// the bridge runs one script, one round trip, that advertises the apps
// this node's viewers watch and reads those every node advertises:
//
//	P:console:watch   zset   N:A -> deadline (ms, Redis clock): node N has a viewer of app A;
//	                         refreshed every poll, dropped TTL (default 5 s) after N stops
//	                         (at once when its last viewer of A leaves)
//	P:{A}:console     topic  (sharded pub/sub) app A's events forwarded by the nodes:
//	                         JSON arrays of console.Event, each with its node
//
// P is the broker's prefix (redis.prefix), N a node id (no ':'), A an app
// id. The apps others watch go to Feed.SetRemote: Emit then hands their
// events to Forward, which queues them (bounded; a full queue drops and
// counts) for a goroutine that publishes them, in batches, on each app's
// topic. For each app this node watches, the bridge holds an SSUBSCRIBE to
// its topic (one dedicated connection per app, so it also works on Redis
// Cluster, where the topic lives on the app's slot) and gives what it
// receives from other nodes to Feed.Inject: this node's viewers only,
// never forwarded again. Its own events it skips: its viewers got them
// directly.
//
// # Limits
//
//   - A console opened on node X shows node Y's events after Y's next
//     poll: at most the poll period (plus a round trip) later. Events of
//     that gap are not shown (there is no history).
//   - When a viewer leaves, its node withdraws its advertisement at once;
//     a node that vanished is forgotten after TTL. Until the others' next
//     poll they still forward (to no listener).
//   - Every event of a remotely watched app is forwarded, whatever the
//     remote viewers' filters: the receiving node applies them.
//   - Bounded: Config.QueueLen events wait to be published (then dropped,
//     counted as queue_full), Config.MaxBatch events per message, a
//     received message over maxMessage bytes is dropped, one subscription
//     (and connection) per app watched on this node (at most
//     console.Config.MaxViewers).
//   - While Redis cannot be reached the console keeps working node-locally:
//     nothing blocks Emit (Forward only queues); failures are logged once
//     per streak and counted (metrics.ConsoleClusterMetrics); after TTL
//     without a successful poll the remote set is emptied, so emitting
//     costs one atomic load again; subscriptions are retried with backoff.
package consoleredis

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/rueidis"

	"github.com/heraldhq/herald/internal/console"
	"github.com/heraldhq/herald/internal/metrics"
)

// Defaults and fixed bounds.
const (
	DefaultPrefix         = "herald"
	DefaultPollEvery      = time.Second
	DefaultTTL            = 5 * time.Second
	DefaultQueueLen       = 1024
	DefaultMaxBatch       = 64
	DefaultCommandTimeout = 2 * time.Second

	// maxMessage bounds a received message: a batch of DefaultMaxBatch
	// events of a few hundred bytes each fits many times over.
	maxMessage = 1 << 20
	// maxBackoff bounds the wait between attempts to subscribe.
	maxBackoff = 2 * time.Second
)

// Config configures a Bridge. Zero values take the documented defaults.
type Config struct {
	// Prefix starts the keys, as the broker's (redis.prefix). Default
	// "herald".
	Prefix string
	// Node is this node's id (the broker's), unique among running nodes;
	// no ':'. Required.
	Node string
	// PollEvery is how often the bridge advertises this node's watched
	// apps and reads the others'; default 1 s. It is the delay before a
	// console opened on another node gets this node's events.
	PollEvery time.Duration
	// TTL is how long an advertisement lives without a refresh (a node
	// that vanished); default 5 s, at least 2 PollEvery.
	TTL time.Duration
	// QueueLen bounds the events waiting to be published; default 1024.
	QueueLen int
	// MaxBatch bounds the events of one published message; default 64.
	MaxBatch int
	// CommandTimeout bounds each Redis call; default 2 s.
	CommandTimeout time.Duration
}

// Deps are the bridge's collaborators.
type Deps struct {
	// Client is the cluster's Redis (a client of its own, made with the
	// broker's settings); the bridge uses it and does not close it.
	// Required.
	Client  rueidis.Client
	Logger  *slog.Logger                   // nil: discarded
	Metrics *metrics.ConsoleClusterMetrics // nil: not exported
}

// Feed is the node's console feed (*console.Feed).
type Feed interface {
	LocalApps() []string
	LocalChanges() <-chan struct{}
	SetRemote(watched map[string]bool)
	Inject(appID string, e console.Event)
}

var _ Feed = (*console.Feed)(nil)

// Bridge forwards this node's console events to the other nodes' viewers
// and theirs to this node's. Build it with New, give its Forward to the
// feed (console.Deps.Forward) and call Run with the feed.
type Bridge struct {
	cfg    Config
	c      rueidis.Client
	log    *slog.Logger
	m      *metrics.ConsoleClusterMetrics
	script *rueidis.Lua

	queue   chan queued
	failing [3]atomic.Bool // by op: a streak of failures is being logged
}

type queued struct {
	app string
	e   console.Event
}

// operations, indexes of Bridge.failing.
const (
	opPoll = iota
	opPublish
	opSubscribe
)

var opNames = [3]string{metrics.ConsolePoll, metrics.ConsolePublish, metrics.ConsoleSubscribe}

// New builds a bridge; it makes no call to Redis.
func New(cfg Config, deps Deps) (*Bridge, error) {
	if cfg.Node == "" || strings.Contains(cfg.Node, ":") {
		return nil, errors.New("consoleredis: Config.Node is required, without ':'")
	}
	if deps.Client == nil {
		return nil, errors.New("consoleredis: Deps.Client is required")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if cfg.PollEvery <= 0 {
		cfg.PollEvery = DefaultPollEvery
	}
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultTTL
	}
	cfg.TTL = max(cfg.TTL, 2*cfg.PollEvery, time.Millisecond)
	if cfg.QueueLen <= 0 {
		cfg.QueueLen = DefaultQueueLen
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = DefaultMaxBatch
	}
	if cfg.CommandTimeout <= 0 {
		cfg.CommandTimeout = DefaultCommandTimeout
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Metrics == nil {
		deps.Metrics = metrics.NewConsoleCluster(prometheus.NewRegistry())
	}
	return &Bridge{
		cfg: cfg, c: deps.Client, log: deps.Logger.With("component", "console.cluster", "node", cfg.Node),
		m: deps.Metrics, script: rueidis.NewLuaScript(pollScript),
		queue: make(chan queued, cfg.QueueLen),
	}, nil
}

// watchKey is the zset of advertisements: "P:console:watch".
func (b *Bridge) watchKey() string { return b.cfg.Prefix + ":console:watch" }

// topic is app's pub/sub channel: "P:{A}:console", in the app's hash tag
// like the broker's keys, so on Redis Cluster it lives on the app's slot.
func (b *Bridge) topic(app string) string { return b.cfg.Prefix + ":{" + app + "}:console" }

// Forward queues e, an event of app watched on another node, to be
// published; it never blocks: when the queue is full e is dropped,
// counted. It is console.Deps.Forward.
func (b *Bridge) Forward(appID string, e console.Event) {
	e.Node = b.cfg.Node
	select {
	case b.queue <- queued{app: appID, e: e}:
	default:
		b.m.Dropped.WithLabelValues(metrics.ConsoleQueueFull).Inc()
	}
}

// Run advertises and polls the watched apps, publishes the forwarded
// events and listens to the topics of the apps feed's viewers watch,
// until ctx ends; then it withdraws this node's advertisements and stops
// its listeners. It returns nil.
func (b *Bridge) Run(ctx context.Context, feed Feed) error {
	var wg sync.WaitGroup
	wg.Go(func() { b.publishLoop(ctx) })
	p := &poller{b: b, feed: feed, listeners: map[string]context.CancelFunc{}, advertised: map[string]bool{}}
	defer func() {
		for _, stop := range p.listeners {
			stop()
		}
		wg.Wait()
		p.withdraw()
		feed.SetRemote(nil)
	}()
	tick := time.NewTicker(b.cfg.PollEvery)
	defer tick.Stop()
	for {
		p.round(ctx, &wg)
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-feed.LocalChanges():
		}
	}
}

// report logs the first failure of op in a streak, and the recovery.
func (b *Bridge) report(ctx context.Context, op int, err error) {
	switch {
	case err != nil && ctx.Err() != nil: // shutting down
	case err != nil:
		b.m.Errors.WithLabelValues(opNames[op]).Inc()
		if b.failing[op].CompareAndSwap(false, true) {
			b.log.Warn("console cluster: Redis call failed; consoles show this node's events only until it works again (logged once)",
				"op", opNames[op], "err", err)
		}
	case b.failing[op].CompareAndSwap(true, false):
		b.log.Info("console cluster: Redis calls work again", "op", opNames[op])
	}
}

// encode is a batch as published: a JSON array of events.
func encode(events []console.Event) ([]byte, error) { return json.Marshal(events) }

// publishLoop publishes the queued events until ctx ends: each round
// takes what is queued (at most MaxBatch events per app, QueueLen in all)
// and publishes one message per app, in one round trip.
func (b *Bridge) publishLoop(ctx context.Context) {
	batches := map[string][]console.Event{}
	for {
		select {
		case <-ctx.Done():
			return
		case q := <-b.queue:
			batches[q.app] = append(batches[q.app], q.e)
		}
	drain:
		for range b.cfg.QueueLen - 1 {
			select {
			case q := <-b.queue:
				batches[q.app] = append(batches[q.app], q.e)
			default:
				break drain
			}
		}
		b.publish(ctx, batches)
		clear(batches)
	}
}

func (b *Bridge) publish(ctx context.Context, batches map[string][]console.Event) {
	cmds := make(rueidis.Commands, 0, len(batches))
	counts := make([]int, 0, len(batches))
	for app, events := range batches {
		for len(events) > 0 {
			n := min(len(events), b.cfg.MaxBatch)
			data, err := encode(events[:n])
			if err != nil { // cannot happen: every field marshals
				b.m.Dropped.WithLabelValues(metrics.ConsolePublishFailed).Add(float64(n))
			} else {
				cmds = append(cmds, b.c.B().Spublish().Channel(b.topic(app)).Message(rueidis.BinaryString(data)).Build())
				counts = append(counts, n)
			}
			events = events[n:]
		}
	}
	cctx, cancel := context.WithTimeout(ctx, b.cfg.CommandTimeout)
	defer cancel()
	var firstErr error
	for i, r := range b.c.DoMulti(cctx, cmds...) {
		if err := r.Error(); err != nil {
			firstErr = cmp.Or(firstErr, err)
			b.m.Dropped.WithLabelValues(metrics.ConsolePublishFailed).Add(float64(counts[i]))
			continue
		}
		b.m.Forwarded.Add(float64(counts[i]))
	}
	b.report(ctx, opPublish, firstErr)
}

// receive runs on a subscription's reader goroutine: it shows another
// node's events of app to this node's viewers.
func (b *Bridge) receive(feed Feed, app string, msg rueidis.PubSubMessage) {
	if len(msg.Message) > maxMessage {
		b.m.Dropped.WithLabelValues(metrics.ConsoleMalformed).Inc()
		return
	}
	// Decoded one event at a time, at most a few batches' worth: a message
	// of 1 MiB of "{}," must not become hundreds of thousands of events
	// in memory before it is found wrong.
	dec := json.NewDecoder(strings.NewReader(msg.Message))
	if t, err := dec.Token(); err != nil || t != json.Delim('[') {
		b.m.Dropped.WithLabelValues(metrics.ConsoleMalformed).Inc()
		return
	}
	limit := 4 * max(b.cfg.MaxBatch, DefaultMaxBatch) // senders may be configured otherwise
	for n := 0; dec.More(); n++ {
		var e console.Event
		if n == limit || dec.Decode(&e) != nil {
			b.m.Dropped.WithLabelValues(metrics.ConsoleMalformed).Inc()
			return
		}
		if e.Node == b.cfg.Node {
			continue // this node's own: its viewers had it directly
		}
		if e.Node == "" || e.Type.String() == "unknown" {
			b.m.Dropped.WithLabelValues(metrics.ConsoleMalformed).Inc()
			continue
		}
		b.m.Received.Inc()
		feed.Inject(app, e)
	}
}

// listen holds a subscription to app's topic until ctx ends: on a
// dedicated connection (on Redis Cluster bound to the topic's slot),
// subscribed again after a loss, with backoff.
func (b *Bridge) listen(ctx context.Context, feed Feed, app string) {
	topic := b.topic(app)
	var delay time.Duration
	for ctx.Err() == nil {
		dc, release := b.c.Dedicate()
		lost := dc.SetPubSubHooks(rueidis.PubSubHooks{
			OnMessage: func(m rueidis.PubSubMessage) { b.receive(feed, app, m) },
		})
		cctx, cancel := context.WithTimeout(ctx, b.cfg.CommandTimeout)
		err := dc.Do(cctx, dc.B().Ssubscribe().Channel(topic).Build()).Error()
		cancel()
		if err == nil {
			b.report(ctx, opSubscribe, nil)
			delay = 0
			select {
			case <-ctx.Done():
			case err = <-lost:
				if err == nil {
					err = errors.New("subscription ended")
				}
			}
		}
		release() // unsubscribes, or closes a broken connection
		if ctx.Err() != nil {
			return
		}
		b.report(ctx, opSubscribe, err)
		delay = min(max(2*delay, 50*time.Millisecond), maxBackoff)
		select {
		case <-ctx.Done():
		case <-time.After(delay):
		}
	}
}

// poller is Run's state.
type poller struct {
	b          *Bridge
	feed       Feed
	listeners  map[string]context.CancelFunc // by app watched here
	advertised map[string]bool               // apps the last successful poll advertised
	lastOK     time.Time                     // last successful poll (or the first attempt)
}

// round matches the listeners to the apps watched here, then advertises
// them and reads the others' in one script call.
func (p *poller) round(ctx context.Context, wg *sync.WaitGroup) {
	if p.lastOK.IsZero() {
		p.lastOK = time.Now() // the remote set is empty until the first success
	}
	local := p.feed.LocalApps()
	want := make(map[string]bool, len(local))
	for _, app := range local {
		want[app] = true
		if p.listeners[app] == nil {
			lctx, stop := context.WithCancel(ctx)
			p.listeners[app] = stop
			wg.Go(func() { p.b.listen(lctx, p.feed, app) })
		}
	}
	for app, stop := range p.listeners {
		if !want[app] {
			stop()
			delete(p.listeners, app)
		}
	}
	var withdraw []string
	for app := range p.advertised {
		if !want[app] {
			withdraw = append(withdraw, app)
		}
	}
	members, err := p.call(ctx, local, withdraw)
	p.b.report(ctx, opPoll, err)
	if err != nil {
		if ctx.Err() == nil && time.Since(p.lastOK) >= p.b.cfg.TTL {
			p.feed.SetRemote(nil) // stale: stop forwarding into a Redis that does not answer
			p.b.m.RemoteApps.Set(0)
		}
		return
	}
	p.lastOK = time.Now()
	p.advertised = want
	remote := map[string]bool{}
	for _, m := range members {
		node, app, ok := strings.Cut(m, ":")
		if ok && node != p.b.cfg.Node {
			remote[app] = true
		}
	}
	p.feed.SetRemote(remote)
	p.b.m.RemoteApps.Set(float64(len(remote)))
}

// withdraw removes this node's advertisements (at shutdown).
func (p *poller) withdraw() {
	if len(p.advertised) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.b.cfg.CommandTimeout)
	defer cancel()
	var apps []string
	for app := range p.advertised {
		apps = append(apps, app)
	}
	_, _ = p.call(ctx, nil, apps)
}

// pollScript advertises ARGV[4..3+n] for node ARGV[1] until now + ARGV[2]
// ms, withdraws the rest of ARGV, forgets expired advertisements and
// returns the live ones ("node:app"). Redis's clock: the nodes' may
// disagree. The key itself lives a minute (at least TTL) after the last
// advertisement.
const pollScript = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local node, ttl, n = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. now)
for i = 4, 3 + n do
  redis.call('ZADD', KEYS[1], now + ttl, node .. ':' .. ARGV[i])
end
for i = 4 + n, #ARGV do
  redis.call('ZREM', KEYS[1], node .. ':' .. ARGV[i])
end
if n > 0 then
  redis.call('PEXPIRE', KEYS[1], math.max(ttl, 60000))
end
return redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf')
`

func (p *poller) call(ctx context.Context, add, remove []string) ([]string, error) {
	args := make([]string, 0, 3+len(add)+len(remove))
	args = append(args, p.b.cfg.Node, strconv.FormatInt(p.b.cfg.TTL.Milliseconds(), 10), strconv.Itoa(len(add)))
	args = append(args, add...)
	args = append(args, remove...)
	cctx, cancel := context.WithTimeout(ctx, p.b.cfg.CommandTimeout)
	defer cancel()
	return p.b.script.Exec(cctx, p.b.c, []string{p.b.watchKey()}, args).AsStrSlice()
}
