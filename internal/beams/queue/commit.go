package queue

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// maxTxOps bounds the writes of one group commit (and the writer's inbox).
const maxTxOps = 1024

type opKind uint8

const (
	opEnqueue  opKind = iota + 1
	opProgress        // set or clear pid's cursor
	opDone            // remove pid's job, cursor and index entry
	opDrop            // remove the unreadable record seq
)

// request is one write waiting for the writer. The writer fills the
// result fields before it signals done.
type request struct {
	op     opKind
	pid    string
	cursor string
	val    []byte // opEnqueue: the encoded job
	seq    uint64 // opDrop
	sent   bool   // handed to the writer (set by submit)

	err     error
	added   bool // a job was stored
	removed bool // a job was removed
	done    chan struct{}
}

// submit hands r to the writer and waits for its commit. ctx bounds only
// the hand-over.
func (q *Bolt) submit(ctx context.Context, r *request) error {
	r.done = make(chan struct{})
	q.closeMu.RLock()
	if q.closed {
		q.closeMu.RUnlock()
		return ErrClosed
	}
	select {
	case q.reqs <- r:
		r.sent = true
	case <-ctx.Done():
		q.closeMu.RUnlock()
		return ctx.Err()
	}
	// Close waits for this read lock before it closes reqs, so the writer
	// is still running and will answer.
	q.closeMu.RUnlock()
	<-r.done
	return r.err
}

// writeLoop commits what is waiting, as one transaction, until Close
// closes reqs (it commits what was sent before that).
func (q *Bolt) writeLoop() {
	defer close(q.writerDone)
	batch := make([]*request, 0, maxTxOps)
	for {
		r, ok := <-q.reqs
		if !ok {
			return
		}
		batch = append(batch[:0], r)
	gather:
		for len(batch) < maxTxOps {
			select {
			case r, ok := <-q.reqs:
				if !ok {
					break gather // commit these; the next receive returns
				}
				batch = append(batch, r)
			default:
				break gather
			}
		}
		q.commit(batch)
		clear(batch) // drop references to bodies
	}
}

// commit writes batch in one transaction and answers every request. A
// duplicate or unknown publish id affects only its own request; a failed
// transaction fails them all.
func (q *Bolt) commit(batch []*request) {
	seq := q.seq
	err := q.db.Update(func(tx *bolt.Tx) error {
		seq = q.seq // Update does not retry, but keep the function pure
		jobs, cursors, index := tx.Bucket(bucketJobs), tx.Bucket(bucketCursors), tx.Bucket(bucketIndex)
		for _, r := range batch {
			r.err, r.added, r.removed = nil, false, false
			var err error
			switch r.op {
			case opEnqueue:
				if index.Get([]byte(r.pid)) != nil {
					r.err = ErrDuplicate
					continue
				}
				seq++
				k := seqKey(seq)
				if err = jobs.Put(k, r.val); err == nil {
					err = index.Put([]byte(r.pid), k)
				}
				if err == nil && r.cursor != "" {
					err = cursors.Put(k, []byte(r.cursor))
				}
				r.added = true
			case opProgress:
				k := index.Get([]byte(r.pid))
				switch {
				case k == nil: // unknown or done: nothing to record
				case r.cursor == "":
					err = cursors.Delete(k)
				default:
					err = cursors.Put(k, []byte(r.cursor))
				}
			case opDone:
				k := index.Get([]byte(r.pid))
				if k == nil {
					continue
				}
				k = append([]byte(nil), k...) // Get's slice dies with the index change
				r.removed = jobs.Get(k) != nil
				if err = jobs.Delete(k); err == nil {
					if err = cursors.Delete(k); err == nil {
						err = index.Delete([]byte(r.pid))
					}
				}
			case opDrop:
				r.removed, err = q.dropLocked(tx, r.seq)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})

	q.mu.Lock()
	wakeNext := false
	for _, r := range batch {
		if r.op == opEnqueue {
			q.pending--
		}
		if err != nil {
			r.err = fmt.Errorf("beams queue: commit: %w", err)
			continue
		}
		if r.added {
			q.stored++
			wakeNext = true
		}
		if r.removed {
			q.stored--
		}
	}
	if wakeNext {
		q.seq, q.committed = seq, seq
		close(q.wake)
		q.wake = make(chan struct{})
	}
	q.mu.Unlock()
	for _, r := range batch {
		close(r.done)
	}
}

// dropLocked removes the unreadable record seq and the index entries that
// point at it (found by a scan: the record cannot say its publish id).
// It runs in the writer's transaction.
func (q *Bolt) dropLocked(tx *bolt.Tx, seq uint64) (removed bool, err error) {
	k := seqKey(seq)
	jobs := tx.Bucket(bucketJobs)
	removed = jobs.Get(k) != nil
	if err := jobs.Delete(k); err != nil {
		return false, err
	}
	if err := tx.Bucket(bucketCursors).Delete(k); err != nil {
		return false, err
	}
	index := tx.Bucket(bucketIndex)
	var stale [][]byte
	err = index.ForEach(func(pid, v []byte) error {
		if string(v) == string(k) {
			stale = append(stale, append([]byte(nil), pid...))
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	for _, pid := range stale {
		if err := index.Delete(pid); err != nil {
			return false, err
		}
	}
	return removed, nil
}
