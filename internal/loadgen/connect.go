package loadgen

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// ConnectOptions configure the connect scenario.
type ConnectOptions struct {
	Common
	// Concurrency is the number of connections being opened at once.
	Concurrency int
}

// ConnectResult is the outcome of Connect.
type ConnectResult struct {
	Env
	Concurrency int       `json:"concurrency"`
	Seconds     float64   `json:"seconds"`
	Established int64     `json:"established"`
	Failed      int64     `json:"failed"`
	PerSec      float64   `json:"connections_per_sec"`
	Latency     Latency   `json:"latency_to_connection_established"`
	ServerCPU   *CPUStats `json:"server_cpu,omitempty"`
	ServerUSPer float64   `json:"server_cpu_us_per_connection,omitempty"`
	ClientCPU   CPUStats  `json:"client_cpu"`
	FirstError  string    `json:"first_error,omitempty"`

	// With TLS every connection includes a handshake: PerSec is also the
	// TLS handshakes/s, full or resumed as counted here.
	TLSHandshakesPerSec float64 `json:"tls_handshakes_per_sec,omitempty"`
	TLSFull             int64   `json:"tls_full_handshakes,omitempty"`
	TLSResumed          int64   `json:"tls_resumed_handshakes,omitempty"`
	TLSNegotiated       string  `json:"tls_negotiated,omitempty"` // version and cipher suite
}

// Rows implements Result.
func (r *ConnectResult) Rows() [][2]string {
	rows := [][2]string{
		{"target", r.Target},
		{"concurrency", fmt.Sprint(r.Concurrency)},
		{"established / failed", fmt.Sprintf("%d / %d in %.1f s", r.Established, r.Failed, r.Seconds)},
		{"new connections/s", f0(r.PerSec)},
		{"dial -> connection_established", latRow(r.Latency)},
	}
	if r.TLS != "" {
		rows[3][0] = "new TLS connections/s (= handshakes/s)"
		rows[4][0] = "dial -> TLS -> connection_established"
		rows = append(rows, [2]string{"TLS handshakes full / resumed", fmt.Sprintf("%d / %d (%s)", r.TLSFull, r.TLSResumed, r.TLSNegotiated)})
	}
	rows = append(rows, cpuRows(r.ServerCPU, "connection", r.ServerUSPer, &r.ClientCPU)...)
	return withFirstError(rows, r.FirstError)
}

// Connect opens connections as fast as Concurrency workers can, each up to
// pusher:connection_established (through a TLS handshake with
// Target.TLS), then closes it.
func Connect(ctx context.Context, o ConnectOptions) (*ConnectResult, error) {
	o.defaults()
	if o.Concurrency <= 0 {
		o.Concurrency = 32
	}
	if err := checkFiles(o.Concurrency); err != nil {
		return nil, err
	}
	r := &ConnectResult{Env: newEnv("connect", o.Common), Concurrency: o.Concurrency}
	hist := &Hist{}
	var okN, badN, id atomic.Int64
	var firstErr atomic.Pointer[string]
	var tls0 TLSStats
	if o.Target.TLS != nil {
		tls0 = o.Target.TLS.Stats()
	}
	m := newMeter(o.ServerPID)
	start := time.Now()
	end := start.Add(o.Duration)
	var last int64
	stopP := progress(ctx, o.Progress, o.ProgressEvery, func(time.Duration) string {
		n := okN.Load()
		per := float64(n-last) / o.ProgressEvery.Seconds()
		last = n
		return fmt.Sprintf("connect: %d established (%s/s), %d failed, p99 %.2f ms", n, f0(per), badN.Load(), ms(hist.Quantile(0.99)))
	})
	var wg sync.WaitGroup
	for w := 0; w < o.Concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1<<30 && ctx.Err() == nil && time.Now().Before(end); i++ {
				c, _, took, err := o.Target.Handshake(ctx, id.Add(1))
				if err != nil {
					badN.Add(1)
					s := err.Error()
					firstErr.CompareAndSwap(nil, &s)
					if badN.Load() > 1000 {
						return
					}
					continue
				}
				hist.Record(took)
				okN.Add(1)
				_ = c.Close()
			}
		}()
	}
	wg.Wait()
	stopP()
	r.Seconds = time.Since(start).Seconds()
	r.ServerCPU, r.ClientCPU = m.stop()
	r.Established, r.Failed = okN.Load(), badN.Load()
	r.PerSec = float64(r.Established) / r.Seconds
	r.Latency = hist.Summary()
	r.ServerUSPer = usPer(r.ServerCPU, r.Established)
	if o.Target.TLS != nil {
		// Counted at the handshake: a connection refused later (at the
		// upgrade) still counts here, not in Established.
		s := o.Target.TLS.Stats()
		r.TLSFull, r.TLSResumed, r.TLSNegotiated = s.Full-tls0.Full, s.Resumed-tls0.Resumed, s.Negotiated
		r.TLSHandshakesPerSec = r.PerSec
	}
	if s := firstErr.Load(); s != nil {
		r.FirstError = *s
	}
	return r, endErr(ctx.Err(), r.allFailed)
}
