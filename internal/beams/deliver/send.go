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
	outBreakerOpen         // not attempted, its origin's breaker open: scheduled for a retry
	numOutcomes
)

var outcomeNames = [numOutcomes]string{"delivered", "gone", "retry", "config_error", "rejected", "skipped", "given_up", "breaker_open"}

// task is one device's delivery of a job's message. Retries carry the
// same value, so only the fields a push needs are kept, not the Device.
type task struct {
	m        *message
	pg       *page // nil on a retry: its page was handled already
	platform platform
	device   string               // id, to delete it when gone
	sub      webpush.Subscription // web
	token    string               // the device's token as read (fcm, apns: pushed to); deleted only while it has it still
	topic    string               // apns: the device's bundle id ("" the sender's)
	origin   string               // the gate's key: the push service
	attempts int                  // attempts made before this one
	first    time.Time            // when the first attempt started, or the first was not made
}

func (p *Pipeline) worker(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case t := <-p.work:
			p.handle(ctx, t)
		}
	}
}

// handle passes t through its origin's gate and pushes it; then, while
// the push's slot is handed to a push parked at the same origin, that one.
func (p *Pipeline) handle(ctx context.Context, t task) {
	now := p.now()
	v, until, o := p.gate.enter(t, now)
	switch v {
	case park:
		return // the gate hands it to a worker ending a push to its origin
	case shut:
		p.notAttempted(t, until)
		return
	}
	for {
		r, ok, end := p.attempt(ctx, t, now)
		var res *webpush.Result
		if ok {
			res = &r
		}
		l := p.gate.leave(o, res, v == probe, ctx.Err() == nil, end)
		if l.opened {
			p.loud.log(p.log, slog.LevelWarn, "\x00breaker "+t.origin, "push service not answering: its pushes wait for a retry",
				"origin", t.origin, "failures", p.cfg.BreakerFailures, "err", r.Err)
		}
		for _, s := range l.shut {
			p.notAttempted(s, l.until)
		}
		if !l.hasNext {
			return
		}
		t, v, now = l.next, pass, end // with the slot, of a closed breaker
	}
}

// attempt pushes once, starting at now, and acts on the answer; false
// when the push was cancelled (the pipeline is stopping). end is when the
// answer came.
func (p *Pipeline) attempt(ctx context.Context, t task, now time.Time) (r webpush.Result, ok bool, end time.Time) {
	if t.pg != nil {
		defer t.pg.finish()
	}
	if t.first.IsZero() {
		t.first = now
	}
	start := now // time.Now's reading, monotonic clock included: one call fewer a push
	if p.ownClock {
		start = time.Now()
	}
	r = p.send(ctx, &t)
	took := time.Since(start)
	p.sendDur[t.platform].Observe(took.Seconds())
	end = now.Add(took)
	if ctx.Err() != nil {
		return r, false, end // shut down: the push was cancelled, the job stays queued
	}
	t.attempts++
	inst := t.m.inst.ID
	switch r.Outcome {
	case webpush.Delivered:
		p.count(t.m, t.platform, outDelivered)
	case webpush.Gone:
		p.count(t.m, t.platform, outGone)
		p.deleteDevice(ctx, &t, r)
	case webpush.Retry:
		p.later(t, end.Add(max(r.RetryAfter, p.backoffDelay(t.attempts))), outRetry, r.Err)
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
	return r, true, end
}

// notAttempted sends t, not pushed as its origin's breaker is open, to
// wait for a retry: due when the breaker lets a probe through, spread by
// the backoff so the origin's deliveries do not all come back at once.
func (p *Pipeline) notAttempted(t task, until time.Time) {
	if t.pg != nil {
		t.pg.finish()
	}
	if t.first.IsZero() {
		t.first = p.now()
	}
	p.later(t, until.Add(p.backoffDelay(max(t.attempts, 1))), outBreakerOpen, errBreakerOpen)
}

var errBreakerOpen = errors.New("not attempted: the push service's breaker is open")

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

// deleteDevice deletes a device its push service called gone, unless it
// has another token by now: the answer is about the token the push went
// to, and the device may have refreshed it (SetToken) or registered anew
// since it was read, a retry's wait included.
func (p *Pipeline) deleteDevice(ctx context.Context, t *task, r webpush.Result) {
	inst := t.m.inst.ID
	deleted, err := p.store.DeleteIfToken(ctx, inst, t.device, t.token)
	switch {
	case deleted:
		p.m.DevicesDeleted.WithLabelValues(inst, platformNames[t.platform]).Inc()
		if p.log.Enabled(ctx, slog.LevelDebug) {
			p.log.Debug("device gone: deleted", "instance_id", inst, "device_id", t.device, "status", r.Status, "err", r.Err)
		}
	case err == nil: // gone already, or alive with a new token: kept
		if p.log.Enabled(ctx, slog.LevelDebug) {
			p.log.Debug("device gone but no longer with the token pushed to, or deleted already: kept",
				"instance_id", inst, "device_id", t.device, "status", r.Status)
		}
	case ctx.Err() != nil:
	default:
		// The next publish finds it gone again and retries the delete.
		p.loud.log(p.log, slog.LevelWarn, inst+"\x00delete", "cannot delete a gone device",
			"instance_id", inst, "device_id", t.device, "err", err)
	}
}

// later schedules t's next attempt at due, counted o, or gives the
// delivery up when that attempt would fall outside the retry window or the
// retries are full. A retry belongs to no page: its page counts it handled.
func (p *Pipeline) later(t task, due time.Time, o outcome, why error) {
	t.pg = nil
	if due.After(t.first.Add(p.cfg.RetryWindow)) || !p.retries.add(t, due) {
		p.count(t.m, t.platform, outGivenUp)
		if p.log.Enabled(context.Background(), slog.LevelDebug) {
			p.log.Debug("push given up", "instance_id", t.m.inst.ID, "publish_id", t.m.publishID,
				"platform", platformNames[t.platform], "device_id", t.device, "attempts", t.attempts, "err", why)
		}
		return
	}
	p.count(t.m, t.platform, o)
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
