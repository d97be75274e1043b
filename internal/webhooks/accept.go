package webhooks

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/apps"
	"github.com/heraldhq/herald/internal/hub"
)

// accept applies Pusher's timing rules to one hub event and stores what
// survives. Runs on the loop; the writes land in the next commit. In
// cluster mode en is the queue entry e came from: whatever keeps e (a
// delayed leave, an endpoint's pending event) holds a reference to it, and
// the caller drops its own afterwards, so an entry nothing kept is acked.
func (d *Dispatcher) accept(ctx context.Context, e hub.Event, now time.Time, en *entry) {
	switch e.Kind {
	case hub.ChannelVacated, hub.MemberRemoved:
		if d.leaves.pending(e) {
			return // a second leave without a join between: nothing new to say
		}
		if d.q == nil && d.stored >= d.cfg.MaxQueue {
			d.dropped(e.AppID, "queue_full", now)
			return
		}
		due := now.Add(d.cfg.LeaveDelay)
		if en != nil {
			// From when it happened: a new lease holder may read it late.
			due = time.UnixMilli(e.TimeMS).Add(d.cfg.LeaveDelay)
		}
		d.seq++
		r := leaveRecord{due: due, ev: e, en: en}
		en.hold()
		d.leaves.add(d.seq, r)
		d.put(bucketLeaves, d.seq, r)
		d.count(en.leaseOf(), 1)
		return
	case hub.ChannelOccupied, hub.MemberAdded:
		if l, ok := d.leaves.cancel(e); ok {
			if en != nil && !l.rec.due.After(time.UnixMilli(e.TimeMS)) {
				// Read together from a backlog, but the join came after the
				// delay: the leave stands, and so does the join.
				d.releaseLeave(ctx, l, now)
				break
			}
			// Back within the leave delay: neither the leave nor this join is sent.
			d.del(bucketLeaves, l.seq)
			d.count(l.rec.en.leaseOf(), -1)
			d.settle(l.rec.en)
			d.m.Events.WithLabelValues(e.AppID, "debounced").Add(2)
			return
		}
	case hub.CacheMiss:
		at := now
		if en != nil {
			at = time.UnixMilli(e.TimeMS) // a backlog is de-duplicated as it happened
		}
		if d.misses.duplicate(e, at) {
			d.m.Events.WithLabelValues(e.AppID, "deduplicated").Inc()
			return
		}
	}
	d.fanOut(ctx, e, now, en)
}

// releaseDueLeaves sends the leaves whose delay passed without a rejoin.
func (d *Dispatcher) releaseDueLeaves(ctx context.Context, now time.Time) {
	for {
		l, ok := d.leaves.popDue(now)
		if !ok {
			return
		}
		if l.rec.en != nil && d.holdBack(l) {
			continue
		}
		d.releaseLeave(ctx, l, now)
	}
}

func (d *Dispatcher) releaseLeave(ctx context.Context, l leaveEntry, now time.Time) {
	d.del(bucketLeaves, l.seq) // same commit as the event records below
	d.count(l.rec.en.leaseOf(), -1)
	d.fanOut(ctx, l.rec.ev, now, l.rec.en)
	d.settle(l.rec.en)
}

// fanOut stores e once per endpoint of its app that wants it.
func (d *Dispatcher) fanOut(ctx context.Context, e hub.Event, now time.Time, en *entry) {
	app, err := d.lookupApp(ctx, e.AppID)
	if err != nil {
		d.dropped(e.AppID, "app_not_found", now)
		return
	}
	var body []byte
	alone := eventSentAlone(e)
	routed := false
	for i, w := range app.Webhooks {
		if !wants(w, e) {
			continue
		}
		routed = true
		id := endpointID{App: e.AppID, Index: i, URL: w.URL}
		// Cluster mode bounds memory by reading less instead (readRoom).
		if d.q == nil && d.stored >= d.cfg.MaxQueue {
			d.dropped(e.AppID, "queue_full", now)
			d.fails.refused(id)
			continue
		}
		if body == nil {
			body = eventJSON(e)
		}
		d.seq++
		d.put(bucketEvents, d.seq, eventRecord{ep: id, timeMS: e.TimeMS, json: body})
		d.count(en.leaseOf(), 1)
		ep := d.endpoint(id)
		if len(ep.pending) == 0 {
			ep.firstAt = now
		}
		en.hold()
		ep.pending = append(ep.pending, pendingEvent{seq: d.seq, timeMS: e.TimeMS, json: body, alone: alone, en: en})
		d.queued[e.AppID]++ // counted once committed
	}
	if !routed {
		d.m.Events.WithLabelValues(e.AppID, "unrouted").Inc()
	}
}

// wants applies an endpoint's event-type and channel-name filters.
func wants(w apps.Webhook, e hub.Event) bool {
	return slices.Contains(w.EventTypes, string(e.Kind)) &&
		strings.HasPrefix(e.Channel, w.ChannelNameStartsWith) &&
		strings.HasSuffix(e.Channel, w.ChannelNameEndsWith)
}
