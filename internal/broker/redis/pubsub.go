package redis

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/rueidis"

	"github.com/heraldhq/herald/internal/broker"
)

var errTopicKind = errors.New("unknown topic kind")

// Listen makes this node receive t's messages until the matching
// Unlisten. Every call waits until Redis confirmed the subscription (at
// most CommandTimeout), so a message published after it returns arrives.
func (b *Broker) Listen(ctx context.Context, t broker.Topic) error {
	if t.Kind < broker.ChannelTopic || t.Kind > broker.WatchTopic {
		return fmt.Errorf("redis listen: %w %d", errTopicKind, t.Kind)
	}
	c, err := b.client(ctx)
	if err != nil {
		return err
	}
	s := b.subConn(c, t.App)
	if s == nil {
		return b.unavailable("listen", errClosed)
	}
	ch := b.keys.topic(t)
	s.mu.Lock()
	l := s.topics[ch]
	if l == nil {
		l = &listened{topic: t}
		s.topics[ch] = l
	}
	l.refs++
	// The next round to start snapshots the wanted set after this
	// registration: when it ends, ch is subscribed or it failed.
	ok, round := s.subscribed[ch], s.round
	s.mu.Unlock()
	if ok {
		return nil
	}
	s.poke()

	fail := func(err error) error {
		s.mu.Lock()
		if l.refs--; l.refs == 0 && s.topics[ch] == l {
			delete(s.topics, ch)
		}
		s.mu.Unlock()
		s.poke()
		return err
	}
	timer := time.NewTimer(b.cfg.CommandTimeout)
	defer timer.Stop()
	for {
		select {
		case <-round:
			// Not subscribed after a round that included ch: it failed,
			// or the connection was lost since (whoever cleared the
			// subscription starts another round).
			s.mu.Lock()
			ok, err := s.subscribed[ch], s.roundErr
			round = s.round
			s.mu.Unlock()
			if ok {
				return nil
			}
			if err != nil {
				return fail(b.unavailable("listen", err))
			}
		case <-timer.C:
			return fail(b.unavailable("listen", context.DeadlineExceeded))
		case <-ctx.Done():
			return fail(fmt.Errorf("redis listen: %w", ctx.Err()))
		case <-b.closed:
			return fail(b.unavailable("listen", errClosed))
		}
	}
}

// Unlisten undoes one Listen; the last one unsubscribes (in the
// background: Unlisten never waits for Redis).
func (b *Broker) Unlisten(t broker.Topic) {
	c := b.cli.Load()
	if c == nil {
		return
	}
	b.subsMu.Lock()
	s := b.subs[partition(c, t.App)]
	b.subsMu.Unlock()
	if s == nil {
		return
	}
	ch := b.keys.topic(t)
	s.mu.Lock()
	l := s.topics[ch]
	if l == nil {
		s.mu.Unlock()
		return
	}
	l.refs--
	last := l.refs == 0
	if last {
		delete(s.topics, ch)
	}
	s.mu.Unlock()
	if last {
		s.poke()
	}
}

// partition names the pub/sub connection of app's topics: on Redis
// Cluster one per app (its topics share a slot, and a dedicated connection
// serves one slot), otherwise one for all.
func partition(c *client, app string) string {
	if c.cluster {
		return app
	}
	return ""
}

// subConn returns the pub/sub connection of app's partition, starting its
// worker on first use; nil after Close.
func (b *Broker) subConn(c *client, app string) *subConn {
	key := partition(c, app)
	b.subsMu.Lock()
	defer b.subsMu.Unlock()
	if s := b.subs[key]; s != nil {
		return s
	}
	select {
	case <-b.closed:
		return nil
	default:
	}
	s := &subConn{
		b:          b,
		topics:     map[string]*listened{},
		subscribed: map[string]bool{},
		round:      make(chan struct{}),
		wake:       make(chan struct{}, 1),
	}
	b.subs[key] = s
	b.wg.Add(1)
	go s.run(c)
	return s
}

// Publish sends m to every node listening to m.Topic: one SPUBLISH.
func (b *Broker) Publish(ctx context.Context, m broker.Message) error {
	if m.Topic.Kind < broker.ChannelTopic || m.Topic.Kind > broker.WatchTopic {
		return fmt.Errorf("redis publish: %w %d", errTopicKind, m.Topic.Kind)
	}
	c, err := b.client(ctx)
	if err != nil {
		return err
	}
	_, err = b.call(ctx, c, "publish", c.B().Spublish().Channel(b.keys.topic(m.Topic)).
		Message(rueidis.BinaryString(encodeMessage(m))).Build())
	return err
}

// PublishCached stores the cache channel's last event for ttl and
// publishes m, in one script. A ttl under a millisecond counts as one.
func (b *Broker) PublishCached(ctx context.Context, m broker.Message, event, data string, ttl time.Duration) error {
	if m.Topic.Kind != broker.ChannelTopic {
		return fmt.Errorf("redis publish cached: %w %d", errTopicKind, m.Topic.Kind)
	}
	c, err := b.client(ctx)
	if err != nil {
		return err
	}
	_, err = b.exec(ctx, c, "publish_cached", cacheScript, b.keys.cache(m.Topic.App, m.Topic.Name),
		encodeCache(event, data), msString(max(ttl, time.Millisecond)),
		b.keys.topic(m.Topic), rueidis.BinaryString(encodeMessage(m)))
	return err
}

// Cached returns a cache channel's last event if it has not expired.
func (b *Broker) Cached(ctx context.Context, app, channel string) (broker.CacheEntry, bool, error) {
	c, err := b.client(ctx)
	if err != nil {
		return broker.CacheEntry{}, false, err
	}
	cctx, cancel := b.timeout(ctx)
	defer cancel()
	key := b.keys.cache(app, channel)
	res := c.DoMulti(cctx, c.B().Get().Key(key).Build(), c.B().Pttl().Key(key).Build())
	val, err := res[0].ToString()
	if rueidis.IsRedisNil(err) {
		b.markUp()
		return broker.CacheEntry{}, false, nil
	}
	if err != nil {
		return broker.CacheEntry{}, false, b.check(ctx, "cached", err)
	}
	pttl, err := res[1].AsInt64()
	if err != nil {
		return broker.CacheEntry{}, false, b.check(ctx, "cached", err)
	}
	b.markUp()
	event, data, ok := decodeCache(val)
	if !ok || pttl == -2 { // malformed, or expired between GET and PTTL
		return broker.CacheEntry{}, false, nil
	}
	e := broker.CacheEntry{Event: event, Data: data}
	if pttl > 0 {
		e.TTL = time.Duration(pttl) * time.Millisecond
	}
	return e, true, nil
}
