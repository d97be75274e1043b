package webhooks

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/internal/broker"
)

// fakeQueue is an in-memory broker.HookQueue: one slice of entries with
// growing ids and a lease per app with an owner and an expiry, so several
// dispatchers can share it, each through its own node view. Like the Redis
// adapter it reports a lease taken (not renewed) as fresh and ignores the
// acks of a node that does not hold the app's lease.
type fakeQueue struct {
	ttl   time.Duration
	down  atomic.Bool  // every call fails with broker.ErrUnavailable
	calls atomic.Int64 // every call, failed ones included

	mu       sync.Mutex
	seq      int
	entries  []broker.Hook // in id order
	leases   map[string]fakeLease
	added    []broker.Hook            // every AddHook, in call order
	acks     map[string]int           // by owner: entries removed
	stray    map[string]int           // by owner: ids acked without holding the app's lease (ignored)
	claims   map[string]int           // by owner: successful ClaimHooks
	read     map[string]bool          // ids returned by a read and not yet acked
	maxRead  int                      // the most len(read) ever was
	cut      map[string]bool          // owners whose every call fails
	ackDown  map[string]bool          // owners whose AckHooks fail
	maxByApp map[string]int           // by app: the most entries read and not acked at once
	reads    map[string]int           // by owner: ReadHooks calls
	hold     map[string]chan struct{} // owners whose AckHooks wait until it is closed
	acking   map[string]int           // by owner: AckHooks calls under way
}

type fakeLease struct {
	owner string
	until time.Time
}

func newFakeQueue(ttl time.Duration) *fakeQueue {
	return &fakeQueue{
		ttl: ttl, leases: map[string]fakeLease{}, acks: map[string]int{}, claims: map[string]int{},
		read: map[string]bool{}, stray: map[string]int{}, cut: map[string]bool{}, ackDown: map[string]bool{},
		maxByApp: map[string]int{}, reads: map[string]int{}, hold: map[string]chan struct{}{}, acking: map[string]int{},
	}
}

// node is the queue as the node named owner sees it.
func (q *fakeQueue) node(owner string) broker.HookQueue { return &fakeNode{q: q, owner: owner} }

// add appends h as another node (or the broker) would, even while down.
func (q *fakeQueue) add(h broker.Hook) string {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.addLocked(h)
}

func (q *fakeQueue) addLocked(h broker.Hook) string {
	q.seq++
	h.ID = strconv.Itoa(q.seq) + "-0"
	q.entries = append(q.entries, h)
	return h.ID
}

func idNum(id string) int {
	s, _, _ := strings.Cut(id, "-")
	n, _ := strconv.Atoi(s)
	return n
}

// len is how many entries are not acked.
func (q *fakeQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.entries)
}

// has reports whether the entry id is still queued.
func (q *fakeQueue) has(id string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.ContainsFunc(q.entries, func(h broker.Hook) bool { return h.ID == id })
}

func (q *fakeQueue) owner(app string) string {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.holderLocked(app, time.Now())
}

// steal gives app's lease to owner for d, whoever holds it.
func (q *fakeQueue) steal(app, owner string, d time.Duration) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.leases[app] = fakeLease{owner: owner, until: time.Now().Add(d)}
}

func (q *fakeQueue) addedHooks() []broker.Hook {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.added)
}

func (q *fakeQueue) ackCount(owner string) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.acks[owner]
}

func (q *fakeQueue) claimCount(owner string) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.claims[owner]
}

// maxOutstanding is the most entries that were ever read and not acked.
func (q *fakeQueue) maxOutstanding() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.maxRead
}

// maxOutstandingOf is maxOutstanding for app's entries alone.
func (q *fakeQueue) maxOutstandingOf(app string) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.maxByApp[app]
}

// strayAcks is how many ids owner acked while not holding their app's lease.
func (q *fakeQueue) strayAcks(owner string) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.stray[owner]
}

// cutOff makes every call of owner fail (a node cut off from the queue)
// or work again.
func (q *fakeQueue) cutOff(owner string, cut bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.cut[owner] = cut
}

// failAcks makes owner's AckHooks fail, or work again.
func (q *fakeQueue) failAcks(owner string, fail bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.ackDown[owner] = fail
}

// holdAcks makes owner's AckHooks calls wait (until their context ends)
// before they do anything, until release is called (once or more).
func (q *fakeQueue) holdAcks(owner string) (release func()) {
	q.mu.Lock()
	defer q.mu.Unlock()
	c := make(chan struct{})
	q.hold[owner] = c
	return sync.OnceFunc(func() {
		q.mu.Lock()
		defer q.mu.Unlock()
		delete(q.hold, owner)
		close(c)
	})
}

// acksUnderWay is how many AckHooks calls of owner are under way.
func (q *fakeQueue) acksUnderWay(owner string) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.acking[owner]
}

// readCount is how many ReadHooks calls owner made.
func (q *fakeQueue) readCount(owner string) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.reads[owner]
}

// wasRead reports whether the entry id was returned by a read.
func (q *fakeQueue) wasRead(id string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.read[id]
}

func (q *fakeQueue) holderLocked(app string, now time.Time) string {
	if l, ok := q.leases[app]; ok && now.Before(l.until) {
		return l.owner
	}
	return ""
}

type fakeNode struct {
	q     *fakeQueue
	owner string
}

var _ broker.HookQueue = (*fakeNode)(nil)

func (n *fakeNode) call(ctx context.Context) error {
	n.q.calls.Add(1)
	if err := ctx.Err(); err != nil {
		return err
	}
	n.q.mu.Lock()
	cut := n.q.cut[n.owner]
	n.q.mu.Unlock()
	if n.q.down.Load() || cut {
		return fmt.Errorf("fake queue: %w", broker.ErrUnavailable)
	}
	return nil
}

func (n *fakeNode) ClaimHooks(ctx context.Context, apps []string) (held, fresh []string, err error) {
	if err := n.call(ctx); err != nil {
		return nil, nil, err
	}
	q := n.q
	q.mu.Lock()
	defer q.mu.Unlock()
	now := time.Now()
	for _, app := range apps {
		if slices.Contains(held, app) {
			continue
		}
		switch q.holderLocked(app, now) {
		case n.owner: // renewed
		case "":
			fresh = append(fresh, app)
		default:
			continue
		}
		q.leases[app] = fakeLease{owner: n.owner, until: now.Add(q.ttl)}
		held = append(held, app)
	}
	for app, l := range q.leases {
		if l.owner == n.owner && !slices.Contains(apps, app) {
			delete(q.leases, app)
		}
	}
	q.claims[n.owner]++
	slices.Sort(held)
	slices.Sort(fresh)
	return held, fresh, nil
}

func (n *fakeNode) ReadHooks(ctx context.Context, app, after string, limit int) ([]broker.Hook, error) {
	if err := n.call(ctx); err != nil {
		return nil, err
	}
	q := n.q
	q.mu.Lock()
	defer q.mu.Unlock()
	q.reads[n.owner]++
	from := 0
	if after != "" {
		from = idNum(after)
	}
	var out []broker.Hook
	for _, h := range q.entries {
		if len(out) == limit {
			break
		}
		if h.App == app && idNum(h.ID) > from {
			out = append(out, h)
			q.read[h.ID] = true
		}
	}
	q.maxRead = max(q.maxRead, len(q.read))
	of := 0
	for _, h := range q.entries {
		if h.App == app && q.read[h.ID] {
			of++
		}
	}
	q.maxByApp[app] = max(q.maxByApp[app], of)
	return out, nil
}

func (n *fakeNode) AckHooks(ctx context.Context, app string, ids []string) error {
	if err := n.call(ctx); err != nil {
		return err
	}
	q := n.q
	q.mu.Lock()
	q.acking[n.owner]++
	hold := q.hold[n.owner]
	q.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
		}
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.acking[n.owner]--
	if err := ctx.Err(); err != nil {
		return err
	}
	if q.ackDown[n.owner] {
		return fmt.Errorf("fake queue ack: %w", broker.ErrUnavailable)
	}
	if q.holderLocked(app, time.Now()) != n.owner {
		q.stray[n.owner] += len(ids)
		return nil
	}
	q.entries = slices.DeleteFunc(q.entries, func(h broker.Hook) bool {
		if h.App == app && slices.Contains(ids, h.ID) {
			q.acks[n.owner]++
			delete(q.read, h.ID)
			return true
		}
		return false
	})
	return nil
}

func (n *fakeNode) AddHook(ctx context.Context, h broker.Hook) error {
	if err := n.call(ctx); err != nil {
		return err
	}
	q := n.q
	q.mu.Lock()
	defer q.mu.Unlock()
	h.ID = q.addLocked(h)
	q.added = append(q.added, h)
	return nil
}
