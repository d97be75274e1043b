package loadgen

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

// Common are the options every scenario takes.
type Common struct {
	Target   Target
	Duration time.Duration
	// ServerPID, when > 0, is the server process whose /proc stats are
	// reported (CPU time, RSS).
	ServerPID int
	// Pollers is the number of nbio poller goroutines reading sockets.
	Pollers int
	// DialConcurrency bounds concurrent dials + handshakes.
	DialConcurrency int
	// Progress receives a progress line every ProgressEvery (nil = none).
	Progress      io.Writer
	ProgressEvery time.Duration
	// Logger receives warnings, such as an nbio engine that did not stop
	// (nil = discarded).
	Logger *slog.Logger
}

func (c *Common) defaults() {
	if c.Duration <= 0 {
		c.Duration = 10 * time.Second
	}
	if c.Pollers <= 0 {
		// Few pollers: each epoll_wait then returns many ready sockets, and
		// context switches (expensive on small VMs) stay rare. One poller
		// reads 2.6 million frames/s on the 2-core reference machine.
		c.Pollers = max(1, runtime.NumCPU()/4)
	}
	if c.DialConcurrency <= 0 {
		c.DialConcurrency = 64
	}
	if c.ProgressEvery <= 0 {
		c.ProgressEvery = 2 * time.Second
	}
}

// Env describes where a run happened.
type Env struct {
	Scenario  string    `json:"scenario"`
	Started   time.Time `json:"started"`
	Target    string    `json:"target"`
	TLS       string    `json:"tls,omitempty"` // how connections were secured ("" = plaintext)
	ServerPID int       `json:"server_pid,omitempty"`
	NumCPU    int       `json:"client_num_cpu"`
	GoVersion string    `json:"client_go_version"`
	FileLimit uint64    `json:"client_file_limit"`
}

func newEnv(name string, c Common) Env {
	soft, _, _ := RaiseFileLimit()
	target := c.Target.Addr()
	if len(c.Target.WSAddrs) > 0 {
		target += " (WebSocket: " + strings.Join(c.Target.WSAddrs, ", ") + ")"
	}
	var tlsDesc string
	if c.Target.TLS != nil {
		tlsDesc = c.Target.TLS.Describe()
		target += " over " + tlsDesc
	}
	return Env{Scenario: name, Started: time.Now().UTC(), Target: target, TLS: tlsDesc, ServerPID: c.ServerPID,
		NumCPU: runtime.NumCPU(), GoVersion: runtime.Version(), FileLimit: soft}
}

// CPUStats is a process's CPU use over an interval.
type CPUStats struct {
	CPUSeconds float64 `json:"cpu_seconds"`
	// CPUPercent is CPU time over wall time (100 = one core busy).
	CPUPercent float64 `json:"cpu_percent"`
	RSSBytes   uint64  `json:"rss_bytes"`
}

func cpuBetween(a, b ProcStat) CPUStats {
	s := CPUStats{CPUSeconds: (b.CPU - a.CPU).Seconds(), RSSBytes: b.RSS}
	if wall := b.At.Sub(a.At).Seconds(); wall > 0 {
		s.CPUPercent = 100 * s.CPUSeconds / wall
	}
	return s
}

// meter measures the server (if known) and this process over an interval.
type meter struct {
	srv, self    procWatch
	s0, c0       ProcStat
	haveS, haveC bool
}

func newMeter(serverPID int) *meter {
	m := &meter{srv: procWatch{serverPID}, self: procWatch{os.Getpid()}}
	m.reset()
	return m
}

func (m *meter) reset() {
	m.s0, m.haveS = m.srv.read()
	m.c0, m.haveC = m.self.read()
}

// stop returns server and client usage since reset (server nil if unknown).
func (m *meter) stop() (server *CPUStats, client CPUStats) {
	if s1, ok := m.srv.read(); ok && m.haveS {
		s := cpuBetween(m.s0, s1)
		server = &s
	}
	if c1, ok := m.self.read(); ok && m.haveC {
		client = cpuBetween(m.c0, c1)
	}
	return
}

// progress prints line() every interval until ctx ends.
func progress(ctx context.Context, w io.Writer, every time.Duration, line func(elapsed time.Duration) string) func() {
	if w == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for i := 0; i < 1_000_000; i++ {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				fmt.Fprintf(w, "[%6.1fs] %s\n", time.Since(start).Seconds(), line(time.Since(start)))
			}
		}
	}()
	return func() { cancel(); <-done }
}

// Result is what every scenario returns.
type Result interface {
	// Rows are the table lines: label, value.
	Rows() [][2]string
}

// WriteTable prints a result as an aligned two-column table.
func WriteTable(w io.Writer, title string, r Result) {
	fmt.Fprintf(w, "== %s ==\n", title)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, row := range r.Rows() {
		if row[0] == "" {
			fmt.Fprintln(tw, strings.Repeat("-", 20)+"\t")
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\n", row[0], row[1])
	}
	_ = tw.Flush()
}

// WriteJSON writes r as indented JSON.
func WriteJSON(w io.Writer, r any) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

func f0(v float64) string { return fmt.Sprintf("%.0f", v) }
func f1(v float64) string { return fmt.Sprintf("%.1f", v) }

func latRow(l Latency) string {
	return fmt.Sprintf("p50 %.2f  p90 %.2f  p99 %.2f  max %.2f ms (n=%d)", l.P50MS, l.P90MS, l.P99MS, l.MaxMS, l.Count)
}

func bytesStr(b float64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.2f GiB", b/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", b/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.2f KiB", b/(1<<10))
	}
	return fmt.Sprintf("%.0f B", b)
}

func cpuRow(s *CPUStats) string {
	if s == nil {
		return "n/a (no --server-pid)"
	}
	return fmt.Sprintf("%.2f s (%.0f%% of a core), RSS %s", s.CPUSeconds, s.CPUPercent, bytesStr(float64(s.RSSBytes)))
}

// usPer is the server CPU time per unit of work in µs (0 when unknown).
func usPer(s *CPUStats, n int64) float64 {
	if s == nil || n <= 0 {
		return 0
	}
	return s.CPUSeconds * 1e6 / float64(n)
}

// cpuRows are the server CPU row, its cost per unit (when the server is
// known) and the bench CPU row.
func cpuRows(server *CPUStats, unit string, us float64, client *CPUStats) [][2]string {
	rows := [][2]string{{"server CPU", cpuRow(server)}}
	if server != nil {
		rows = append(rows, [2]string{"server CPU per " + unit, fmt.Sprintf("%.1f µs", us)})
	}
	return append(rows, [2]string{"bench CPU", cpuRow(client)})
}

// withFirstError appends the "first error" row when there is one.
func withFirstError(rows [][2]string, e string) [][2]string {
	if e == "" {
		return rows
	}
	return append(rows, [2]string{"first error", e})
}

// waitFor polls cond every 20 ms until it holds, ctx ends or timeout passes.
func waitFor(ctx context.Context, timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for i := 0; i < 1_000_000; i++ {
		if cond() {
			return true
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return cond()
		}
		time.Sleep(20 * time.Millisecond)
	}
	return cond()
}

// checkFiles fails early when n connections cannot fit in the file limit.
func checkFiles(n int) error {
	soft, hard, _ := RaiseFileLimit()
	need := uint64(n + openFiles() + 64)
	if need > soft {
		return fmt.Errorf("%d connections need about %d open files but the limit is %d (hard %d): raise it with ulimit -n / LimitNOFILE (see docs/performance.md)", n, need, soft, hard)
	}
	return nil
}
