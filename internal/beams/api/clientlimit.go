package api

import (
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"
)

// Defaults of Config's limit on device and reporting writes.
const (
	DefaultDeviceRate       = 20
	DefaultDeviceBurst      = 40
	DefaultMaxDeviceClients = 100_000
)

const (
	// clientIdle: a sweep drops the addresses unseen this long (their
	// buckets are full again long before).
	clientIdle = time.Minute
	// clientSweepEvery: a full map is swept at most this often, so that
	// addresses arriving while nothing can be dropped do not each pay a
	// scan of the whole map.
	clientSweepEvery = time.Second
)

// clientLimiter is a token bucket per client address for the writes of
// the device and reporting APIs, which take no credential: without it any
// client could create devices and interests as fast as the store takes
// them. It is node-local. The number of addresses tracked is bounded: when
// the map is full and a sweep frees nothing, the addresses not in it share
// one bucket (the limit fails closed rather than growing or lapsing).
type clientLimiter struct {
	rate  float64 // tokens a second
	burst int
	max   int // most addresses tracked

	mu        sync.Mutex
	buckets   map[string]*bucket
	overflow  *bucket // the addresses that found the map full
	lastSweep time.Time
}

// newClientLimiter returns nil (no limit) for a negative rate or burst;
// zero values mean the defaults.
func newClientLimiter(rate, burst, maxClients int) *clientLimiter {
	if rate < 0 || burst < 0 {
		return nil
	}
	if rate == 0 {
		rate = DefaultDeviceRate
	}
	if burst == 0 {
		burst = DefaultDeviceBurst
	}
	if maxClients <= 0 {
		maxClients = DefaultMaxDeviceClients
	}
	return &clientLimiter{rate: float64(rate), burst: burst, max: maxClients, buckets: map[string]*bucket{},
		overflow: newBucket(float64(rate), burst, time.Time{})}
}

// allow takes a token from addr's bucket; without one it returns false
// and how long until the next.
func (l *clientLimiter) allow(addr string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[addr]
	if b == nil {
		if len(l.buckets) >= l.max && now.Sub(l.lastSweep) >= clientSweepEvery {
			l.sweepLocked(now)
		}
		if len(l.buckets) < l.max {
			b = newBucket(l.rate, l.burst, now)
			l.buckets[addr] = b
		} else {
			b = l.overflow
		}
	}
	return b.take(now)
}

func (l *clientLimiter) sweepLocked(now time.Time) {
	l.lastSweep = now
	for addr, b := range l.buckets {
		if now.Sub(b.last) >= clientIdle {
			delete(l.buckets, addr)
		}
	}
}

// clientAddr is the limiter's key for r: the host of RemoteAddr, the peer
// of the connection. Behind a reverse proxy that is the proxy, and all its
// clients share one limit: X-Forwarded-For and its kin are deliberately not
// trusted here, since any client can write them (a fresh value a request
// would escape the limit and fill the map). Such deployments raise
// DeviceRate or turn the limit off. An IPv6 address counts by its /64, the
// block one host or subscriber is usually given: else one host could take
// a fresh address, and a fresh bucket, for every request.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return a.String()
	}
	p, err := a.Prefix(64)
	if err != nil {
		return a.String()
	}
	return p.String()
}

// retryAfter is a Retry-After value (whole seconds, at least 1) for wait.
func retryAfter(wait time.Duration) string {
	s := int64((wait + time.Second - 1) / time.Second)
	return strconv.FormatInt(max(s, 1), 10)
}
