package webhooks

import (
	"container/heap"
	"time"

	"github.com/heraldhq/herald/internal/hub"
)

// leaveKey identifies what a delayed leave is about: a channel (vacated) or
// a user in a channel (member_removed). The matching join cancels it.
type leaveKey struct {
	app, channel, user string
	member             bool
}

func leaveKeyOf(e hub.Event) leaveKey {
	switch e.Kind {
	case hub.MemberAdded, hub.MemberRemoved:
		return leaveKey{app: e.AppID, channel: e.Channel, user: e.UserID, member: true}
	}
	return leaveKey{app: e.AppID, channel: e.Channel}
}

// leaves holds delayed leave events: a min-heap by due time plus an index by
// key. Cancelled entries stay in the heap and are skipped when they surface
// (the index no longer points at their seq), which keeps cancel O(1); when
// they outnumber the live ones, the heap is rebuilt without them, so fast
// leave/rejoin flapping cannot grow it past about twice the pending leaves.
type leaves struct {
	h     leaveHeap
	byKey map[leaveKey]leaveEntry // the live entry (also in h, or held back: see keep)
}

type leaveEntry struct {
	seq uint64
	rec leaveRecord
}

func (l *leaves) add(seq uint64, r leaveRecord) {
	e := leaveEntry{seq, r}
	heap.Push(&l.h, e)
	l.keep(e)
}

// keep makes e live without queueing it in the heap: cluster mode holds a
// due leave back until its app's queue has been read past its due time
// (a join that cancels it may still be unread).
func (l *leaves) keep(e leaveEntry) {
	if l.byKey == nil {
		l.byKey = map[leaveKey]leaveEntry{}
	}
	l.byKey[leaveKeyOf(e.rec.ev)] = e
}

// live reports whether e is still pending (no join cancelled it).
func (l *leaves) live(e leaveEntry) bool {
	cur, ok := l.byKey[leaveKeyOf(e.rec.ev)]
	return ok && cur.seq == e.seq
}

// forget removes e (released or dropped outside popDue).
func (l *leaves) forget(e leaveEntry) { delete(l.byKey, leaveKeyOf(e.rec.ev)) }

// cancel removes the pending leave that join cancels and returns it.
func (l *leaves) cancel(join hub.Event) (leaveEntry, bool) {
	k := leaveKeyOf(join)
	e, ok := l.byKey[k]
	if ok {
		delete(l.byKey, k)
		l.maybeCompact()
	}
	return e, ok
}

// dropApp forgets every pending leave of app and returns how many.
func (l *leaves) dropApp(app string) int {
	n := 0
	for k := range l.byKey {
		if k.app == app {
			delete(l.byKey, k)
			n++
		}
	}
	if n > 0 {
		l.maybeCompact()
	}
	return n
}

func (l *leaves) maybeCompact() {
	if len(l.h) > 2*len(l.byKey)+compactSlack {
		l.compact()
	}
}

// compactSlack keeps small heaps from being rebuilt over and over.
const compactSlack = 64

// compact drops cancelled entries from the heap (amortised O(1) per cancel:
// it runs only after at least as many cancels as there are live entries).
func (l *leaves) compact() {
	live := l.h[:0]
	for _, e := range l.h {
		if l.live(e) {
			live = append(live, e)
		}
	}
	clear(l.h[len(live):])
	l.h = live
	heap.Init(&l.h)
}

// pending reports whether a leave for e's key is waiting.
func (l *leaves) pending(e hub.Event) bool {
	_, ok := l.byKey[leaveKeyOf(e)]
	return ok
}

// popDue returns the next live leave due at or before now.
func (l *leaves) popDue(now time.Time) (leaveEntry, bool) {
	for len(l.h) > 0 && !l.h[0].rec.due.After(now) {
		e := heap.Pop(&l.h).(leaveEntry)
		if l.live(e) {
			l.forget(e)
			return e, true
		}
	}
	return leaveEntry{}, false
}

// next is the earliest due time (possibly of a cancelled entry: a spurious
// wake-up is harmless).
func (l *leaves) next() (time.Time, bool) {
	if len(l.h) == 0 {
		return time.Time{}, false
	}
	return l.h[0].rec.due, true
}

type leaveHeap []leaveEntry

func (h leaveHeap) Len() int { return len(h) }
func (h leaveHeap) Less(i, j int) bool {
	if !h[i].rec.due.Equal(h[j].rec.due) {
		return h[i].rec.due.Before(h[j].rec.due)
	}
	return h[i].seq < h[j].seq // equal due times: acceptance order
}
func (h leaveHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *leaveHeap) Push(x any)   { *h = append(*h, x.(leaveEntry)) }
func (h *leaveHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = leaveEntry{}
	*h = old[:len(old)-1]
	return e
}

// cacheMisses de-duplicates cache_miss per (app, channel): simultaneous
// subscribers of an empty cache channel produce one webhook.
type cacheMisses struct {
	seen      map[[2]string]time.Time
	lastPrune time.Time
}

func (c *cacheMisses) duplicate(e hub.Event, now time.Time) bool {
	if c.seen == nil {
		c.seen = map[[2]string]time.Time{}
	}
	k := [2]string{e.AppID, e.Channel}
	if t, ok := c.seen[k]; ok && now.Sub(t) < cacheMissWindow {
		return true
	}
	c.seen[k] = now
	if now.Sub(c.lastPrune) >= cacheMissWindow { // keep the map to the channels of the last window
		for k, t := range c.seen {
			if now.Sub(t) >= cacheMissWindow {
				delete(c.seen, k)
			}
		}
		c.lastPrune = now
	}
	return false
}

// dropApp forgets app's recent cache misses.
func (c *cacheMisses) dropApp(app string) {
	for k := range c.seen {
		if k[0] == app {
			delete(c.seen, k)
		}
	}
}
