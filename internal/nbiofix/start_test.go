package nbiofix

import (
	"os"
	"testing"
	"time"

	"github.com/lesismal/nbio"
)

func openFDs(t *testing.T) int {
	t.Helper()
	e, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(e)
}

// TestStopRightAfterStart: with Await between them, Start then Stop never
// hangs (nbio's race, see the package comment), whatever the poller count,
// and the probe sockets are all closed again.
func TestStopRightAfterStart(t *testing.T) {
	before := openFDs(t)
	for i := range 50 {
		pollers := 1 + i%4
		eng := nbio.NewEngine(nbio.Config{NPoller: pollers})
		eng.OnData(func(c *nbio.Conn, _ []byte) { Seen(c) })
		if err := eng.Start(); err != nil {
			t.Fatal(err)
		}
		if err := Await(eng, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		stopped := make(chan struct{})
		go func() { eng.Stop(); close(stopped) }()
		select {
		case <-stopped:
		case <-time.After(5 * time.Second):
			t.Fatalf("iteration %d (%d pollers): Stop did not return within 5s", i, pollers)
		}
	}
	// The engines' own descriptors (epoll, eventfd) are closed by Stop.
	if after := openFDs(t); after > before+2 {
		t.Fatalf("%d descriptors open after 50 start/stop rounds, %d before", after, before)
	}
}

// TestSeenIgnoresOtherSessions: Seen only claims its own probes.
func TestSeenIgnoresOtherSessions(t *testing.T) {
	pair, err := probePair()
	if err != nil {
		t.Fatal(err)
	}
	defer pair[0].Close()
	defer pair[1].Close()
	if Seen(pair[0]) {
		t.Fatal("a connection without a probe session is not a probe")
	}
	pr := make(probe, 1)
	pair[0].SetSession(pr)
	if !Seen(pair[0]) || len(pr) != 1 {
		t.Fatal("a probe is seen once its poller read it")
	}
	if !Seen(pair[0]) || len(pr) != 1 {
		t.Fatal("seeing a probe twice must not block")
	}
}
