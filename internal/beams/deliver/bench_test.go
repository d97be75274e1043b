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
	go func() { // the service keeps what it delivers until read
		for {
			select {
			case <-e.ps.Messages():
			case <-stop:
				return
			}
		}
	}()
	e.start()
	b.ReportAllocs()
	for b.Loop() {
		before := e.ps.Accepted()
		// A bound for a busy box: the push service shares the cores.
		e.q.waitDoneWithin(b, e.publish(webBody, false), 2*time.Minute)
		if got := e.ps.Accepted() - before; got != n {
			b.Fatalf("%d of %d pushes accepted; rejections %d", got, n, len(e.ps.Rejected()))
		}
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
