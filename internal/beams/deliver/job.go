package deliver

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"

	"github.com/heraldhq/herald/internal/beams/apns"
	"github.com/heraldhq/herald/internal/beams/devices"
	"github.com/heraldhq/herald/internal/beams/fcm"
	"github.com/heraldhq/herald/internal/beams/instance"
	"github.com/heraldhq/herald/internal/beams/publish"
	"github.com/heraldhq/herald/internal/beams/queue"
	"github.com/heraldhq/herald/internal/beams/webpush"
)

// message is a job's prepared pushes, built once and shared by every
// delivery of the job, retries included.
type message struct {
	publishID string
	inst      *instance.Instance
	// ready says which platforms have a message to send; a platform
	// without one skips its devices (no payload, no sender) or rejects them
	// (the payload cannot be built).
	ready  [numPlatforms]payloadState
	web    webpush.Message
	fcm    []byte // translated without a token: the sender puts each device's in
	apns   []byte
	apnsH  apns.Headers
	origin [numPlatforms]string                    // the gate's key of FCM and APNs (web: each endpoint's origin)
	tally  [numPlatforms][numOutcomes]atomic.Int64 // for the job's summary line
	target int                                     // devices the job read
}

type payloadState uint8

const (
	payloadAbsent   payloadState = iota // no payload or no sender: devices skipped
	payloadRejected                     // the payload cannot be built: devices rejected
	payloadReady
)

// deliver runs one job: every page of its devices, then Done. It returns
// early, leaving the job queued, only when ctx ends.
func (p *Pipeline) deliver(ctx context.Context, j queue.Job) {
	log := p.log.With("publish_id", j.PublishID, "instance_id", j.Instance)
	target := publish.ToInterests
	if j.ToUsers {
		target = publish.ToUsers
	}
	req, perr := publish.Parse(j.Body, target)
	if perr != nil {
		// Accepted under other rules (an older version): it never will be.
		log.Warn("dropping a queued publish that no longer parses", "err", perr)
		p.done(ctx, j, log)
		return
	}
	inst, err := retrying(ctx, p, log, "read the instance", func() (*instance.Instance, error) {
		return p.reg.Get(ctx, j.Instance)
	}, instance.ErrNotFound)
	switch {
	case ctx.Err() != nil:
		return
	case errors.Is(err, instance.ErrNotFound):
		log.Warn("dropping a queued publish of an instance that is gone")
		p.done(ctx, j, log)
		return
	}
	m := p.prepare(req, inst, j.PublishID, log)

	read := func(cursor string) ([]devices.Device, string, error) {
		var next string
		list, err := retrying(ctx, p, log, "read the devices", func() ([]devices.Device, error) {
			var l []devices.Device
			var err error
			if req.Target == publish.ToUsers {
				l, next, err = p.store.ByUsers(ctx, j.Instance, req.Users, cursor, p.cfg.PageSize)
			} else {
				l, next, err = p.store.ByInterests(ctx, j.Instance, req.Interests, cursor, p.cfg.PageSize)
			}
			return l, err
		}, devices.ErrInvalid)
		if err != nil && ctx.Err() == nil {
			log.Error("dropping a queued publish: the device store refuses its cursor", "cursor", cursor, "err", err)
		}
		return list, next, err
	}
	list, next, err := read(j.Cursor)
	for err == nil {
		pg, ok := p.handOut(ctx, m, list)
		if !ok {
			return
		}
		// The next page is read while this one's last pushes are out, so
		// the workers do not idle for the read: two pages in memory at most.
		var following []devices.Device
		var after string
		if next != "" {
			following, after, err = read(next)
		}
		if !pg.wait(ctx) {
			return
		}
		if next == "" || err != nil {
			break
		}
		// A failed Progress only means a restart would push this page again.
		if perr := p.q.Progress(ctx, j.PublishID, next); perr != nil && ctx.Err() == nil {
			log.Warn("cannot record the publish's progress", "err", perr)
		}
		list, next = following, after
	}
	if ctx.Err() != nil {
		return
	}
	p.done(ctx, j, log)
	if err != nil { // the store refused a cursor for good: the job cannot go on
		return
	}
	if !j.Accepted.IsZero() {
		p.m.PublishLatency.Observe(p.now().Sub(j.Accepted).Seconds())
	}
	p.summary(m, log)
}

// retrying calls read until it succeeds, fails with permanent (returned),
// or ctx ends (ctx's error), spacing failures by the backoff: a database or
// registry that fails for a while delays a publish instead of losing it.
func retrying[T any](ctx context.Context, p *Pipeline, log *slog.Logger, what string, read func() (T, error), permanent error) (T, error) {
	for failures := 1; ; failures++ {
		v, err := read()
		if err == nil || errors.Is(err, permanent) {
			return v, err
		}
		if ctx.Err() != nil {
			return v, ctx.Err()
		}
		log.Warn("cannot "+what+"; trying again", "err", err, "failures", failures)
		if !sleep(ctx, p.backoffDelay(failures)) {
			return v, ctx.Err()
		}
	}
}

func (p *Pipeline) done(ctx context.Context, j queue.Job, log *slog.Logger) {
	if err := p.q.Done(ctx, j.PublishID); err != nil && ctx.Err() == nil {
		log.Error("cannot remove a delivered publish from the queue: a restart delivers it again", "err", err)
	}
	p.m.Queue.Set(float64(p.q.Len()))
}

// prepare builds each platform's message once for the job. Build errors
// are the publisher's (a payload too large once Beams' metadata is in).
func (p *Pipeline) prepare(req *publish.Request, inst *instance.Instance, publishID string, log *slog.Logger) *message {
	m := &message{publishID: publishID, inst: inst}
	// One push service per instance and platform: its credentials'.
	m.origin[platFCM] = "fcm " + inst.ID
	m.origin[platAPNs] = "apns " + inst.ID
	fail := func(pl platform, err error) {
		m.ready[pl] = payloadRejected
		log.Warn("publish payload cannot be sent: its devices are counted rejected", "platform", platformNames[pl], "err", err)
	}
	if req.Web != nil && inst.Web != nil {
		if plain, err := req.WebPlaintext(inst.ID, publishID); err != nil {
			fail(platWeb, err)
		} else {
			m.web = webpush.Message{Plaintext: plain, TTL: req.Web.TTL}
			m.ready[platWeb] = payloadReady
		}
	}
	if req.FCM != nil && inst.FCM != nil {
		if msg, err := fcm.Translate(req.FCM, "", inst.ID, publishID); err != nil {
			fail(platFCM, err)
		} else {
			m.fcm = msg
			m.ready[platFCM] = payloadReady
		}
	}
	if req.APNs != nil && inst.APNs != nil {
		if body, h, err := apns.Build(req.APNs, inst.ID, publishID); err != nil {
			fail(platAPNs, err)
		} else {
			m.apns, m.apnsH = body, h
			m.ready[platAPNs] = payloadReady
		}
	}
	return m
}

// page counts a page's deliveries not yet handled; done is closed when
// the last is.
type page struct {
	pending atomic.Int64
	done    chan struct{}
}

func (pg *page) finish() {
	if pg.pending.Add(-1) == 0 {
		close(pg.done)
	}
}

// wait waits until every delivery of the page is handled: delivered,
// failed for good or waiting for a retry. false when ctx ended first.
func (pg *page) wait(ctx context.Context) bool {
	select {
	case <-pg.done:
		return true
	case <-ctx.Done():
		return false
	}
}

// handOut gives every device of a page to the workers (it blocks while
// their queue is full). false when ctx ended first.
func (p *Pipeline) handOut(ctx context.Context, m *message, list []devices.Device) (*page, bool) {
	pg := &page{done: make(chan struct{})}
	pg.pending.Store(1) // handOut's own, dropped once every device is out
	for i := range list {
		d := &list[i]
		pl, ok := platformOf(d.Platform)
		if !ok {
			continue // a platform this version does not know: not ours to count
		}
		m.target++
		switch m.ready[pl] {
		case payloadAbsent:
			p.count(m, pl, outSkipped)
			continue
		case payloadRejected:
			p.count(m, pl, outRejected)
			continue
		}
		t := task{m: m, pg: pg, platform: pl, device: d.ID, token: d.Token, origin: m.origin[pl]}
		if pl == platWeb {
			t.sub = webpush.Subscription{Endpoint: d.Endpoint, P256dh: d.P256dh, Auth: d.Auth}
			t.origin = originOf(d.Endpoint)
		} else {
			t.topic = d.BundleID
		}
		pg.pending.Add(1)
		select {
		case p.work <- t:
		case <-ctx.Done():
			return nil, false
		}
	}
	pg.finish()
	return pg, true
}

// summary logs the outcomes of the job's first pass (later retries are in
// the metrics only); at debug level, as publishes may come 100 a second.
func (p *Pipeline) summary(m *message, log *slog.Logger) {
	if !log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	var per [numOutcomes]int64
	for pl := range numPlatforms {
		for o := range numOutcomes {
			per[o] += m.tally[pl][o].Load()
		}
	}
	args := []any{"devices", m.target}
	for o := range numOutcomes {
		if per[o] > 0 {
			args = append(args, outcomeNames[o], per[o])
		}
	}
	log.Debug("publish delivered", args...)
}
