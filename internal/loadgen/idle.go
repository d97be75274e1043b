package loadgen

import (
	"context"
	"fmt"
	"os"
	"time"
)

// IdleOptions configure the idle scenario.
type IdleOptions struct {
	Common
	Connections int
	// Channels spreads the subscriptions over this many public channels.
	Channels int
	// Settle is the pause after the last subscription before measuring.
	Settle time.Duration
}

// IdleResult is the outcome of Idle.
type IdleResult struct {
	Env
	Connections   int     `json:"connections"`
	Channels      int     `json:"channels"`
	Opened        int     `json:"opened"`
	Failed        int     `json:"failed"`
	Subscribed    int64   `json:"subscribed"`
	SetupSeconds  float64 `json:"setup_seconds"`
	ConnectPerSec float64 `json:"connect_per_sec"`
	HoldSeconds   float64 `json:"hold_seconds"`
	Disconnected  int64   `json:"disconnected"`
	ProtoErrors   int64   `json:"protocol_errors"`
	FirstError    string  `json:"first_error,omitempty"`

	ServerRSSBaseBytes    uint64    `json:"server_rss_base_bytes,omitempty"`
	ServerRSSAtNBytes     uint64    `json:"server_rss_at_n_bytes,omitempty"`
	ServerRSSPerConnBytes float64   `json:"server_rss_per_conn_bytes,omitempty"`
	ServerSetupCPU        *CPUStats `json:"server_setup_cpu,omitempty"`
	ServerSetupCPUPerConn float64   `json:"server_setup_cpu_us_per_conn,omitempty"`
	ServerHoldCPU         *CPUStats `json:"server_hold_cpu,omitempty"`
	ClientRSSPerConnBytes float64   `json:"client_rss_per_conn_bytes"`
	ClientHoldCPU         CPUStats  `json:"client_hold_cpu"`
}

// Rows implements Result.
func (r *IdleResult) Rows() [][2]string {
	rows := [][2]string{
		{"target", r.Target},
		{"connections (opened/failed)", fmt.Sprintf("%d (%d/%d)", r.Connections, r.Opened, r.Failed)},
		{"subscribed (channels)", fmt.Sprintf("%d (%d)", r.Subscribed, r.Channels)},
		{"setup", fmt.Sprintf("%.1f s (%.0f conn/s)", r.SetupSeconds, r.ConnectPerSec)},
		{"held", fmt.Sprintf("%.1f s, %d disconnected, %d protocol errors", r.HoldSeconds, r.Disconnected, r.ProtoErrors)},
	}
	if r.ServerPID > 0 {
		rows = append(rows,
			[2]string{"server RSS base -> at N", bytesStr(float64(r.ServerRSSBaseBytes)) + " -> " + bytesStr(float64(r.ServerRSSAtNBytes))},
			[2]string{"server RSS per connection", bytesStr(r.ServerRSSPerConnBytes)},
			[2]string{"server CPU during setup", cpuRow(r.ServerSetupCPU) + fmt.Sprintf(", %.1f µs/conn", r.ServerSetupCPUPerConn)},
			[2]string{"server CPU while idle", cpuRow(r.ServerHoldCPU)},
		)
	}
	rows = append(rows,
		[2]string{"bench RSS per connection", bytesStr(r.ClientRSSPerConnBytes)},
		[2]string{"bench CPU while idle", cpuRow(&r.ClientHoldCPU)},
	)
	return withFirstError(rows, r.FirstError)
}

// Idle opens N connections, subscribes each to one of Channels public
// channels, holds them for Duration and reports server memory and CPU.
func Idle(ctx context.Context, o IdleOptions) (*IdleResult, error) {
	o.defaults()
	if o.Connections <= 0 {
		return nil, fmt.Errorf("connections must be > 0")
	}
	if o.Channels <= 0 {
		o.Channels = max(1, min(1000, o.Connections))
	}
	if o.Settle <= 0 {
		o.Settle = 2 * time.Second
	}
	if err := checkFiles(o.Connections); err != nil {
		return nil, err
	}
	r := &IdleResult{Env: newEnv("idle", o.Common), Connections: o.Connections, Channels: o.Channels}
	srv := procWatch{o.ServerPID}
	self := procWatch{os.Getpid()}
	selfBase, _ := self.read()
	if b, ok := srv.read(); ok {
		r.ServerRSSBaseBytes = b.RSS
	}
	pool, err := NewPool(o.Target, nil, o.Pollers, o.Logger)
	if err != nil {
		return nil, err
	}
	defer pool.Close()

	m := newMeter(o.ServerPID)
	start := time.Now()
	stopP := progress(ctx, o.Progress, o.ProgressEvery, func(time.Duration) string {
		return fmt.Sprintf("idle: %d connected, %d subscribed", pool.Len(), pool.Subscribed.Load())
	})
	opened, failed, ferr := pool.OpenMany(ctx, o.Connections, o.DialConcurrency, o.Connections/100+10, nil, func(i int, c *Conn) {
		_ = c.Subscribe(fmt.Sprintf("bench-idle-%d", i%o.Channels), "")
	})
	r.Opened, r.Failed = opened, failed
	if ferr != nil {
		r.FirstError = ferr.Error()
	}
	waitFor(ctx, 30*time.Second, func() bool { return pool.answered(int64(opened)) })
	stopP()
	r.SetupSeconds = time.Since(start).Seconds()
	r.ConnectPerSec = float64(opened) / r.SetupSeconds
	r.ServerSetupCPU, _ = m.stop()
	r.ServerSetupCPUPerConn = usPer(r.ServerSetupCPU, int64(opened))
	r.Subscribed = pool.Subscribed.Load()
	if ctx.Err() != nil {
		return r, ctx.Err()
	}
	if opened < o.Connections || r.Subscribed < int64(opened) {
		r.FirstError = firstOf(r.FirstError, pool.FirstError())
		if err := r.allFailed(); err != nil {
			return r, err
		}
		return r, fmt.Errorf("%d of %d connections opened, %d subscribed: %s", opened, o.Connections, r.Subscribed, r.FirstError)
	}
	sleepCtx(ctx, o.Settle)

	m.reset()
	holdStart := time.Now()
	var minRSS uint64
	stopP = progress(ctx, o.Progress, o.ProgressEvery, func(time.Duration) string {
		s := fmt.Sprintf("idle: holding %d connections, %d disconnected", pool.Len()-int(pool.Disconnected.Load()), pool.Disconnected.Load())
		if st, ok := srv.read(); ok {
			s += fmt.Sprintf(", server RSS %s", bytesStr(float64(st.RSS)))
		}
		return s
	})
	// Sample the server RSS every 500 ms; the minimum over the hold is
	// the closest outside view of live memory after garbage collection.
	for i := 0; i < 100_000 && time.Since(holdStart) < o.Duration && ctx.Err() == nil; i++ {
		if st, ok := srv.read(); ok && (minRSS == 0 || st.RSS < minRSS) {
			minRSS = st.RSS
		}
		sleepCtx(ctx, min(500*time.Millisecond, o.Duration-time.Since(holdStart)))
	}
	stopP()
	r.HoldSeconds = time.Since(holdStart).Seconds()
	var cl CPUStats
	r.ServerHoldCPU, cl = m.stop()
	r.ClientHoldCPU = cl
	if minRSS > 0 {
		r.ServerRSSAtNBytes = minRSS
		if opened > 0 {
			r.ServerRSSPerConnBytes = (float64(minRSS) - float64(r.ServerRSSBaseBytes)) / float64(opened)
		}
	}
	if st, ok := self.read(); ok && opened > 0 {
		r.ClientRSSPerConnBytes = (float64(st.RSS) - float64(selfBase.RSS)) / float64(opened)
	}
	r.Disconnected = pool.Disconnected.Load()
	r.ProtoErrors = pool.ProtoErrors.Load()
	if r.FirstError == "" {
		r.FirstError = pool.FirstError()
	}
	return r, ctx.Err()
}

func sleepCtx(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func firstOf(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
