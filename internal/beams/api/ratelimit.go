package api

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiter is a token bucket per instance for the secret-key routes: rate
// tokens a second, a burst of rate. It is node-local (hosted Beams' limit is
// 100 requests a second per instance; several nodes each allow the rate).
type limiter struct {
	mu      sync.Mutex
	buckets map[string]*bucket
}

// bucket is a token bucket and when it was last used.
type bucket struct {
	lim  *rate.Limiter
	last time.Time // the latest time seen: a clock going back adds nothing
}

// newBucket returns a full bucket of burst tokens refilled at r a second.
func newBucket(r float64, burst int, now time.Time) *bucket {
	return &bucket{lim: rate.NewLimiter(rate.Limit(r), burst), last: now}
}

// take takes one token at now; when there is none, it says how long until
// there is.
func (b *bucket) take(now time.Time) (bool, time.Duration) {
	if now.After(b.last) {
		b.last = now
	}
	if b.lim.AllowN(b.last, 1) {
		return true, 0
	}
	return false, time.Duration((1 - b.lim.TokensAt(b.last)) / float64(b.lim.Limit()) * float64(time.Second))
}

// setRate makes r a second, and a burst of r, apply from now on.
func (b *bucket) setRate(r int, now time.Time) {
	if b.lim.Burst() != r {
		b.lim.SetLimitAt(later(now, b.last), rate.Limit(r))
		b.lim.SetBurstAt(later(now, b.last), r)
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
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
		b = newBucket(float64(rate), rate, now)
		l.buckets[id] = b
	}
	b.setRate(rate, now)
	ok, _ := b.take(now)
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
