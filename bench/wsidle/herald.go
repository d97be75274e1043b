package main

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The "herald" mode measures the real server (a herald binary built from the
// repository root and given with -herald-bin), not a simulation, with clients
// speaking Pusher protocol 7. This module imports nothing of Herald: the
// config is written as text and REST requests are signed here.
const (
	heraldAppID     = "1"
	heraldAppKey    = "app-key"
	heraldAppSecret = "app-secret"
	// heraldWSPath is what pusher-js 8.6.0 requests.
	heraldWSPath = "/app/" + heraldAppKey + "?protocol=7&client=js&version=8.6.0&flash=false"
)

// heraldConfigYAML is the configuration of the herald mode: one app, no
// limits section (so every limit is at the server's documented default), and
// activity_timeout 600 s so that the server never pings an idle client
// during a run.
func heraldConfigYAML(port int, dataDir string) string {
	return fmt.Sprintf(`host: 127.0.0.1
port: %d
data_dir: %q
admin_listen: "off"
metrics:
  public_token: %q
activity_timeout: 600
log:
  level: warn
apps:
  - id: %q
    key: %q
    secret: %q
`, port, dataDir, metricsToken, heraldAppID, heraldAppKey, heraldAppSecret)
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// scrapeClient never keeps connections: each scrape is a fresh TCP
// connection, so scraping does not add server-side state between samples.
var scrapeClient = &http.Client{
	Timeout:   10 * time.Second,
	Transport: &http.Transport{DisableKeepAlives: true},
}

// promSample holds the /metrics values we use (summed over label sets).
type promSample struct {
	HeapInuse, StackInuse, Sys float64
	Goroutines                 float64
	Connections, Channels      float64
}

var promNames = []string{
	"go_memstats_heap_inuse_bytes", "go_memstats_stack_inuse_bytes", "go_memstats_sys_bytes",
	"go_goroutines", "herald_connections", "herald_channels",
}

// metricsToken opens /metrics on the public port (metrics.public_token), so
// the server is scraped at the address it serves.
const metricsToken = "wsidle-bench-metrics-token"

func scrapeMetrics(base string) (promSample, error) {
	var s promSample
	req, err := http.NewRequest(http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return s, err
	}
	req.Header.Set("Authorization", "Bearer "+metricsToken)
	resp, err := scrapeClient.Do(req)
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return s, fmt.Errorf("/metrics: %s", resp.Status)
	}
	vals := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name := line
		if i := strings.IndexAny(line, "{ "); i >= 0 {
			name = line[:i]
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			continue
		}
		vals[name] += v
	}
	if err := sc.Err(); err != nil {
		return s, err
	}
	for _, n := range promNames[:4] {
		if _, ok := vals[n]; !ok {
			return s, fmt.Errorf("/metrics: no %s", n)
		}
	}
	s.HeapInuse, s.StackInuse, s.Sys = vals["go_memstats_heap_inuse_bytes"], vals["go_memstats_stack_inuse_bytes"], vals["go_memstats_sys_bytes"]
	s.Goroutines, s.Connections, s.Channels = vals["go_goroutines"], vals["herald_connections"], vals["herald_channels"]
	return s, nil
}

// channelsViaAPI asks the signed REST API for the occupied channels and
// returns their number. It does not ask for subscription counts: the server
// gives them only to apps with enable_subscription_count, which would also
// push pusher_internal:subscription_count frames to the idle clients.
func channelsViaAPI(base string) (int, error) {
	path := "/apps/" + heraldAppID + "/channels"
	q := signRequest(heraldAppKey, heraldAppSecret, "GET", path, url.Values{}, time.Now())
	resp, err := scrapeClient.Get(base + path + "?" + q.Encode())
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != 200 {
		return 0, fmt.Errorf("channels API: %s: %.200s", resp.Status, b)
	}
	var out struct {
		Channels map[string]json.RawMessage `json:"channels"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return 0, err
	}
	return len(out.Channels), nil
}

// signRequest adds auth_key, auth_timestamp, auth_version and
// auth_signature to params (which it modifies) as the Pusher REST API
// expects: HMAC-SHA256 over "METHOD\npath\nquery", the query being the
// parameters sorted by key and joined unescaped. Enough for our GET without
// body and with lower-case, single-valued parameters.
func signRequest(key, secret, method, path string, params url.Values, now time.Time) url.Values {
	params.Set("auth_key", key)
	params.Set("auth_timestamp", strconv.FormatInt(now.Unix(), 10))
	params.Set("auth_version", "1.0")
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	pairs := make([]string, len(keys))
	for i, k := range keys {
		pairs[i] = k + "=" + params.Get(k)
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(method + "\n" + path + "\n" + strings.Join(pairs, "&")))
	params.Set("auth_signature", hex.EncodeToString(m.Sum(nil)))
	return params
}

// readRSSOf returns VmRSS of pid in bytes.
func readRSSOf(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb uint64
			if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%d kB", &kb); err != nil {
				return 0, err
			}
			return kb * 1024, nil
		}
	}
	return 0, errors.New("no VmRSS")
}

// outsideWindow samples /metrics and VmRSS every interval for window and
// returns the sample with the minimum heap_inuse+stack_inuse, with RSS and
// Sys replaced by their own minima over the window. The garbage collector
// cannot be forced from outside, so the minimum over a quiet window is the
// closest observable to "live memory after GC". wantConns >= 0 requires
// herald_connections == wantConns in every sample.
func outsideWindow(base string, pid int, window, interval time.Duration, wantConns int) (memStats, int, error) {
	var best memStats
	minHS, minRSS, minSys := math.Inf(1), uint64(math.MaxUint64), math.Inf(1)
	samples := 0
	deadline := time.Now().Add(window)
	for i := 0; i < 1000 && (samples == 0 || time.Now().Before(deadline)); i++ {
		s, err := scrapeMetrics(base)
		if err != nil {
			return best, samples, err
		}
		rss, err := readRSSOf(pid)
		if err != nil {
			return best, samples, err
		}
		if wantConns >= 0 && int(s.Connections) != wantConns {
			return best, samples, fmt.Errorf("herald_connections = %.0f, want %d", s.Connections, wantConns)
		}
		samples++
		if hs := s.HeapInuse + s.StackInuse; hs < minHS {
			minHS = hs
			best.HeapInuse, best.StackInuse = uint64(s.HeapInuse), uint64(s.StackInuse)
			best.Goroutines = int(s.Goroutines)
		}
		minRSS = min(minRSS, rss)
		minSys = min(minSys, s.Sys)
		best.Conns = int(s.Connections)
		best.Channels = int(s.Channels)
		time.Sleep(interval)
	}
	best.RSS, best.Sys = minRSS, uint64(minSys)
	return best, samples, nil
}

func waitReady(base string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for i := 0; i < 10000 && time.Now().Before(deadline); i++ {
		resp, err := scrapeClient.Get(base + "/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s/ready not 200 after %v", base, timeout)
}

// clientShare is the number of the n connections that client i of clients
// opens; the first n%clients clients take one more.
func clientShare(n, clients, i int) int {
	k := n / clients
	if i < n%clients {
		k++
	}
	return k
}

// startClients starts the client processes and waits (bounded) for READY,
// which must report every connection of the client's share as ok. With
// -pusher, ok means the client received subscription_succeeded for its
// channel on that connection.
func startClients(exe, addr string, n, clients int, extra []string) ([]*child, error) {
	var cls []*child
	for i := 0; i < clients; i++ {
		args := append([]string{"client", "-addr=" + addr, fmt.Sprintf("-n=%d", clientShare(n, clients, i)), fmt.Sprintf("-id=%d", i)}, extra...)
		c, err := startChild(exe, args...)
		if err != nil {
			return cls, err
		}
		cls = append(cls, c)
	}
	for i, c := range cls {
		l, err := c.expect("READY ", 5*time.Minute)
		if err != nil {
			return cls, fmt.Errorf("client %d: %w", i, err)
		}
		var ok, failed int
		if _, err := fmt.Sscanf(l, "%d %d", &ok, &failed); err != nil || failed != 0 || ok != clientShare(n, clients, i) {
			return cls, fmt.Errorf("client %d: READY %s", i, l)
		}
	}
	return cls, nil
}

var heraldClientArgs = []string{"-pusher", "-path=" + heraldWSPath}

// runHeraldOnce measures the real herald binary from outside the process.
func runHeraldOnce(exe, bin string, rep, n, clients int, settle, window time.Duration) (r result, err error) {
	r = result{Impl: "herald", Rep: rep, N: n, Method: fmt.Sprintf("outside: min over %v of /metrics + VmRSS sampled every 500ms", window)}
	dir, err := os.MkdirTemp("", "wsidle-herald-")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(dir)
	port, err := freePort()
	if err != nil {
		return r, err
	}
	cfgPath := filepath.Join(dir, "herald.yaml")
	if err := os.WriteFile(cfgPath, []byte(heraldConfigYAML(port, filepath.Join(dir, "data"))), 0o600); err != nil {
		return r, err
	}
	logf, err := os.Create(filepath.Join(dir, "herald.log"))
	if err != nil {
		return r, err
	}
	defer logf.Close()
	cmd := exec.Command(bin, "serve", "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return r, err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if tail, _ := os.ReadFile(logf.Name()); err != nil && len(tail) > 0 {
			if len(tail) > 2000 {
				tail = tail[len(tail)-2000:]
			}
			fmt.Fprintf(os.Stderr, "herald log (tail):\n%s\n", tail)
		}
	}()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	base := "http://" + addr
	if err := waitReady(base, 15*time.Second); err != nil {
		return r, err
	}
	pid := cmd.Process.Pid
	time.Sleep(time.Second)
	if r.Base, _, err = outsideWindow(base, pid, window, 500*time.Millisecond, 0); err != nil {
		return r, fmt.Errorf("baseline: %w", err)
	}

	start := time.Now()
	cls, err := startClients(exe, addr, n, clients, heraldClientArgs)
	defer func() {
		for _, c := range cls {
			c.stop()
		}
	}()
	if err != nil {
		return r, err
	}
	fmt.Fprintf(os.Stderr, "herald rep %d: %d connections subscribed in %v\n", rep, n, time.Since(start).Round(time.Millisecond))
	time.Sleep(settle)
	var samples int
	if r.AtN, samples, err = outsideWindow(base, pid, window, 500*time.Millisecond, n); err != nil {
		return r, fmt.Errorf("at N: %w", err)
	}
	r.Samples = samples
	chans, err := channelsViaAPI(base)
	if err != nil {
		return r, err
	}
	r.AtN.Subscribed = int64(n) // confirmed by the clients (startClients)
	r.AtN.APIChannels = chans
	if err := checkHerald(r, n, clients); err != nil {
		return r, err
	}
	r.compute()
	return r, nil
}

// checkHerald verifies connections and channels at N (subscriptions are
// confirmed by the clients).
func checkHerald(r result, n, clients int) error {
	wantCh := 0 // client i uses channels room-i-0 .. room-i-min(n_i,1000)-1
	for i := 0; i < clients; i++ {
		wantCh += min(clientShare(n, clients, i), 1000)
	}
	if r.AtN.Conns != n || r.AtN.APIChannels != wantCh || r.AtN.Channels != wantCh {
		return fmt.Errorf("server reports herald_connections=%d, API channels=%d, herald_channels=%d; want %d/%d/%d",
			r.AtN.Conns, r.AtN.APIChannels, r.AtN.Channels, n, wantCh, wantCh)
	}
	return nil
}

func (r *result) compute() {
	fn := float64(r.N)
	r.HeapStack = (float64(r.AtN.HeapInuse+r.AtN.StackInuse) - float64(r.Base.HeapInuse+r.Base.StackInuse)) / fn
	r.Heap = (float64(r.AtN.HeapInuse) - float64(r.Base.HeapInuse)) / fn
	r.Stack = (float64(r.AtN.StackInuse) - float64(r.Base.StackInuse)) / fn
	r.RSS = (float64(r.AtN.RSS) - float64(r.Base.RSS)) / fn
	r.Sys = (float64(r.AtN.Sys) - float64(r.Base.Sys)) / fn
	r.GorPer = float64(r.AtN.Goroutines-r.Base.Goroutines) / fn
}
