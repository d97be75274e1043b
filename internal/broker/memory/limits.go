package memory

import (
	"context"
	"math"
	"time"
)

// appConns counts an app's connections, per node so a dead node's can be
// taken away.
type appConns struct {
	total  int
	byNode []int // by Broker.idx
}

// AddConnection counts a connection of app on this node unless the cluster
// holds max already (max <= 0: no limit).
func (b *Broker) AddConnection(_ context.Context, app string, max int) (bool, error) {
	if err := b.check(); err != nil {
		return false, err
	}
	st := b.st
	st.connMu.Lock()
	defer st.connMu.Unlock()
	c := st.conns[app]
	if c == nil {
		c = &appConns{}
		st.conns[app] = c
	}
	if max > 0 && c.total >= max {
		return false, nil
	}
	if len(c.byNode) <= b.idx {
		c.byNode = append(c.byNode, make([]int, b.idx+1-len(c.byNode))...)
	}
	c.total++
	c.byNode[b.idx]++
	return true, nil
}

// RemoveConnection uncounts one of this node's connections of app.
func (b *Broker) RemoveConnection(_ context.Context, app string) error {
	if err := b.check(); err != nil {
		return err
	}
	st := b.st
	st.connMu.Lock()
	defer st.connMu.Unlock()
	c := st.conns[app]
	if c == nil || len(c.byNode) <= b.idx || c.byNode[b.idx] == 0 {
		return nil
	}
	c.byNode[b.idx]--
	if c.total--; c.total == 0 {
		delete(st.conns, app)
	}
	return nil
}

// Connections counts app's connections on all nodes.
func (b *Broker) Connections(_ context.Context, app string) (int, error) {
	if err := b.check(); err != nil {
		return 0, err
	}
	b.st.connMu.Lock()
	defer b.st.connMu.Unlock()
	if c := b.st.conns[app]; c != nil {
		return c.total, nil
	}
	return 0, nil
}

// bucket is a token bucket; absent means full.
type bucket struct {
	tokens   float64
	at       time.Time // when tokens was computed
	rate     float64   // per second
	capacity float64
}

// refill is the bucket's content at now.
func (bk bucket) refill(now time.Time) float64 {
	if d := now.Sub(bk.at); d > 0 {
		return min(bk.capacity, bk.tokens+d.Seconds()*bk.rate)
	}
	return min(bk.capacity, bk.tokens)
}

// Allow takes a token from key's bucket (rate per second, burst tokens;
// burst <= 0: max(1, rate); rate <= 0 or NaN: no limit). Refused, it says
// how long until a token is back.
func (b *Broker) Allow(_ context.Context, key string, rate float64, burst int) (time.Duration, bool, error) {
	if err := b.check(); err != nil {
		return 0, false, err
	}
	if !(rate > 0) { // NaN too
		return 0, true, nil
	}
	capacity := float64(burst)
	if burst <= 0 {
		capacity = max(1, rate)
	}
	st := b.st
	now := st.now()
	st.bucketMu.Lock()
	defer st.bucketMu.Unlock()
	bk, ok := st.buckets[key]
	tokens := capacity
	if ok {
		tokens = bk.refill(now)
	}
	if !ok || now.After(bk.at) {
		bk.at = now
	}
	bk.rate, bk.capacity = rate, capacity
	if tokens >= 1 {
		bk.tokens = tokens - 1
		st.buckets[key] = bk
		return 0, true, nil
	}
	bk.tokens = tokens
	st.buckets[key] = bk
	// A float beyond int64 converts to an undefined Duration (negative on
	// amd64): a tiny rate must not say "retry at once".
	wait := math.Ceil((1 - tokens) / rate * float64(time.Second))
	if wait >= math.MaxInt64 {
		return math.MaxInt64, false, nil
	}
	return max(time.Duration(wait), 1), false, nil
}
