package server

import (
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/heraldhq/herald/internal/config"
)

func appCfg(apps ...config.App) config.Config {
	c := config.Config{Host: "127.0.0.1", Apps: apps, AdminListen: config.AdminListenOff}
	c.ApplyDefaults()
	c.Port = 0
	return c
}

func dialApp(t *testing.T, addr, key string) *websocket.Conn {
	t.Helper()
	c, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/app/"+key+"?protocol=7", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := c.ReadMessage(); err != nil { // connection_established or pusher:error
		t.Fatal(err)
	}
	return c
}

// closeCode reads until the server closes the connection.
func closeCode(t *testing.T, c *websocket.Conn) int {
	t.Helper()
	for {
		if _, _, err := c.ReadMessage(); err != nil {
			if ce, ok := err.(*websocket.CloseError); ok {
				return ce.Code
			}
			t.Fatalf("connection ended without a close frame: %v", err)
		}
	}
}

// SIGHUP (Options.Reload) swaps the config file's apps in place: an added
// app works at once, a removed app's connections close with 4001, a
// disabled app's with 4003, and an untouched app's connection stays.
func TestReloadAppsWithoutRestart(t *testing.T) {
	a := config.App{ID: "a", Key: "key-a", Secret: "secret-a"}
	b := config.App{ID: "b", Key: "key-b", Secret: "secret-b"}
	keep := config.App{ID: "k", Key: "key-k", Secret: "secret-k"}
	next := appCfg(keep, b)
	off := false
	next.Apps[0] = keep
	disabledA := a
	disabledA.Enabled = &off
	nextWithDisabled := appCfg(keep, disabledA)

	reload := make(chan struct{})
	cfgNow := next
	ctx, cancel := context.WithCancel(context.Background())
	addrCh := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, appCfg(a, keep), Options{Stderr: io.Discard, Reload: reload,
			LoadConfig: func() (config.Config, error) { return cfgNow, nil },
			OnListen:   func(ad net.Addr) { addrCh <- ad.String() }})
	}()
	t.Cleanup(func() { cancel(); <-done })
	addr := <-addrCh

	ca := dialApp(t, addr, "key-a")
	ck := dialApp(t, addr, "key-k")
	reload <- struct{}{}
	if code := closeCode(t, ca); code != 4001 {
		t.Fatalf("removed app's connection closed with %d, want 4001", code)
	}
	dialApp(t, addr, "key-b") // the added app works without a restart

	// Re-add a as disabled: connecting is refused with 4003.
	cfgNow = nextWithDisabled
	reload <- struct{}{}
	deadline := time.Now().Add(5 * time.Second)
	for {
		c := dialApp(t, addr, "key-a")
		if code := closeCode(t, c); code == 4003 {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("disabled app: close %d, want 4003", code)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The untouched app's connection is still open: a ping is answered.
	_ = ck.SetReadDeadline(time.Now().Add(3 * time.Second))
	if err := ck.WriteMessage(websocket.TextMessage, []byte(`{"event":"pusher:ping","data":{}}`)); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := ck.ReadMessage(); err != nil {
		t.Fatalf("kept app's connection: %v", err)
	} else if string(msg) != `{"event":"pusher:pong","data":"{}"}` {
		t.Fatalf("kept app's connection got %s", msg)
	}
}

// lockedBuf is a log sink the server writes while the test reads it.
type lockedBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Webhooks start only when some app has endpoints at start-up; endpoints
// added by a reload are not silently ignored: the reload says a restart is
// needed.
func TestReloadAddingWebhooksWarns(t *testing.T) {
	a := config.App{ID: "a", Key: "key-a", Secret: "secret-a"}
	start := appCfg(a)
	start.DataDir = t.TempDir()
	withHooks := a
	withHooks.Webhooks = []config.Webhook{{URL: "http://127.0.0.1:9/hook", EventTypes: []string{"channel_occupied"}}}
	next := appCfg(withHooks)
	next.DataDir = start.DataDir

	var logs lockedBuf
	reload := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	listening := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, start, Options{Stderr: &logs, Stdout: io.Discard, Reload: reload,
			LoadConfig: func() (config.Config, error) { return next, nil },
			OnListen:   func(net.Addr) { close(listening) }})
	}()
	t.Cleanup(func() { cancel(); <-done })
	<-listening
	reload <- struct{}{}
	deadline := time.Now().Add(5 * time.Second)
	// The warning is logged right after "apps reloaded": wait for it too.
	for !strings.Contains(logs.String(), "apps reloaded") || !strings.Contains(logs.String(), "restart herald to deliver them") {
		if time.Now().After(deadline) {
			t.Fatalf("no reload with a restart warning logged:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
