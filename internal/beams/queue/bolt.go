package queue

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// DefaultMaxJobs is Options.MaxJobs when zero.
const DefaultMaxJobs = 100_000

// openTimeout bounds the wait for the file lock: a database held by
// another process fails Open instead of hanging it.
const openTimeout = 2 * time.Second

// Buckets of the database file.
var (
	bucketJobs    = []byte("jobs")    // 8-byte big-endian seq -> encodeJob record
	bucketCursors = []byte("cursors") // seq -> cursor (absent: from the start)
	bucketIndex   = []byte("index")   // publish id -> seq
)

// Options configure Open. Every zero field means its default.
type Options struct {
	// MaxJobs is the most jobs stored at once; Enqueue returns ErrFull
	// beyond it. 0: DefaultMaxJobs.
	MaxJobs int
	// Logger receives the queue's logs (component=beams.queue); nil
	// discards them.
	Logger *slog.Logger
}

var _ Queue = (*Bolt)(nil)

// Bolt is the single-node Queue: a bbolt file. Jobs are keyed by a
// sequence number that grows with every Enqueue, so key order is
// acceptance order. Only that bookkeeping lives in memory; Next reads each
// job from disk.
//
// Every write (Enqueue, Progress, Done) goes through one writer goroutine
// that commits whatever is waiting in one fsynced transaction (a group
// commit): concurrent publishers share the cost of an fsync instead of
// paying one each.
//
// Locks: nextMu, closeMu and mu are each taken alone, never nested; none
// is held while waiting for the writer.
type Bolt struct {
	db      *bolt.DB
	log     *slog.Logger
	maxJobs int

	reqs       chan *request // to the writer; closed by Close
	writerDone chan struct{} // closed when the writer has returned
	done       chan struct{} // closed by Close: wakes Next
	seq        uint64        // last seq given out, owned by the writer

	closeMu sync.RWMutex // read: sending to reqs; write: Close
	closed  bool         // under closeMu

	mu        sync.Mutex
	stored    int           // jobs committed
	pending   int           // Enqueues not yet committed (they count against maxJobs)
	committed uint64        // highest committed seq
	wake      chan struct{} // closed (and replaced) when jobs were committed

	nextMu   sync.Mutex
	next     uint64 // lowest seq Next may still hand out
	nextDone bool   // Close ran: Next must not read the db
}

// Open opens (creating if needed) the queue file at path and starts its
// writer. Jobs stored by an earlier run are handed out again by Next, in
// order, with their cursors.
func Open(path string, opts Options) (*Bolt, error) {
	if path == "" {
		return nil, fmt.Errorf("beams queue: path is required")
	}
	if opts.MaxJobs <= 0 {
		opts.MaxJobs = DefaultMaxJobs
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("beams queue: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: openTimeout})
	if err != nil {
		return nil, fmt.Errorf("beams queue: open %s: %w", path, err)
	}
	q := &Bolt{
		db:         db,
		log:        log.With("component", "beams.queue"),
		maxJobs:    opts.MaxJobs,
		reqs:       make(chan *request, maxTxOps),
		writerDone: make(chan struct{}),
		done:       make(chan struct{}),
		wake:       make(chan struct{}),
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketJobs, bucketCursors, bucketIndex} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		jobs := tx.Bucket(bucketJobs)
		q.stored = jobs.Stats().KeyN
		if k, _ := jobs.Cursor().Last(); len(k) == 8 {
			q.seq = binary.BigEndian.Uint64(k)
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("beams queue: init %s: %w", path, err)
	}
	q.committed = q.seq
	go q.writeLoop()
	return q, nil
}

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// Enqueue stores j; it returns once the transaction holding j is on disk.
// ctx bounds only the wait for room in the writer's inbox: once the job is
// handed to the writer, Enqueue waits for the commit (a job reported as
// failed must not be delivered).
func (q *Bolt) Enqueue(ctx context.Context, j Job) error {
	if err := Check(j); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	q.mu.Lock()
	if q.stored+q.pending >= q.maxJobs {
		q.mu.Unlock()
		return ErrFull
	}
	q.pending++
	q.mu.Unlock()
	r := &request{op: opEnqueue, pid: j.PublishID, cursor: j.Cursor, val: encodeJob(j)}
	if err := q.submit(ctx, r); err != nil {
		if !r.sent {
			q.mu.Lock()
			q.pending--
			q.mu.Unlock()
		}
		return err
	}
	return nil
}

// Next hands out the oldest job this value has not handed out yet,
// reading it from disk; it waits for one (without polling) until ctx ends
// or Close.
func (q *Bolt) Next(ctx context.Context) (Job, error) {
	for {
		if err := ctx.Err(); err != nil {
			return Job{}, err
		}
		// Snapshot wake before reading: a commit after the snapshot closes
		// it, one before is visible to the read.
		q.mu.Lock()
		wake, committed := q.wake, q.committed
		q.mu.Unlock()

		j, ok, bad, err := q.take(committed)
		for _, seq := range bad {
			// The record can never be delivered: remove it so it stops
			// counting against MaxJobs. Best effort (Close may be under way).
			if err := q.submit(context.Background(), &request{op: opDrop, seq: seq}); err != nil && err != ErrClosed {
				q.log.Warn("beams queue: dropping unreadable job failed", "seq", seq, "err", err)
			}
		}
		if err != nil || ok {
			return j, err
		}
		select {
		case <-ctx.Done():
			return Job{}, ctx.Err()
		case <-q.done:
			return Job{}, ErrClosed
		case <-wake:
		}
	}
}

// take reads the first job at or after q.next and moves q.next past it.
// committed is the highest seq committed before the caller's wake
// snapshot: when nothing is found, every seq up to it was looked at. It
// also returns the seqs of the unreadable records it skipped.
func (q *Bolt) take(committed uint64) (j Job, ok bool, bad []uint64, err error) {
	q.nextMu.Lock()
	defer q.nextMu.Unlock()
	if q.nextDone {
		return Job{}, false, nil, ErrClosed
	}
	if q.next > committed {
		return Job{}, false, nil, nil // nothing new: skip the read
	}
	err = q.db.View(func(tx *bolt.Tx) error {
		cursors := tx.Bucket(bucketCursors)
		c := tx.Bucket(bucketJobs).Cursor()
		for k, v := c.Seek(seqKey(q.next)); k != nil; k, v = c.Next() {
			if len(k) != 8 {
				q.log.Warn("beams queue: skipping a foreign key in the jobs bucket", "key_len", len(k))
				continue
			}
			seq := binary.BigEndian.Uint64(k)
			q.next = seq + 1
			job, err := decodeJob(v)
			if err != nil {
				q.log.Error("beams queue: skipping an unreadable stored job", "seq", seq, "err", err)
				bad = append(bad, seq)
				continue
			}
			job.Cursor = string(cursors.Get(k))
			j, ok = job, true
			return nil
		}
		return nil
	})
	if err != nil {
		return Job{}, false, bad, fmt.Errorf("beams queue: next: %w", err)
	}
	if !ok {
		q.next = max(q.next, committed+1)
	}
	return j, ok, bad, nil
}

// Progress stores cursor as publishID's cursor ("" clears it) durably.
// An unknown publishID (never stored, or Done already) is not an error:
// the call does nothing, so a late Progress cannot bring a job back.
func (q *Bolt) Progress(ctx context.Context, publishID, cursor string) error {
	if err := CheckCursor(cursor); err != nil {
		return err
	}
	return q.submit(ctx, &request{op: opProgress, pid: publishID, cursor: cursor})
}

// Done removes publishID's job and cursor durably. An unknown publishID is
// not an error (Done is idempotent).
func (q *Bolt) Done(ctx context.Context, publishID string) error {
	return q.submit(ctx, &request{op: opDone, pid: publishID})
}

// Len is the number of jobs stored, handed out or not (not counting
// Enqueues still waiting for their commit).
func (q *Bolt) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.stored
}

// Close commits the writes already handed to the writer, stops it, makes
// waiting and later Next calls return ErrClosed and closes the file.
// Calls after the first return nil.
func (q *Bolt) Close() error {
	q.closeMu.Lock()
	if q.closed {
		q.closeMu.Unlock()
		return nil
	}
	q.closed = true
	close(q.reqs)
	close(q.done)
	q.closeMu.Unlock()
	<-q.writerDone
	q.nextMu.Lock() // no read of the db may start after this
	q.nextDone = true
	q.nextMu.Unlock()
	if err := q.db.Close(); err != nil {
		return fmt.Errorf("beams queue: close: %w", err)
	}
	return nil
}
