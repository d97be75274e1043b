package main

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/loadgen"
)

// benchTLSServer runs a Herald in-process that serves only TLS, with a
// self-signed certificate for 127.0.0.1, app 7 (key bk, secret bs), and
// returns its port.
func benchTLSServer(t *testing.T) int {
	t.Helper()
	cert, err := loadgen.WriteSelfSignedCert(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return benchServerWith(t, config.Config{Host: "127.0.0.1", DataDir: t.TempDir(), Log: config.LogConfig{Level: "warn"},
		AdminListen: config.AdminListenOff, Apps: []config.App{{ID: "7", Key: "bk", Secret: "bs"}},
		TLS: config.TLSConfig{CertFile: cert.CertFile, KeyFile: cert.KeyFile}})
}

func num(m map[string]any, key string) float64 {
	v, _ := m[key].(float64) // absent (omitempty) = 0
	return v
}

// TestBenchTLSCLI: connect, fanout and api with --tls --insecure against
// a TLS-only server (a plaintext run against it fails, so the passing runs
// used TLS); connect counts one handshake per connection, resumed unless
// --tls-resume=false.
func TestBenchTLSCLI(t *testing.T) {
	port := benchTLSServer(t)
	common := []string{"--port", strconv.Itoa(port), "--app-id", "7", "--key", "bk", "--secret", "bs",
		"--duration", "700ms", "--progress", "0", "--tls", "--insecure"}
	for _, tc := range []struct {
		name  string
		args  []string
		check func(t *testing.T, m map[string]any)
	}{
		{"connect", []string{"connect", "--concurrency", "4"}, func(t *testing.T, m map[string]any) {
			est, full, resumed := num(m, "established"), num(m, "tls_full_handshakes"), num(m, "tls_resumed_handshakes")
			if est == 0 || num(m, "failed") != 0 || full+resumed != est || resumed == 0 || full > 4 {
				t.Errorf("established %v failed %v, TLS handshakes %v full %v resumed", est, m["failed"], full, resumed)
			}
			if num(m, "tls_handshakes_per_sec") != num(m, "connections_per_sec") {
				t.Errorf("handshakes/s %v, connections/s %v", m["tls_handshakes_per_sec"], m["connections_per_sec"])
			}
			if n, _ := m["tls_negotiated"].(string); !strings.HasPrefix(n, "TLS 1.3, ") {
				t.Errorf("negotiated %q", m["tls_negotiated"])
			}
		}},
		{"connect full handshakes", []string{"connect", "--concurrency", "4", "--tls-resume=false"}, func(t *testing.T, m map[string]any) {
			est, full, resumed := num(m, "established"), num(m, "tls_full_handshakes"), num(m, "tls_resumed_handshakes")
			if est == 0 || full != est || resumed != 0 || !strings.Contains(m["tls"].(string), "full handshakes") {
				t.Errorf("established %v, TLS handshakes %v full %v resumed, tls %q", est, full, resumed, m["tls"])
			}
		}},
		{"fanout", []string{"fanout", "--subscribers", "40", "--channels", "2", "--rate", "20", "--max-p99", "10s"}, func(t *testing.T, m map[string]any) {
			s := m["steps"].([]any)[0].(map[string]any)
			if num(s, "delivered") == 0 || s["delivered"] != s["expected_deliveries"] || num(s, "publish_errors") != 0 || num(s, "lost") != 0 {
				t.Errorf("step %v", s)
			}
		}},
		{"api", []string{"api", "--concurrency", "2"}, func(t *testing.T, m map[string]any) {
			if num(m, "ok") == 0 || num(m, "errors") != 0 {
				t.Errorf("ok %v errors %v", m["ok"], m["errors"])
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			jsonPath := filepath.Join(t.TempDir(), "r.json")
			args := append(append(append([]string{"bench"}, tc.args[:1]...), common...), tc.args[1:]...)
			code, out, errOut := runBenchCLI(t, append(args, "--json", jsonPath)...)
			if code != 0 {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
			}
			if !strings.Contains(errOut, "over TLS") || !strings.Contains(out, "over TLS") {
				t.Errorf("no TLS in the target lines\nstdout:\n%s\nstderr:\n%s", out, errOut)
			}
			m := readBenchJSON(t, jsonPath)
			if tls, _ := m["tls"].(string); !strings.Contains(tls, "certificate not verified") {
				t.Errorf("JSON tls %q", m["tls"])
			}
			tc.check(t, m)
		})
	}
}

// TestBenchTLSRefusals: a self-signed certificate without --insecure, a
// plaintext bench against a TLS server and a TLS bench against a plaintext
// one each fail with exit 1 and a hint naming the flag; TLS flags without
// --tls are a usage error.
func TestBenchTLSRefusals(t *testing.T) {
	tlsPort, plainPort := strconv.Itoa(benchTLSServer(t)), strconv.Itoa(benchServer(t))
	common := []string{"--app-id", "7", "--key", "bk", "--secret", "bs", "--duration", "300ms", "--progress", "0"}
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"self-signed, connect", []string{"connect", "--port", tlsPort, "--tls", "--concurrency", "1"},
			[]string{"all ", "TLS handshake with 127.0.0.1:" + tlsPort, "x509: ", "refused the server's TLS certificate", "give --insecure"}},
		{"self-signed, api", []string{"api", "--port", tlsPort, "--tls", "--concurrency", "1"},
			[]string{"all ", "x509: ", "give --insecure"}},
		{"self-signed, idle", []string{"idle", "--port", tlsPort, "--tls", "--connections", "2"},
			[]string{"x509: ", "give --insecure"}},
		{"plaintext to TLS", []string{"connect", "--port", tlsPort, "--concurrency", "1"},
			[]string{"HTTP request to an HTTPS server", "give --tls"}},
		{"TLS to plaintext", []string{"connect", "--port", plainPort, "--tls", "--insecure", "--concurrency", "1"},
			[]string{"does not look like a TLS handshake", "drop --tls"}},
		{"TLS to plaintext, api", []string{"api", "--port", plainPort, "--tls", "--insecure", "--concurrency", "1"},
			[]string{"drop --tls"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runBenchCLI(t, append(append([]string{"bench"}, tc.args...), common...)...)
			if code != exitFailure {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitFailure, out, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
		})
	}
	for _, flag := range []string{"--insecure", "--tls-resume=false"} {
		if code, _, errOut := runBenchCLI(t, "bench", "connect", "--port", tlsPort, flag); code != exitUsage || !strings.Contains(errOut, "give --tls") {
			t.Errorf("%s without --tls: exit %d: %s", flag, code, errOut)
		}
	}
}

// TestBenchStartServerTLS: `bench connect --start-server --tls --insecure`
// just works; without --insecure the bench verifies the certificate it
// generated for the server (and with --tls-resume=false every connection
// is a full handshake).
func TestBenchStartServerTLS(t *testing.T) {
	for _, tc := range []struct {
		name   string
		flags  []string
		resume bool
	}{
		{"insecure", []string{"--insecure"}, true},
		{"verified, full handshakes", []string{"--tls-resume=false"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			jsonPath := filepath.Join(t.TempDir(), "r.json")
			c := startChild(t, "main", append([]string{"bench", "connect", "--start-server", "--tls", "--duration", "700ms",
				"--concurrency", "4", "--progress", "0", "--json", jsonPath}, tc.flags...)...)
			pid := startedServer(t, c.stderr.String, 60*time.Second)
			c.waitExit(t, 60*time.Second)
			if c.err != nil {
				t.Fatalf("bench: %v\nstdout:\n%s\nstderr:\n%s", c.err, c.stdout.String(), c.stderr.String())
			}
			waitGone(t, pid, 10*time.Second)
			if !strings.Contains(c.stderr.String(), "self-signed TLS certificate ") {
				t.Errorf("stderr does not name the certificate:\n%s", c.stderr.String())
			}
			m := readBenchJSON(t, jsonPath)
			est, full, resumed := num(m, "established"), num(m, "tls_full_handshakes"), num(m, "tls_resumed_handshakes")
			if est == 0 || num(m, "failed") != 0 || full+resumed != est || (resumed > 0) != tc.resume {
				t.Errorf("established %v failed %v, TLS handshakes %v full %v resumed (%s)", est, m["failed"], full, resumed, m["first_error"])
			}
			if num(m, "server_pid") != float64(pid) {
				t.Errorf("server_pid %v, started %d", m["server_pid"], pid)
			}
		})
	}
}
