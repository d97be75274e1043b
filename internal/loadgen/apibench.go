package loadgen

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// APIOptions configure the api scenario.
type APIOptions struct {
	Common
	Concurrency int
	Size        int
	// Channel receives the triggers (no subscribers by default, so the
	// figure is the API path alone).
	Channel string
}

// APIResult is the outcome of API.
type APIResult struct {
	Env
	Concurrency int           `json:"concurrency"`
	Size        int           `json:"size"`
	Seconds     float64       `json:"seconds"`
	Requests    int64         `json:"requests"`
	OK          int64         `json:"ok"`
	Errors      int64         `json:"errors"`
	ByStatus    map[int]int64 `json:"errors_by_status,omitempty"`
	PerSec      float64       `json:"ok_per_sec"`
	Latency     Latency       `json:"latency"`
	ServerCPU   *CPUStats     `json:"server_cpu,omitempty"`
	ServerUSPer float64       `json:"server_cpu_us_per_request,omitempty"`
	ClientCPU   CPUStats      `json:"client_cpu"`
	FirstError  string        `json:"first_error,omitempty"`
}

// Rows implements Result.
func (r *APIResult) Rows() [][2]string {
	rows := [][2]string{
		{"target", r.Target},
		{"concurrency / payload", fmt.Sprintf("%d / %d B", r.Concurrency, r.Size)},
		{"requests (ok/errors)", fmt.Sprintf("%d (%d/%d) in %.1f s", r.Requests, r.OK, r.Errors, r.Seconds)},
		{"signed triggers/s", f0(r.PerSec)},
		{"latency", latRow(r.Latency)},
	}
	rows = append(rows, cpuRows(r.ServerCPU, "request", r.ServerUSPer, &r.ClientCPU)...)
	return withFirstError(rows, r.FirstError)
}

// API sends signed trigger requests from Concurrency closed-loop workers.
func API(ctx context.Context, o APIOptions) (*APIResult, error) {
	o.defaults()
	if o.Concurrency <= 0 {
		o.Concurrency = 32
	}
	o.Size = max(o.Size, 48)
	if o.Channel == "" {
		o.Channel = "bench-api"
	}
	r := &APIResult{Env: newEnv("api", o.Common), Concurrency: o.Concurrency, Size: o.Size, ByStatus: map[int]int64{}}
	api := NewAPIClient(o.Target, o.Concurrency)
	defer api.Close()
	hist := &Hist{}
	var okN, errN atomic.Int64
	var mu sync.Mutex
	var firstErr string
	m := newMeter(o.ServerPID)
	start := time.Now()
	end := start.Add(o.Duration)
	var last int64
	stopP := progress(ctx, o.Progress, o.ProgressEvery, func(time.Duration) string {
		n := okN.Load()
		per := float64(n-last) / o.ProgressEvery.Seconds()
		last = n
		return fmt.Sprintf("api: %d ok (%s/s), %d errors, p99 %.2f ms", n, f0(per), errN.Load(), ms(hist.Quantile(0.99)))
	})
	var wg sync.WaitGroup
	for w := 0; w < o.Concurrency; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			chs := []string{o.Channel}
			for i := int64(0); i < 1<<40 && ctx.Err() == nil && time.Now().Before(end); i++ {
				t0 := time.Now()
				err := api.Trigger(ctx, chs, benchEvent, makePayload(w, i+1, t0.UnixNano(), o.Size))
				hist.Record(time.Since(t0))
				if err == nil {
					okN.Add(1)
					continue
				}
				errN.Add(1)
				mu.Lock()
				if firstErr == "" {
					firstErr = err.Error()
				}
				var ae *APIError
				if errors.As(err, &ae) {
					r.ByStatus[ae.Status]++
				} else {
					r.ByStatus[0]++
				}
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	stopP()
	r.Seconds = time.Since(start).Seconds()
	r.ServerCPU, r.ClientCPU = m.stop()
	r.OK, r.Errors = okN.Load(), errN.Load()
	r.Requests = r.OK + r.Errors
	r.PerSec = float64(r.OK) / r.Seconds
	r.Latency = hist.Summary()
	r.ServerUSPer = usPer(r.ServerCPU, r.Requests)
	r.FirstError = firstErr
	if len(r.ByStatus) == 0 {
		r.ByStatus = nil
	}
	return r, endErr(ctx.Err(), r.allFailed)
}
