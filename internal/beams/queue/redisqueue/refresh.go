package redisqueue

import (
	"context"
	"slices"
	"time"
)

// refreshLoop keeps this node's claims fresh every ClaimIdle/3, and the
// length Len reports every second, until Close cancels ctx.
func (q *Queue) refreshLoop(ctx context.Context) {
	defer close(q.loopDone)
	claimEvery := q.opt.ClaimIdle / 3
	tick := min(claimEvery, lenEvery)
	t := time.NewTicker(tick)
	defer t.Stop()
	var claimed time.Time
	for {
		if time.Since(claimed) < claimEvery-tick/2 {
			q.refresh(ctx, false)
		} else if start := time.Now(); q.refresh(ctx, true) {
			claimed = start // a failed refresh is tried again at the next tick
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// refresh reads the queue's length and, with claims, resets the idle time
// of every job this value holds and forgets those done or taken over. It
// reports whether every call succeeded.
func (q *Queue) refresh(ctx context.Context, claims bool) bool {
	var ids []string
	if claims {
		q.mu.Lock()
		ids = make([]string, 0, len(q.held))
		for id := range q.held {
			ids = append(ids, id)
		}
		q.mu.Unlock()
	}
	slices.Sort(ids)
	first := true
	for len(ids) > 0 || first {
		page := ids[:min(len(ids), refreshPage)]
		ids = ids[len(page):]
		first = false
		args := append([]string{group, q.opt.Consumer}, page...)
		msg, err := q.exec(ctx, refreshScript, []string{q.keys.stream}, args...)
		if err != nil {
			if ctx.Err() == nil && time.Since(q.warnedAt) >= warnEvery {
				q.warnedAt = time.Now()
				q.log.Warn("beams queue: refreshing claims failed; other nodes take the jobs over after ClaimIdle",
					"err", err, "claim_idle", q.opt.ClaimIdle)
			}
			return false
		}
		r, err := ints(msg, 1+len(page))
		if err != nil {
			q.log.Error("beams queue: unexpected refresh reply", "err", err)
			return false
		}
		q.length.Store(r[0])
		q.mu.Lock()
		for i, id := range page {
			switch r[1+i] {
			case 0: // done (by any node)
				q.forgetIDLocked(id)
			case 2:
				pid := q.held[id]
				q.forgetIDLocked(id)
				q.log.Warn("beams queue: job taken over by another node (its claim lapsed)", "publish_id", pid, "entry", id)
			}
		}
		q.mu.Unlock()
	}
	return true
}
