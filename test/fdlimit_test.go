package test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/server"
	"github.com/heraldhq/herald/internal/testlog"
)

// The open-files limit applies to a whole process, so these tests run
// Herald in a child: the test binary itself, started with
// HERALD_TEST_CHILD=serve, lowers its RLIMIT_NOFILE and serves until
// SIGTERM or until its stdin closes (the parent went away).

func TestMain(m *testing.M) {
	if os.Getenv("HERALD_TEST_CHILD") == "serve" {
		os.Exit(serveChild())
	}
	os.Exit(m.Run())
}

// ballast is package-level so that the collector sees it as live.
var ballast []byte

func serveChild() int {
	if n, _ := strconv.ParseUint(os.Getenv("HERALD_TEST_NOFILE"), 10, 64); n > 0 {
		rl := syscall.Rlimit{Cur: n, Max: n}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			fmt.Fprintln(os.Stderr, "setrlimit:", err)
			return 1
		}
	}
	cfg := config.Config{Host: "127.0.0.1", AdminListen: "127.0.0.1:0", DataDir: os.Getenv("HERALD_TEST_DATADIR"),
		Apps: []config.App{{ID: appID, Key: appKey, Secret: appSecret}}}
	if mb, _ := strconv.Atoi(os.Getenv("HERALD_TEST_MEMORY_MB")); mb > 0 {
		cfg.Limits.MaxMemoryMB = mb
	}
	cfg.ApplyDefaults()
	cfg.Port = 0
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	// SIGUSR1 makes the process hold HERALD_TEST_BALLAST_MB of memory,
	// SIGUSR2 lets go of it: memory pressure on demand.
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGUSR1, syscall.SIGUSR2)
		for s := range sig {
			if s == syscall.SIGUSR1 {
				mb, _ := strconv.Atoi(os.Getenv("HERALD_TEST_BALLAST_MB"))
				ballast = make([]byte, mb<<20)
				for i := 0; i < len(ballast); i += 4096 {
					ballast[i] = 1 // touch every page
				}
			} else {
				ballast = nil
				runtime.GC()
			}
			fmt.Fprintf(os.Stderr, "ballast: %d MiB\n", len(ballast)>>20)
		}
	}()
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); stop() }()
	var admin string
	err := server.Run(ctx, cfg, server.Options{Version: "test", Stdout: os.Stdout, Stderr: os.Stderr,
		OnAdminListen: func(a net.Addr) { admin = a.String() },
		OnListen:      func(a net.Addr) { fmt.Printf("@@LISTEN %s %s\n", a, admin) }})
	if err != nil {
		fmt.Fprintln(os.Stderr, "server.Run:", err)
		return 1
	}
	return 0
}

// childServer is Herald running in a child process.
type childServer struct {
	*testServer
	banner string
	logs   *testlog.Buffer
	proc   *os.Process
}

// startChild starts the test binary as a Herald server with env (on top of
// the test's environment) and waits until it listens.
func startChild(t *testing.T, env ...string) *childServer {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(childEnv(), append([]string{"HERALD_TEST_CHILD=serve", "HERALD_TEST_DATADIR=" + t.TempDir()}, env...)...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logs := &testlog.Buffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = stdin.Close()
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("child server log (tail):\n%s", logs.Tail(8<<10))
		}
	})
	type addrs struct{ public, admin, banner string }
	found := make(chan addrs, 1)
	go func() {
		var banner strings.Builder
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			if rest, ok := strings.CutPrefix(line, "@@LISTEN "); ok {
				pub, adm, _ := strings.Cut(rest, " ")
				found <- addrs{pub, adm, banner.String()}
				break
			}
			banner.WriteString(line + "\n")
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case a := <-found:
		s := &testServer{t: t, addr: a.public, admin: a.admin, http: &http.Client{Timeout: readTimeout}, logs: logs}
		return &childServer{testServer: s, banner: a.banner, logs: logs, proc: cmd.Process}
	case <-exited:
		t.Fatalf("child server exited before listening:\n%s", logs.Tail(8<<10))
	case <-time.After(20 * time.Second):
		t.Fatalf("child server did not listen within 20s:\n%s", logs.Tail(8<<10))
	}
	return nil
}

// tryConnect dials like pusher-js and returns the connection when it is
// established, or the close code it was refused with, and how long that took.
func tryConnect(s *testServer) (*websocket.Conn, int, time.Duration, error) {
	start := time.Now()
	d := websocket.Dialer{HandshakeTimeout: readTimeout}
	conn, resp, err := d.Dial("ws://"+s.addr+pusherPath(appKey), nil)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		return nil, status, time.Since(start), err
	}
	_ = conn.SetReadDeadline(time.Now().Add(readTimeout))
	var pusherCode int
	for {
		_, b, err := conn.ReadMessage()
		if err != nil {
			conn.Close()
			if ce, ok := err.(*websocket.CloseError); ok {
				if pusherCode != ce.Code {
					return nil, ce.Code, time.Since(start), fmt.Errorf("pusher:error %d before close %d", pusherCode, ce.Code)
				}
				return nil, ce.Code, time.Since(start), nil
			}
			return nil, 0, time.Since(start), err
		}
		var f struct {
			Event string
			Data  json.RawMessage // an object in pusher:error
		}
		_ = json.Unmarshal(b, &f)
		switch f.Event {
		case "pusher:connection_established":
			_ = conn.SetReadDeadline(time.Time{})
			return conn, 0, time.Since(start), nil
		case "pusher:error":
			var e struct{ Code int }
			_ = json.Unmarshal(f.Data, &e)
			pusherCode = e.Code
		}
	}
}

// TestOpenFilesLimit: with 256 open files allowed, Herald derives its
// connection bound from the limit (and says so in its banner), holds that
// many connections, refuses the next ones cleanly with 4100 in
// milliseconds, keeps answering the HTTP API and the admin listener while
// it refuses, counts and logs the refusals, and admits again once
// connections close.
func TestOpenFilesLimit(t *testing.T) {
	t.Parallel()
	const limit = 256
	s := startChild(t, "HERALD_TEST_NOFILE="+strconv.Itoa(limit))
	m := regexp.MustCompile(`up to (\d+) WebSocket connections \(open-files limit (\d+); (\d+) kept`).FindStringSubmatch(s.banner)
	if m == nil {
		t.Fatalf("banner does not state the connection bound:\n%s", s.banner)
	}
	maxConns, _ := strconv.Atoi(m[1])
	if m[2] != strconv.Itoa(limit) || maxConns <= 0 || maxConns >= limit-64 {
		t.Fatalf("banner: %q; want a bound under %d derived from the limit %d", m[0], limit-64, limit)
	}

	var held []*websocket.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for len(held) < maxConns {
		c, code, _, err := tryConnect(s.testServer)
		if err != nil || c == nil {
			t.Fatalf("connection %d of %d: refused with %d: %v", len(held)+1, maxConns, code, err)
		}
		held = append(held, c)
	}

	// Over the bound: refused with pusher:error 4100 and close 4100, fast,
	// while the API and the admin listener answer.
	var worstRefusal, worstAPI time.Duration
	const refusals = 30
	for i := range refusals {
		c, code, took, err := tryConnect(s.testServer)
		if c != nil {
			c.Close()
			t.Fatalf("refusal %d: connection %d was admitted over the bound %d", i, len(held)+1, maxConns)
		}
		if code != 4100 || err != nil {
			t.Fatalf("refusal %d: code %d, %v; want pusher:error and close 4100", i, code, err)
		}
		worstRefusal = max(worstRefusal, took)
		start := time.Now()
		if r := s.get("/apps/1/channels", nil); r.status != http.StatusOK {
			t.Fatalf("API while refusing: %v", r)
		}
		worstAPI = max(worstAPI, time.Since(start))
	}
	if v := s.metricValue(`herald_admission_refused_total{kind="connection",reason="max_connections"}`); v != refusals {
		t.Errorf("herald_admission_refused_total = %v, want %d", v, refusals)
	}
	if v := s.metricValue(`herald_max_connections`); v != float64(maxConns) {
		t.Errorf("herald_max_connections = %v, want %d", v, maxConns)
	}
	if !strings.Contains(s.logs.String(), "Over capacity") {
		t.Errorf("no log line says why connections are refused")
	}
	logLines := strings.Count(s.logs.String(), "connection refused")
	if logLines > 10 {
		t.Errorf("%d log lines for %d refusals: want them rate-limited", logLines, refusals)
	}
	t.Logf("open-files limit %d: %d connections held; %d refused with 4100, slowest refusal %v; slowest API call while refusing %v; %d log lines",
		limit, maxConns, refusals, worstRefusal.Round(time.Microsecond), worstAPI.Round(time.Microsecond), logLines)

	// Connections close: new ones are admitted again.
	for _, c := range held[:10] {
		c.Close()
	}
	held = held[10:]
	eventually(t, readTimeout, "a connection to be admitted after others closed", func() bool {
		c, _, _, _ := tryConnect(s.testServer)
		if c != nil {
			held = append(held, c)
			return true
		}
		return false
	})
}

// TestOutOfFileDescriptors: when accept itself fails for lack of
// descriptors (here: idle connections to the admin listener, which has no
// bound of its own, take the last ones), the listener sheds waiting
// connections with a 503 instead of leaving them hanging, backs off instead
// of spinning, logs and counts it, and accepts again once descriptors free.
func TestOutOfFileDescriptors(t *testing.T) {
	t.Parallel()
	s := startChild(t, "HERALD_TEST_NOFILE=128")
	var idle []net.Conn
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	shedAt := -1
	var shedTook time.Duration
	for i := 0; i < 200 && shedAt < 0; i++ {
		c, err := net.DialTimeout("tcp", s.admin, readTimeout)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, _ = c.Write([]byte("GET /ready HTTP/1.1\r\nHost: x\r\n\r\n"))
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			c.Close()
			t.Fatalf("connection %d: no answer within 5s (%v): the listener went silent", i, err)
		}
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK:
			idle = append(idle, c) // keep-alive: holds a descriptor
		case http.StatusServiceUnavailable:
			shedAt, shedTook = i, time.Since(start)
			c.Close()
		default:
			t.Fatalf("connection %d: %s", i, resp.Status)
		}
	}
	if shedAt < 0 {
		t.Fatal("200 idle connections did not exhaust 128 descriptors")
	}
	// While out of descriptors the guard retries with a growing wait:
	// errors stay few (a busy loop would count thousands).
	time.Sleep(time.Second)
	for _, c := range idle {
		c.Close()
	}
	idle = nil
	eventually(t, 5*time.Second, "the admin listener to answer again", func() bool {
		r, err := s.http.Get("http://" + s.admin + "/ready")
		if err != nil {
			return false
		}
		r.Body.Close()
		return r.StatusCode == http.StatusOK
	})
	errs := s.metricValue(`herald_accept_errors_total{listener="admin"}`)
	if errs < 1 || errs > 30 {
		t.Errorf(`herald_accept_errors_total{listener="admin"} = %v: want a few (backing off), not 0 or a spin`, errs)
	}
	if !strings.Contains(s.logs.String(), "out of file descriptors") || !strings.Contains(s.logs.String(), "accepting again") {
		t.Errorf("the log does not say the listener ran out of descriptors and recovered")
	}
	t.Logf("descriptors ran out after %d idle connections; the next one got 503 in %v; %v accept errors in ~1s of shortage",
		shedAt, shedTook.Round(time.Microsecond), errs)
}

// TestMemoryAdmission: near its memory limit Herald refuses new
// connections with 4100 and API publishes with 503 (queries and existing
// connections keep working), says so in its log and metrics, and accepts
// again by itself once memory is back under the limit.
func TestMemoryAdmission(t *testing.T) {
	t.Parallel()
	// GOMEMLIMIT=off: with a 120 MiB ballast live, a 128 MiB soft limit
	// would keep the collector busy (what production wants, near its
	// limit); the test is about admission.
	s := startChild(t, "HERALD_TEST_MEMORY_MB=128", "HERALD_TEST_BALLAST_MB=120", "GOMEMLIMIT=off")
	if !strings.Contains(s.banner, "Memory       128 MiB (limits.max_memory_mb)") {
		t.Fatalf("banner does not state the memory limit:\n%s", s.banner)
	}
	c := connect(t, s.testServer)
	c.subscribe("room")
	if r := s.post("/apps/1/events", map[string]any{"name": "e", "channel": "room", "data": "before"}); r.status != http.StatusOK {
		t.Fatalf("trigger before: %v", r)
	}
	c.waitEvent("e", "room")

	if err := s.proc.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the server to refuse for memory", func() bool {
		return s.metricValue(`herald_admission_refusing`) == 1
	})
	conn, code, took, err := tryConnect(s.testServer)
	if conn != nil || code != 4100 || err != nil {
		t.Fatalf("new connection near the memory limit: admitted %v, code %d, %v; want 4100", conn != nil, code, err)
	}
	r := s.post("/apps/1/events", map[string]any{"name": "e", "channel": "room", "data": "refused"})
	if r.status != http.StatusServiceUnavailable || !strings.Contains(string(r.body), `"code":503`) || r.header.Get("Retry-After") == "" {
		t.Fatalf("trigger near the memory limit: %v (Retry-After %q); want 503 with a JSON body", r, r.header.Get("Retry-After"))
	}
	if r := s.get("/apps/1/channels", nil); r.status != http.StatusOK {
		t.Fatalf("query near the memory limit: %v; want 200", r)
	}
	c.ping() // the existing connection still works
	if !strings.Contains(s.logs.String(), "memory near the limit") {
		t.Error("no log line says connections are refused for memory")
	}
	if v := s.metricValue(`herald_admission_refused_total{kind="publish",reason="memory"}`); v != 1 {
		t.Errorf("publish refusals counted %v, want 1", v)
	}

	if err := s.proc.Signal(syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "the server to accept again", func() bool {
		return s.metricValue(`herald_admission_refusing`) == 0
	})
	if r := s.post("/apps/1/events", map[string]any{"name": "e", "channel": "room", "data": "after"}); r.status != http.StatusOK {
		t.Fatalf("trigger after recovery: %v", r)
	}
	if f := c.waitEvent("e", "room"); !strings.Contains(f.String(), "after") {
		t.Errorf("after recovery got %s", f)
	}
	conn, code, _, err = tryConnect(s.testServer)
	if conn == nil {
		t.Fatalf("new connection after recovery refused with %d: %v", code, err)
	}
	conn.Close()
	if !strings.Contains(s.logs.String(), "memory back under the limit") {
		t.Error("no log line says the server accepts again")
	}
	t.Logf("near the memory limit a new connection was refused with 4100 in %v", took.Round(time.Microsecond))
}
