package redis

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/rueidis"

	"github.com/heraldhq/herald/internal/broker"
)

// subConn is one dedicated pub/sub connection and the topics it should
// hold. Listen and Unlisten change the wanted set (topics) and poke the
// worker; the worker alone talks to Redis: it brings the subscriptions
// (subscribed) in line with the wanted set, in order, and after a lost
// connection dials again (with backoff) and subscribes everything anew.
// Messages are delivered by rueidis's reader goroutine of the connection,
// in the order Redis sent them.
type subConn struct {
	b *Broker

	mu         sync.Mutex
	topics     map[string]*listened // wanted, by pub/sub channel
	subscribed map[string]bool      // confirmed on the current connection
	round      chan struct{}        // closed when the next reconcile round ends
	roundErr   error                // the last round's error

	wake chan struct{} // buffered 1: something to reconcile
}

type listened struct {
	topic broker.Topic
	refs  int
}

const (
	subscribeBatch   = 512 // channels per SSUBSCRIBE / SUNSUBSCRIBE
	maxBackoff       = 2 * time.Second
	masterCheckEvery = 250 * time.Millisecond // Sentinel: how soon pub/sub follows a new master
)

// currentMaster is the address the client sends commands to (Sentinel:
// the master the sentinels name now).
func currentMaster(c *client) string {
	for addr := range c.Nodes() {
		return addr // one master; no reads are sent to replicas
	}
	return ""
}

func (s *subConn) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// run is the worker; it stops when the broker closes.
func (s *subConn) run(c *client) {
	defer s.b.wg.Done()
	var (
		dc     rueidis.DedicatedClient
		cancel func()
		lost   <-chan error
		retry  <-chan time.Time
		delay  time.Duration
		master string // Sentinel: the master the connection was made to
	)
	// Behind Sentinel, commands follow a new master as soon as the
	// sentinels name it, but a dedicated connection stays on the old one
	// until that is demoted and drops its clients (about 10 s with
	// Sentinel's default periods), and everything published meanwhile
	// goes to the new master: move as soon as the master changes.
	var follow <-chan time.Time
	if c.Mode() == rueidis.ClientModeSentinel {
		t := time.NewTicker(masterCheckEvery)
		defer t.Stop()
		follow = t.C
	}
	drop := func() {
		if cancel != nil {
			cancel()
		}
		dc, cancel, lost = nil, nil, nil
		s.mu.Lock()
		clear(s.subscribed)
		s.mu.Unlock()
	}
	defer drop()
	for {
		select {
		case <-s.b.closed:
			return
		case <-s.wake:
		case <-retry:
		case <-follow:
			if dc == nil || currentMaster(c) == master {
				continue
			}
			s.b.log.Info("redis master changed: pub/sub moves to it", "from", master, "to", currentMaster(c))
			drop()
		case err := <-lost:
			if err != nil && delay == 0 {
				s.b.log.Warn("pub/sub connection lost", "err", err) // once per outage, not per retry
			}
			drop()
			// A dedicated connection to an unreachable Redis is lost as soon
			// as it is made: wait before the next one instead of spinning.
			delay = min(max(2*delay, 50*time.Millisecond), maxBackoff)
			retry = time.After(delay)
			continue
		}
		retry = nil
		if dc == nil {
			if follow != nil {
				master = currentMaster(c)
			}
			dc, cancel = c.Dedicate()
			lost = dc.SetPubSubHooks(rueidis.PubSubHooks{OnMessage: s.onMessage, OnSubscription: s.onSubscription})
		}
		err := s.reconcile(dc)
		if err != nil {
			s.b.m.CommandErrors.WithLabelValues("subscribe").Inc()
			s.b.markDown(err)
			drop()
			delay = min(max(2*delay, 50*time.Millisecond), maxBackoff)
			retry = time.After(delay)
		} else if s.b.Ready() == nil {
			delay = 0
		}
	}
}

// reconcile is one round: unsubscribe what is no longer wanted, subscribe
// what is wanted and not held, then wake the Listen calls waiting.
func (s *subConn) reconcile(dc rueidis.DedicatedClient) (err error) {
	s.mu.Lock()
	done := s.round
	s.round = make(chan struct{})
	var sub, unsub []string
	for ch := range s.topics {
		if !s.subscribed[ch] {
			sub = append(sub, ch)
		}
	}
	for ch := range s.subscribed {
		if s.topics[ch] == nil {
			unsub = append(unsub, ch)
			delete(s.subscribed, ch) // a Listen from now on waits for the next round
		}
	}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.roundErr = err
		close(done)
		s.mu.Unlock()
	}()

	ctx, cancel := context.WithTimeout(context.Background(), s.b.cfg.CommandTimeout)
	defer cancel()
	for len(unsub) > 0 {
		n := min(len(unsub), subscribeBatch)
		if err := dc.Do(ctx, dc.B().Sunsubscribe().Channel(unsub[:n]...).Build()).Error(); err != nil {
			return err
		}
		s.b.markUp()
		unsub = unsub[n:]
	}
	for len(sub) > 0 {
		n := min(len(sub), subscribeBatch)
		if err := dc.Do(ctx, dc.B().Ssubscribe().Channel(sub[:n]...).Build()).Error(); err != nil {
			return err
		}
		s.b.markUp()
		s.mu.Lock()
		again := false
		for _, ch := range sub[:n] {
			s.subscribed[ch] = true
			if s.topics[ch] == nil {
				again = true // unlistened meanwhile: the next round unsubscribes
			}
		}
		s.mu.Unlock()
		if again {
			s.poke()
		}
		sub = sub[n:]
	}
	return nil
}

// onMessage runs on the connection's reader goroutine.
func (s *subConn) onMessage(m rueidis.PubSubMessage) {
	s.mu.Lock()
	l := s.topics[m.Channel]
	var t broker.Topic
	if l != nil {
		t = l.topic
	}
	s.mu.Unlock()
	if l == nil {
		s.b.m.Dropped.WithLabelValues("unlistened").Inc()
		return
	}
	msg, err := decodeMessage(t, m.Message)
	if err != nil {
		s.b.m.Dropped.WithLabelValues("malformed").Inc()
		if s.b.log.Enabled(context.Background(), slog.LevelDebug) {
			s.b.log.Debug("malformed pub/sub message dropped", "bytes", len(m.Message))
		}
		return
	}
	s.b.h.Deliver(msg)
}

// onSubscription notices a subscription Redis dropped on its own (slot
// migration on Redis Cluster): the next round subscribes it again.
func (s *subConn) onSubscription(p rueidis.PubSubSubscription) {
	if p.Kind != "sunsubscribe" {
		return
	}
	s.mu.Lock()
	held := s.subscribed[p.Channel]
	wanted := s.topics[p.Channel] != nil
	if held && wanted {
		delete(s.subscribed, p.Channel)
	}
	s.mu.Unlock()
	if held && wanted {
		s.poke()
	}
}
