package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/server"
)

// benchServer runs a real Herald in-process with app 7 (key bk, secret bs)
// and returns its port.
func benchServer(t *testing.T) int {
	t.Helper()
	return benchServerWith(t, config.Config{Host: "127.0.0.1", DataDir: t.TempDir(), Log: config.LogConfig{Level: "warn"},
		AdminListen: config.AdminListenOff, Apps: []config.App{{ID: "7", Key: "bk", Secret: "bs"}}})
}

// benchServerWith runs a real Herald in-process with cfg on a free port and
// returns the port.
func benchServerWith(t *testing.T, cfg config.Config) int {
	t.Helper()
	cfg.ApplyDefaults()
	cfg.Port = 0
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- server.Run(ctx, cfg, server.Options{Stderr: io.Discard, OnListen: func(a net.Addr) { addr <- a }})
	}()
	var port int
	select {
	case a := <-addr:
		port = a.(*net.TCPAddr).Port
	case err := <-done:
		cancel()
		t.Fatal(err)
	case <-time.After(5 * time.Second):
		cancel()
		t.Fatal("no listen")
	}
	t.Cleanup(func() { cancel(); <-done })
	return port
}

func runBenchCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	code := execute(ctx, args, deps{env: func(string) (string, bool) { return "", false }, stdout: &out, stderr: &errOut})
	return code, out.String(), errOut.String()
}

func TestBenchScenariosCLI(t *testing.T) {
	port := benchServer(t)
	common := []string{"--port", strconv.Itoa(port), "--app-id", "7", "--key", "bk", "--secret", "bs",
		"--duration", "1s", "--progress", "300ms", "--server-pid", strconv.Itoa(os.Getpid())}
	for _, tc := range []struct {
		args  []string
		check func(t *testing.T, m map[string]any)
	}{
		{[]string{"api", "--concurrency", "4"}, func(t *testing.T, m map[string]any) {
			if m["ok"].(float64) == 0 || m["errors"].(float64) != 0 {
				t.Errorf("ok %v errors %v", m["ok"], m["errors"])
			}
		}},
		{[]string{"fanout", "--subscribers", "100", "--channels", "2", "--rate", "10,50", "--max-p99", "10s", "--keep-going"}, func(t *testing.T, m map[string]any) {
			steps := m["steps"].([]any)
			if len(steps) != 2 {
				t.Fatalf("%d steps", len(steps))
			}
			for _, s := range steps {
				s := s.(map[string]any)
				if s["lost"].(float64) != 0 || s["duplicates"].(float64) != 0 || s["delivered"].(float64) == 0 ||
					s["delivered"] != s["expected_deliveries"] {
					t.Errorf("step %v", s)
				}
			}
		}},
		{[]string{"idle", "--connections", "200", "--settle", "100ms"}, func(t *testing.T, m map[string]any) {
			if m["subscribed"].(float64) != 200 || m["disconnected"].(float64) != 0 {
				t.Errorf("subscribed %v disconnected %v", m["subscribed"], m["disconnected"])
			}
		}},
		{[]string{"connect", "--concurrency", "4"}, func(t *testing.T, m map[string]any) {
			if m["established"].(float64) == 0 || m["failed"].(float64) != 0 {
				t.Errorf("established %v failed %v", m["established"], m["failed"])
			}
		}},
		{[]string{"presence", "--channels", "2", "--watchers", "2", "--churners", "6", "--rate", "20"}, func(t *testing.T, m map[string]any) {
			if m["joins"].(float64) == 0 || m["member_events_missing"].(float64) != 0 || m["member_events_duplicated"].(float64) != 0 {
				t.Errorf("joins %v missing %v dup %v", m["joins"], m["member_events_missing"], m["member_events_duplicated"])
			}
		}},
	} {
		t.Run(tc.args[0], func(t *testing.T) {
			jsonPath := filepath.Join(t.TempDir(), "r.json")
			args := append(append([]string{"bench", tc.args[0]}, common...), tc.args[1:]...)
			args = append(args, "--json", jsonPath)
			code, out, errOut := runBenchCLI(t, args...)
			if code != 0 {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
			}
			if !strings.Contains(out, "== herald bench "+tc.args[0]+" ==") || !strings.Contains(errOut, "herald bench "+tc.args[0]+": target") {
				t.Errorf("stdout:\n%s\nstderr:\n%s", out, errOut)
			}
			b, err := os.ReadFile(jsonPath)
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			if m["scenario"] != tc.args[0] {
				t.Errorf("scenario %v", m["scenario"])
			}
			tc.check(t, m)
		})
	}
}

func TestBenchUsageErrors(t *testing.T) {
	if code, _, errOut := runBenchCLI(t, "bench", "fanout", "--rate", "1,x"); code != exitUsage || !strings.Contains(errOut, "--rate") {
		t.Errorf("bad rate: exit %d: %s", code, errOut)
	}
	for _, bad := range []string{"127.0.0.1", "127.0.0.1:x", ":6001", "127.0.0.1:6001,h:0", "h:65536", "bad host:6001", "[::1:6001"} {
		if code, _, errOut := runBenchCLI(t, "bench", "idle", "--ws-addrs", bad); code != exitUsage || !strings.Contains(errOut, "--ws-addrs") {
			t.Errorf("--ws-addrs %q: exit %d: %s", bad, code, errOut)
		}
	}
	if code, _, _ := runBenchCLI(t, "bench", "idle", "--port", "1", "--connections", "1", "--duration", "100ms", "--progress", "0"); code != exitFailure {
		t.Errorf("unreachable server: exit %d, want %d", code, exitFailure)
	}
}

func TestParseAddrs(t *testing.T) {
	got, err := parseAddrs(" 127.0.0.1:6001,,[::1]:6002 , node-b.internal:6003")
	if want := []string{"127.0.0.1:6001", "[::1]:6002", "node-b.internal:6003"}; err != nil || !slices.Equal(got, want) {
		t.Errorf("parseAddrs = %q, %v; want %q", got, err, want)
	}
	if got, err := parseAddrs(""); err != nil || got != nil {
		t.Errorf(`parseAddrs("") = %q, %v`, got, err)
	}
}
