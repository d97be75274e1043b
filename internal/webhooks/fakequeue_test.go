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
// dispatchers can share it, each through its own node view.
type fakeQueue struct {
	ttl   time.Duration
	down  atomic.Bool  // every call fails with broker.ErrUnavailable
	calls atomic.Int64 // every call, failed ones included

	mu      sync.Mutex
	seq     int
	entries []broker.Hook // in id order
	leases  map[string]fakeLease
	added   []broker.Hook   // every AddHook, in call order
	acks    map[string]int  // by owner: entries removed
	claims  map[string]int  // by owner: successful ClaimHooks
	read    map[string]bool // ids returned by a read and not yet acked
	maxRead int             // the most len(read) ever was
}

type fakeLease struct {
	owner string
	until time.Time
}

func newFakeQueue(ttl time.Duration) *fakeQueue {
	return &fakeQueue{
		ttl: ttl, leases: map[string]fakeLease{}, acks: map[string]int{}, claims: map[string]int{},
		read: map[string]bool{},
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
	if l, ok := q.leases[app]; ok && time.Now().Before(l.until) {
		return l.owner
	}
	return ""
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
	if n.q.down.Load() {
		return fmt.Errorf("fake queue: %w", broker.ErrUnavailable)
	}
	return nil
}

func (n *fakeNode) ClaimHooks(ctx context.Context, apps []string) ([]string, error) {
	if err := n.call(ctx); err != nil {
		return nil, err
	}
	q := n.q
	q.mu.Lock()
	defer q.mu.Unlock()
	now := time.Now()
	var held []string
	for _, app := range apps {
		l, ok := q.leases[app]
		if !ok || l.owner == n.owner || !now.Before(l.until) {
			q.leases[app] = fakeLease{owner: n.owner, until: now.Add(q.ttl)}
			if !slices.Contains(held, app) {
				held = append(held, app)
			}
		}
	}
	for app, l := range q.leases {
		if l.owner == n.owner && !slices.Contains(apps, app) {
			delete(q.leases, app)
		}
	}
	q.claims[n.owner]++
	slices.Sort(held)
	return held, nil
}

func (n *fakeNode) ReadHooks(ctx context.Context, app, after string, limit int) ([]broker.Hook, error) {
	if err := n.call(ctx); err != nil {
		return nil, err
	}
	q := n.q
	q.mu.Lock()
	defer q.mu.Unlock()
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
	return out, nil
}

func (n *fakeNode) AckHooks(ctx context.Context, app string, ids []string) error {
	if err := n.call(ctx); err != nil {
		return err
	}
	q := n.q
	q.mu.Lock()
	defer q.mu.Unlock()
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
