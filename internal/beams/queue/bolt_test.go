package queue_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/heraldhq/herald/internal/beams/queue"
	"github.com/heraldhq/herald/internal/beams/queue/queuetest"
	"github.com/heraldhq/herald/internal/testlog"
)

func openBolt(t testing.TB, path string, maxJobs int, logs *testlog.Buffer) *queue.Bolt {
	t.Helper()
	var logger *slog.Logger
	if logs != nil {
		logger = slog.New(slog.NewTextHandler(logs, nil))
	}
	q, err := queue.Open(path, queue.Options{MaxJobs: maxJobs, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

func TestBoltConformance(t *testing.T) {
	queuetest.Run(t, func(t *testing.T, maxJobs int) queuetest.Store {
		path := filepath.Join(t.TempDir(), "beams", "queue.db")
		return queuetest.Store{Open: func(t *testing.T) queue.Queue { return openBolt(t, path, maxJobs, nil) }}
	})
}

// TestBoltCorruptRecord: a record that does not decode is logged, skipped
// and removed; the jobs around it are delivered.
func TestBoltCorruptRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	q := openBolt(t, path, 0, nil)
	queuetest.Enqueue(t, q, queuetest.MakeJob(0), queuetest.MakeJob(1), queuetest.MakeJob(2))
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}

	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(queue.BucketJobs).Put(queue.SeqKey(2), []byte{1, 200, 7}); err != nil { // job 1: truncated
			return err
		}
		return tx.Bucket(queue.BucketJobs).Put(queue.SeqKey(3), []byte{9, 9, 9}) // job 2: unknown version
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()

	logs := &testlog.Buffer{}
	q = openBolt(t, path, 0, logs)
	queuetest.Len(t, q, 3)
	queuetest.Equal(t, queuetest.Next(t, q), queuetest.MakeJob(0))
	queuetest.Empty(t, q, 50*time.Millisecond)
	if n := strings.Count(logs.String(), "unreadable stored job"); n != 2 {
		t.Fatalf("%d log lines about unreadable jobs, want 2:\n%s", n, logs)
	}
	queuetest.Len(t, q, 1) // removed: they no longer count against MaxJobs
	// Their publish ids are free again (index entries removed).
	queuetest.Enqueue(t, q, queuetest.MakeJob(1))
	queuetest.Equal(t, queuetest.Next(t, q), queuetest.MakeJob(1))
}

// TestBoltLocked: a file held by another Bolt fails Open after the lock
// timeout instead of hanging.
func TestBoltLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	openBolt(t, path, 0, nil)
	start := time.Now()
	q, err := queue.Open(path, queue.Options{})
	if err == nil {
		q.Close()
		t.Fatal("opened a locked file")
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Fatalf("Open took %s", el)
	}
}

// TestBoltCloseCommitsPending: Enqueues racing Close either succeed (and
// survive the restart) or return ErrClosed; none is lost or half-done.
func TestBoltCloseCommitsPending(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	q := openBolt(t, path, 0, nil)
	var ok atomic.Int64
	done := make(chan struct{})
	for w := range 16 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := 0; ; i++ {
				err := q.Enqueue(context.Background(), queuetest.MakeJob(w*1_000_000+i))
				if errors.Is(err, queue.ErrClosed) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				ok.Add(1)
			}
		}()
	}
	time.Sleep(100 * time.Millisecond)
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	for range 16 {
		select {
		case <-done:
		case <-time.After(queuetest.Wait):
			t.Fatal("an Enqueue hung across Close")
		}
	}
	q = openBolt(t, path, 0, nil)
	if got := int64(q.Len()); got != ok.Load() {
		t.Fatalf("%d jobs stored after restart, %d Enqueues succeeded", got, ok.Load())
	}
}

// BenchmarkBoltEnqueue: ~32 publishers (SetParallelism on GOMAXPROCS)
// enqueue 1 KiB bodies, each Enqueue durable (fsync) when it returns.
func BenchmarkBoltEnqueue(b *testing.B) {
	benchEnqueue(b, max(1, 32/runtime.GOMAXPROCS(0)))
}

// BenchmarkBoltEnqueueSerial: one publisher, so one fsync per Enqueue (what
// the group commit saves).
func BenchmarkBoltEnqueueSerial(b *testing.B) {
	q := openBolt(b, filepath.Join(b.TempDir(), "queue.db"), 1<<30, nil)
	body := benchBody()
	ctx := context.Background()
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	for i := range b.N {
		j := queuetest.MakeJob(i)
		j.Body = body
		if err := q.Enqueue(ctx, j); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "enqueues/s")
}

func benchBody() []byte {
	return []byte(`{"interests":["x"],"web":{"notification":{"title":"` + strings.Repeat("x", 1000) + `"}}}`)
}

// benchEnqueue runs GOMAXPROCS*parallelism publishers.
func benchEnqueue(b *testing.B, parallelism int) {
	q := openBolt(b, filepath.Join(b.TempDir(), "queue.db"), 1<<30, nil)
	body := benchBody()
	var n atomic.Int64
	b.SetParallelism(parallelism)
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			j := queuetest.MakeJob(0)
			j.PublishID = fmt.Sprintf("pubid-%d", n.Add(1))
			j.Body = body
			if err := q.Enqueue(ctx, j); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "enqueues/s")
}
