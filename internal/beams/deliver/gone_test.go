package deliver

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/heraldhq/herald/internal/beams/apns"
	"github.com/heraldhq/herald/internal/beams/devices"
	"github.com/heraldhq/herald/internal/beams/webpush"
)

// refreshing answers pushes from a script per token; before answering a
// token's push it runs the token's hook (a token refresh racing the push).
type refreshing struct {
	mu      sync.Mutex
	answers map[string][]webpush.Result // by token; Delivered once used up
	hooks   map[string]func()           // by token, run once
	sends   []string
}

func (f *refreshing) answer(token string) webpush.Result {
	f.mu.Lock()
	f.sends = append(f.sends, token)
	hook := f.hooks[token]
	delete(f.hooks, token)
	r := webpush.Result{Outcome: webpush.Delivered, Status: 200}
	if a := f.answers[token]; len(a) > 0 {
		r, f.answers[token] = a[0], a[1:]
	}
	f.mu.Unlock()
	if hook != nil {
		hook()
	}
	return r
}

func (f *refreshing) Send(_ context.Context, token string, _ []byte) webpush.Result {
	return f.answer(token)
}

type refreshingAPNs struct{ *refreshing }

func (f refreshingAPNs) Send(_ context.Context, token, _ string, _ []byte, _ apns.Headers) webpush.Result {
	return f.answer(token)
}

var (
	fcmGone  = webpush.Result{Outcome: webpush.Gone, Status: 404, Err: errors.New("UNREGISTERED")}
	apnsGone = webpush.Result{Outcome: webpush.Gone, Status: 410, Err: errors.New("Unregistered")}
	busy     = webpush.Result{Outcome: webpush.Retry, Status: 503, Err: errors.New("unavailable")}
)

// A device whose token was refreshed (PUT /devices/fcm/{id}/token) while
// a push to its old token was out, or while that push waited for a retry,
// is kept when the push service calls the old token gone; a device that
// kept its token is deleted.
func TestGoneKeepsRefreshedDevice(t *testing.T) {
	e := newEnv(t, Config{BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond, RetryWindow: time.Minute})
	f := &refreshing{answers: map[string][]webpush.Result{}, hooks: map[string]func(){}}
	e.inst.FCM = f
	e.inst.APNs = refreshingAPNs{f}
	ctx := context.Background()
	refresh := func(id, token string) func() {
		return func() {
			if err := e.store.SetToken(ctx, instID, id, token); err != nil {
				t.Errorf("SetToken: %v", err)
			}
		}
	}
	type dev struct {
		d        devices.Device
		keep     bool
		newToken string
	}
	var devs []dev
	add := func(p devices.Platform, token string, script []webpush.Result, refreshTo string) {
		d := e.register(devices.Device{Platform: p, Token: token}, []string{"news"}, "")
		f.answers[token] = script
		if refreshTo != "" {
			f.hooks[token] = refresh(d.ID, refreshTo)
		}
		devs = append(devs, dev{d, refreshTo != "", refreshTo})
	}
	// Refreshed while the push was out.
	add(devices.FCM, "fcm-old-1", []webpush.Result{fcmGone}, "fcm-new-1")
	add(devices.APNS, "aa01", []webpush.Result{apnsGone}, "aa02")
	// Refreshed while the delivery waited for its retry.
	add(devices.FCM, "fcm-old-2", []webpush.Result{busy, fcmGone}, "fcm-new-2")
	// Not refreshed: gone for good.
	add(devices.FCM, "fcm-dead", []webpush.Result{fcmGone}, "")
	add(devices.APNS, "dead01", []webpush.Result{busy, apnsGone}, "")
	e.start()
	e.q.waitDone(t, e.publish(allPlatforms, false))
	eventually(t, "every device answered gone", func() bool {
		return e.deliveries("fcm", "gone")+e.deliveries("apns", "gone") == len(devs)
	})
	for _, d := range devs {
		got, err := e.store.Get(ctx, instID, d.d.ID)
		switch {
		case d.keep && (err != nil || got.Token != d.newToken):
			t.Errorf("%s device refreshed to %s: %+v, %v; want it kept with its new token", d.d.Platform, d.newToken, got, err)
		case !d.keep && !errors.Is(err, devices.ErrNotFound):
			t.Errorf("%s device %s gone: Get = %v, want ErrNotFound", d.d.Platform, d.d.Token, err)
		}
	}
	for pl, n := range map[string]float64{"fcm": 1, "apns": 1} {
		if got := testutil.ToFloat64(e.m.DevicesDeleted.WithLabelValues(instID, pl)); got != n {
			t.Errorf("DevicesDeleted{%s} = %v, want %v", pl, got, n)
		}
	}
}
