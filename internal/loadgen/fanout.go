package loadgen

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// FanoutOptions configure the fanout scenario.
type FanoutOptions struct {
	Common
	Subscribers int
	Channels    int
	// Rates are events/s to publish, one step each (same connections),
	// in order. A step runs Duration.
	Rates []float64
	// Size is the byte length of each event's data string (min 48).
	Size int
	// Publishers is the number of concurrent HTTP publishers, or with Via
	// "client" the number of publishing WebSocket connections.
	Publishers int
	// Batch > 1 publishes through batch_events, Batch events a request.
	Batch int
	// Via is "api" (signed HTTP API, the default) or "client": client
	// events sent by Publishers connections on private channels (the
	// server must allow Rate/Publishers client events per connection and
	// second; --start-server configures that).
	Via string
	// StopOnFail ends the ladder at the first step with loss or p99 over
	// MaxP99.
	StopOnFail bool
	MaxP99     time.Duration
	// Drain bounds the wait for in-flight deliveries after a step.
	Drain time.Duration
}

// FanoutStep is one rate step.
type FanoutStep struct {
	RateTarget       float64 `json:"rate_target_events_per_sec"`
	RateAchieved     float64 `json:"rate_achieved_events_per_sec"`
	Seconds          float64 `json:"seconds"`
	Published        int64   `json:"published"`
	PublishErrors    int64   `json:"publish_errors"`
	Expected         int64   `json:"expected_deliveries"`
	Delivered        int64   `json:"delivered"`
	Lost             int64   `json:"lost"`
	Duplicates       int64   `json:"duplicates"`
	Reordered        int64   `json:"reordered"`
	Misrouted        int64   `json:"misrouted"`
	DeliveriesPerSec float64 `json:"deliveries_per_sec"`
	Latency          Latency `json:"latency"`
	APILatency       Latency `json:"api_latency"`

	ServerCPU              *CPUStats `json:"server_cpu,omitempty"`
	ServerCPUUSPerDeliv    float64   `json:"server_cpu_us_per_delivery,omitempty"`
	ServerCPUSecPerMillion float64   `json:"server_cpu_sec_per_million_deliveries,omitempty"`
	ClientCPU              CPUStats  `json:"client_cpu"`
	Disconnected           int64     `json:"disconnected"`
	OK                     bool      `json:"ok"`
	Verdict                string    `json:"verdict"`
	FirstError             string    `json:"first_error,omitempty"`
}

// FanoutResult is the outcome of Fanout.
type FanoutResult struct {
	Env
	Subscribers  int          `json:"subscribers"`
	Channels     int          `json:"channels"`
	Size         int          `json:"size"`
	Batch        int          `json:"batch"`
	Publishers   int          `json:"publishers"`
	Via          string       `json:"via"`
	Connected    int          `json:"connected"`
	SetupSeconds float64      `json:"setup_seconds"`
	Steps        []FanoutStep `json:"steps"`
	// Best is the highest-rate step without loss and within MaxP99.
	BestRate       float64 `json:"best_ok_rate_events_per_sec"`
	BestDeliveries float64 `json:"best_ok_deliveries_per_sec"`
	FirstError     string  `json:"first_error,omitempty"`
}

// Rows implements Result.
func (r *FanoutResult) Rows() [][2]string {
	rows := [][2]string{
		{"target", r.Target},
		{"subscribers / channels", fmt.Sprintf("%d / %d (%d connected in %.1f s)", r.Subscribers, r.Channels, r.Connected, r.SetupSeconds)},
		{"payload / batch / publishers", fmt.Sprintf("%d B / %d / %d (%s)", r.Size, r.Batch, r.Publishers, r.Via)},
	}
	for _, s := range r.Steps {
		rows = append(rows, [2]string{"", ""},
			[2]string{"rate target -> achieved", fmt.Sprintf("%s -> %s events/s over %.1f s (%d published, %d errors)", f1(s.RateTarget), f1(s.RateAchieved), s.Seconds, s.Published, s.PublishErrors)},
			[2]string{"deliveries", fmt.Sprintf("%d of %d expected, %s/s", s.Delivered, s.Expected, f0(s.DeliveriesPerSec))},
			[2]string{"lost / duplicated / misrouted", fmt.Sprintf("%d / %d / %d (%d arrived after a later event of the channel: concurrent publishers)", s.Lost, s.Duplicates, s.Misrouted, s.Reordered)},
			[2]string{"publish->receive latency", latRow(s.Latency)},
		)
		if r.Via != viaClient {
			rows = append(rows, [2]string{"API call latency", latRow(s.APILatency)})
		}
		rows = append(rows, [2]string{"server CPU", cpuRow(s.ServerCPU)})
		if s.ServerCPU != nil {
			rows = append(rows, [2]string{"server CPU per delivery", fmt.Sprintf("%.2f µs (%.1f CPU-s per million)", s.ServerCPUUSPerDeliv, s.ServerCPUSecPerMillion)})
		}
		rows = append(rows, [2]string{"bench CPU", cpuRow(&s.ClientCPU)}, [2]string{"verdict", s.Verdict})
		rows = withFirstError(rows, s.FirstError)
	}
	rows = append(rows, [2]string{"", ""}, [2]string{"best passing step", fmt.Sprintf("%s events/s = %s deliveries/s", f1(r.BestRate), f0(r.BestDeliveries))})
	return rows
}

// benchEvent is the event name of published benchmark events;
// clientBenchEvent the name when they are sent as client events.
const (
	benchEvent       = "herald-bench"
	clientBenchEvent = "client-herald-bench"
	viaClient        = "client"
)

// fanSub is a subscriber's state: its channel, the highest sequence number
// seen and a bitmap of which of the 64 numbers below it were seen, so that
// events reordered by concurrent publishers are neither lost nor counted
// twice.
type fanSub struct {
	ch   int
	last int64
	seen uint64 // bit i: last-1-i was received
}

// observe records seq and reports whether it is new and whether it arrived
// after a higher one.
func (s *fanSub) observe(seq int64) (fresh, reordered bool) {
	switch {
	case seq > s.last:
		// The old last moves to bit d-1. Shifts of 64 or more give 0, so a
		// jump past the window simply empties it.
		d := uint64(seq - s.last)
		s.seen = s.seen<<d | 1<<(d-1)
		if s.last == 0 {
			s.seen &^= 1 << (d - 1) // there is no sequence number 0
		}
		s.last = seq
		return true, false
	case seq <= 0 || seq == s.last:
		return false, seq > 0
	case s.last-seq > 64:
		return true, true // too old to check; counted once
	default:
		bit := uint64(1) << uint(s.last-seq-1)
		if s.seen&bit != 0 {
			return false, true
		}
		s.seen |= bit
		return true, true
	}
}

type fanoutHandler struct {
	hist                               atomic.Pointer[Hist]
	unique, dups, reordered, misrouted atomic.Int64
}

// payload format (all ASCII, no JSON escapes): "lg <ch> <seq> <unixnano> x…"
func makePayload(ch int, seq int64, ts int64, size int) string {
	var b strings.Builder
	b.Grow(max(size, 64))
	b.WriteString("lg ")
	b.WriteString(strconv.Itoa(ch))
	b.WriteByte(' ')
	b.WriteString(strconv.FormatInt(seq, 10))
	b.WriteByte(' ')
	b.WriteString(strconv.FormatInt(ts, 10))
	b.WriteByte(' ')
	for b.Len() < size {
		b.WriteByte('x')
	}
	return b.String()
}

// parsePayload returns channel index, sequence and timestamp.
func parsePayload(p []byte) (ch int, seq, ts int64, ok bool) {
	if len(p) < 3 || p[0] != 'l' || p[1] != 'g' || p[2] != ' ' {
		return 0, 0, 0, false
	}
	p = p[3:]
	var vals [3]int64
	for k := 0; k < 3; k++ {
		var v int64
		i := 0
		for ; i < len(p) && p[i] >= '0' && p[i] <= '9'; i++ {
			v = v*10 + int64(p[i]-'0')
		}
		if i == 0 {
			return 0, 0, 0, false
		}
		vals[k] = v
		p = p[i:]
		if len(p) > 0 && p[0] == ' ' {
			p = p[1:]
		}
	}
	return int(vals[0]), vals[1], vals[2], true
}

func (f *fanoutHandler) OnMessage(c *Conn, m Message) {
	// Compared without a string variable, which would allocate.
	if string(m.Event) != benchEvent && string(m.Event) != clientBenchEvent {
		return
	}
	now := time.Now().UnixNano()
	ch, seq, ts, ok := parsePayload(m.dataInner())
	s, _ := c.Data.(*fanSub)
	if !ok || s == nil {
		// Not one of ours: the event goes uncounted (so it shows as lost);
		// say why in first_error.
		c.pool.ProtoErrors.Add(1)
		c.pool.noteErr(fmt.Sprintf("unparsable %s data: %.200s", m.Event, m.Data))
		return
	}
	if ch != s.ch {
		f.misrouted.Add(1)
		return
	}
	fresh, reordered := s.observe(seq)
	if !fresh {
		f.dups.Add(1)
		return
	}
	if reordered {
		f.reordered.Add(1)
	}
	f.unique.Add(1)
	f.hist.Load().Record(time.Duration(now - ts))
}

// publisher sends events at a paced rate through the HTTP API, or as
// client events over its WebSocket connections (clients non-nil; channel
// ch is published by clients[ch % len(clients)]).
type publisher struct {
	api      *APIClient
	clients  []*Conn
	rejected func() int64 // client events the server refused so far
	channels []string
	size     int
	batch    int
	seq      []atomic.Int64 // last sequence number handed out, per channel
	okPer    []atomic.Int64 // successful publishes, per channel
	errs     atomic.Int64
	sent     atomic.Int64
	apiHist  atomic.Pointer[Hist]
	firstErr atomic.Pointer[string]
}

func newPublisher(api *APIClient, channels []string, size, batch int) *publisher {
	p := &publisher{api: api, channels: channels, size: size, batch: max(batch, 1),
		seq: make([]atomic.Int64, len(channels)), okPer: make([]atomic.Int64, len(channels))}
	p.apiHist.Store(&Hist{})
	return p
}

// publish sends events for channel indexes chs in one request.
func (p *publisher) publish(ctx context.Context, chs []int) {
	start := time.Now()
	var err error
	if p.clients != nil {
		for _, ch := range chs {
			c := p.clients[ch%len(p.clients)]
			data := makePayload(ch, p.seq[ch].Add(1), time.Now().UnixNano(), p.size)
			if e := c.Send(envelopeOut{Event: clientBenchEvent, Channel: p.channels[ch], Data: data}); e != nil && err == nil {
				err = e
			}
		}
	} else if len(chs) == 1 {
		ch := chs[0]
		data := makePayload(ch, p.seq[ch].Add(1), time.Now().UnixNano(), p.size)
		err = p.api.Trigger(ctx, []string{p.channels[ch]}, benchEvent, data)
	} else {
		items := make([]batchItem, len(chs))
		now := time.Now().UnixNano()
		for i, ch := range chs {
			items[i] = batchItem{Name: benchEvent, Channel: p.channels[ch], Data: makePayload(ch, p.seq[ch].Add(1), now, p.size)}
		}
		err = p.api.TriggerBatch(ctx, items)
	}
	if p.clients == nil {
		p.apiHist.Load().Record(time.Since(start))
	}
	p.sent.Add(int64(len(chs)))
	if err != nil {
		p.errs.Add(int64(len(chs)))
		s := err.Error()
		p.firstErr.CompareAndSwap(nil, &s)
		return
	}
	for _, ch := range chs {
		p.okPer[ch].Add(1)
	}
}

// run publishes at rate events/s for d with workers concurrent requests.
// Events go round-robin over the channels starting at *next.
func (p *publisher) run(ctx context.Context, rate float64, d time.Duration, workers int, next *int) time.Duration {
	jobs := make(chan []int, workers*2)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for chs := range jobs {
				p.publish(ctx, chs)
			}
		}()
	}
	start := time.Now()
	end := start.Add(d)
	var due int64
	for i := 0; i < 100_000_000 && ctx.Err() == nil; i++ {
		now := time.Now()
		if !now.Before(end) {
			break
		}
		want := int64(now.Sub(start).Seconds()*rate) + 1 // the first event goes at t=0
		for due < want && ctx.Err() == nil && time.Now().Before(end) {
			n := int(min(int64(p.batch), want-due))
			chs := make([]int, n)
			for k := range chs {
				chs[k] = *next % len(p.channels)
				*next++
			}
			select {
			case jobs <- chs:
			case <-ctx.Done():
			}
			due += int64(n)
		}
		// Sleep until the next event is due (at most 5 ms).
		nextAt := start.Add(time.Duration(float64(due) / rate * float64(time.Second)))
		sleepCtx(ctx, min(time.Until(nextAt), 5*time.Millisecond, time.Until(end)))
	}
	close(jobs)
	elapsed := time.Since(start)
	wg.Wait()
	return elapsed
}

// Fanout subscribes Subscribers connections over Channels channels and
// publishes at each of Rates in turn, checking every delivery.
func Fanout(ctx context.Context, o FanoutOptions) (*FanoutResult, error) {
	o.defaults()
	if o.Subscribers <= 0 || o.Channels <= 0 || o.Channels > o.Subscribers {
		return nil, fmt.Errorf("need subscribers >= channels > 0")
	}
	if len(o.Rates) == 0 {
		o.Rates = []float64{1}
	}
	o.Size = max(o.Size, 48)
	if o.Publishers <= 0 {
		o.Publishers = 8
	}
	o.Batch = max(o.Batch, 1)
	switch o.Via {
	case "", "api":
		o.Via = "api"
	case viaClient:
		if o.Batch > 1 {
			return nil, fmt.Errorf("fanout: --batch applies to the HTTP API, not to client events")
		}
	default:
		return nil, fmt.Errorf("fanout: --via must be api or client, not %q", o.Via)
	}
	if o.MaxP99 <= 0 {
		o.MaxP99 = 100 * time.Millisecond
	}
	if o.Drain <= 0 {
		o.Drain = 10 * time.Second
	}
	if err := checkFiles(o.Subscribers + o.Publishers); err != nil {
		return nil, err
	}
	r := &FanoutResult{Env: newEnv("fanout", o.Common), Subscribers: o.Subscribers, Channels: o.Channels,
		Size: o.Size, Batch: o.Batch, Publishers: o.Publishers, Via: o.Via}
	h := &fanoutHandler{}
	h.hist.Store(&Hist{})
	pool, err := NewPool(o.Target, h, o.Pollers, o.Logger)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	channels := make([]string, o.Channels)
	for i := range channels {
		channels[i] = fmt.Sprintf("bench-fanout-%d", i)
		if o.Via == viaClient {
			channels[i] = "private-" + channels[i] // client events need private channels
		}
	}
	subsPer := make([]atomic.Int64, o.Channels)

	start := time.Now()
	stopP := progress(ctx, o.Progress, o.ProgressEvery, func(time.Duration) string {
		return fmt.Sprintf("fanout: %d connected, %d subscribed", pool.Len(), pool.Subscribed.Load())
	})
	var idx atomic.Int64
	opened, _, ferr := pool.OpenMany(ctx, o.Subscribers, o.DialConcurrency, o.Subscribers/100+10,
		func(c *Conn) { c.Data = &fanSub{ch: int(idx.Add(1)-1) % o.Channels} },
		func(i int, c *Conn) {
			s := c.Data.(*fanSub)
			subsPer[s.ch].Add(1)
			_ = c.Subscribe(channels[s.ch], "")
		})
	waitFor(ctx, 60*time.Second, func() bool { return pool.answered(int64(opened)) })
	ok := pool.Subscribed.Load() >= int64(opened)
	stopP()
	r.Connected, r.SetupSeconds = opened, time.Since(start).Seconds()
	if ferr != nil {
		r.FirstError = ferr.Error()
	}
	if opened == 0 || !ok {
		return r, fmt.Errorf("fanout: %d of %d connected, %d subscribed: %s", opened, o.Subscribers, pool.Subscribed.Load(), errDetail(ferr, pool.FirstError()))
	}
	sleepCtx(ctx, time.Second)

	api := NewAPIClient(o.Target, o.Publishers)
	defer api.Close()
	pub := newPublisher(api, channels, o.Size, o.Batch)
	if o.Via == viaClient {
		clients, pubPool, err := openClientPublishers(ctx, o, channels)
		if pubPool != nil {
			defer pubPool.Close()
		}
		if err != nil {
			return r, err
		}
		pub.clients, pub.rejected = clients, pubPool.ProtoErrors.Load
	}
	next := 0
	for _, rate := range o.Rates {
		if ctx.Err() != nil {
			break
		}
		st := runFanoutStep(ctx, o, rate, pool, h, pub, subsPer, &next)
		r.Steps = append(r.Steps, st)
		if st.OK && st.RateAchieved > r.BestRate {
			r.BestRate, r.BestDeliveries = st.RateAchieved, st.DeliveriesPerSec
		}
		if !st.OK && o.StopOnFail {
			break
		}
	}
	if r.FirstError == "" {
		r.FirstError = pool.FirstError()
	}
	return r, endErr(ctx.Err(), r.allFailed)
}

func runFanoutStep(ctx context.Context, o FanoutOptions, rate float64, pool *Pool, h *fanoutHandler, pub *publisher,
	subsPer []atomic.Int64, next *int) FanoutStep {
	st := FanoutStep{RateTarget: rate}
	hist := &Hist{}
	h.hist.Store(hist)
	pub.apiHist.Store(&Hist{})
	okBefore := make([]int64, len(subsPer))
	for i := range okBefore {
		okBefore[i] = pub.okPer[i].Load()
	}
	u0, d0, g0, m0 := h.unique.Load(), h.dups.Load(), h.reordered.Load(), h.misrouted.Load()
	e0, s0, disc0 := pub.errs.Load(), pub.sent.Load(), pool.Disconnected.Load()
	var rej0 int64
	if pub.rejected != nil {
		rej0 = pub.rejected()
	}
	rejected := func() int64 {
		if pub.rejected == nil {
			return 0
		}
		return pub.rejected() - rej0
	}
	// A refused client event (pusher:error, e.g. over the per-connection
	// rate limit) was never delivered: an error, not a loss. Every channel
	// has Subscribers/Channels subscribers, give or take one; rounding down
	// keeps expected() from falling below what the drain must wait for.
	expected := func(rej int64) int64 {
		e := -rej * int64(o.Subscribers/o.Channels)
		for i := range subsPer {
			e += (pub.okPer[i].Load() - okBefore[i]) * subsPer[i].Load()
		}
		return e
	}
	m := newMeter(o.ServerPID)
	var lastU int64 = u0
	stopP := progress(ctx, o.Progress, o.ProgressEvery, func(time.Duration) string {
		u := h.unique.Load()
		per := float64(u-lastU) / o.ProgressEvery.Seconds()
		lastU = u
		return fmt.Sprintf("fanout rate %s/s: published %d, delivered %d (%s/s), p99 %.1f ms, errors %d",
			f1(rate), pub.sent.Load()-s0, u-u0, f0(per), ms(hist.Quantile(0.99)), pub.errs.Load()-e0)
	})
	pubTime := pub.run(ctx, rate, o.Duration, o.Publishers, next)
	// Drain: wait for every expected delivery, or no progress for 2 s.
	lastProgress, lastSeen := time.Now(), h.unique.Load()
	waitFor(ctx, o.Drain, func() bool {
		u := h.unique.Load()
		if u != lastSeen {
			lastSeen, lastProgress = u, time.Now()
		}
		return u-u0 >= expected(rejected()) || time.Since(lastProgress) > 2*time.Second
	})
	stopP()
	st.ServerCPU, st.ClientCPU = m.stop()
	st.Seconds = pubTime.Seconds()
	st.Published = pub.sent.Load() - s0
	rej := rejected()
	st.PublishErrors = pub.errs.Load() - e0 + rej
	st.RateAchieved = float64(st.Published-st.PublishErrors) / st.Seconds
	st.Expected = expected(rej)
	st.Delivered = h.unique.Load() - u0
	st.Lost = st.Expected - st.Delivered
	st.Duplicates = h.dups.Load() - d0
	st.Reordered = h.reordered.Load() - g0
	st.Misrouted = h.misrouted.Load() - m0
	st.DeliveriesPerSec = float64(st.Delivered) / st.Seconds
	st.Latency = hist.Summary()
	st.APILatency = pub.apiHist.Load().Summary()
	st.Disconnected = pool.Disconnected.Load() - disc0
	// µs per delivery and CPU-seconds per million deliveries are one number.
	st.ServerCPUUSPerDeliv = usPer(st.ServerCPU, st.Delivered)
	st.ServerCPUSecPerMillion = st.ServerCPUUSPerDeliv
	if e := pub.firstErr.Load(); e != nil {
		st.FirstError = *e
	}
	var why []string
	if st.Lost != 0 {
		why = append(why, fmt.Sprintf("%d lost", st.Lost))
	}
	if st.Duplicates != 0 || st.Misrouted != 0 {
		why = append(why, fmt.Sprintf("%d duplicated, %d misrouted", st.Duplicates, st.Misrouted))
	}
	if st.PublishErrors != 0 {
		why = append(why, fmt.Sprintf("%d publish errors", st.PublishErrors))
	}
	if st.Disconnected != 0 {
		why = append(why, fmt.Sprintf("%d disconnected", st.Disconnected))
	}
	if p99 := time.Duration(st.Latency.P99MS * float64(time.Millisecond)); p99 > o.MaxP99 {
		why = append(why, fmt.Sprintf("p99 %.1f ms > %v", st.Latency.P99MS, o.MaxP99))
	}
	if st.RateAchieved < 0.95*rate {
		why = append(why, fmt.Sprintf("publisher reached only %.1f of %.1f events/s", st.RateAchieved, rate))
	}
	st.OK = len(why) == 0
	st.Verdict = "ok: no loss, no duplicates, p99 within limit"
	if !st.OK {
		st.Verdict = "FAIL: " + strings.Join(why, "; ")
	}
	return st
}

// openClientPublishers opens o.Publishers connections; connection k
// subscribes to the channels it publishes on (ch % Publishers == k), as a
// client must before it may send client events there.
func openClientPublishers(ctx context.Context, o FanoutOptions, channels []string) ([]*Conn, *Pool, error) {
	n := min(o.Publishers, len(channels))
	pool, err := NewPool(o.Target, nil, 1, o.Logger)
	if err != nil {
		return nil, nil, err
	}
	clients := make([]*Conn, n)
	opened, _, ferr := pool.OpenMany(ctx, n, o.DialConcurrency, 1, nil, func(k int, c *Conn) {
		clients[k] = c
		for ch := k; ch < len(channels); ch += n {
			_ = c.Subscribe(channels[ch], "")
		}
	})
	waitFor(ctx, 30*time.Second, func() bool { return pool.answered(int64(len(channels))) })
	if opened < n || pool.Subscribed.Load() < int64(len(channels)) {
		return nil, pool, fmt.Errorf("fanout: %d of %d publishing connections open, %d of %d channels subscribed: %s",
			opened, n, pool.Subscribed.Load(), len(channels), errDetail(ferr, pool.FirstError()))
	}
	return clients, pool, nil
}
