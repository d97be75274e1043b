package loadgen

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// PresenceOptions configure the presence scenario.
type PresenceOptions struct {
	Common
	// Channels presence channels, each watched by Watchers connections
	// that stay subscribed and measure member events.
	Channels int
	Watchers int
	// Churners connections join and leave (subscribe/unsubscribe with a
	// fresh user id each time), Rate operations per second in total.
	Churners int
	Rate     float64
}

// PresenceResult is the outcome of Presence.
type PresenceResult struct {
	Env
	Channels       int       `json:"channels"`
	Watchers       int       `json:"watchers_per_channel"`
	Churners       int       `json:"churners"`
	RateTarget     float64   `json:"rate_target_ops_per_sec"`
	Seconds        float64   `json:"seconds"`
	Joins          int64     `json:"joins"`
	Leaves         int64     `json:"leaves"`
	Skipped        int64     `json:"skipped_ops_join_pending"`
	OpsPerSec      float64   `json:"ops_per_sec"`
	MemberEvents   int64     `json:"member_events_received"`
	ExpectedEvents int64     `json:"member_events_expected"`
	Missing        int64     `json:"member_events_missing"`
	Duplicates     int64     `json:"member_events_duplicated"`
	Unknown        int64     `json:"member_events_unknown_user"`
	AddedLatency   Latency   `json:"member_added_latency"`
	RemovedLatency Latency   `json:"member_removed_latency"`
	JoinAckLatency Latency   `json:"subscription_succeeded_latency"`
	ServerCPU      *CPUStats `json:"server_cpu,omitempty"`
	ServerUSPerOp  float64   `json:"server_cpu_us_per_op,omitempty"`
	ClientCPU      CPUStats  `json:"client_cpu"`
	Disconnected   int64     `json:"disconnected"`
	ProtoErrors    int64     `json:"protocol_errors"`
	FirstError     string    `json:"first_error,omitempty"`
}

// Rows implements Result.
func (r *PresenceResult) Rows() [][2]string {
	rows := [][2]string{
		{"target", r.Target},
		{"channels x watchers, churners", fmt.Sprintf("%d x %d, %d", r.Channels, r.Watchers, r.Churners)},
		{"ops target -> achieved", fmt.Sprintf("%s -> %s /s over %.1f s (%d joins, %d leaves, %d skipped)", f1(r.RateTarget), f1(r.OpsPerSec), r.Seconds, r.Joins, r.Leaves, r.Skipped)},
		{"member events", fmt.Sprintf("%d of %d expected: %d missing, %d duplicated, %d unknown", r.MemberEvents, r.ExpectedEvents, r.Missing, r.Duplicates, r.Unknown)},
		{"subscribe -> member_added", latRow(r.AddedLatency)},
		{"unsubscribe -> member_removed", latRow(r.RemovedLatency)},
		{"subscribe -> subscription_succeeded", latRow(r.JoinAckLatency)},
	}
	rows = append(rows, cpuRows(r.ServerCPU, "join/leave", r.ServerUSPerOp, &r.ClientCPU)...)
	rows = append(rows, [2]string{"disconnected / protocol errors", fmt.Sprintf("%d / %d", r.Disconnected, r.ProtoErrors)})
	return withFirstError(rows, r.FirstError)
}

type presWatcher struct{ ch int }

type presChurner struct {
	ch      int
	n       int
	state   atomic.Int32 // 0 out, 1 joining, 2 joined
	uid     string
	sentAt  atomic.Int64
	channel string
}

type memberRec struct {
	joinAt, leaveAt atomic.Int64
	joined          atomic.Bool
	added, removed  atomic.Int32
}

type presenceHandler struct {
	mu                      sync.Mutex
	recs                    map[string]*memberRec
	added, removed, ack     Hist
	events, unknown, misses atomic.Int64
}

func (h *presenceHandler) rec(uid string) *memberRec {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.recs[uid]
}

func (h *presenceHandler) OnMessage(c *Conn, m Message) {
	now := time.Now()
	switch d := c.Data.(type) {
	case *presChurner:
		if string(m.Event) == "pusher_internal:subscription_succeeded" && d.state.CompareAndSwap(1, 2) {
			h.ack.Record(now.Sub(time.Unix(0, d.sentAt.Load())))
			if r := h.rec(d.uid); r != nil {
				r.joined.Store(true)
			}
		}
	case *presWatcher:
		ev := string(m.Event)
		if ev != "pusher_internal:member_added" && ev != "pusher_internal:member_removed" {
			return
		}
		var md struct {
			UserID string `json:"user_id"`
		}
		_ = json.Unmarshal([]byte(m.DataString()), &md)
		if len(md.UserID) > 0 && md.UserID[0] == 'w' {
			return // another watcher arriving during set-up
		}
		h.events.Add(1)
		r := h.rec(md.UserID)
		if r == nil {
			h.unknown.Add(1)
			return
		}
		if ev == "pusher_internal:member_added" {
			r.added.Add(1)
			h.added.Record(now.Sub(time.Unix(0, r.joinAt.Load())))
		} else {
			r.removed.Add(1)
			h.removed.Record(now.Sub(time.Unix(0, r.leaveAt.Load())))
		}
	}
}

// Presence churns members through presence channels and measures the
// member_added / member_removed events that watchers receive.
func Presence(ctx context.Context, o PresenceOptions) (*PresenceResult, error) {
	o.defaults()
	if o.Channels <= 0 {
		o.Channels = 10
	}
	if o.Watchers <= 0 {
		o.Watchers = 5
	}
	if o.Churners <= 0 {
		o.Churners = 100
	}
	if o.Rate <= 0 {
		o.Rate = 50
	}
	if o.Watchers+(o.Churners+o.Channels-1)/o.Channels > 100 {
		return nil, fmt.Errorf("watchers + churners per channel must stay within 100 presence members")
	}
	total := o.Channels*o.Watchers + o.Churners
	if err := checkFiles(total); err != nil {
		return nil, err
	}
	r := &PresenceResult{Env: newEnv("presence", o.Common), Channels: o.Channels, Watchers: o.Watchers, Churners: o.Churners, RateTarget: o.Rate}
	h := &presenceHandler{recs: map[string]*memberRec{}}
	pool, err := NewPool(o.Target, h, o.Pollers, o.Logger)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	chName := func(k int) string { return fmt.Sprintf("presence-bench-%d", k) }

	// Watchers first, so that every churner join is seen by all of them.
	var wi atomic.Int64
	nw := o.Channels * o.Watchers
	opened, _, ferr := pool.OpenMany(ctx, nw, o.DialConcurrency, 10,
		func(c *Conn) { c.Data = &presWatcher{ch: int(wi.Add(1)-1) % o.Channels} },
		func(i int, c *Conn) {
			w := c.Data.(*presWatcher)
			cd := fmt.Sprintf(`{"user_id":"w%d-%d","user_info":{"role":"watcher"}}`, w.ch, c.ID)
			_ = c.Subscribe(chName(w.ch), cd)
		})
	waitFor(ctx, 30*time.Second, func() bool { return pool.answered(int64(nw)) })
	if opened < nw || pool.Subscribed.Load() < int64(nw) {
		return r, fmt.Errorf("presence: %d of %d watchers subscribed: %s", pool.Subscribed.Load(), nw, errDetail(ferr, pool.FirstError()))
	}
	var ci atomic.Int64
	churners := make([]*presChurner, 0, o.Churners)
	var cmu sync.Mutex
	opened, _, ferr = pool.OpenMany(ctx, o.Churners, o.DialConcurrency, 10,
		func(c *Conn) {
			k := int(ci.Add(1)-1) % o.Channels
			c.Data = &presChurner{ch: k, channel: chName(k)}
		},
		func(i int, c *Conn) { cmu.Lock(); churners = append(churners, c.Data.(*presChurner)); cmu.Unlock() })
	if opened < o.Churners {
		return r, fmt.Errorf("presence: %d of %d churners connected: %s", opened, o.Churners, errDetail(ferr, pool.FirstError()))
	}
	conns := map[*presChurner]*Conn{}
	for _, c := range pool.Conns() {
		if d, ok := c.Data.(*presChurner); ok {
			conns[d] = c
		}
	}
	sleepCtx(ctx, 500*time.Millisecond)

	var joins, leaves, skipped atomic.Int64
	m := newMeter(o.ServerPID)
	start := time.Now()
	stopP := progress(ctx, o.Progress, o.ProgressEvery, func(time.Duration) string {
		return fmt.Sprintf("presence: %d joins, %d leaves, %d member events, p99 added %.1f ms removed %.1f ms",
			joins.Load(), leaves.Load(), h.events.Load(), ms(h.added.Quantile(0.99)), ms(h.removed.Quantile(0.99)))
	})
	op := func(d *presChurner) {
		c := conns[d]
		now := time.Now().UnixNano()
		switch d.state.Load() {
		case 0:
			d.n++
			d.uid = fmt.Sprintf("u%d-%d", c.ID, d.n)
			rec := &memberRec{}
			rec.joinAt.Store(now)
			h.mu.Lock()
			h.recs[d.uid] = rec
			h.mu.Unlock()
			d.sentAt.Store(now)
			d.state.Store(1)
			_ = c.Subscribe(d.channel, fmt.Sprintf(`{"user_id":%q,"user_info":{"n":%d}}`, d.uid, d.n))
			joins.Add(1)
		case 2:
			if rec := h.rec(d.uid); rec != nil {
				rec.leaveAt.Store(now)
			}
			d.state.Store(0)
			_ = c.Unsubscribe(d.channel)
			leaves.Add(1)
		default:
			skipped.Add(1)
		}
	}
	end := start.Add(o.Duration)
	var due int64
	for i := 0; i < 100_000_000 && ctx.Err() == nil && time.Now().Before(end); i++ {
		want := int64(time.Since(start).Seconds()*o.Rate) + 1
		for ; due < want; due++ {
			op(churners[due%int64(len(churners))])
		}
		sleepCtx(ctx, min(5*time.Millisecond, time.Until(end)))
	}
	r.Seconds = time.Since(start).Seconds()
	// Let the last events arrive: wait until every expected one is in, or
	// no event for 2 s (bounded by 10 s).
	expected := func() (exp, got, missing, dups int64) {
		h.mu.Lock()
		defer h.mu.Unlock()
		w := int32(o.Watchers)
		for _, rec := range h.recs {
			a, rm := rec.added.Load(), rec.removed.Load()
			exp += int64(w)
			got += int64(a)
			missing += int64(max(0, w-a))
			dups += int64(max(0, a-w))
			if rec.leaveAt.Load() != 0 {
				exp += int64(w)
				got += int64(rm)
				missing += int64(max(0, w-rm))
				dups += int64(max(0, rm-w))
			}
		}
		return
	}
	last, lastAt := h.events.Load(), time.Now()
	waitFor(ctx, 10*time.Second, func() bool {
		if e := h.events.Load(); e != last {
			last, lastAt = e, time.Now()
		}
		_, _, miss, _ := expected()
		return miss == 0 || time.Since(lastAt) > 2*time.Second
	})
	stopP()
	r.ServerCPU, r.ClientCPU = m.stop()
	r.Joins, r.Leaves, r.Skipped = joins.Load(), leaves.Load(), skipped.Load()
	r.OpsPerSec = float64(r.Joins+r.Leaves) / r.Seconds
	r.ExpectedEvents, _, r.Missing, r.Duplicates = expected()
	r.MemberEvents = h.events.Load()
	r.Unknown = h.unknown.Load()
	r.AddedLatency, r.RemovedLatency, r.JoinAckLatency = h.added.Summary(), h.removed.Summary(), h.ack.Summary()
	r.ServerUSPerOp = usPer(r.ServerCPU, r.Joins+r.Leaves)
	r.Disconnected, r.ProtoErrors = pool.Disconnected.Load(), pool.ProtoErrors.Load()
	r.FirstError = pool.FirstError()
	if r.FirstError == "" && ferr != nil {
		r.FirstError = ferr.Error()
	}
	return r, endErr(ctx.Err(), r.allFailed)
}
