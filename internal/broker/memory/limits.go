package memory

import (
	"context"
	"math"
	"time"

	"golang.org/x/time/rate"
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

// bucket is a key's token bucket; absent means full.
type bucket struct {
	lim *rate.Limiter
	at  time.Time // latest time seen: a clock going back adds nothing
}

// full says whether bk holds its whole burst at now, which a new bucket
// reproduces exactly.
func (bk *bucket) full(now time.Time) bool {
	return bk.lim.TokensAt(later(now, bk.at)) >= float64(bk.lim.Burst())
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// Allow takes a token from key's bucket (rate per second, burst tokens;
// burst <= 0: max(1, rate) rounded down; rate <= 0 or NaN: no limit).
// Refused, it says how long until a token is back.
func (b *Broker) Allow(_ context.Context, key string, r float64, burst int) (time.Duration, bool, error) {
	if err := b.check(); err != nil {
		return 0, false, err
	}
	if !(r > 0) { // NaN too
		return 0, true, nil
	}
	if burst <= 0 {
		// rate.Limiter holds whole tokens: a fractional rate's own burst
		// rounds down (Redis keeps the fraction).
		burst = int(min(max(1, r), math.MaxInt32))
	}
	st := b.st
	now := st.now()
	st.bucketMu.Lock()
	defer st.bucketMu.Unlock()
	bk := st.buckets[key]
	if bk == nil {
		bk = &bucket{lim: rate.NewLimiter(rate.Limit(r), burst), at: now}
		st.buckets[key] = bk
	}
	bk.at = later(now, bk.at)
	// A changed rate or burst applies from now on; the time before refills
	// at the old one.
	if bk.lim.Limit() != rate.Limit(r) {
		bk.lim.SetLimitAt(bk.at, rate.Limit(r))
	}
	if bk.lim.Burst() != burst {
		bk.lim.SetBurstAt(bk.at, burst)
	}
	if bk.lim.AllowN(bk.at, 1) {
		return 0, true, nil
	}
	// A float beyond int64 converts to an undefined Duration (negative on
	// amd64): a tiny rate must not say "retry at once".
	wait := math.Ceil((1 - bk.lim.TokensAt(bk.at)) / r * float64(time.Second))
	if wait >= math.MaxInt64 {
		return math.MaxInt64, false, nil
	}
	return max(time.Duration(wait), 1), false, nil
}
