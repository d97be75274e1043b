package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/server"
)

// TestMain lets a test run this binary as a herald process: with
// HERALD_TEST_MAIN=main it is herald itself; with HERALD_TEST_MAIN=stuck it
// is herald whose server ignores the first signal's cancellation, as a
// graceful stop that hangs would.
func TestMain(m *testing.M) {
	switch os.Getenv("HERALD_TEST_MAIN") {
	case "main":
		main()
	case "stuck":
		os.Exit(runMain(os.Args[1:], deps{env: os.LookupEnv, run: stuckRun, stdout: os.Stdout, stderr: os.Stderr}, os.Exit))
	}
	os.Exit(m.Run())
}

// stuckRun says "ready", waits for cancellation, says "cancelled" and then
// does not return (for a minute, so that a failed test leaves nothing behind
// for long).
func stuckRun(ctx context.Context, _ config.Config, o server.Options) error {
	fmt.Fprintln(o.Stdout, "ready")
	<-ctx.Done()
	fmt.Fprintln(o.Stdout, "cancelled")
	time.Sleep(time.Minute)
	return errors.New("stuck run gave up")
}

func TestWatchSignals(t *testing.T) {
	for _, tc := range []struct {
		sig  os.Signal
		code int
		name string
	}{{syscall.SIGINT, 130, "SIGINT"}, {syscall.SIGTERM, 143, "SIGTERM"}} {
		t.Run(tc.name, func(t *testing.T) {
			sigs := make(chan os.Signal, 2)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			codes := make(chan int, 2)
			var stderr bytes.Buffer
			stop := watchSignals(sigs, cancel, &stderr, func(c int) { codes <- c })

			sigs <- tc.sig
			select {
			case <-ctx.Done():
			case <-time.After(5 * time.Second):
				t.Fatal("first signal did not cancel the context")
			}
			select {
			case c := <-codes:
				t.Fatalf("first signal exited with %d", c)
			case <-time.After(50 * time.Millisecond):
			}

			sigs <- tc.sig
			select {
			case c := <-codes:
				if c != tc.code {
					t.Errorf("exit code %d, want %d", c, tc.code)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("second signal did not exit")
			}
			stop()
			if want := "herald: second " + tc.name; !strings.Contains(stderr.String(), want) {
				t.Errorf("stderr %q, want %q", stderr.String(), want)
			}
		})
	}
	t.Run("stop", func(t *testing.T) {
		sigs := make(chan os.Signal, 2)
		cancelled := make(chan struct{})
		stop := watchSignals(sigs, func() { close(cancelled) }, new(bytes.Buffer), func(c int) { t.Errorf("exit(%d)", c) })
		done := make(chan struct{})
		go func() { stop(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("stop did not return")
		}
		sigs <- syscall.SIGTERM // nobody watches any more
		select {
		case <-cancelled:
			t.Error("a signal after stop cancelled")
		case <-time.After(50 * time.Millisecond):
		}
	})
}

// lockedBuffer collects a child's output while the test polls it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// child is this test binary started as herald (see TestMain).
type child struct {
	cmd            *exec.Cmd
	stdout, stderr lockedBuffer
	exited         chan struct{}
	err            error // cmd.Wait's, once exited is closed
}

func startChild(t *testing.T, mode string, args ...string) *child {
	t.Helper()
	c := &child{cmd: exec.Command(os.Args[0], args...), exited: make(chan struct{})}
	c.cmd.Env = append(os.Environ(), "HERALD_TEST_MAIN="+mode)
	c.cmd.Stdout, c.cmd.Stderr = &c.stdout, &c.stderr
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.err = c.cmd.Wait(); close(c.exited) }()
	t.Cleanup(func() {
		_ = c.cmd.Process.Kill()
		select {
		case <-c.exited:
		case <-time.After(10 * time.Second):
			t.Errorf("child %d not reaped 10 s after SIGKILL", c.cmd.Process.Pid)
		}
	})
	return c
}

// waitOutput polls stdout for s for at most d.
func (c *child) waitOutput(t *testing.T, s string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !strings.Contains(c.stdout.String(), s) {
		select {
		case <-c.exited:
			t.Fatalf("exited (%v) before printing %q\nstdout:\n%s\nstderr:\n%s", c.err, s, c.stdout.String(), c.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q within %v\nstdout:\n%s\nstderr:\n%s", s, d, c.stdout.String(), c.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitExit waits at most d for the child to exit.
func (c *child) waitExit(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case <-c.exited:
	case <-time.After(d):
		t.Fatalf("still running %v later\nstdout:\n%s\nstderr:\n%s", d, c.stdout.String(), c.stderr.String())
	}
}

func (c *child) signal(t *testing.T, s os.Signal) {
	t.Helper()
	if err := c.cmd.Process.Signal(s); err != nil {
		t.Fatal(err)
	}
}

// TestSecondSignalEndsStuckProcess runs herald serve with a server that
// ignores cancellation: the first signal cancels, the second exits 128+n.
func TestSecondSignalEndsStuckProcess(t *testing.T) {
	for _, tc := range []struct {
		sig  syscall.Signal
		code int
	}{{syscall.SIGINT, 130}, {syscall.SIGTERM, 143}} {
		t.Run(signalName(tc.sig), func(t *testing.T) {
			c := startChild(t, "stuck", "serve", "--host", "127.0.0.1", "--data-dir", t.TempDir())
			c.waitOutput(t, "ready", 30*time.Second)
			c.signal(t, tc.sig)
			c.waitOutput(t, "cancelled", 10*time.Second)
			select {
			case <-c.exited:
				t.Fatalf("exited after one signal: %v\nstderr:\n%s", c.err, c.stderr.String())
			case <-time.After(100 * time.Millisecond):
			}
			c.signal(t, tc.sig)
			c.waitExit(t, 10*time.Second)
			if code := c.cmd.ProcessState.ExitCode(); code != tc.code {
				t.Errorf("exit code %d (%v), want %d", code, c.err, tc.code)
			}
			if want := "herald: second " + signalName(tc.sig); !strings.Contains(c.stderr.String(), want) {
				t.Errorf("stderr %q, want %q", c.stderr.String(), want)
			}
		})
	}
}

// TestServeTwoSIGTERMs sends two SIGTERMs in a row to a real herald serve:
// whichever ends it (graceful stop, second signal, default action), it is
// gone within a bounded time.
func TestServeTwoSIGTERMs(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	c := startChild(t, "main", "serve", "--host", "127.0.0.1", "--port", strconv.Itoa(port),
		"--data-dir", t.TempDir(), "--log-level", "warn")
	c.waitOutput(t, "Listening on", 30*time.Second)
	c.signal(t, syscall.SIGTERM)
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatal(err)
	}
	c.waitExit(t, 15*time.Second)
	t.Logf("ended: %v", c.cmd.ProcessState)
	ws, _ := c.cmd.ProcessState.Sys().(syscall.WaitStatus)
	switch code := c.cmd.ProcessState.ExitCode(); {
	case code == 0, code == 143, ws.Signaled() && ws.Signal() == syscall.SIGTERM:
	default:
		t.Errorf("exit %v\nstderr:\n%s", c.err, c.stderr.String())
	}
}
