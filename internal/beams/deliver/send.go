package deliver

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/heraldhq/herald/internal/beams/devices"
	"github.com/heraldhq/herald/internal/beams/webpush"
)

// platform indexes per-platform tables.
type platform uint8

const (
	platWeb platform = iota
	platFCM
	platAPNs
	numPlatforms
)

var platformNames = [numPlatforms]string{"web", "fcm", "apns"}

func platformOf(p devices.Platform) (platform, bool) {
	switch p {
	case devices.Web:
		return platWeb, true
	case devices.FCM:
		return platFCM, true
	case devices.APNS:
		return platAPNs, true
	}
	return 0, false
}

// outcome is a delivery's counted result: the outcome label of
// BeamsMetrics.Deliveries. Each push attempt counts once; a device whose
// platform gets nothing counts skipped (or rejected) without an attempt.
type outcome uint8

const (
	outDelivered   outcome = iota
	outGone                // the device was deleted
	outRetry               // scheduled for another attempt
	outConfigError         // the instance's credentials were refused
	outRejected            // this message will never be taken
	outSkipped             // no payload for the platform, or no sender
	outGivenUp             // a retryable failure with no retry left (window, bound, shutdown)
	numOutcomes
)

var outcomeNames = [numOutcomes]string{"delivered", "gone", "retry", "config_error", "rejected", "skipped", "given_up"}

// task is one device's delivery of a job's message. Retries carry the
// same value, so only the fields a push needs are kept, not the Device.
type task struct {
	m        *message
	pg       *page // nil on a retry: its page was handled already
	platform platform
	device   string               // id, to delete it when gone
	sub      webpush.Subscription // web
	token    string               // fcm, apns
	topic    string               // apns: the device's bundle id ("" the sender's)
	attempts int                  // attempts made before this one
	first    time.Time            // when the first attempt started
}

func (p *Pipeline) worker(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case t := <-p.work:
			p.attempt(ctx, t)
		}
	}
}

// attempt pushes once and acts on the answer.
func (p *Pipeline) attempt(ctx context.Context, t task) {
	if t.pg != nil {
		defer t.pg.finish()
	}
	now := p.now()
	if t.attempts == 0 {
		t.first = now
	}
	start := time.Now()
	r := p.send(ctx, &t)
	p.sendDur[t.platform].Observe(time.Since(start).Seconds())
	if ctx.Err() != nil {
		return // shut down: the push was cancelled, the job stays queued
	}
	t.attempts++
	inst := t.m.inst.ID
	switch r.Outcome {
	case webpush.Delivered:
		p.count(t.m, t.platform, outDelivered)
	case webpush.Gone:
		p.count(t.m, t.platform, outGone)
		p.deleteDevice(ctx, inst, t.platform, t.device, r)
	case webpush.Retry:
		p.retry(t, r)
	case webpush.ConfigError:
		p.count(t.m, t.platform, outConfigError)
		p.loud.log(p.log, slog.LevelWarn, inst, "push refused the instance's credentials; check its configuration",
			"instance_id", inst, "platform", platformNames[t.platform], "status", r.Status, "err", r.Err)
	default:
		p.count(t.m, t.platform, outRejected)
		if p.log.Enabled(ctx, slog.LevelDebug) {
			p.log.Debug("push rejected", "instance_id", inst, "publish_id", t.m.publishID,
				"platform", platformNames[t.platform], "device_id", t.device, "status", r.Status, "err", r.Err)
		}
	}
}

func (p *Pipeline) send(ctx context.Context, t *task) webpush.Result {
	in := t.m.inst
	switch t.platform {
	case platWeb:
		return in.Web.Send(ctx, t.sub, t.m.web)
	case platFCM:
		return in.FCM.Send(ctx, t.token, t.m.fcm)
	default:
		return in.APNs.Send(ctx, t.token, t.topic, t.m.apns, t.m.apnsH)
	}
}

func (p *Pipeline) deleteDevice(ctx context.Context, inst string, pl platform, id string, r webpush.Result) {
	err := p.store.Delete(ctx, inst, id)
	switch {
	case err == nil:
		p.m.DevicesDeleted.WithLabelValues(inst, platformNames[pl]).Inc()
		if p.log.Enabled(ctx, slog.LevelDebug) {
			p.log.Debug("device gone: deleted", "instance_id", inst, "device_id", id, "status", r.Status, "err", r.Err)
		}
	case errors.Is(err, devices.ErrNotFound), ctx.Err() != nil:
	default:
		// The next publish finds it gone again and retries the delete.
		p.loud.log(p.log, slog.LevelWarn, inst+"\x00delete", "cannot delete a gone device",
			"instance_id", inst, "device_id", id, "err", err)
	}
}

// retry schedules the next attempt, or gives the delivery up when that
// attempt would fall outside the retry window or the retries are full.
func (p *Pipeline) retry(t task, r webpush.Result) {
	due := p.now().Add(max(r.RetryAfter, p.backoffDelay(t.attempts)))
	if due.After(t.first.Add(p.cfg.RetryWindow)) || !p.retries.add(t, due) {
		p.count(t.m, t.platform, outGivenUp)
		if p.log.Enabled(context.Background(), slog.LevelDebug) {
			p.log.Debug("push given up", "instance_id", t.m.inst.ID, "publish_id", t.m.publishID,
				"platform", platformNames[t.platform], "device_id", t.device, "attempts", t.attempts, "err", r.Err)
		}
		return
	}
	p.count(t.m, t.platform, outRetry)
}

func (p *Pipeline) count(m *message, pl platform, o outcome) {
	p.m.Deliveries.WithLabelValues(m.inst.ID, platformNames[pl], outcomeNames[o]).Inc()
	m.tally[pl][o].Add(1)
}

// throttle lets through one line per key per period and counts the rest,
// reported with the next line let through. Keys are instance ids (bounded
// by the configuration and the app store).
type throttle struct {
	every time.Duration

	mu   sync.Mutex
	keys map[string]*throttled
}

type throttled struct {
	last       time.Time
	suppressed int
}

func (th *throttle) log(l *slog.Logger, level slog.Level, key, msg string, args ...any) {
	if !l.Enabled(context.Background(), level) {
		return
	}
	now := time.Now()
	th.mu.Lock()
	if th.keys == nil {
		th.keys = map[string]*throttled{}
	}
	k := th.keys[key]
	if k == nil {
		if len(th.keys) >= 10_000 { // instances are far fewer; a bound all the same
			clear(th.keys)
		}
		k = &throttled{}
		th.keys[key] = k
	}
	if !k.last.IsZero() && now.Sub(k.last) < th.every {
		k.suppressed++
		th.mu.Unlock()
		return
	}
	k.last = now
	suppressed := k.suppressed
	k.suppressed = 0
	th.mu.Unlock()
	if suppressed > 0 {
		args = append(args, "suppressed_since_last", suppressed)
	}
	l.Log(context.Background(), level, msg, args...)
}
