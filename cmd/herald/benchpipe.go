package main

import (
	"context"
	"errors"
	"io"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
)

// errOutputClosed is the cause of a bench context cancelled because its
// output was closed.
var errOutputClosed = errors.New("output closed (SIGPIPE)")

// stopOnBrokenPipe watches SIGPIPE for the bench: by default a write to a
// closed stdout or stderr pipe (`herald bench ... | head`) kills a Go
// program at once, leaving a server that --start-server launched to the
// kernel's parent-death signal (Linux only); watched, that write fails with
// EPIPE instead. The signal itself says nothing about which descriptor
// broke — a socket to the server closing under a write raises it too — so
// it is only drained: what ends the bench is a write through guard that
// fails with EPIPE, which cancels the returned ctx like SIGINT does, so that
// the bench stops its server first. brokenPipe reports whether that
// happened; stop ends the watch. Call stop only after the server is stopped
// and the last message written: from then on a write to a closed pipe kills
// the process.
func stopOnBrokenPipe(ctx context.Context) (_ context.Context, guard func(io.Writer) io.Writer, brokenPipe func() bool, stop func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGPIPE)
	done := make(chan struct{})
	var got atomic.Bool
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-sigs:
			case <-done:
				return
			}
		}
	})
	guard = func(w io.Writer) io.Writer {
		return writerFunc(func(p []byte) (int, error) {
			n, err := w.Write(p)
			if isBrokenPipe(err) {
				got.Store(true)
				cancel(errOutputClosed)
			}
			return n, err
		})
	}
	return ctx, guard, got.Load, func() {
		signal.Stop(sigs)
		close(done)
		wg.Wait()
		cancel(nil)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// errWriter remembers the first write error, for writers whose callers
// ignore it (loadgen.WriteTable).
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	n, err := e.w.Write(p)
	if err != nil && e.err == nil {
		e.err = err
	}
	return n, err
}

// isBrokenPipe reports whether err is a write to a closed pipe.
func isBrokenPipe(err error) bool { return errors.Is(err, syscall.EPIPE) }
