package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
)

// watchSignals reads sigs: the first signal calls cancel, so that the
// command stops gracefully; a second one prints a line on stderr and calls
// exit(128+signal number: 130 for SIGINT, 143 for SIGTERM) whatever the
// command is doing, so that a graceful stop that hangs never leaves a
// process only SIGKILL ends. The returned func stops watching.
func watchSignals(sigs <-chan os.Signal, cancel context.CancelFunc, stderr io.Writer, exit func(int)) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		first := true
		for {
			select {
			case <-done:
				return
			case s := <-sigs:
				if first {
					first = false
					cancel()
					continue
				}
				fmt.Fprintf(stderr, "herald: second %s, exiting without waiting for the graceful stop\n", signalName(s))
				exit(signalExitCode(s))
				return
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// signalExitCode is 128 + the signal number, the status a shell reports for
// a process a signal ended.
func signalExitCode(s os.Signal) int {
	if n, ok := s.(syscall.Signal); ok {
		return 128 + int(n)
	}
	return exitFailure
}

func signalName(s os.Signal) string {
	switch s {
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return s.String()
}
