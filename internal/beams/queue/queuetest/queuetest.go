// Package queuetest is the conformance suite every queue.Queue
// implementation passes (bbolt and Redis): Run it from the
// implementation's tests.
package queuetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/beams/queue"
)

// Wait bounds every wait of the suite.
const Wait = 10 * time.Second

// Store is one empty store of the implementation under test.
type Store struct {
	// Open returns a new Queue value on the store, as a process opening it
	// would (the first call: a fresh start; later ones: a restart). The
	// suite closes a value before it opens the next; Open should also
	// register a t.Cleanup that closes it (Close must be idempotent).
	Open func(t *testing.T) queue.Queue
}

// NewStore makes an empty store whose queues hold at most maxJobs.
type NewStore func(t *testing.T, maxJobs int) Store

// Run runs the suite, each case on a store of its own.
func Run(t *testing.T, newStore NewStore) {
	cases := []struct {
		name string
		f    func(t *testing.T, newStore NewStore)
	}{
		{"Order", testOrder},
		{"Restart", testRestart},
		{"EnqueueCursor", testEnqueueCursor},
		{"DoneRemoves", testDoneRemoves},
		{"DoneBeforeNext", testDoneBeforeNext},
		{"UnknownIDs", testUnknownIDs},
		{"Full", testFull},
		{"Invalid", testInvalid},
		{"NextWaits", testNextWaits},
		{"NextContext", testNextContext},
		{"Close", testClose},
		{"ConcurrentEnqueue", testConcurrentEnqueue},
		{"ConcurrentNext", testConcurrentNext},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.f(t, newStore) })
	}
}

// MakeJob is the i-th job of a test: every field set.
func MakeJob(i int) queue.Job {
	return queue.Job{
		PublishID: fmt.Sprintf("pubid-%08d", i),
		Instance:  "instance-1",
		ToUsers:   i%2 == 1,
		Body:      json.RawMessage(fmt.Sprintf(`{"interests":["i%d"],"web":{"notification":{"title":"t"}}}`, i)),
		Accepted:  time.Date(2025, 1, 2, 3, 4, 5, 6789+i, time.UTC),
	}
}

// Ctx is a context bounded by Wait.
func Ctx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	t.Cleanup(cancel)
	return ctx
}

// Equal fails t when got is not want (times compared with Equal).
func Equal(t testing.TB, got, want queue.Job) {
	t.Helper()
	if got.PublishID != want.PublishID || got.Instance != want.Instance || got.ToUsers != want.ToUsers ||
		string(got.Body) != string(want.Body) || !got.Accepted.Equal(want.Accepted) || got.Cursor != want.Cursor {
		t.Fatalf("job:\n got %+v (body %s)\nwant %+v (body %s)", got, got.Body, want, want.Body)
	}
}

// Enqueue enqueues jobs, failing t on an error.
func Enqueue(t testing.TB, q queue.Queue, jobs ...queue.Job) {
	t.Helper()
	for _, j := range jobs {
		if err := q.Enqueue(Ctx(t), j); err != nil {
			t.Fatalf("enqueue %s: %v", j.PublishID, err)
		}
	}
}

// Next takes a job, failing t after Wait.
func Next(t testing.TB, q queue.Queue) queue.Job {
	t.Helper()
	j, err := q.Next(Ctx(t))
	if err != nil {
		t.Fatalf("next: %v", err)
	}
	return j
}

// Empty checks that Next has nothing for d.
func Empty(t testing.TB, q queue.Queue, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if j, err := q.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("next on an empty queue: %+v, %v; want a deadline error", j, err)
	}
}

// Len checks q.Len, polling until Wait: an implementation may learn the
// count with a delay (Redis: from its next call).
func Len(t testing.TB, q queue.Queue, want int) {
	t.Helper()
	deadline := time.Now().Add(Wait)
	for q.Len() != want {
		if time.Now().After(deadline) {
			t.Fatalf("Len = %d, want %d", q.Len(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func closeQ(t testing.TB, q queue.Queue) {
	t.Helper()
	if err := q.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
}

func testOrder(t *testing.T, newStore NewStore) {
	q := newStore(t, 0).Open(t)
	var jobs []queue.Job
	for i := range 20 {
		jobs = append(jobs, MakeJob(i))
	}
	Enqueue(t, q, jobs...)
	Len(t, q, 20)
	for _, want := range jobs {
		Equal(t, Next(t, q), want)
	}
	Empty(t, q, 50*time.Millisecond)
	Len(t, q, 20) // handed out is still stored
}

func testRestart(t *testing.T, newStore NewStore) {
	s := newStore(t, 0)
	q := s.Open(t)
	j0, j1, j2 := MakeJob(0), MakeJob(1), MakeJob(2)
	Enqueue(t, q, j0, j1, j2)
	Equal(t, Next(t, q), j0)
	Equal(t, Next(t, q), j1)
	if err := q.Progress(Ctx(t), j1.PublishID, "page-7"); err != nil {
		t.Fatal(err)
	}
	if err := q.Progress(Ctx(t), j0.PublishID, "page-1"); err != nil {
		t.Fatal(err)
	}
	if err := q.Progress(Ctx(t), j0.PublishID, ""); err != nil { // back to the start
		t.Fatal(err)
	}
	closeQ(t, q)

	q = s.Open(t)
	Len(t, q, 3)
	j1.Cursor = "page-7"
	for _, want := range []queue.Job{j0, j1, j2} {
		Equal(t, Next(t, q), want)
	}
	Empty(t, q, 50*time.Millisecond)
	if err := q.Progress(Ctx(t), j1.PublishID, "page-8"); err != nil {
		t.Fatal(err)
	}
	closeQ(t, q)

	q = s.Open(t)
	j1.Cursor = "page-8"
	for _, want := range []queue.Job{j0, j1, j2} {
		Equal(t, Next(t, q), want)
	}
}

// testEnqueueCursor: a job enqueued with a cursor comes out with it, until
// Progress changes it.
func testEnqueueCursor(t *testing.T, newStore NewStore) {
	s := newStore(t, 0)
	q := s.Open(t)
	j := MakeJob(0)
	j.Cursor = "resume-here"
	Enqueue(t, q, j)
	Equal(t, Next(t, q), j)
	closeQ(t, q)
	q = s.Open(t)
	Equal(t, Next(t, q), j)
	if err := q.Progress(Ctx(t), j.PublishID, ""); err != nil {
		t.Fatal(err)
	}
	closeQ(t, q)
	q = s.Open(t)
	j.Cursor = ""
	Equal(t, Next(t, q), j)
}

func testDoneRemoves(t *testing.T, newStore NewStore) {
	s := newStore(t, 0)
	q := s.Open(t)
	j0, j1, j2 := MakeJob(0), MakeJob(1), MakeJob(2)
	Enqueue(t, q, j0, j1, j2)
	Next(t, q)
	Next(t, q)
	if err := q.Progress(Ctx(t), j1.PublishID, "c"); err != nil {
		t.Fatal(err)
	}
	if err := q.Done(Ctx(t), j1.PublishID); err != nil {
		t.Fatal(err)
	}
	if err := q.Done(Ctx(t), j1.PublishID); err != nil { // idempotent
		t.Fatalf("second Done: %v", err)
	}
	if err := q.Progress(Ctx(t), j1.PublishID, "late"); err != nil { // after Done: nothing
		t.Fatalf("Progress after Done: %v", err)
	}
	Len(t, q, 2)
	closeQ(t, q)

	q = s.Open(t)
	Len(t, q, 2)
	Equal(t, Next(t, q), j0)
	Equal(t, Next(t, q), j2)
	Empty(t, q, 50*time.Millisecond)
	// The publish id is free again once done.
	Enqueue(t, q, j1)
	Equal(t, Next(t, q), j1) // no stale cursor
}

func testDoneBeforeNext(t *testing.T, newStore NewStore) {
	q := newStore(t, 0).Open(t)
	j0, j1, j2 := MakeJob(0), MakeJob(1), MakeJob(2)
	Enqueue(t, q, j0, j1, j2)
	if err := q.Done(Ctx(t), j1.PublishID); err != nil {
		t.Fatal(err)
	}
	Equal(t, Next(t, q), j0)
	Equal(t, Next(t, q), j2)
	Empty(t, q, 50*time.Millisecond)
	Len(t, q, 2)
}

func testUnknownIDs(t *testing.T, newStore NewStore) {
	q := newStore(t, 0).Open(t)
	if err := q.Progress(Ctx(t), "pubid-unknown", "c"); err != nil {
		t.Fatalf("Progress of an unknown id: %v", err)
	}
	if err := q.Done(Ctx(t), "pubid-unknown"); err != nil {
		t.Fatalf("Done of an unknown id: %v", err)
	}
	Len(t, q, 0)
	Empty(t, q, 50*time.Millisecond)
}

func testFull(t *testing.T, newStore NewStore) {
	s := newStore(t, 3)
	q := s.Open(t)
	Enqueue(t, q, MakeJob(0), MakeJob(1), MakeJob(2))
	if err := q.Enqueue(Ctx(t), MakeJob(3)); !errors.Is(err, queue.ErrFull) {
		t.Fatalf("enqueue over MaxJobs: %v, want ErrFull", err)
	}
	Next(t, q)
	if err := q.Enqueue(Ctx(t), MakeJob(3)); !errors.Is(err, queue.ErrFull) {
		t.Fatalf("handed out still counts: %v, want ErrFull", err)
	}
	if err := q.Done(Ctx(t), MakeJob(1).PublishID); err != nil {
		t.Fatal(err)
	}
	Enqueue(t, q, MakeJob(3))
	closeQ(t, q)
	q = s.Open(t) // the count survives a restart
	if err := q.Enqueue(Ctx(t), MakeJob(4)); !errors.Is(err, queue.ErrFull) {
		t.Fatalf("after restart: %v, want ErrFull", err)
	}
}

func testInvalid(t *testing.T, newStore NewStore) {
	q := newStore(t, 0).Open(t)
	if err := q.Enqueue(Ctx(t), queue.Job{Instance: "i"}); err == nil {
		t.Fatal("a job without publish id was accepted")
	}
	big := MakeJob(0)
	big.Body = make(json.RawMessage, queue.MaxBody+1)
	if err := q.Enqueue(Ctx(t), big); err == nil {
		t.Fatal("an oversized body was accepted")
	}
	j := MakeJob(1)
	Enqueue(t, q, j)
	dup := MakeJob(2)
	dup.PublishID = j.PublishID
	if err := q.Enqueue(Ctx(t), dup); !errors.Is(err, queue.ErrDuplicate) {
		t.Fatalf("duplicate publish id: %v, want ErrDuplicate", err)
	}
	Len(t, q, 1)
	Equal(t, Next(t, q), j)
	Empty(t, q, 50*time.Millisecond)
}

func testNextWaits(t *testing.T, newStore NewStore) {
	q := newStore(t, 0).Open(t)
	got := make(chan queue.Job, 1)
	errc := make(chan error, 1)
	go func() {
		j, err := q.Next(Ctx(t))
		if err != nil {
			errc <- err
			return
		}
		got <- j
	}()
	time.Sleep(50 * time.Millisecond) // let Next start waiting
	j := MakeJob(0)
	Enqueue(t, q, j)
	select {
	case g := <-got:
		Equal(t, g, j)
	case err := <-errc:
		t.Fatal(err)
	case <-time.After(Wait):
		t.Fatal("a waiting Next did not get the job")
	}
}

func testNextContext(t *testing.T, newStore NewStore) {
	q := newStore(t, 0).Open(t)
	Empty(t, q, 100*time.Millisecond)

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { _, err := q.Next(ctx); errc <- err }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Next after cancel: %v, want context.Canceled", err)
		}
	case <-time.After(Wait):
		t.Fatal("Next ignored its context")
	}
	// The queue still works.
	Enqueue(t, q, MakeJob(0))
	Equal(t, Next(t, q), MakeJob(0))
}

func testClose(t *testing.T, newStore NewStore) {
	q := newStore(t, 0).Open(t)
	errc := make(chan error, 1)
	go func() { _, err := q.Next(Ctx(t)); errc <- err }()
	time.Sleep(50 * time.Millisecond)
	closeQ(t, q)
	select {
	case err := <-errc:
		if !errors.Is(err, queue.ErrClosed) {
			t.Fatalf("waiting Next after Close: %v, want ErrClosed", err)
		}
	case <-time.After(Wait):
		t.Fatal("Close did not end a waiting Next")
	}
	if _, err := q.Next(Ctx(t)); !errors.Is(err, queue.ErrClosed) {
		t.Fatalf("Next after Close: %v, want ErrClosed", err)
	}
	if err := q.Enqueue(Ctx(t), MakeJob(0)); !errors.Is(err, queue.ErrClosed) {
		t.Fatalf("Enqueue after Close: %v, want ErrClosed", err)
	}
	if err := q.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func testConcurrentEnqueue(t *testing.T, newStore NewStore) {
	const writers, each = 32, 40
	q := newStore(t, 0).Open(t)
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if err := q.Enqueue(Ctx(t), MakeJob(w*each+i)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	Len(t, q, writers*each)
	seen := make(map[string]bool)
	last := make(map[int]int) // writer -> last index seen: each writer's jobs stay in its order
	for range writers * each {
		j := Next(t, q)
		if seen[j.PublishID] {
			t.Fatalf("%s handed out twice", j.PublishID)
		}
		seen[j.PublishID] = true
		var n int
		fmt.Sscanf(j.PublishID, "pubid-%d", &n)
		w, i := n/each, n%each
		if prev, ok := last[w]; ok && i <= prev {
			t.Fatalf("writer %d: job %d after job %d", w, i, prev)
		}
		last[w] = i
		Equal(t, j, MakeJob(n))
	}
	Empty(t, q, 50*time.Millisecond)
}

func testConcurrentNext(t *testing.T, newStore NewStore) {
	const jobs, readers = 200, 8
	q := newStore(t, 0).Open(t)
	for i := range jobs {
		Enqueue(t, q, MakeJob(i))
	}
	var mu sync.Mutex
	seen := make(map[string]int)
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(Ctx(t))
	defer cancel()
	for range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				j, err := q.Next(ctx)
				if err != nil {
					return
				}
				mu.Lock()
				seen[j.PublishID]++
				n := len(seen)
				mu.Unlock()
				if n == jobs {
					cancel()
				}
			}
		}()
	}
	wg.Wait()
	if len(seen) != jobs {
		t.Fatalf("%d jobs handed out, want %d", len(seen), jobs)
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("%s handed out %d times", id, n)
		}
	}
}
