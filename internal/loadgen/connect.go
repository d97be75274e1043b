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
	rows = append(rows, cpuRows(r.ServerCPU, "connection", r.ServerUSPer, &r.ClientCPU)...)
	return withFirstError(rows, r.FirstError)
}

// Connect opens connections as fast as Concurrency workers can, each up to
// pusher:connection_established, then closes it.
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
	if s := firstErr.Load(); s != nil {
		r.FirstError = *s
	}
	return r, endErr(ctx.Err(), r.allFailed)
}
