package api

import (
	"sync"
	"time"
)

// limiter is a token bucket per instance for the secret-key routes: rate
// tokens a second, a burst of rate. It is node-local (hosted Beams' limit is
// 100 requests a second per instance; several nodes each allow the rate).
type limiter struct {
	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// take refills b for the time since its last use (rate a second, at most
// burst) and takes one token; when there is none, it says how long until
// there is.
func (b *bucket) take(rate, burst float64, now time.Time) (bool, time.Duration) {
	if el := now.Sub(b.last); el > 0 {
		b.tokens = min(burst, b.tokens+el.Seconds()*rate)
		b.last = now
	}
	if b.tokens < 1 {
		return false, time.Duration((1 - b.tokens) / rate * float64(time.Second))
	}
	b.tokens--
	return true, 0
}

// maxBuckets bounds the map: only existing instances get a bucket, but
// instances can be removed; past this, full (idle) buckets are dropped.
const maxBuckets = 4096

func newLimiter() *limiter { return &limiter{buckets: map[string]*bucket{}} }

// allow takes a token from id's bucket. rate is read on every call, so a
// changed instance limit applies at once.
func (l *limiter) allow(id string, rate int, now time.Time) bool {
	if rate <= 0 {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[id]
	if b == nil {
		if len(l.buckets) >= maxBuckets {
			l.pruneLocked(now)
		}
		b = &bucket{tokens: float64(rate), last: now}
		l.buckets[id] = b
	}
	ok, _ := b.take(float64(rate), float64(rate), now)
	return ok
}

// pruneLocked drops the buckets idle long enough to be full again (a
// second at most refills any rate), which a new bucket reproduces exactly.
func (l *limiter) pruneLocked(now time.Time) {
	for id, b := range l.buckets {
		if now.Sub(b.last) >= time.Second {
			delete(l.buckets, id)
		}
	}
}
