package loadgen

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"testing"
	"time"
)

// refusedTarget is a loopback address where nothing listens: a port that
// was just free.
func refusedTarget(t *testing.T) Target {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return Target{Host: "127.0.0.1", Port: port, Key: "k", SpreadSource: true}
}

// TestPoolCloseAfterRefusedDial is issue 11: `herald bench idle --port 1`
// dials, is refused within microseconds and closes the pool; nbio's Stop
// then raced the start of its poller goroutines and hung for ever about
// one run in ten. Every iteration is bounded so that a hang fails the test.
func TestPoolCloseAfterRefusedDial(t *testing.T) {
	target := refusedTarget(t)
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	for i := range 50 {
		pollers := 1 + i%4 // the bench's default on small machines is 1
		done := make(chan error, 1)
		go func() {
			p, err := NewPool(target, nil, pollers, log)
			if err != nil {
				done <- err
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, _, derr := p.Dial(ctx, nil)
			p.Close()
			if derr == nil {
				done <- errors.New("dial to a closed port succeeded")
				return
			}
			done <- nil
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("iteration %d (%d pollers): %v", i, pollers, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("iteration %d (%d pollers): NewPool, a refused Dial and Close did not return within 5 s (nbio Engine.Stop hang)", i, pollers)
		}
	}
	if logs.Len() > 0 {
		t.Errorf("warnings:\n%s", logs.String())
	}
}

// TestPoolStartStopNoLeak opens and closes pools of many pollers and
// checks that the poller probes cover every poller and leave no fd open.
func TestPoolStartStopNoLeak(t *testing.T) {
	p, err := NewPool(refusedTarget(t), nil, 1, nil) // warm up the runtime's own fds
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
	before := openFiles()
	for n := 1; n <= 16; n++ {
		start := time.Now()
		p, err := NewPool(Target{}, nil, n, nil)
		if err != nil {
			t.Fatalf("%d pollers: %v", n, err)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("%d pollers: NewPool took %v", n, took)
		}
		p.Close()
		p.Close() // a second Close does nothing (a second Engine.Stop would panic)
	}
	// Probe sockets closed by a poller are released asynchronously; poll.
	deadline := time.Now().Add(5 * time.Second)
	for openFiles() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if after := openFiles(); after > before {
		t.Errorf("open files: %d before, %d after", before, after)
	}
}

func TestStopWithin(t *testing.T) {
	if err := stopWithin(func() {}, time.Second); err != nil {
		t.Errorf("quick stop: %v", err)
	}
	release := make(chan struct{})
	defer close(release)
	start := time.Now()
	err := stopWithin(func() { <-release }, 50*time.Millisecond)
	if !errors.Is(err, errStopTimeout) {
		t.Errorf("stuck stop: %v, want errStopTimeout", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("stuck stop returned after %v", took)
	}
}
