package redisqueue_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/heraldhq/herald/internal/beams/queue"
	"github.com/heraldhq/herald/internal/beams/queue/queuetest"
	"github.com/heraldhq/herald/internal/beams/queue/redisqueue"
	"github.com/heraldhq/herald/internal/redistest"
	"github.com/heraldhq/herald/internal/testlog"
)

// claimIdle is the ClaimIdle of the multi-node tests: short, so a take-over
// happens within the test's bounds.
const claimIdle = 300 * time.Millisecond

// node opens a queue as node consumer, closed when the test ends; its logs
// are printed when the test fails.
func node(t testing.TB, c rueidis.Client, prefix, consumer string, opts redisqueue.Options) (*redisqueue.Queue, *testlog.Buffer) {
	t.Helper()
	logs := &testlog.Buffer{}
	opts.Consumer = consumer
	opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	q := redisqueue.New(c, prefix, opts)
	t.Cleanup(func() {
		q.Close()
		if t.Failed() {
			t.Logf("log of %s:\n%s", consumer, logs.String())
		}
	})
	return q, logs
}

func conformance(t *testing.T, url string) {
	c := redistest.NewClient(t, url)
	queuetest.Run(t, func(t *testing.T, maxJobs int) queuetest.Store {
		prefix := redistest.NewPrefix()
		return queuetest.Store{Open: func(t *testing.T) queue.Queue {
			q, _ := node(t, c, prefix, "node-1", redisqueue.Options{MaxJobs: maxJobs})
			return q
		}}
	})
}

func TestConformance(t *testing.T) {
	conformance(t, redistest.Start(t).URL())
}

// TestClusterConformance: every key shares one hash tag, so the scripts
// run on Redis Cluster.
func TestClusterConformance(t *testing.T) {
	conformance(t, redistest.StartCluster(t, 3).URL())
}

// TestNodesNeverShare: two live nodes split the jobs between them, and
// keep them past several ClaimIdle periods (their refresh loops run).
func TestNodesNeverShare(t *testing.T) {
	c := redistest.NewClient(t, redistest.Start(t).URL())
	prefix := redistest.NewPrefix()
	opts := redisqueue.Options{ClaimIdle: claimIdle}
	a, _ := node(t, c, prefix, "a", opts)
	b, _ := node(t, c, prefix, "b", opts)
	const jobs = 100
	for i := range jobs {
		queuetest.Enqueue(t, a, queuetest.MakeJob(i))
	}
	var mu sync.Mutex
	got := map[string]string{}
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(queuetest.Ctx(t))
	defer cancel()
	for _, q := range []*redisqueue.Queue{a, b} {
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					j, err := q.Next(ctx)
					if err != nil {
						return
					}
					mu.Lock()
					if prev, dup := got[j.PublishID]; dup {
						t.Errorf("%s handed to %s and %s", j.PublishID, prev, q.Consumer())
					}
					got[j.PublishID] = q.Consumer()
					n := len(got)
					mu.Unlock()
					if n == jobs {
						cancel()
					}
				}
			}()
		}
	}
	wg.Wait()
	if len(got) != jobs {
		t.Fatalf("%d jobs handed out, want %d", len(got), jobs)
	}
	// Held without Done for several ClaimIdle: nobody takes them over.
	time.Sleep(4 * claimIdle)
	queuetest.Empty(t, a, 2*claimIdle)
	queuetest.Empty(t, b, 2*claimIdle)
	queuetest.Len(t, a, jobs)
}

// TestTakeOver: a job held by a node that stopped refreshing it goes to
// another node after ClaimIdle, with the cursor its holder recorded.
func TestTakeOver(t *testing.T) {
	c := redistest.NewClient(t, redistest.Start(t).URL())
	prefix := redistest.NewPrefix()
	opts := redisqueue.Options{ClaimIdle: claimIdle}
	a, _ := node(t, c, prefix, "a", opts)
	b, logsB := node(t, c, prefix, "b", opts)
	j := queuetest.MakeJob(0)
	queuetest.Enqueue(t, a, j)
	queuetest.Equal(t, queuetest.Next(t, a), j)
	if err := a.Progress(queuetest.Ctx(t), j.PublishID, "page-3"); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	if err := a.Close(); err != nil { // dies without Done
		t.Fatal(err)
	}
	got := queuetest.Next(t, b)
	if el := time.Since(stopped); el < claimIdle {
		t.Fatalf("taken over after %s, before ClaimIdle %s", el, claimIdle)
	}
	j.Cursor = "page-3"
	queuetest.Equal(t, got, j)
	if !strings.Contains(logsB.String(), "took over a job") {
		t.Errorf("no log line about the take-over:\n%s", logsB)
	}
	if err := b.Done(queuetest.Ctx(t), j.PublishID); err != nil {
		t.Fatal(err)
	}
	queuetest.Len(t, b, 0)
}

// TestStalledNodeLosesJob: a node that hangs past ClaimIdle loses its job
// to another node; its late Progress does not overwrite the new holder's
// cursor, and a restart of the hung node under its name does not get the
// job back either.
func TestStalledNodeLosesJob(t *testing.T) {
	c := redistest.NewClient(t, redistest.Start(t).URL())
	prefix := redistest.NewPrefix()
	opts := redisqueue.Options{ClaimIdle: claimIdle}
	a, logsA := node(t, c, prefix, "a", opts)
	b, _ := node(t, c, prefix, "b", opts)
	j := queuetest.MakeJob(0)
	queuetest.Enqueue(t, a, j)
	queuetest.Next(t, a)
	a.StopRefresh()
	got := queuetest.Next(t, b)
	queuetest.Equal(t, got, j)
	if err := b.Progress(queuetest.Ctx(t), j.PublishID, "b-page"); err != nil {
		t.Fatal(err)
	}
	if err := a.Progress(queuetest.Ctx(t), j.PublishID, "a-page"); err != nil {
		t.Fatalf("late Progress: %v", err)
	}
	if !strings.Contains(logsA.String(), "taken over by another node") {
		t.Errorf("no warning from the stalled node:\n%s", logsA)
	}
	a.Close()
	a2, _ := node(t, c, prefix, "a", opts) // restart of a
	queuetest.Empty(t, a2, 2*claimIdle)    // b refreshes it: nobody takes it

	b.Close() // b dies: the job goes on with b's cursor
	got = queuetest.Next(t, a2)
	j.Cursor = "b-page"
	queuetest.Equal(t, got, j)
}

// TestDoneByOtherNode: Done by any node removes the job for all; the
// holder stops refreshing it and nobody gets it again.
func TestDoneByOtherNode(t *testing.T) {
	c := redistest.NewClient(t, redistest.Start(t).URL())
	prefix := redistest.NewPrefix()
	opts := redisqueue.Options{ClaimIdle: claimIdle}
	a, _ := node(t, c, prefix, "a", opts)
	b, _ := node(t, c, prefix, "b", opts)
	j := queuetest.MakeJob(0)
	queuetest.Enqueue(t, a, j)
	queuetest.Next(t, a)
	if err := b.Done(queuetest.Ctx(t), j.PublishID); err != nil {
		t.Fatal(err)
	}
	queuetest.Len(t, b, 0)
	queuetest.Len(t, a, 0) // a learns it from its refresh loop
	if err := a.Progress(queuetest.Ctx(t), j.PublishID, "x"); err != nil {
		t.Fatal(err)
	}
	a.Close()
	queuetest.Empty(t, b, 3*claimIdle)
}

// TestRestartResumesAtOnce: a node restarting under its consumer name gets
// its jobs back without waiting for ClaimIdle.
func TestRestartResumesAtOnce(t *testing.T) {
	c := redistest.NewClient(t, redistest.Start(t).URL())
	prefix := redistest.NewPrefix()
	opts := redisqueue.Options{ClaimIdle: time.Minute}
	a, _ := node(t, c, prefix, "a", opts)
	queuetest.Enqueue(t, a, queuetest.MakeJob(0))
	queuetest.Next(t, a)
	a.Close()
	a, _ = node(t, c, prefix, "a", opts)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	j, err := a.Next(ctx)
	if err != nil {
		t.Fatalf("restarted node did not get its job back at once: %v", err)
	}
	queuetest.Equal(t, j, queuetest.MakeJob(0))
}

// TestCorruptEntry: an entry that is not a job is logged, skipped and
// deleted.
func TestCorruptEntry(t *testing.T) {
	c := redistest.NewClient(t, redistest.Start(t).URL())
	q, logs := node(t, c, redistest.NewPrefix(), "a", redisqueue.Options{})
	stream, _, _ := q.Keys()
	queuetest.Enqueue(t, q, queuetest.MakeJob(0))
	ctx := queuetest.Ctx(t)
	for _, fv := range [][]string{{"x", "y"}, {"p", "pubid-bad", "u", "1", "a", "not-a-time"}} {
		cmd := c.B().Xadd().Key(stream).Id("*").FieldValue()
		for i := 0; i < len(fv); i += 2 {
			cmd = cmd.FieldValue(fv[i], fv[i+1])
		}
		if err := c.Do(ctx, cmd.Build()).Error(); err != nil {
			t.Fatal(err)
		}
	}
	queuetest.Enqueue(t, q, queuetest.MakeJob(1))
	queuetest.Equal(t, queuetest.Next(t, q), queuetest.MakeJob(0))
	queuetest.Equal(t, queuetest.Next(t, q), queuetest.MakeJob(1))
	if n := strings.Count(logs.String(), "unreadable job"); n != 2 {
		t.Fatalf("%d log lines about unreadable jobs, want 2:\n%s", n, logs)
	}
	n, err := c.Do(ctx, c.B().Xlen().Key(stream).Build()).AsInt64()
	if err != nil || n != 2 {
		t.Fatalf("XLEN = %d, %v; want 2 (the bad entries deleted)", n, err)
	}
}

// TestNextAcrossRedisRestart: Next waits out a Redis restart (which lost
// the queue and its group) and works again once Redis is back.
func TestNextAcrossRedisRestart(t *testing.T) {
	srv := redistest.Start(t)
	c := redistest.NewClient(t, srv.URL())
	q, _ := node(t, c, redistest.NewPrefix(), "a", redisqueue.Options{CommandTimeout: 500 * time.Millisecond})
	queuetest.Enqueue(t, q, queuetest.MakeJob(0))
	queuetest.Next(t, q)
	srv.Restart() // no persistence: the queue and its group are gone
	deadline := time.Now().Add(queuetest.Wait)
	for {
		err := q.Enqueue(queuetest.Ctx(t), queuetest.MakeJob(1))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("enqueue after the Redis restart: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	queuetest.Equal(t, queuetest.Next(t, q), queuetest.MakeJob(1))
}

// TestCloseEndsNext: Close ends a Next waiting in XREADGROUP within the
// block time (a second).
func TestCloseEndsNext(t *testing.T) {
	c := redistest.NewClient(t, redistest.Start(t).URL())
	q, _ := node(t, c, redistest.NewPrefix(), "a", redisqueue.Options{})
	errc := make(chan error, 1)
	go func() { _, err := q.Next(queuetest.Ctx(t)); errc <- err }()
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	q.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, queue.ErrClosed) {
			t.Fatalf("Next after Close: %v", err)
		}
		if el := time.Since(start); el > 1500*time.Millisecond {
			t.Fatalf("Next returned %s after Close", el)
		}
	case <-time.After(queuetest.Wait):
		t.Fatal("Close did not end Next")
	}
}

// BenchmarkRedisEnqueue: ~32 publishers enqueue 1 KiB bodies into a local
// Redis (no persistence: this measures the client and the script).
func BenchmarkRedisEnqueue(b *testing.B) {
	c := redistest.NewClient(b, redistest.Start(b).URL())
	q, _ := node(b, c, redistest.NewPrefix(), "a", redisqueue.Options{MaxJobs: 1 << 30})
	body := []byte(`{"interests":["x"],"web":{"notification":{"title":"` + strings.Repeat("x", 1000) + `"}}}`)
	var n atomic.Int64
	b.SetParallelism(max(1, 32/runtime.GOMAXPROCS(0)))
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

// TestCloseLeavesGroup: a node that holds nothing leaves the consumer
// group when it closes; one holding a job stays, so the job can be taken
// over.
func TestCloseLeavesGroup(t *testing.T) {
	c := redistest.NewClient(t, redistest.Start(t).URL())
	prefix := redistest.NewPrefix()
	opts := redisqueue.Options{ClaimIdle: time.Minute}
	a, _ := node(t, c, prefix, "a", opts)
	b, _ := node(t, c, prefix, "b", opts)
	queuetest.Enqueue(t, a, queuetest.MakeJob(0))
	j := queuetest.Next(t, a)
	queuetest.Enqueue(t, a, queuetest.MakeJob(1))
	k := queuetest.Next(t, b)
	if err := b.Done(queuetest.Ctx(t), k.PublishID); err != nil {
		t.Fatal(err)
	}
	stream, _, _ := a.Keys()
	consumers := func() []string {
		msgs, err := c.Do(queuetest.Ctx(t), c.B().XinfoConsumers().Key(stream).Group("delivery").Build()).ToArray()
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, m := range msgs {
			kv, _ := m.AsStrMap()
			names = append(names, kv["name"])
		}
		return names
	}
	a.Close()
	b.Close()
	if got := consumers(); len(got) != 1 || got[0] != "a" {
		t.Fatalf("consumers after close = %v, want [a] (a still holds %s)", got, j.PublishID)
	}
}
