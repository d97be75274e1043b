package main

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"
)

// A SIGPIPE alone does not stop a bench: a socket to the server closing
// under a write raises it too. A write to the bench's own output failing
// with EPIPE does.
func TestBrokenPipeOnlyFromOutput(t *testing.T) {
	ctx, guard, broken, stop := stopOnBrokenPipe(context.Background())
	defer stop()
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGPIPE); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctx.Done():
		t.Fatal("a SIGPIPE alone cancelled the bench")
	case <-time.After(200 * time.Millisecond):
	}
	if broken() {
		t.Fatal("brokenPipe after a SIGPIPE alone")
	}
	w := guard(writerFunc(func([]byte) (int, error) { return 0, syscall.EPIPE }))
	if _, err := w.Write([]byte("x")); !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("write: %v", err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("an EPIPE on the output did not cancel the bench")
	}
	if !broken() || !errors.Is(context.Cause(ctx), errOutputClosed) {
		t.Fatalf("broken %v, cause %v", broken(), context.Cause(ctx))
	}
}
