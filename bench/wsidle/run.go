package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"time"
)

type result struct {
	Impl      string   `json:"impl"`
	Rep       int      `json:"rep"`
	N         int      `json:"n"`
	Base      memStats `json:"baseline"`
	AtN       memStats `json:"at_n"`
	HeapStack float64  `json:"heap_stack_per_conn"`
	RSS       float64  `json:"rss_per_conn"`
	Sys       float64  `json:"sys_per_conn"`
	GorPer    float64  `json:"goroutines_per_conn"`
	// Set by the herald mode.
	Heap    float64 `json:"heap_per_conn,omitempty"`
	Stack   float64 `json:"stack_per_conn,omitempty"`
	Method  string  `json:"method,omitempty"`
	Samples int     `json:"samples,omitempty"`
	Date    string  `json:"date,omitempty"`
}

func runMain(args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	implList := fs.String("impl", "all", "comma-separated transports or 'all': "+strings.Join(impls, ","))
	n := fs.Int("n", 19000, "total connections")
	clients := fs.Int("clients", 2, "client processes (each needs n/clients fds)")
	reps := fs.Int("reps", 3, "repetitions per transport")
	settle := fs.Duration("settle", 3*time.Second, "wait after all clients are ready before measuring")
	keepalive := fs.Duration("keepalive", 10*time.Minute, "server read deadline")
	jsonOut := fs.String("json", "", "append one JSON result per line to this file")
	window := fs.Duration("window", 10*time.Second, "herald: sampling window (every 500ms) after settle, for baseline and at N")
	heraldBin := fs.String("herald-bin", "", "herald: path of the herald binary (from the repository root: go build -o /tmp/herald ./cmd/herald)")
	_ = fs.Parse(args)
	if *n <= 0 || *clients <= 0 || *reps <= 0 || *reps > 20 || *window <= 0 || *window > 5*time.Minute {
		return errors.New("bad -n, -clients, -reps or -window")
	}
	list := impls
	if *implList != "all" {
		list = strings.Split(*implList, ",")
	}
	for _, impl := range list {
		if !slices.Contains(impls, impl) && impl != heraldImpl {
			return fmt.Errorf("unknown -impl %q", impl)
		}
	}
	if slices.Contains(list, heraldImpl) {
		if *heraldBin == "" {
			return errors.New("-impl=herald needs -herald-bin (from the repository root: go build -o /tmp/herald ./cmd/herald)")
		}
		if _, err := os.Stat(*heraldBin); err != nil {
			return fmt.Errorf("-herald-bin: %w", err)
		}
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	var all []result
	for _, impl := range list {
		for rep := 1; rep <= *reps; rep++ {
			var (
				r   result
				err error
			)
			if impl == heraldImpl {
				r, err = runHeraldOnce(exe, *heraldBin, rep, *n, *clients, *settle, *window)
				r.Date = time.Now().UTC().Format(time.RFC3339)
			} else {
				r, err = runOnce(exe, impl, rep, *n, *clients, *settle, *keepalive)
			}
			if err != nil {
				return fmt.Errorf("%s rep %d: %w", impl, rep, err)
			}
			fmt.Printf("RESULT impl=%s rep=%d n=%d heap+stack/conn=%.0f rss/conn=%.0f sys/conn=%.0f goroutines=%d->%d (%.2f/conn)\n",
				r.Impl, r.Rep, r.N, r.HeapStack, r.RSS, r.Sys, r.Base.Goroutines, r.AtN.Goroutines, r.GorPer)
			if r.Method != "" {
				fmt.Printf("  heap/conn=%.0f stack/conn=%.0f conns=%d subscriptions=%d channels=%d (api %d) method=%q\n",
					r.Heap, r.Stack, r.AtN.Conns, r.AtN.Subscribed, r.AtN.Channels, r.AtN.APIChannels, r.Method)
			}
			all = append(all, r)
			if *jsonOut != "" {
				if err := appendJSON(*jsonOut, r); err != nil {
					return err
				}
			}
			time.Sleep(2 * time.Second) // let sockets drain between runs
		}
	}
	printSummary(os.Stdout, list, all)
	return nil
}

func appendJSON(path string, r result) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	b, _ := json.Marshal(r)
	_, err = fmt.Fprintf(f, "%s\n", b)
	return err
}

// child is a started subprocess with line-oriented stdout.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
}

func startChild(exe string, args ...string) (*child, error) {
	cmd := exec.Command(exe, args...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	ch := &child{cmd: cmd, stdin: stdin, lines: make(chan string, 16)}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			ch.lines <- sc.Text()
		}
		close(ch.lines)
	}()
	return ch, nil
}

// expect waits (bounded) for the next stdout line starting with prefix.
func (c *child) expect(prefix string, timeout time.Duration) (string, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case l, ok := <-c.lines:
			if !ok {
				return "", fmt.Errorf("process exited while waiting for %q", prefix)
			}
			if strings.HasPrefix(l, prefix) {
				return strings.TrimSpace(strings.TrimPrefix(l, prefix)), nil
			}
		case <-t.C:
			return "", fmt.Errorf("timeout waiting for %q", prefix)
		}
	}
}

// stop closes stdin and waits up to 20s before killing the process.
func (c *child) stop() {
	_ = c.stdin.Close()
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
	}
}

func (c *child) stats() (memStats, error) {
	var s memStats
	if _, err := io.WriteString(c.stdin, "stats\n"); err != nil {
		return s, err
	}
	l, err := c.expect("STATS ", 60*time.Second)
	if err != nil {
		return s, err
	}
	return s, json.Unmarshal([]byte(l), &s)
}

// runOnce measures one simulated transport: a server subprocess of this
// binary that reports runtime.MemStats after a GC on "stats".
func runOnce(exe, impl string, rep, n, clients int, settle, keepalive time.Duration) (result, error) {
	r := result{Impl: impl, Rep: rep, N: n}
	srv, err := startChild(exe, "server", "-impl="+impl, "-addr=127.0.0.1:0", "-keepalive="+keepalive.String())
	if err != nil {
		return r, err
	}
	defer srv.stop()
	addr, err := srv.expect("LISTEN ", 15*time.Second)
	if err != nil {
		return r, err
	}
	time.Sleep(time.Second)
	if r.Base, err = srv.stats(); err != nil {
		return r, err
	}

	start := time.Now()
	cls, err := startClients(exe, addr, n, clients, nil)
	defer func() {
		for _, c := range cls {
			c.stop()
		}
	}()
	if err != nil {
		return r, err
	}
	fmt.Fprintf(os.Stderr, "%s rep %d: %d connections subscribed in %v\n", impl, rep, n, time.Since(start).Round(time.Millisecond))
	time.Sleep(settle)
	// Two measurements; keep the second (the first GC cycle may still free setup garbage).
	if _, err = srv.stats(); err != nil {
		return r, err
	}
	if r.AtN, err = srv.stats(); err != nil {
		return r, err
	}
	if r.AtN.Subscribed != int64(n) || r.AtN.Conns != n {
		return r, fmt.Errorf("server reports %d conns / %d subscribed, want %d", r.AtN.Conns, r.AtN.Subscribed, n)
	}
	r.compute()
	r.Heap, r.Stack = 0, 0 // keep the original record format for the simulated variants
	return r, nil
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func printSummary(w io.Writer, list []string, all []result) {
	fmt.Fprintln(w, "\n| transport | runs | heap+stack B/conn (median) | RSS B/conn (median) | Sys B/conn (median) | goroutines at N (median) | goroutines/conn |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	for _, impl := range list {
		var hs, rss, sys, gor, gpc []float64
		for _, r := range all {
			if r.Impl == impl {
				hs = append(hs, r.HeapStack)
				rss = append(rss, r.RSS)
				sys = append(sys, r.Sys)
				gor = append(gor, float64(r.AtN.Goroutines))
				gpc = append(gpc, r.GorPer)
			}
		}
		fmt.Fprintf(w, "| %s | %d | %.0f | %.0f | %.0f | %.0f | %.2f |\n", impl, len(hs), median(hs), median(rss), median(sys), median(gor), median(gpc))
	}
}
