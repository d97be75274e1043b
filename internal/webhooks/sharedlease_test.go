package webhooks

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/hub"
)

// TestSharedLapsedLeaseForgetsStaleLeave: node a reads a leave, is cut off
// from the queue past its lease; b takes the app, sees the rejoin, debounces
// both and acks them, then stops. When a comes back and takes the app again
// its claim is fresh: it forgets the leave it held (whose rejoin it never
// saw) instead of sending a wrong channel_vacated.
func TestSharedLapsedLeaseForgetsStaleLeave(t *testing.T) {
	rcv := newReceiver(t, nil)
	s := store(t, app("1", hook(rcv.URL)))
	q := newFakeQueue(testLease)
	cfg := fastShared()
	cfg.LeaveDelay = 1500 * time.Millisecond
	at := nowMS()
	leave := q.add(hookOf(hub.Event{Kind: hub.ChannelVacated, AppID: "1", Channel: "c", TimeMS: at}))
	a := runShared(t, cfg, s, q.node("a"))
	waitFor(t, "a reads the leave", 5*time.Second, func() bool { return q.wasRead(leave) && q.owner("1") == "a" })

	q.cutOff("a", true)
	b := runShared(t, cfg, s, q.node("b"))
	waitFor(t, "b takes app 1", 5*time.Second, func() bool { return q.owner("1") == "b" })
	join := q.add(hookOf(hub.Event{Kind: hub.ChannelOccupied, AppID: "1", Channel: "c", TimeMS: at + 100}))
	waitFor(t, "b debounces the leave and the rejoin", 5*time.Second, func() bool { return !q.has(leave) && !q.has(join) })
	b.stop(t) // releases the lease
	if got := rcv.requests(); len(got) != 0 {
		t.Fatalf("%d requests while the channel stayed occupied", len(got))
	}

	q.cutOff("a", false)
	waitFor(t, "a takes app 1 again", 5*time.Second, func() bool { return q.owner("1") == "a" })
	// A leave of another channel, due when the stale one would be: once
	// it is delivered, the stale one had its chance.
	q.add(hookOf(hub.Event{Kind: hub.ChannelVacated, AppID: "1", Channel: "sentinel", TimeMS: at}))
	waitFor(t, "the sentinel", 5*time.Second, func() bool { return len(rcv.events(t)) >= 1 })
	time.Sleep(3 * cfg.PollEvery) // a stale leave due at the same time would be out by now
	if got := fmt.Sprint(names(rcv.events(t))); got != "[channel_vacated@sentinel]" {
		t.Fatalf("events = %s: a sent what it remembered from its lapsed lease", got)
	}
	if got := value(a.m.QueuesHeld.WithLabelValues()); got != 1 {
		t.Errorf("queues held = %v, want 1", got)
	}
	if !strings.Contains(a.log.String(), "retaken=1") {
		t.Errorf("no retaken lease in the log:\n%s", a.log.String())
	}
}

// TestSharedLostLeaseAcksNotSent: acks that could not be sent before the
// lease moved are dropped (counted), never sent while another node holds
// the app: the entries stay for the new holder.
func TestSharedLostLeaseAcksNotSent(t *testing.T) {
	rcv := newReceiver(t, nil)
	s := store(t, app("1", hook(rcv.URL)))
	q := newFakeQueue(testLease)
	const n = 10
	addEvents(q, "1", "private-c", 0, n)
	q.failAcks("a", true)
	a := runShared(t, fastShared(), s, q.node("a"))
	waitFor(t, "every event", 5*time.Second, func() bool { got, _ := distinct(t, rcv); return got == n })

	q.steal("1", "b", time.Hour)
	waitFor(t, "a gives app 1 up", 5*time.Second, func() bool { return value(a.m.QueuesHeld.WithLabelValues()) == 0 })
	q.failAcks("a", false)
	claims := q.claimCount("a")
	// The acker retries every ClaimEvery, as often as the claims come.
	waitFor(t, "more claims", 5*time.Second, func() bool { return q.claimCount("a") >= claims+5 })
	if got := q.strayAcks("a"); got != 0 {
		t.Errorf("a acked %d entries while b held the app", got)
	}
	if got := q.len(); got != n {
		t.Errorf("%d entries left, want all %d for the new holder", got, n)
	}
	if got := value(a.m.AcksDropped.WithLabelValues("1", "lease_lost")); got != n {
		t.Errorf("acks dropped = %v, want %d", got, n)
	}
}

// TestSharedNewLeaseWaitsForOldAcks: an ack of a lost lease already under
// way could land after a new lease of the app made its first read (and
// hide from it entries it has not read yet): the new lease reads only once
// that ack is done.
func TestSharedNewLeaseWaitsForOldAcks(t *testing.T) {
	rcv := newReceiver(t, nil)
	s := store(t, app("1", hook(rcv.URL)))
	q := newFakeQueue(testLease)
	const n = 5
	addEvents(q, "1", "private-c", 0, n)
	release := q.holdAcks("a")
	defer release()
	a := runShared(t, fastShared(), s, q.node("a"))
	waitFor(t, "every event", 5*time.Second, func() bool { got, _ := distinct(t, rcv); return got == n })
	waitFor(t, "the ack under way", 5*time.Second, func() bool { return q.acksUnderWay("a") == 1 })

	q.steal("1", "x", 100*time.Millisecond) // a node that dies at once
	waitFor(t, "a gives app 1 up", 5*time.Second, func() bool { return value(a.m.QueuesHeld.WithLabelValues()) == 0 })
	waitFor(t, "a takes app 1 back", 5*time.Second, func() bool { return value(a.m.QueuesHeld.WithLabelValues()) == 1 })
	reads, claims := q.readCount("a"), q.claimCount("a")
	waitFor(t, "more claims", 5*time.Second, func() bool { return q.claimCount("a") >= claims+5 })
	if got := q.readCount("a"); got != reads {
		t.Fatalf("%d reads by the new lease while an ack of the old one was under way", got-reads)
	}
	release()
	waitFor(t, "acked", 5*time.Second, func() bool { return q.len() == 0 })
	waitFor(t, "a reads again", 5*time.Second, func() bool { return q.readCount("a") > reads })
	if _, dup := distinct(t, rcv); dup != 0 {
		t.Errorf("%d duplicates", dup)
	}
}
