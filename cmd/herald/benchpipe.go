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

// errOutputClosed is the cause of a bench context cancelled by SIGPIPE.
var errOutputClosed = errors.New("output closed (SIGPIPE)")

// stopOnBrokenPipe returns ctx cancelled when the process gets SIGPIPE: a
// write to a closed stdout or stderr pipe (`herald bench ... | head`). By
// default that signal kills a Go program at once, leaving a server that
// --start-server launched to the kernel's parent-death signal (Linux only);
// watched, the write fails with EPIPE and the bench ends like on SIGINT,
// stopping its server first. brokenPipe reports whether SIGPIPE came; stop
// ends the watch. Call stop only after the server is stopped and the last
// message written: from then on a write to a closed pipe kills the process.
func stopOnBrokenPipe(ctx context.Context) (_ context.Context, brokenPipe func() bool, stop func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGPIPE)
	done := make(chan struct{})
	var got atomic.Bool
	var wg sync.WaitGroup
	wg.Go(func() {
		select {
		case <-sigs:
			got.Store(true)
			cancel(errOutputClosed)
		case <-done:
		}
	})
	return ctx, got.Load, func() {
		signal.Stop(sigs)
		close(done)
		wg.Wait()
		cancel(nil)
	}
}

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
