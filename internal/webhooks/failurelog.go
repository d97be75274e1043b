package webhooks

import (
	"log/slog"
	"net/url"
	"time"
)

// failureLog makes a failing endpoint visible in the log without a line per
// attempt: the first failure after a healthy period at once, then at most
// one summary per interval while it keeps failing (attempts, drops), and the
// recovery. A summary follows the endpoint's previous line by at least one
// interval, and so does a first-failure line after a recovery; only the
// recovery line comes at once. So an endpoint writes a few lines per
// interval at most, however often it fails or flaps.
//
// It is owned by the Run loop, like the endpoints map: workers only report
// through the results channel, so it needs no lock.
//
// Bounded: an entry exists only for an endpoint that failed; it is removed
// one interval after the recovery line (so a flapping endpoint is summed up
// instead of logged per flap), or, when the endpoint still fails but has
// nothing left to deliver, one interval after its last failure and last
// line. The endpoints come from the apps' configuration and stored records,
// so the map is no larger than those.
type failureLog struct {
	every   time.Duration
	log     *slog.Logger
	clock   func() time.Time
	queue   func(endpointID) (batches, events int) // what the endpoint still has stored
	entries map[endpointID]*outage
	due     time.Time // when flush next has something to do; zero: no entries
}

// outage is one endpoint's failure state. Counts are of the period since
// its last line, and of the whole current outage.
type outage struct {
	appKey string
	url    string // logURL of the endpoint: no user info, query or fragment

	since     time.Time // first failure of the current outage; zero: healthy again
	announced bool      // the current outage had a line (its recovery is logged at once)
	lastLine  time.Time // never zero: an entry is created with a line, or in a period after one
	lastSeen  time.Time // last failed attempt or drop

	period counts // since lastLine, not yet logged
	total  counts // of the current outage

	lastReason, lastErr string
	lastStatus          int
}

type counts struct {
	failed, deadBatches, deadEvents, queueFull, recoveries int
}

func (c counts) any() bool { return c != counts{} }

// failedAttempt is what the log needs of one failed attempt.
type failedAttempt struct {
	result
	attempt int    // of this batch, this one included
	events  int    // in the batch
	dead    bool   // the batch was dropped
	next    string // "retry in 2s" or "dropped (...)"
}

func newFailureLog(every time.Duration, log *slog.Logger, clock func() time.Time, queue func(endpointID) (int, int)) *failureLog {
	return &failureLog{every: every, log: log, clock: clock, queue: queue, entries: map[endpointID]*outage{}}
}

// failed records one failed attempt (and its batch's drop, if dead) and
// logs the first-failure line or a summary when one is allowed now.
func (f *failureLog) failed(a failedAttempt) {
	now := f.clock()
	o := f.entries[a.ep]
	// Fresh: the first failure after a healthy period, said at once. A
	// failure within an interval of the endpoint's last line (it recovered
	// just now: flapping) waits for the next summary instead.
	fresh := o == nil || (o.since.IsZero() && !now.Before(o.lastLine.Add(f.every)))
	if o == nil {
		o = &outage{url: logURL(a.ep.URL)}
		f.entries[a.ep] = o
	}
	if fresh && o.period.any() {
		f.summary(a.ep, o, now) // the flapping flush has not reported yet
	}
	if o.since.IsZero() {
		o.since, o.announced, o.total = now, false, counts{}
	}
	if a.key != "" {
		o.appKey = a.key
	}
	o.lastSeen = now
	o.lastReason, o.lastErr, o.lastStatus = a.outcome, a.err, a.status
	c := counts{failed: 1}
	if a.dead {
		c.deadBatches, c.deadEvents = 1, a.events
	}
	o.total.add(c)
	if fresh {
		f.firstLine(a, o)
		o.lastLine, o.announced = now, true
		f.schedule(now.Add(f.every))
		return
	}
	o.period.add(c)
	f.maybeSummary(a.ep, o, now)
}

// refused counts an event not stored for ep because the queue was full.
// Only a failing endpoint's lines report it; the dispatcher's "dropped"
// warning covers the rest.
func (f *failureLog) refused(ep endpointID) {
	o := f.entries[ep]
	if o == nil || o.since.IsZero() {
		return
	}
	now := f.clock()
	o.lastSeen = now
	o.period.queueFull++
	o.total.queueFull++
	f.schedule(o.lastLine.Add(f.every)) // not at once: a burst of refusals is one line
}

// succeeded ends ep's outage, if it has one.
func (f *failureLog) succeeded(ep endpointID) {
	o := f.entries[ep]
	if o == nil || o.since.IsZero() {
		return
	}
	now := f.clock()
	if !o.announced {
		// Failed and recovered within one interval of the last line
		// (flapping): the next summary tells.
		o.period.recoveries++
		o.since = time.Time{}
		f.schedule(o.lastLine.Add(f.every))
		return
	}
	args := append(f.who(ep, o), "outage", dur(now.Sub(o.since)))
	args = append(args, o.total.attrs(false)...)
	f.log.Info("webhook endpoint recovered", args...)
	o.since, o.announced = time.Time{}, false
	o.lastLine, o.period, o.total = now, counts{}, counts{}
	f.schedule(now.Add(f.every)) // forgotten then, unless it fails again
}

func (c *counts) add(o counts) {
	c.failed += o.failed
	c.deadBatches += o.deadBatches
	c.deadEvents += o.deadEvents
	c.queueFull += o.queueFull
	c.recoveries += o.recoveries
}

func (c counts) attrs(recoveries bool) []any {
	a := []any{"failed", c.failed, "dropped_batches", c.deadBatches, "dropped_events", c.deadEvents, "queue_full", c.queueFull}
	if recoveries {
		a = append(a, "recoveries", c.recoveries)
	}
	return a
}

// who names the endpoint: never the secret, a signature or the URL's query.
func (f *failureLog) who(ep endpointID, o *outage) []any {
	return []any{"app_id", ep.App, "app_key", o.appKey, "endpoint", ep.Index, "url", o.url}
}

func (f *failureLog) firstLine(a failedAttempt, o *outage) {
	args := append(f.who(a.ep, o), "attempt", a.attempt, "events", a.events, "reason", a.outcome)
	if a.status != 0 {
		args = append(args, "status", a.status)
	}
	args = append(args, "error", a.err, "next", a.next)
	f.log.Warn("webhook endpoint failing", args...)
}

// maybeSummary logs o's period when the interval since its last line is
// over, else leaves it for flush.
func (f *failureLog) maybeSummary(ep endpointID, o *outage, now time.Time) {
	if now.Before(o.lastLine.Add(f.every)) {
		f.schedule(o.lastLine.Add(f.every))
		return
	}
	f.summary(ep, o, now)
}

// summary logs and resets o's period: "still failing" while the outage
// lasts, "unstable" when the endpoint recovered within the period without
// its outage having been announced.
func (f *failureLog) summary(ep endpointID, o *outage, now time.Time) {
	batches, events := f.queue(ep)
	args := f.who(ep, o)
	msg := "webhook endpoint unstable"
	if !o.since.IsZero() {
		msg = "webhook endpoint still failing"
		args = append(args, "failing_for", dur(now.Sub(o.since)))
		o.announced = true
	}
	args = append(args, "period", dur(now.Sub(o.lastLine)))
	args = append(args, o.period.attrs(true)...)
	args = append(args, "waiting_batches", batches, "pending_events", events, "last_reason", o.lastReason)
	if o.lastStatus != 0 {
		args = append(args, "last_status", o.lastStatus)
	}
	args = append(args, "last_error", o.lastErr)
	f.log.Warn(msg, args...)
	o.lastLine, o.period = now, counts{}
	f.schedule(now.Add(f.every))
}

func (f *failureLog) schedule(t time.Time) {
	if f.due.IsZero() || t.Before(f.due) {
		f.due = t
	}
}

// flush logs the summaries that are due and forgets entries that have had
// nothing to say for an interval. force (at shutdown) logs every unlogged
// period now. Cheap when nothing is due: the loop calls it every iteration.
func (f *failureLog) flush(force bool) {
	if len(f.entries) == 0 {
		f.due = time.Time{}
		return
	}
	now := f.clock()
	if !force && now.Before(f.due) {
		return
	}
	f.due = time.Time{}
	for ep, o := range f.entries {
		if o.period.any() {
			if force || !now.Before(o.lastLine.Add(f.every)) {
				f.summary(ep, o, now)
			} else {
				f.schedule(o.lastLine.Add(f.every))
			}
			continue
		}
		quietSince := o.lastLine
		if o.lastSeen.After(quietSince) {
			quietSince = o.lastSeen
		}
		if now.Before(quietSince.Add(f.every)) {
			f.schedule(quietSince.Add(f.every))
			continue
		}
		if o.since.IsZero() {
			delete(f.entries, ep) // recovered an interval ago
			continue
		}
		if b, e := f.queue(ep); b == 0 && e == 0 {
			// Still failing but idle (its batches were dropped): nothing
			// more to report until it is used again.
			delete(f.entries, ep)
			continue
		}
		f.schedule(now.Add(f.every)) // waiting for its next attempt
	}
}

// wait is how long until flush has something to do; false when never.
func (f *failureLog) wait() (time.Duration, bool) {
	if f.due.IsZero() {
		return 0, false
	}
	return max(f.due.Sub(f.clock()), 0), true
}

// logURL is an endpoint URL as it may be logged: scheme, host and path. The
// user info, query and fragment can carry a token and are left out.
func logURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable)" // the error would quote the URL
	}
	u.User, u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = nil, "", false, "", ""
	// No path: receivers put tokens there (Slack's /services/T…/B…/<token>,
	// webhook.site/<uuid>). The app id and endpoint index name the endpoint.
	if u.Path != "" && u.Path != "/" {
		u.Path, u.RawPath = "/...", ""
	}
	return u.String()
}

// dur rounds a duration for the log.
func dur(d time.Duration) time.Duration {
	switch {
	case d > time.Minute:
		return d.Round(time.Second)
	case d >= time.Millisecond:
		return d.Round(time.Millisecond)
	}
	return d.Round(time.Microsecond)
}
