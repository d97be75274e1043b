package loadgen

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// Hist is a lock-free latency histogram with HDR-like log-linear buckets:
// 64 sub-buckets per power of two, so any reported value is within 1/64
// (1.6 %) of the true one. Memory is fixed (about 30 KiB) whatever the
// number of samples.
type Hist struct {
	counts [histBuckets]atomic.Uint64
	n      atomic.Uint64
	sum    atomic.Uint64
	max    atomic.Uint64
}

const histBuckets = 128 + 57*64 + 64

func histIndex(v uint64) int {
	if v < 128 {
		return int(v)
	}
	shift := bits.Len64(v) - 7
	return 128 + (shift-1)*64 + int(v>>uint(shift)) - 64
}

// histValue returns the midpoint of bucket idx.
func histValue(idx int) uint64 {
	if idx < 128 {
		return uint64(idx)
	}
	shift := uint((idx-128)/64 + 1)
	m := uint64((idx-128)%64 + 64)
	lo := m << shift
	return lo + (uint64(1)<<shift)/2
}

// Record adds one sample; negative durations count as zero.
func (h *Hist) Record(d time.Duration) {
	v := uint64(0)
	if d > 0 {
		v = uint64(d)
	}
	h.counts[histIndex(v)].Add(1)
	h.n.Add(1)
	h.sum.Add(v)
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			break
		}
	}
}

// Quantile returns the q-quantile (0 < q <= 1).
func (h *Hist) Quantile(q float64) time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(q*float64(n) + 0.999999)
	if rank < 1 {
		rank = 1
	}
	var c uint64
	for i := range h.counts {
		c += h.counts[i].Load()
		if c >= rank {
			v := histValue(i)
			if m := h.max.Load(); v > m {
				v = m
			}
			return time.Duration(v)
		}
	}
	return time.Duration(h.max.Load())
}

// Latency is the JSON summary of a histogram, in milliseconds.
type Latency struct {
	Count  uint64  `json:"count"`
	MeanMS float64 `json:"mean_ms"`
	P50MS  float64 `json:"p50_ms"`
	P90MS  float64 `json:"p90_ms"`
	P99MS  float64 `json:"p99_ms"`
	P999MS float64 `json:"p999_ms"`
	MaxMS  float64 `json:"max_ms"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Summary returns count, mean, p50/p90/p99/p99.9 and max.
func (h *Hist) Summary() Latency {
	n := h.n.Load()
	l := Latency{Count: n}
	if n == 0 {
		return l
	}
	l.MeanMS = ms(time.Duration(h.sum.Load() / n))
	l.P50MS = ms(h.Quantile(0.50))
	l.P90MS = ms(h.Quantile(0.90))
	l.P99MS = ms(h.Quantile(0.99))
	l.P999MS = ms(h.Quantile(0.999))
	l.MaxMS = ms(time.Duration(h.max.Load()))
	return l
}
