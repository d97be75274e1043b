package sdkgo_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	pusher "github.com/pusher/pusher-http-go/v5"
)

// The apps of the generated config. App 1 has client events and a webhook
// endpoint (the package's receiver); app 3 has enable_subscription_count.
const (
	appID     = "1"
	appKey    = "app-key"
	appSecret = "app-secret"

	countAppID     = "3"
	countAppKey    = "app-key-3"
	countAppSecret = "app-secret-3"

	// masterKeyB64 is the SDK's end-to-end encryption key (32 bytes); Herald never sees it.
	masterKeyB64 = "SGVyYWxkIHRlc3Qgc2RrZ28gbWFzdGVyIGtleSEhISE="

	// wait bounds every wait for a frame, a webhook or a condition.
	wait = 5 * time.Second
)

// herald is the server every test talks to, started once by TestMain.
var herald struct {
	addr  string // 127.0.0.1:port
	hooks *hookReceiver
}

// TestMain builds cmd/herald in the root module, starts it with a generated
// config and a webhook receiver, runs the tests and stops it again.
func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "herald-sdkgo-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "sdkgo:", err)
		return 1
	}
	defer os.RemoveAll(dir)

	bin, err := buildHerald(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sdkgo:", err)
		return 1
	}

	hooks := &hookReceiver{}
	hookSrv := httptest.NewServer(hooks)
	defer hookSrv.Close()

	srv, err := startHerald(bin, dir, hookSrv.URL+"/hook")
	if err != nil {
		fmt.Fprintln(os.Stderr, "sdkgo:", err)
		return 1
	}
	herald.addr, herald.hooks = srv.addr, hooks

	code := m.Run()
	if err := srv.stop(10 * time.Second); err != nil {
		fmt.Fprintln(os.Stderr, "sdkgo: stopping herald:", err)
		code = 1
	}
	if code != 0 {
		fmt.Fprintf(os.Stderr, "--- herald output (tail) ---\n%s\n", srv.out.tail(16<<10))
	}
	return code
}

// buildHerald runs `go build ./cmd/herald` in the repository root (the root
// module, with its own go.sum), bounded to 5 minutes.
func buildHerald(dir string) (string, error) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "herald")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	goCmd := os.Getenv("GO")
	if goCmd == "" {
		goCmd = "go"
	}
	cmd := exec.CommandContext(ctx, goCmd, "build", "-o", bin, "./cmd/herald")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/herald in %s: %v\n%s", root, err, out)
	}
	return bin, nil
}

// heraldProc is a running herald process.
type heraldProc struct {
	cmd    *exec.Cmd
	addr   string
	out    *lockedBuffer
	exited chan struct{} // closed once Wait returned
}

func configYAML(port int, webhookURL string) string {
	return fmt.Sprintf(`host: 127.0.0.1
port: %d
webhooks:
  leave_delay: 200ms
  batch_window: 20ms
  timeout: 2s
  retry_window: 30s
apps:
  - id: %q
    key: %s
    secret: %s
    enable_client_messages: true
    webhooks:
      - url: %q
        event_types: [channel_occupied, channel_vacated, member_added, member_removed, client_event]
  - id: %q
    key: %s
    secret: %s
    enable_subscription_count: true
`, port, appID, appKey, appSecret, webhookURL, countAppID, countAppKey, countAppSecret)
}

// startHerald writes the config and starts the binary on a free loopback
// port, returning once GET /ready answers 200 (within 20 s).
func startHerald(bin, dir, webhookURL string) (*heraldProc, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cfgFile := filepath.Join(dir, "herald.yaml")
	if err := os.WriteFile(cfgFile, []byte(configYAML(port, webhookURL)), 0o600); err != nil {
		return nil, err
	}
	dataDir := filepath.Join(dir, "data")
	if err := os.Mkdir(dataDir, 0o700); err != nil {
		return nil, err
	}
	p := &heraldProc{addr: fmt.Sprintf("127.0.0.1:%d", port), out: &lockedBuffer{}, exited: make(chan struct{})}
	// No admin listener: its default address is fixed, and the tests use free ports only.
	p.cmd = exec.Command(bin, "serve", "--config", cfgFile, "--data-dir", dataDir, "--admin-listen", "off")
	p.cmd.Dir = dir
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { _ = p.cmd.Wait(); close(p.exited) }()

	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(20 * time.Second)
	last := "no answer"
	for {
		select {
		case <-p.exited:
			return nil, fmt.Errorf("herald exited during start-up (%v):\n%s", p.cmd.ProcessState, p.out.tail(8<<10))
		default:
		}
		res, err := client.Get("http://" + p.addr + "/ready")
		if err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return p, nil
			}
			last = res.Status
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			_ = p.stop(5 * time.Second)
			return nil, fmt.Errorf("herald did not answer GET /ready within 20s (last: %s):\n%s", last, p.out.tail(8<<10))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits up to grace, then SIGKILLs.
func (p *heraldProc) stop(grace time.Duration) error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return nil
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("no exit within %v of SIGTERM; killed", grace)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.b.Len() > 4<<20 { // keep the newer half
		rest := append([]byte(nil), b.b.Bytes()[b.b.Len()/2:]...)
		b.b.Reset()
		b.b.Write(rest)
	}
	return b.b.Write(p)
}

func (b *lockedBuffer) tail(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.b.String()
	if len(s) > n {
		s = s[len(s)-n:]
	}
	return s
}

// ---------------------------------------------------------------- SDK clients

// sdk is the official SDK configured for app 1.
func sdk() *pusher.Client {
	return &pusher.Client{
		AppID: appID, Key: appKey, Secret: appSecret,
		Host:                      herald.addr,
		EncryptionMasterKeyBase64: masterKeyB64,
		HTTPClient:                &http.Client{Timeout: wait},
	}
}

// countingSDK is the official SDK configured for app 3 (enable_subscription_count).
func countingSDK() *pusher.Client {
	return &pusher.Client{
		AppID: countAppID, Key: countAppKey, Secret: countAppSecret,
		Host:       herald.addr,
		HTTPClient: &http.Client{Timeout: wait},
	}
}

// authParams is the form body pusher-js posts to an app's auth endpoint.
func authParams(socketID, channel string) []byte {
	if channel == "" {
		return []byte("socket_id=" + socketID)
	}
	return []byte("socket_id=" + socketID + "&channel_name=" + channel)
}

// unique returns prefix followed by the test's name and a counter, a valid channel name.
var uniqueN struct {
	sync.Mutex
	n int
}

func unique(t *testing.T, prefix string) string {
	uniqueN.Lock()
	uniqueN.n++
	n := uniqueN.n
	uniqueN.Unlock()
	name := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			return r
		}
		return '-'
	}, t.Name())
	return fmt.Sprintf("%s%s-%d", prefix, name, n)
}
