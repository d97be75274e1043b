// Package redisqueue is the queue.Queue of cluster mode: one queue in the
// cluster's Redis shared by every node, so a publish accepted by a node
// that dies is delivered by another.
//
// The jobs are entries of a Redis stream read through one consumer group;
// each node reads as its own consumer (Options.Consumer). An entry handed
// to a node stays in the group's pending list, owned by that node, until
// Done acks and deletes it. A node refreshes the claim on the jobs it
// holds (a background loop, and every Progress); a job whose claim was not
// refreshed for Options.ClaimIdle (its node died or hung) is taken over by
// the next node that asks for work (XAUTOCLAIM), with the cursor its last
// holder recorded. A node restarting under the same consumer name takes
// its own pending jobs back at once.
//
// Keys (P: the prefix given to New). They share the hash tag {beams}, so
// every script works on Redis Cluster:
//
//	P:{beams}:q    stream  the jobs; fields p publish id, i instance,
//	                       u "1" users route, a accepted (unix ns), b body,
//	                       c the cursor it was enqueued with (if any)
//	P:{beams}:ids  hash    publish id -> entry id (Progress and Done by publish id)
//	P:{beams}:cur  hash    publish id -> cursor
//
// Durability is Redis's: Enqueue returns once Redis has the job in memory.
// Run Redis with the persistence the operator wants (AOF with appendfsync
// everysec loses at most about a second of accepted publishes on a Redis
// crash; RDB alone, everything since the last snapshot), and with a
// replica plus failover if a Redis host loss must not lose them either.
package redisqueue

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/heraldhq/herald/internal/beams/queue"
)

// Defaults for zero Options fields.
const (
	DefaultPrefix         = "herald"
	DefaultClaimIdle      = 30 * time.Second
	DefaultCommandTimeout = 2 * time.Second
)

// Fixed bounds.
const (
	group       = "delivery"            // the consumer group every node reads in
	maxBlock    = time.Second           // longest XREADGROUP BLOCK: ctx and Close are honoured within it
	lenEvery    = time.Second           // how often Len's count is read
	refreshPage = 500                   // entry ids per refresh script
	warnEvery   = time.Minute           // rate limit of the warnings about failing calls
	minBackoff  = 50 * time.Millisecond // Next's first pause after a failure
	maxBackoff  = time.Second
)

// Options configure New. Every zero field means its default.
type Options struct {
	// Consumer names this node in the consumer group; it must be unique
	// among the live nodes and stable across a node's restarts (the node
	// id), so a restarted node takes its own pending jobs back at once.
	// "": a random name, whose jobs other nodes take over after ClaimIdle.
	Consumer string
	// ClaimIdle is how long a job may go without its holder refreshing the
	// claim before another node takes it over. The holder refreshes every
	// ClaimIdle/3. 0: DefaultClaimIdle.
	ClaimIdle time.Duration
	// MaxJobs is the most jobs the shared queue holds; Enqueue returns
	// queue.ErrFull beyond it. 0: queue.DefaultMaxJobs.
	MaxJobs int
	// CommandTimeout bounds each Redis call but Next's blocking read. 0:
	// DefaultCommandTimeout.
	CommandTimeout time.Duration
	// Logger receives the queue's logs (component=beams.queue.redis); nil
	// discards them.
	Logger *slog.Logger
}

var _ queue.Queue = (*Queue)(nil)

// Queue is one node's handle on the shared queue. Build it with New; Close
// stops its refresh loop (the client stays open: it is the caller's).
//
// Locks: takeMu, then mu; mu is never held during a Redis call.
type Queue struct {
	c    rueidis.Client
	opt  Options
	keys keys
	log  *slog.Logger

	sweepEvery time.Duration // how often Next looks for jobs to take over
	block      time.Duration // XREADGROUP BLOCK

	length atomic.Int64 // the stream's length at the last call that said

	takeMu       sync.Mutex // Next's reads of old jobs (history, take-over); state below
	groupReady   bool       // the consumer group exists (as far as we know)
	historyDone  bool       // this consumer's jobs of an earlier run were all handed out
	historyAfter string     // where the history scan resumes
	sweepFrom    string     // where the take-over scan resumes ("0-0": a new pass)
	sweptAt      time.Time  // when the last pass ended

	mu           sync.Mutex
	closed       bool
	stash        []queue.Job       // jobs read for a Next whose ctx ended meanwhile
	held         map[string]string // entry id -> publish id: handed out by this value, not done
	heldID       map[string]string // publish id -> entry id
	nextWarnedAt time.Time         // Next's last failure warning

	closedCh chan struct{} // closed by Close: wakes Next's backoff
	stopLoop context.CancelFunc
	loopDone chan struct{}
	warnedAt time.Time // last refresh-failure warning, owned by the loop
}

type keys struct{ stream, ids, cursors string }

// New builds the queue on c (which it uses but does not own) and starts
// the loop refreshing this node's claims. It makes no call to Redis
// itself: the first Next creates the consumer group if needed.
func New(c rueidis.Client, prefix string, opts Options) *Queue {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if opts.Consumer == "" {
		b := make([]byte, 6)
		_, _ = rand.Read(b)
		opts.Consumer = "herald-" + hex.EncodeToString(b)
	}
	if opts.ClaimIdle <= 0 {
		opts.ClaimIdle = DefaultClaimIdle
	}
	if opts.MaxJobs <= 0 {
		opts.MaxJobs = queue.DefaultMaxJobs
	}
	if opts.CommandTimeout <= 0 {
		opts.CommandTimeout = DefaultCommandTimeout
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// The tag is the same text in every key whatever the prefix holds, so
	// they all hash to one slot.
	tag := prefix + ":{beams}:"
	q := &Queue{
		c:            c,
		opt:          opts,
		keys:         keys{stream: tag + "q", ids: tag + "ids", cursors: tag + "cur"},
		log:          log.With("component", "beams.queue.redis", "consumer", opts.Consumer),
		sweepEvery:   opts.ClaimIdle / 4,
		historyAfter: "-",
		sweepFrom:    "0-0",
		held:         map[string]string{},
		heldID:       map[string]string{},
		loopDone:     make(chan struct{}),
		closedCh:     make(chan struct{}),
	}
	q.block = min(maxBlock, q.sweepEvery)
	ctx, cancel := context.WithCancel(context.Background())
	q.stopLoop = cancel
	go q.refreshLoop(ctx)
	return q
}

// Consumer is this node's consumer name.
func (q *Queue) Consumer() string { return q.opt.Consumer }

func (q *Queue) timeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, q.opt.CommandTimeout)
}

func (q *Queue) exec(ctx context.Context, s *rueidis.Lua, keys []string, args ...string) (rueidis.RedisMessage, error) {
	cctx, cancel := q.timeout(ctx)
	defer cancel()
	return s.Exec(cctx, q.c, keys, args).ToMessage()
}

func (q *Queue) isClosed() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closed
}

// Enqueue adds j to the shared queue in one script (the size check, the
// duplicate check and the append together). On an error other than
// ErrFull or ErrDuplicate (a timeout, a lost connection) the job may or
// may not be stored; calling Enqueue again with the same job is safe: a
// stored one answers queue.ErrDuplicate.
func (q *Queue) Enqueue(ctx context.Context, j queue.Job) error {
	if err := queue.Check(j); err != nil {
		return err
	}
	if q.isClosed() {
		return queue.ErrClosed
	}
	users, accepted := "0", ""
	if j.ToUsers {
		users = "1"
	}
	if !j.Accepted.IsZero() {
		accepted = strconv.FormatInt(j.Accepted.UnixNano(), 10)
	}
	msg, err := q.exec(ctx, enqueueScript, []string{q.keys.stream, q.keys.ids, q.keys.cursors},
		strconv.Itoa(q.opt.MaxJobs), j.PublishID, j.Instance, users, accepted, string(j.Body), j.Cursor)
	if err != nil {
		return fmt.Errorf("beams queue: redis enqueue: %w", err)
	}
	r, err := ints(msg, 2)
	if err != nil {
		return fmt.Errorf("beams queue: redis enqueue: %w", err)
	}
	q.length.Store(r[1])
	switch r[0] {
	case 1:
		return nil
	case 0:
		return queue.ErrFull
	default:
		return queue.ErrDuplicate
	}
}

// Progress records cursor for publishID while this node holds the job,
// and refreshes its claim. An unknown publishID (never stored, or done)
// is not an error: nothing happens. Neither is a job another node took
// over (this node stalled past ClaimIdle): the cursor is the new holder's
// to record; a warning is logged and the job is no longer refreshed here.
func (q *Queue) Progress(ctx context.Context, publishID, cursor string) error {
	if err := queue.CheckCursor(cursor); err != nil {
		return err
	}
	if q.isClosed() {
		return queue.ErrClosed
	}
	msg, err := q.exec(ctx, progressScript, []string{q.keys.stream, q.keys.ids, q.keys.cursors},
		group, q.opt.Consumer, publishID, cursor)
	if err != nil {
		return fmt.Errorf("beams queue: redis progress: %w", err)
	}
	if n, _ := msg.AsInt64(); n == -1 {
		q.mu.Lock()
		_, mine := q.heldID[publishID]
		q.forgetLocked(publishID)
		q.mu.Unlock()
		if mine {
			q.log.Warn("beams queue: job taken over by another node; its progress is theirs to record", "publish_id", publishID)
		}
	}
	return nil
}

// Done removes publishID's job for every node, whoever holds it. An
// unknown publishID is not an error (Done is idempotent).
func (q *Queue) Done(ctx context.Context, publishID string) error {
	if q.isClosed() {
		return queue.ErrClosed
	}
	msg, err := q.exec(ctx, doneScript, []string{q.keys.stream, q.keys.ids, q.keys.cursors}, group, publishID)
	if err != nil {
		return fmt.Errorf("beams queue: redis done: %w", err)
	}
	if n, err := msg.AsInt64(); err == nil {
		q.length.Store(n)
	}
	q.mu.Lock()
	q.forgetLocked(publishID)
	q.mu.Unlock()
	return nil
}

// forgetLocked stops refreshing publishID's claim. Called under mu.
func (q *Queue) forgetLocked(publishID string) {
	if id, ok := q.heldID[publishID]; ok {
		delete(q.held, id)
		delete(q.heldID, publishID)
	}
}

// forgetIDLocked stops refreshing entry id's claim (its publish id may
// have been queued again since, under another entry). Called under mu.
func (q *Queue) forgetIDLocked(id string) {
	if pid, ok := q.held[id]; ok {
		delete(q.held, id)
		if q.heldID[pid] == id {
			delete(q.heldID, pid)
		}
	}
}

// Len is the number of jobs in the shared queue (every node's, handed out
// or not) as this node last heard it: from its Enqueue or Done calls, and
// read every second (concurrent calls may leave a stale count until then).
// 0 until the first.
func (q *Queue) Len() int { return int(q.length.Load()) }

// Close stops the refresh loop; waiting Next calls return ErrClosed
// within a second (see Next). The jobs this node holds stay claimed by its consumer name: another node
// takes them over after ClaimIdle, or this node's next run at once. The
// client is not closed. Calls after the first return nil.
func (q *Queue) Close() error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return nil
	}
	q.closed = true
	q.stash = nil // pending under this consumer: its next run resumes them
	close(q.closedCh)
	q.mu.Unlock()
	q.stopLoop()
	<-q.loopDone
	// Best effort: a consumer left behind only costs a line in XINFO.
	_, _ = q.exec(context.Background(), leaveScript, []string{q.keys.stream}, group, q.opt.Consumer)
	return nil
}

// ints reads an array reply of n integers.
func ints(msg rueidis.RedisMessage, n int) ([]int64, error) {
	a, err := msg.AsIntSlice()
	if err != nil {
		return nil, err
	}
	if len(a) < n {
		return nil, fmt.Errorf("reply of %d integers, want %d", len(a), n)
	}
	return a, nil
}

// isNoGroup: the stream or its group is missing (new queue, or Redis lost
// its data): create the group and try again.
func isNoGroup(err error) bool {
	return err != nil && strings.Contains(err.Error(), "NOGROUP")
}

var errBadEntry = errors.New("unreadable entry")
