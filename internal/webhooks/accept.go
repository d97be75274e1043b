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
// survives. Runs on the loop; the writes land in the next commit.
func (d *Dispatcher) accept(ctx context.Context, e hub.Event, now time.Time) {
	switch e.Kind {
	case hub.ChannelVacated, hub.MemberRemoved:
		if d.leaves.pending(e) {
			return // a second leave without a join between: nothing new to say
		}
		if d.stored >= d.cfg.MaxQueue {
			d.dropped(e.AppID, "queue_full", now)
			return
		}
		d.seq++
		r := leaveRecord{due: now.Add(d.cfg.LeaveDelay), ev: e}
		d.leaves.add(d.seq, r)
		d.put(bucketLeaves, d.seq, r.encode())
		d.stored++
		return
	case hub.ChannelOccupied, hub.MemberAdded:
		if seq, ok := d.leaves.cancel(e); ok {
			// Back within the leave delay: neither the leave nor this join is sent.
			d.del(bucketLeaves, seq)
			d.stored--
			d.m.Events.WithLabelValues(e.AppID, "debounced").Add(2)
			return
		}
	case hub.CacheMiss:
		if d.misses.duplicate(e, now) {
			d.m.Events.WithLabelValues(e.AppID, "deduplicated").Inc()
			return
		}
	}
	d.fanOut(ctx, e, now)
}

// releaseDueLeaves sends the leaves whose delay passed without a rejoin.
func (d *Dispatcher) releaseDueLeaves(ctx context.Context, now time.Time) {
	for {
		l, ok := d.leaves.popDue(now)
		if !ok {
			return
		}
		d.del(bucketLeaves, l.seq) // same commit as the event records below
		d.stored--
		d.fanOut(ctx, l.rec.ev, now)
	}
}

// fanOut stores e once per endpoint of its app that wants it.
func (d *Dispatcher) fanOut(ctx context.Context, e hub.Event, now time.Time) {
	app, err := d.lookupApp(ctx, e.AppID)
	if err != nil {
		d.dropped(e.AppID, "app_not_found", now)
		return
	}
	var body []byte
	routed := false
	for i, w := range app.Webhooks {
		if !wants(w, e) {
			continue
		}
		routed = true
		id := endpointID{App: e.AppID, Index: i, URL: w.URL}
		if d.stored >= d.cfg.MaxQueue {
			d.dropped(e.AppID, "queue_full", now)
			d.fails.refused(id)
			continue
		}
		if body == nil {
			body = eventJSON(e)
		}
		d.seq++
		d.put(bucketEvents, d.seq, eventRecord{ep: id, timeMS: e.TimeMS, json: body}.encode())
		d.stored++
		ep := d.endpoint(id)
		if len(ep.pending) == 0 {
			ep.firstAt = now
		}
		ep.pending = append(ep.pending, pendingEvent{seq: d.seq, timeMS: e.TimeMS, json: body})
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
