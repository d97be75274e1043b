package httpapi

import (
	"math"
	"sync"
	"time"

	"github.com/heraldhq/herald/internal/apps"
)

// rateLimiters holds one token bucket per app with an API rate limit.
type rateLimiters struct {
	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// allow takes a token from app's bucket; when there is none it reports how
// long until the next one.
func (l *rateLimiters) allow(app *apps.App, now time.Time) (time.Duration, bool) {
	rate := app.APIRateLimit
	if rate <= 0 {
		return 0, true
	}
	burst := float64(app.APIRateBurst)
	if burst <= 0 {
		burst = math.Max(1, rate)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buckets == nil {
		l.buckets = make(map[string]*bucket)
	}
	b := l.buckets[app.ID]
	if b == nil {
		b = &bucket{tokens: burst, at: now}
		l.buckets[app.ID] = b
	}
	b.tokens = math.Min(burst, b.tokens+now.Sub(b.at).Seconds()*rate)
	b.at = now
	if b.tokens < 1 {
		return time.Duration((1 - b.tokens) / rate * float64(time.Second)), false
	}
	b.tokens--
	return 0, true
}
