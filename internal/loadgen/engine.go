package loadgen

import (
	"errors"
	"fmt"
	"time"
)

// Bounds on starting and stopping a pool's nbio engine. Both normally take
// microseconds; the bounds only turn a hang into an error or a warning.
const (
	pollerStartTimeout = 10 * time.Second // NewPool: every poller goroutine inside its event loop (nbiofix)
	engineStopTimeout  = 10 * time.Second // Close: nbio.Engine.Stop returned
)

// errStopTimeout is stopWithin's verdict when stop has not returned.
var errStopTimeout = errors.New("nbio engine did not stop")

// stopWithin runs stop and waits at most d for it. If it has not returned by
// then, stop is left running in its goroutine (nothing can interrupt it) and
// stopWithin returns errStopTimeout: a leaked goroutine is better than a
// load tool that never exits.
func stopWithin(stop func(), d time.Duration) error {
	done := make(chan struct{})
	go func() {
		defer close(done)
		stop()
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return nil
	case <-t.C:
		return fmt.Errorf("%w within %v", errStopTimeout, d)
	}
}
