package redisqueue

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/heraldhq/herald/internal/beams/queue"
)

// Next hands out, oldest first within each kind: the jobs this consumer
// held in an earlier run (its pending list), then jobs taken over from a
// node that stopped refreshing them (looked for every ClaimIdle/4), then
// new jobs, waiting for one with blocking reads of at most a second each.
// It returns only a job, ctx's error or queue.ErrClosed: while Redis
// fails it keeps trying (backing off up to a second, with a rate-limited
// warning), as it would wait for a job.
//
// A call to Redis is never abandoned half-way: one that hands this node a
// job must be answered, or the job would sit in its pending list until
// ClaimIdle. So ctx and Close are honoured between calls: within a second
// (a read blocks no longer, nor past ctx's deadline). A job that arrives
// after ctx ended is kept for the next call.
func (q *Queue) Next(ctx context.Context) (queue.Job, error) {
	var backoff time.Duration
	for {
		if q.isClosed() {
			return queue.Job{}, queue.ErrClosed
		}
		if err := ctx.Err(); err != nil {
			return queue.Job{}, err
		}
		if j, ok := q.popStash(); ok {
			return j, nil
		}
		j, ok, err := q.takeOld(ctx)
		if err == nil && !ok {
			j, ok, err = q.readNew(ctx)
		}
		switch {
		case ok && (ctx.Err() != nil || q.isClosed()):
			q.pushStash(j) // held and refreshed meanwhile; after Close, this consumer's to resume
			continue
		case ok:
			return j, nil
		case err == nil:
			backoff = 0
			continue
		case ctx.Err() != nil:
			continue
		case isNoGroup(err):
			q.takeMu.Lock()
			q.groupReady = false
			q.takeMu.Unlock()
		}
		backoff = min(max(2*backoff, minBackoff), maxBackoff)
		q.warnNext(err)
		select {
		case <-ctx.Done():
		case <-q.closedCh:
		case <-time.After(backoff):
		}
	}
}

func (q *Queue) popStash() (queue.Job, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.stash) == 0 {
		return queue.Job{}, false
	}
	j := q.stash[0]
	q.stash = q.stash[1:]
	return j, true
}

// pushStash keeps j for the next Next. The stash holds at most one job per
// Next call that was under way when its ctx ended.
func (q *Queue) pushStash(j queue.Job) {
	q.mu.Lock()
	q.stash = append(q.stash, j)
	q.mu.Unlock()
}

// warnNext logs a failure of Next, at most once every warnEvery.
func (q *Queue) warnNext(err error) {
	q.mu.Lock()
	due := time.Since(q.nextWarnedAt) >= warnEvery
	if due {
		q.nextWarnedAt = time.Now()
	}
	q.mu.Unlock()
	if due {
		q.log.Warn("beams queue: reading the queue failed; retrying", "err", err)
	}
}

// call bounds a call of Next by CommandTimeout but not by ctx's end: see
// Next.
func (q *Queue) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), q.opt.CommandTimeout)
}

// takeOld returns a job this consumer held before this value existed, or,
// once there is none, one taken over from a stalled node (when a look is
// due). ok is false when there is neither.
func (q *Queue) takeOld(ctx context.Context) (j queue.Job, ok bool, err error) {
	q.takeMu.Lock()
	defer q.takeMu.Unlock()
	if !q.groupReady {
		if err := q.createGroup(ctx); err != nil {
			return queue.Job{}, false, err
		}
		q.groupReady = true
	}
	for !q.historyDone {
		if err := ctx.Err(); err != nil {
			return queue.Job{}, false, err
		}
		msg, err := q.exec(context.WithoutCancel(ctx), historyScript, []string{q.keys.stream, q.keys.cursors}, group, q.opt.Consumer, q.historyAfter)
		if err != nil {
			return queue.Job{}, false, fmt.Errorf("beams queue: redis history: %w", err)
		}
		a, err := msg.ToArray()
		if err != nil {
			return queue.Job{}, false, fmt.Errorf("beams queue: redis history: %w", err)
		}
		switch len(a) {
		case 0:
			q.historyDone = true
		case 1:
			q.historyAfter, _ = a[0].ToString()
		default:
			id, _ := a[0].ToString()
			q.historyAfter = "(" + id
			if j, ok := q.hand(ctx, a); ok {
				return j, true, nil
			}
		}
	}
	// The take-over scan runs only after the history: a job it takes joins
	// this consumer's pending list, where the history scan would find it
	// again.
	for q.sweepFrom != "0-0" || time.Since(q.sweptAt) >= q.sweepEvery {
		if err := ctx.Err(); err != nil {
			return queue.Job{}, false, err
		}
		msg, err := q.exec(context.WithoutCancel(ctx), claimScript, []string{q.keys.stream, q.keys.cursors}, group, q.opt.Consumer,
			strconv.FormatInt(q.opt.ClaimIdle.Milliseconds(), 10), q.sweepFrom)
		if err != nil {
			return queue.Job{}, false, fmt.Errorf("beams queue: redis claim: %w", err)
		}
		a, err := msg.ToArray()
		if err != nil || len(a) == 0 {
			return queue.Job{}, false, fmt.Errorf("beams queue: redis claim: bad reply %v", err)
		}
		q.sweepFrom, _ = a[0].ToString()
		if q.sweepFrom == "0-0" {
			q.sweptAt = time.Now()
		}
		if len(a) == 4 {
			if j, ok := q.hand(ctx, a[1:]); ok {
				id, _ := a[1].ToString()
				q.log.Info("beams queue: took over a job from a node that stopped refreshing it", "publish_id", j.PublishID, "entry", id)
				return j, true, nil
			}
		}
	}
	return queue.Job{}, false, nil
}

// readNew waits up to q.block, and not past ctx's deadline, for a job
// never handed out before.
func (q *Queue) readNew(ctx context.Context) (queue.Job, bool, error) {
	block := q.block
	if dl, ok := ctx.Deadline(); ok {
		block = max(min(block, time.Until(dl)), time.Millisecond) // BLOCK 0 would wait forever
	}
	cmd := q.c.B().Xreadgroup().Group(group, q.opt.Consumer).Count(1).Block(block.Milliseconds()).
		Streams().Key(q.keys.stream).Id(">").Build()
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), block+q.opt.CommandTimeout)
	res, err := q.c.Do(cctx, cmd).AsXRead()
	cancel()
	if rueidis.IsRedisNil(err) {
		return queue.Job{}, false, nil // BLOCK ran out
	}
	if err != nil {
		return queue.Job{}, false, fmt.Errorf("beams queue: redis read: %w", err)
	}
	for _, e := range res[q.keys.stream] {
		// An entry never handed out before had no Progress: its cursor is
		// the one it was enqueued with (field c), if any.
		if j, ok := q.handEntry(ctx, e.ID, e.FieldValues, e.FieldValues["c"]); ok {
			return j, true, nil
		}
	}
	return queue.Job{}, false, nil
}

// hand decodes a script's {id, fields, cursor} reply into a job held by
// this value; ok is false for an entry it must skip.
func (q *Queue) hand(ctx context.Context, a []rueidis.RedisMessage) (queue.Job, bool) {
	if len(a) < 3 {
		q.log.Error("beams queue: unexpected entry reply", "len", len(a))
		return queue.Job{}, false
	}
	id, _ := a[0].ToString()
	fields, err := a[1].AsStrSlice()
	cursor, _ := a[2].ToString()
	m := make(map[string]string, len(fields)/2)
	for i := 0; i+1 < len(fields); i += 2 {
		m[fields[i]] = fields[i+1]
	}
	if err != nil {
		m = nil // decoded as unreadable below
	}
	return q.handEntry(ctx, id, m, cursor)
}

// handEntry makes the job of entry id held by this value. An entry it
// already hands out (this node's claim lapsed and it took the job back)
// is skipped; an unreadable one is logged and dropped.
func (q *Queue) handEntry(ctx context.Context, id string, fields map[string]string, cursor string) (queue.Job, bool) {
	j, err := decode(fields)
	if err != nil {
		q.log.Error("beams queue: dropping an unreadable job", "entry", id, "err", err)
		_, derr := q.exec(context.WithoutCancel(ctx), dropScript, []string{q.keys.stream, q.keys.ids, q.keys.cursors}, group, id, fields["p"])
		if derr != nil {
			q.log.Warn("beams queue: dropping an unreadable job failed; retried after ClaimIdle", "entry", id, "err", derr)
		}
		return queue.Job{}, false
	}
	j.Cursor = cursor
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, dup := q.held[id]; dup {
		return queue.Job{}, false
	}
	q.held[id] = j.PublishID
	q.heldID[j.PublishID] = id
	return j, true
}

func decode(f map[string]string) (queue.Job, error) {
	if f == nil {
		return queue.Job{}, errBadEntry
	}
	j := queue.Job{PublishID: f["p"], Instance: f["i"]}
	if j.PublishID == "" {
		return queue.Job{}, fmt.Errorf("%w: no publish id", errBadEntry)
	}
	switch f["u"] {
	case "1":
		j.ToUsers = true
	case "0":
	default:
		return queue.Job{}, fmt.Errorf("%w: route %q", errBadEntry, f["u"])
	}
	if a := f["a"]; a != "" {
		ns, err := strconv.ParseInt(a, 10, 64)
		if err != nil {
			return queue.Job{}, fmt.Errorf("%w: accepted time %q", errBadEntry, a)
		}
		j.Accepted = time.Unix(0, ns).UTC()
	}
	if b, ok := f["b"]; ok && b != "" {
		j.Body = []byte(b)
	}
	return j, nil
}

// createGroup creates the consumer group at the start of the stream (and
// the stream), so it sees every job already queued.
func (q *Queue) createGroup(ctx context.Context) error {
	cctx, cancel := q.call(ctx)
	defer cancel()
	err := q.c.Do(cctx, q.c.B().XgroupCreate().Key(q.keys.stream).Group(group).Id("0").Mkstream().Build()).Error()
	if err != nil && !rueidis.IsRedisBusyGroup(err) {
		return fmt.Errorf("beams queue: redis create group: %w", err)
	}
	return nil
}
