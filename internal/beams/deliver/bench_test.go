package deliver

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/beams/devices"
)

// BenchmarkDeliverWeb10k delivers one publish per op to an interest of
// 10,000 web devices: real encryption and VAPID, to the test push service
// (which decrypts and verifies every push on the same cores).
func BenchmarkDeliverWeb10k(b *testing.B) {
	const n = 10_000
	e := newEnv(b, Config{})
	registerWeb(b, e, n, "news")
	stop := make(chan struct{})
	b.Cleanup(func() { close(stop) })
	var mu sync.Mutex
	got := map[string]int{} // pushes per subscription
	go func() {             // the service keeps what it delivers until read
		for {
			select {
			case m := <-e.ps.Messages():
				mu.Lock()
				got[m.Subscription]++
				mu.Unlock()
			case <-stop:
				return
			}
		}
	}()
	e.start()
	b.ReportAllocs()
	rounds := 0
	for b.Loop() {
		before := e.ps.Accepted()
		// A bound for a busy box: the push service shares the cores.
		e.q.waitDoneWithin(b, e.publish(webBody, false), 2*time.Minute)
		if got := e.ps.Accepted() - before; got != n {
			b.Fatalf("%d of %d pushes accepted; rejections %d", got, n, len(e.ps.Rejected()))
		}
		rounds++
	}
	b.StopTimer()
	// Exactly once: every device got one push per publish, none two.
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		seen, total := len(got), 0
		for _, c := range got {
			total += c
		}
		mu.Unlock()
		if total == n*rounds {
			if seen != n {
				b.Fatalf("%d pushes went to %d devices, want %d each to %d", total, seen, rounds, n)
			}
			for id, c := range got {
				if c != rounds {
					b.Fatalf("device %s got %d pushes for %d publishes", id, c, rounds)
				}
			}
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d pushes read from the service", total, n*rounds)
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "deliveries/s")
}

// registerWeb registers n web devices on interest, a few at a time.
func registerWeb(tb testing.TB, e *env, n int, interest string) {
	tb.Helper()
	ctx := context.Background()
	key := e.inst.VAPID.PublicString()
	var wg sync.WaitGroup
	next := make(chan struct{})
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			for range next {
				sub := e.ps.Subscribe(key)
				d, _, _, err := e.store.Register(ctx, devices.Device{Instance: instID, Platform: devices.Web,
					Token: sub.Token(), Endpoint: sub.Endpoint, P256dh: sub.P256dh, Auth: sub.Auth})
				if err == nil {
					err = e.store.AddInterest(ctx, instID, d.ID, interest)
				}
				if err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		})
	}
	for range n {
		next <- struct{}{}
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		tb.Fatal(err)
	default:
	}
}
