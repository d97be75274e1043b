package test

import (
	"crypto/hmac"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/signing"
)

// Black-box webhook tests: a real server in-process posts to an httptest
// receiver on 127.0.0.1 that verifies every request the way an application
// would (signature, then the JSON body; the SDKs do the same in test/sdkgo
// and test/compat) plus the exact wire format of
// spec/webhooks.md (Content-Type with no parameter, X-Pusher-Key, data a
// JSON string, the exact key set of each event).
//
// Negative assertions ("sent once", "not sent") use markers instead of
// sleeps: an endpoint delivers its events in acceptance order with one
// request in flight, so once an event generated later (a marker) has
// arrived, everything generated before it has arrived too.

const (
	whLeaveDelay  = 300 * time.Millisecond
	whBatchWindow = 20 * time.Millisecond
	// whWait bounds every wait for a webhook (leave delay, batch window and
	// retries included).
	whWait = 10 * time.Second
)

// webhookEvent is one event as an application decodes it (data unquoted).
type webhookEvent struct {
	Name              string `json:"name"`
	Channel           string `json:"channel"`
	Event             string `json:"event"`
	Data              string `json:"data"`
	SocketID          string `json:"socket_id"`
	UserID            string `json:"user_id"`
	SubscriptionCount int    `json:"subscription_count"`
}

// parseWebhook checks the signature over the body and decodes it.
func parseWebhook(h http.Header, body []byte) (timeMS int64, events []webhookEvent, err error) {
	if !hmac.Equal([]byte(h.Get("X-Pusher-Signature")), []byte(signing.SignWebhook(appSecret, body))) {
		return 0, nil, errors.New("X-Pusher-Signature does not sign the body with the app secret")
	}
	var v struct {
		TimeMS int64          `json:"time_ms"`
		Events []webhookEvent `json:"events"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return 0, nil, err
	}
	return v.TimeMS, v.Events, nil
}

// whEvent is one event of an acknowledged webhook request.
type whEvent struct {
	webhookEvent                 // as an application decodes it
	raw          json.RawMessage // the event object as sent
	timeMS       int64           // of its request
	at           time.Time       // when its request arrived
}

func (e whEvent) String() string { return string(e.raw) }

// whRequest is one request the receiver got.
type whRequest struct {
	at     time.Time
	header http.Header
	body   []byte
	status int // what the receiver answered
	timeMS int64
	events []whEvent
}

// whReceiver is a webhook endpoint. It answers 200 unless told to fail the
// next N requests (500) or to be down (503); it records every request and
// every problem with one.
type whReceiver struct {
	name string
	srv  *httptest.Server

	mu       sync.Mutex
	requests []whRequest // every request, in arrival order
	failN    int
	down     bool
	problems []string
}

// newReceiver starts a receiver; it must be created before the server so
// that its clean-up (problem report, close) runs after the server stopped.
func newReceiver(t *testing.T, name string) *whReceiver {
	t.Helper()
	r := &whReceiver{name: name}
	r.srv = httptest.NewServer(r)
	t.Cleanup(func() {
		r.srv.Close()
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, p := range r.problems {
			t.Errorf("webhook receiver %s: %s", r.name, p)
		}
	})
	return r
}

func (r *whReceiver) URL() string { return r.srv.URL + "/hook/" + r.name }

func (r *whReceiver) setDown(down bool) { r.mu.Lock(); r.down = down; r.mu.Unlock() }
func (r *whReceiver) failNext(n int)    { r.mu.Lock(); r.failN = n; r.mu.Unlock() }

func (r *whReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	rec := whRequest{at: time.Now(), header: req.Header.Clone(), body: body}
	var probs []string
	bad := func(format string, a ...any) {
		probs = append(probs, fmt.Sprintf(format, a...)+fmt.Sprintf(" (body %s)", body))
	}
	if err != nil {
		bad("reading body: %v", err)
	}
	if req.Method != http.MethodPost {
		bad("method %s, want POST", req.Method)
	}
	if req.URL.Path != "/hook/"+r.name {
		bad("path %q, want the configured /hook/%s", req.URL.Path, r.name)
	}
	if ct := req.Header.Values("Content-Type"); len(ct) != 1 || ct[0] != "application/json" {
		bad("Content-Type %q, want exactly application/json", ct)
	}
	if k := req.Header.Values("X-Pusher-Key"); len(k) != 1 || k[0] != appKey {
		bad("X-Pusher-Key %q, want %q", k, appKey)
	}
	if s := req.Header.Values("X-Pusher-Signature"); len(s) != 1 {
		bad("want one X-Pusher-Signature, got %q", s)
	}
	timeMS, events, err := parseWebhook(req.Header, body)
	if err != nil {
		bad("refused as an application would: %v", err)
	} else {
		rec.timeMS = timeMS
		raws, p := checkWebhookShape(body)
		for _, s := range p {
			bad("%s", s)
		}
		if len(raws) != len(events) {
			bad("decoded %d events, the body has %d", len(events), len(raws))
		} else {
			for i, e := range events {
				rec.events = append(rec.events, whEvent{webhookEvent: e, raw: raws[i], timeMS: timeMS, at: rec.at})
			}
		}
		if d := time.Since(time.UnixMilli(timeMS)); d < -time.Minute || d > time.Minute {
			bad("time_ms %d is %v away from now", timeMS, d)
		}
		if len(events) == 0 {
			bad("a webhook without events")
		}
	}

	r.mu.Lock()
	rec.status = http.StatusOK
	switch {
	case r.down:
		rec.status = http.StatusServiceUnavailable
	case r.failN > 0:
		r.failN--
		rec.status = http.StatusInternalServerError
	}
	r.requests = append(r.requests, rec)
	r.problems = append(r.problems, probs...)
	r.mu.Unlock()
	w.WriteHeader(rec.status)
}

// checkWebhookShape checks the body against spec/webhooks.md: exactly the
// keys time_ms (an integer) and events (an array of objects), and per event
// exactly the keys its name allows, each of the right JSON type. It returns
// the raw events.
func checkWebhookShape(body []byte) ([]json.RawMessage, []string) {
	var probs []string
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, []string{"body is not a JSON object"}
	}
	if len(top) != 2 {
		probs = append(probs, fmt.Sprintf("top level keys must be exactly time_ms and events, got %d keys", len(top)))
	}
	var ms int64
	if err := json.Unmarshal(top["time_ms"], &ms); err != nil || ms <= 0 {
		probs = append(probs, "time_ms is not a positive integer")
	}
	var events []json.RawMessage
	if err := json.Unmarshal(top["events"], &events); err != nil {
		return nil, append(probs, "events is not an array")
	}
	for i, raw := range events {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(raw, &obj); err != nil {
			probs = append(probs, fmt.Sprintf("events[%d] is not an object", i))
			continue
		}
		var name string
		_ = json.Unmarshal(obj["name"], &name)
		required := []string{"name", "channel"}
		var optional []string
		switch name {
		case "channel_occupied", "channel_vacated", "cache_miss":
		case "member_added", "member_removed":
			required = append(required, "user_id")
		case "client_event":
			required = append(required, "event", "socket_id")
			optional = []string{"data", "user_id"}
		case "subscription_count":
			required = append(required, "subscription_count")
		default:
			probs = append(probs, fmt.Sprintf("events[%d]: unknown name %q", i, name))
			continue
		}
		for _, k := range required {
			if _, ok := obj[k]; !ok {
				probs = append(probs, fmt.Sprintf("events[%d] (%s): no %q", i, name, k))
			}
		}
		for k, v := range obj {
			if !slices.Contains(required, k) && !slices.Contains(optional, k) {
				probs = append(probs, fmt.Sprintf("events[%d] (%s): unexpected key %q", i, name, k))
			}
			if k == "subscription_count" {
				var n int
				if json.Unmarshal(v, &n) != nil {
					probs = append(probs, fmt.Sprintf("events[%d]: subscription_count is not an integer: %s", i, v))
				}
			} else if len(v) == 0 || v[0] != '"' {
				probs = append(probs, fmt.Sprintf("events[%d] (%s): %q must be a JSON string, got %s", i, name, k, v))
			}
		}
	}
	return events, probs
}

// events returns the events of the acknowledged (2xx) requests in arrival
// order.
func (r *whReceiver) events() []whEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []whEvent
	for _, q := range r.requests {
		if q.status/100 == 2 {
			out = append(out, q.events...)
		}
	}
	return out
}

// allRequests is a copy of every request so far.
func (r *whReceiver) allRequests() []whRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.requests)
}

// matching returns the acknowledged events with name on channel ("" = any).
func (r *whReceiver) matching(name, channel string) []whEvent {
	var out []whEvent
	for _, e := range r.events() {
		if (name == "" || e.Name == name) && (channel == "" || e.Channel == channel) {
			out = append(out, e)
		}
	}
	return out
}

// waitFor polls until n acknowledged events match name and channel and
// returns them; more than n is an error of the caller's checks, not here.
func (r *whReceiver) waitFor(t *testing.T, n int, name, channel string) []whEvent {
	t.Helper()
	deadline := time.Now().Add(whWait)
	for {
		if got := r.matching(name, channel); len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("receiver %s: timed out after %v waiting for %d %s on %q; got events %v",
				r.name, whWait, n, name, channel, r.events())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// expectEvents checks that exactly the events want (JSON objects, compared
// as JSON) were received with name on channel, in this order.
func (r *whReceiver) expectEvents(t *testing.T, name, channel string, want ...string) {
	t.Helper()
	got := r.matching(name, channel)
	if len(got) != len(want) {
		t.Errorf("receiver %s: %d %s webhooks on %q, want %d: %v", r.name, len(got), name, channel, len(want), got)
		return
	}
	for i, e := range got {
		if !jsonEqual(t, e.raw, []byte(want[i])) {
			t.Errorf("receiver %s: %s webhook #%d = %s, want %s", r.name, name, i+1, e.raw, want[i])
		}
	}
}

// whServer starts a server with a fresh data_dir, the short webhook timings,
// client events on (up to 1000/s) and hooks as app 1's endpoints.
func whServer(t *testing.T, mutate func(*config.Config), hooks ...config.Webhook) *testServer {
	t.Helper()
	return whServerIn(t, t.TempDir(), mutate, hooks...)
}

// whServerIn is whServer with data_dir dir.
func whServerIn(t *testing.T, dir string, mutate func(*config.Config), hooks ...config.Webhook) *testServer {
	t.Helper()
	return startServer(t, func(c *config.Config) {
		c.DataDir = dir
		c.Webhooks.LeaveDelay = config.Duration(whLeaveDelay)
		c.Webhooks.BatchWindow = config.Duration(whBatchWindow)
		c.Limits.ClientEventsPerSec = 1000
		c.Apps[0].EnableClientMessages = true
		c.Apps[0].Webhooks = hooks
		if mutate != nil {
			mutate(c)
		}
	})
}

func allTypes(r *whReceiver) config.Webhook {
	return config.Webhook{URL: r.URL(), EventTypes: config.WebhookEventTypes}
}

// whUnsubscribe leaves channel and waits until the server has processed it.
func (c *wsClient) whUnsubscribe(channel string) {
	c.t.Helper()
	c.send(map[string]any{"event": "pusher:unsubscribe", "data": map[string]any{"channel": channel}})
	c.syncFrames()
}

// sendClientEvent sends a client event; data is raw JSON ("" = no data key).
func (c *wsClient) sendClientEvent(channel, event, data string) {
	c.t.Helper()
	if data == "" {
		c.sendRaw(fmt.Sprintf(`{"event":%q,"channel":%q}`, event, channel))
		return
	}
	c.sendRaw(fmt.Sprintf(`{"event":%q,"channel":%q,"data":%s}`, event, channel, data))
}

// leaveMarker occupies and vacates a fresh public channel and waits for its
// channel_vacated: every leave that happened before this call and was not
// cancelled has then arrived (it was due earlier), and so has every other
// event generated before it.
func leaveMarker(t *testing.T, s *testServer, r *whReceiver, name string) {
	t.Helper()
	ch := "marker-" + name
	m := connect(t, s)
	m.subscribe(ch)
	m.whUnsubscribe(ch)
	r.waitFor(t, 1, "channel_vacated", ch)
}

// ------------------------------------------------------------------ tests

func TestWebhookChannelOccupiedVacated(t *testing.T) {
	t.Parallel()
	r := newReceiver(t, "a")
	s := whServer(t, nil, allTypes(r))
	const ch = "wh-room"

	a, b := connect(t, s), connect(t, s)
	a.subscribe(ch)
	b.subscribe(ch)
	r.waitFor(t, 1, "channel_occupied", ch)

	a.whUnsubscribe(ch) // b is still there: nothing
	b.whUnsubscribe(ch)
	left := time.Now()
	vac := r.waitFor(t, 1, "channel_vacated", ch)
	if d := vac[0].at.Sub(left); d < whLeaveDelay-50*time.Millisecond {
		t.Errorf("channel_vacated arrived %v after the last leave, want at least the leave delay %v", d, whLeaveDelay)
	}
	leaveMarker(t, s, r, "occ")

	r.expectEvents(t, "channel_occupied", ch, `{"name":"channel_occupied","channel":"wh-room"}`)
	r.expectEvents(t, "channel_vacated", ch, `{"name":"channel_vacated","channel":"wh-room"}`)
	r.expectEvents(t, "", ch,
		`{"name":"channel_occupied","channel":"wh-room"}`, `{"name":"channel_vacated","channel":"wh-room"}`)

	// A connection that disconnects (instead of unsubscribing) also vacates.
	c := connect(t, s)
	c.subscribePrivate("private-" + ch)
	r.waitFor(t, 1, "channel_occupied", "private-"+ch)
	c.close()
	r.waitFor(t, 1, "channel_vacated", "private-"+ch)
	leaveMarker(t, s, r, "occ2")
	r.expectEvents(t, "", "private-"+ch,
		`{"name":"channel_occupied","channel":"private-wh-room"}`, `{"name":"channel_vacated","channel":"private-wh-room"}`)
}

func TestWebhookMembers(t *testing.T) {
	t.Parallel()
	r := newReceiver(t, "a")
	s := whServer(t, nil, allTypes(r))
	const ch = "presence-wh"

	tab1, tab2, other := connect(t, s), connect(t, s), connect(t, s)
	tab1.subscribePresence(ch, `{"user_id":"u1","user_info":{"name":"One"}}`)
	tab2.subscribePresence(ch, `{"user_id":"u1","user_info":{"name":"One"}}`) // second tab: no member_added
	other.subscribePresence(ch, `{"user_id":"u2"}`)
	r.waitFor(t, 2, "member_added", ch)

	tab1.whUnsubscribe(ch) // u1 still has tab2: nothing
	tab2.close()           // u1's last tab
	r.waitFor(t, 1, "member_removed", ch)
	leaveMarker(t, s, r, "mem")

	r.expectEvents(t, "member_added", ch,
		`{"name":"member_added","channel":"presence-wh","user_id":"u1"}`,
		`{"name":"member_added","channel":"presence-wh","user_id":"u2"}`)
	r.expectEvents(t, "member_removed", ch, `{"name":"member_removed","channel":"presence-wh","user_id":"u1"}`)
	r.expectEvents(t, "channel_occupied", ch, `{"name":"channel_occupied","channel":"presence-wh"}`)
	r.expectEvents(t, "channel_vacated", ch) // u2 is still there

	other.whUnsubscribe(ch)
	r.waitFor(t, 1, "channel_vacated", ch)
	leaveMarker(t, s, r, "mem2")
	r.expectEvents(t, "member_removed", ch,
		`{"name":"member_removed","channel":"presence-wh","user_id":"u1"}`,
		`{"name":"member_removed","channel":"presence-wh","user_id":"u2"}`)
	r.expectEvents(t, "channel_vacated", ch, `{"name":"channel_vacated","channel":"presence-wh"}`)

	// Numeric user ids arrive as strings.
	n := connect(t, s)
	n.subscribePresence("presence-num", `{"user_id":42}`)
	got := r.waitFor(t, 1, "member_added", "presence-num")
	if !jsonEqual(t, got[0].raw, []byte(`{"name":"member_added","channel":"presence-num","user_id":"42"}`)) {
		t.Errorf("member_added for a numeric id = %s, want user_id \"42\"", got[0].raw)
	}
}

func TestWebhookClientEvent(t *testing.T) {
	t.Parallel()
	r := newReceiver(t, "a")
	s := whServer(t, nil, config.Webhook{URL: r.URL(), EventTypes: []string{"client_event"}})

	a, b := connect(t, s), connect(t, s)
	a.subscribePrivate("private-wh")
	b.subscribePrivate("private-wh")
	a.sendClientEvent("private-wh", "client-obj", `{ "x" : 1, "s": "<b>" }`)
	a.sendClientEvent("private-wh", "client-str", `"plain \"text\""`)
	a.sendClientEvent("private-wh", "client-none", "")
	a.sendClientEvent("private-wh", "client-num", `42`)

	p, q := connect(t, s), connect(t, s)
	p.subscribePresence("presence-wh", `{"user_id":"u7"}`)
	q.subscribePresence("presence-wh", `{"user_id":"u8"}`)
	q.sendClientEvent("presence-wh", "client-typing", `{"typing":true}`)

	r.waitFor(t, 5, "client_event", "")
	clientMarker(t, q, r, "presence-wh")
	r.expectEvents(t, "client_event", "private-wh",
		fmt.Sprintf(`{"name":"client_event","channel":"private-wh","event":"client-obj","data":"{\"x\":1,\"s\":\"<b>\"}","socket_id":%q}`, a.socketID),
		fmt.Sprintf(`{"name":"client_event","channel":"private-wh","event":"client-str","data":"plain \"text\"","socket_id":%q}`, a.socketID),
		fmt.Sprintf(`{"name":"client_event","channel":"private-wh","event":"client-none","socket_id":%q}`, a.socketID),
		fmt.Sprintf(`{"name":"client_event","channel":"private-wh","event":"client-num","data":"42","socket_id":%q}`, a.socketID))
	r.expectEvents(t, "client_event", "presence-wh",
		fmt.Sprintf(`{"name":"client_event","channel":"presence-wh","event":"client-typing","data":"{\"typing\":true}","socket_id":%q,"user_id":"u8"}`, q.socketID),
		fmt.Sprintf(`{"name":"client_event","channel":"presence-wh","event":"client-marker","data":"{}","socket_id":%q,"user_id":"u8"}`, q.socketID))
	for _, e := range r.events() {
		if e.Name != "client_event" {
			t.Errorf("an endpoint for client_event only got %s", e)
		}
	}
	// The SDK hands the data string over unchanged.
	if e := r.matching("client_event", "private-wh"); len(e) > 0 && e[0].Data != `{"x":1,"s":"<b>"}` {
		t.Errorf("decoded data = %q", e[0].Data)
	}

	// A refused client event (not subscribed) produces no webhook.
	a.sendClientEvent("private-other", "client-refused", `{}`)
	a.waitEvent("pusher:error", "").pusherError(t)
	clientMarker(t, a, r, "private-wh")
	for _, e := range r.events() {
		if e.Event == "client-refused" {
			t.Errorf("a refused client event was sent as a webhook: %s", e)
		}
	}
}

func TestWebhookCacheMiss(t *testing.T) {
	t.Parallel()
	r := newReceiver(t, "a")
	s := whServer(t, nil, allTypes(r))
	const ch = "cache-wh"

	// Two subscribers arrive together on an empty cache channel.
	a, b := connect(t, s), connect(t, s)
	for _, c := range []*wsClient{a, b} {
		c.send(map[string]any{"event": "pusher:subscribe", "data": map[string]any{"auth": "", "channel": ch}})
	}
	for _, c := range []*wsClient{a, b} {
		c.expectSucceeded(ch)
		c.expect("pusher:cache_miss")
	}
	r.waitFor(t, 1, "cache_miss", ch)
	// Something cached: a new subscriber gets it, no cache_miss.
	s.trigger(ch, "news", `{"v":1}`)
	c := connect(t, s)
	c.subscribe(ch)
	c.expect("news")
	leaveMarker(t, s, r, "cache")
	r.expectEvents(t, "cache_miss", ch, `{"name":"cache_miss","channel":"cache-wh"}`)

	// A private cache channel with nothing cached: one cache_miss too.
	p := connect(t, s)
	p.subscribePrivate("private-cache-wh")
	p.expect("pusher:cache_miss")
	r.waitFor(t, 1, "cache_miss", "private-cache-wh")
	leaveMarker(t, s, r, "cache2")
	r.expectEvents(t, "cache_miss", "private-cache-wh", `{"name":"cache_miss","channel":"private-cache-wh"}`)
}

func TestWebhookSubscriptionCount(t *testing.T) {
	t.Parallel()
	r := newReceiver(t, "a")
	s := whServer(t, func(c *config.Config) { c.Apps[0].EnableSubscriptionCount = true }, allTypes(r))
	const ch = "wh-count"

	a, b := connect(t, s), connect(t, s)
	a.subscribe(ch)
	r.waitFor(t, 1, "subscription_count", ch)
	b.subscribe(ch)
	r.waitFor(t, 2, "subscription_count", ch)
	b.whUnsubscribe(ch)
	r.waitFor(t, 3, "subscription_count", ch)
	a.whUnsubscribe(ch) // the channel vacates: no count of 0
	r.waitFor(t, 1, "channel_vacated", ch)
	leaveMarker(t, s, r, "count")
	r.expectEvents(t, "subscription_count", ch,
		`{"name":"subscription_count","channel":"wh-count","subscription_count":1}`,
		`{"name":"subscription_count","channel":"wh-count","subscription_count":2}`,
		`{"name":"subscription_count","channel":"wh-count","subscription_count":1}`)
	if e := r.matching("subscription_count", ch); len(e) == 3 && e[1].SubscriptionCount != 2 {
		t.Errorf("decoded subscription_count = %d, want 2", e[1].SubscriptionCount)
	}

	// Never on presence channels.
	p := connect(t, s)
	p.subscribePresence("presence-count", `{"user_id":"1"}`)
	r.waitFor(t, 1, "member_added", "presence-count")
	leaveMarker(t, s, r, "count2")
	r.expectEvents(t, "subscription_count", "presence-count")
}

func TestWebhookSubscriptionCountOffByDefault(t *testing.T) {
	t.Parallel()
	r := newReceiver(t, "a")
	s := whServer(t, nil, allTypes(r))
	a, b := connect(t, s), connect(t, s)
	a.subscribe("wh-count")
	b.subscribe("wh-count")
	leaveMarker(t, s, r, "off")
	r.expectEvents(t, "subscription_count", "")
}

func TestWebhookLeaveDebounce(t *testing.T) {
	t.Parallel()
	r := newReceiver(t, "a")
	// A longer delay than elsewhere: every rejoin below must land within it
	// even on a slow (race-enabled) run.
	s := whServer(t, func(c *config.Config) { c.Webhooks.LeaveDelay = config.Duration(time.Second) }, allTypes(r))

	// Channel: the only subscriber leaves and a new one joins within the delay.
	const ch = "wh-flap"
	a := connect(t, s)
	a.subscribe(ch)
	r.waitFor(t, 1, "channel_occupied", ch)
	b := connect(t, s)
	a.whUnsubscribe(ch)
	b.subscribe(ch)
	// A closed connection and a new one within the delay: the same.
	c := connect(t, s)
	b.close()
	waitConnections(t, s, 2) // a and c: b's leave has been processed
	c.subscribe(ch)

	// Member: u1's only tab leaves and a new tab joins within the delay;
	// u2 keeps the channel occupied.
	const pch = "presence-flap"
	stay, tab1, tab2 := connect(t, s), connect(t, s), connect(t, s)
	stay.subscribePresence(pch, `{"user_id":"u2"}`)
	tab1.subscribePresence(pch, `{"user_id":"u1"}`)
	r.waitFor(t, 2, "member_added", pch)
	tab1.whUnsubscribe(pch)
	tab2.subscribePresence(pch, `{"user_id":"u1"}`)
	// And a member flapping that also vacates the channel.
	const qch = "presence-flap2"
	solo1, solo2 := connect(t, s), connect(t, s)
	solo1.subscribePresence(qch, `{"user_id":"u9"}`)
	r.waitFor(t, 1, "member_added", qch)
	solo1.close()
	eventually(t, readTimeout, "solo1 gone", func() bool {
		return s.metricValue(`herald_connections{app_id="1"}`) == 6 // a, c, stay, tab1, tab2, solo2
	})
	solo2.subscribePresence(qch, `{"user_id":"u9"}`)

	leaveMarker(t, s, r, "flap") // due after every leave above
	r.expectEvents(t, "", ch, `{"name":"channel_occupied","channel":"wh-flap"}`)
	r.expectEvents(t, "", pch,
		`{"name":"channel_occupied","channel":"presence-flap"}`,
		`{"name":"member_added","channel":"presence-flap","user_id":"u2"}`,
		`{"name":"member_added","channel":"presence-flap","user_id":"u1"}`)
	r.expectEvents(t, "", qch,
		`{"name":"channel_occupied","channel":"presence-flap2"}`,
		`{"name":"member_added","channel":"presence-flap2","user_id":"u9"}`)
	if v := s.metricValue(`herald_webhook_events_total{app_id="1",outcome="debounced"}`); v != 10 {
		t.Errorf(`herald_webhook_events_total{outcome="debounced"} = %v, want 10 (5 leaves and 5 joins)`, v)
	}

	// The debounced state is consistent: a real leave later is sent once.
	c.whUnsubscribe(ch)
	r.waitFor(t, 1, "channel_vacated", ch)
	tab2.whUnsubscribe(pch)
	r.waitFor(t, 1, "member_removed", pch)
	leaveMarker(t, s, r, "flap2")
	r.expectEvents(t, "", ch,
		`{"name":"channel_occupied","channel":"wh-flap"}`, `{"name":"channel_vacated","channel":"wh-flap"}`)
	r.expectEvents(t, "member_removed", pch, `{"name":"member_removed","channel":"presence-flap","user_id":"u1"}`)
}

func TestWebhookFilters(t *testing.T) {
	t.Parallel()
	rClient := newReceiver(t, "client")
	rPresence := newReceiver(t, "presence")
	rSuffix := newReceiver(t, "suffix")
	s := whServer(t, nil,
		config.Webhook{URL: rClient.URL(), EventTypes: []string{"client_event"}},
		config.Webhook{URL: rPresence.URL(), EventTypes: []string{"channel_occupied", "member_added", "client_event"},
			Filter: config.WebhookFilter{ChannelNameStartsWith: "presence-"}},
		config.Webhook{URL: rSuffix.URL(), EventTypes: []string{"channel_occupied", "channel_vacated"},
			Filter: config.WebhookFilter{ChannelNameEndsWith: "-pub"}},
	)

	a, b := connect(t, s), connect(t, s)
	a.subscribePrivate("private-f")
	a.subscribePresence("presence-f", `{"user_id":"1"}`)
	a.subscribe("f-pub")
	a.subscribe("f-other")
	b.subscribePrivate("private-f")
	b.subscribePresence("presence-f", `{"user_id":"2"}`)
	a.sendClientEvent("private-f", "client-a", `{}`)
	a.sendClientEvent("presence-f", "client-b", `{}`)
	a.whUnsubscribe("f-pub")
	a.whUnsubscribe("f-other")
	// Markers, last: one per endpoint.
	a.sendClientEvent("private-f", "client-end", `{}`)
	a.sendClientEvent("presence-f", "client-end", `{}`)
	rClient.waitFor(t, 4, "client_event", "")
	rPresence.waitFor(t, 2, "client_event", "presence-f")
	rSuffix.waitFor(t, 1, "channel_vacated", "f-pub")

	names := func(r *whReceiver) []string {
		var out []string
		for _, e := range r.events() {
			out = append(out, e.Name+" "+e.Channel+" "+e.Event+e.UserID)
		}
		return out
	}
	for _, tc := range []struct {
		r    *whReceiver
		want []string
	}{
		{rClient, []string{
			"client_event private-f client-a", "client_event presence-f client-b1",
			"client_event private-f client-end", "client_event presence-f client-end1"}},
		{rPresence, []string{
			"channel_occupied presence-f ", "member_added presence-f 1", "member_added presence-f 2",
			"client_event presence-f client-b1", "client_event presence-f client-end1"}},
		{rSuffix, []string{"channel_occupied f-pub ", "channel_vacated f-pub "}},
	} {
		if got := names(tc.r); !slices.Equal(got, tc.want) {
			t.Errorf("endpoint %s got\n  %q\nwant\n  %q", tc.r.name, got, tc.want)
		}
	}
}

func TestWebhookOrderPerChannel(t *testing.T) {
	t.Parallel()
	r := newReceiver(t, "a")
	s := whServer(t, func(c *config.Config) { c.Webhooks.BatchMaxEvents = 7 }, // several requests
		config.Webhook{URL: r.URL(), EventTypes: []string{"client_event"}})
	const n = 60
	a, b := connect(t, s), connect(t, s)
	a.subscribePrivate("private-order")
	b.subscribePrivate("private-order")
	b.subscribePrivate("private-order2")
	for i := range n {
		a.sendClientEvent("private-order", "client-seq", fmt.Sprintf(`{"i":%d}`, i))
		if i%3 == 0 { // another channel interleaved
			b.sendClientEvent("private-order2", "client-seq", fmt.Sprintf(`{"i":%d}`, i))
		}
	}
	got := r.waitFor(t, n, "client_event", "private-order")
	var seq []string
	for _, e := range got {
		seq = append(seq, e.Data)
	}
	want := make([]string, n)
	for i := range want {
		want[i] = fmt.Sprintf(`{"i":%d}`, i)
	}
	if !slices.Equal(seq, want) {
		t.Errorf("client events arrived as\n  %v\nwant in order\n  %v", seq, want)
	}
	reqs := 0
	for _, q := range r.allRequests() {
		if len(q.events) > 7 {
			t.Errorf("request with %d events, batch_max_events is 7", len(q.events))
		}
		reqs++
	}
	t.Logf("ordering: %d of %d client events in order, in %d requests", len(seq), n, reqs)
}

func TestWebhookRetries(t *testing.T) {
	t.Parallel()
	r := newReceiver(t, "a")
	r.failNext(3)
	s := whServer(t, nil, config.Webhook{URL: r.URL(), EventTypes: []string{"client_event"}})
	const n = 20
	a := connect(t, s)
	a.subscribePrivate("private-retry")
	start := time.Now()
	for i := range n {
		a.sendClientEvent("private-retry", "client-r", fmt.Sprintf(`{"i":%d}`, i))
	}
	// Backoff 1s, 2s, 4s (±20%) before the fourth attempt.
	deadline := time.Now().Add(20 * time.Second)
	for len(r.matching("client_event", "")) < n {
		if time.Now().After(deadline) {
			t.Fatalf("after 20s only %d of %d events arrived; requests: %d", len(r.matching("client_event", "")), n, len(r.allRequests()))
		}
		time.Sleep(20 * time.Millisecond)
	}
	took := time.Since(start)
	clientMarker(t, a, r, "private-retry") // let any duplicate show up

	count := map[string]int{}
	for _, e := range r.matching("client_event", "") {
		if e.Event == "client-r" {
			count[e.Data]++
		}
	}
	dups := 0
	for i := range n {
		if c := count[fmt.Sprintf(`{"i":%d}`, i)]; c != 1 {
			t.Errorf(`event {"i":%d} arrived %d times, want exactly once`, i, c)
			if c > 1 {
				dups += c - 1
			}
		}
	}
	reqs := r.allRequests()
	failed := 0
	for _, q := range reqs {
		if q.status != http.StatusOK {
			failed++
		}
	}
	if failed != 3 {
		t.Errorf("%d failed attempts, want 3", failed)
	}
	// The first batch is resent byte for byte (same time_ms, same signature).
	if len(reqs) >= 4 {
		for i := 1; i <= 3; i++ {
			if string(reqs[i].body) != string(reqs[0].body) {
				t.Errorf("attempt %d body differs from the first:\n%s\n%s", i+1, reqs[i].body, reqs[0].body)
			}
		}
		gap := reqs[3].at.Sub(reqs[0].at)
		if gap < 5*time.Second {
			t.Errorf("fourth attempt %v after the first, want the backoff 1s+2s+4s (±20%%)", gap)
		}
	}
	if v := s.metricValue(`herald_webhook_requests_total{app_id="1",outcome="http_status"}`); v != 3 {
		t.Errorf(`herald_webhook_requests_total{outcome="http_status"} = %v, want 3`, v)
	}
	// Counted once the dispatcher has read the 2xx, a moment after the
	// receiver saw the request.
	eventually(t, whWait, fmt.Sprintf("herald_webhook_events_delivered_total to reach %d", n+1), func() bool {
		return s.metricValue(`herald_webhook_events_delivered_total{app_id="1"}`) == n+1
	})
	t.Logf("retries: %d of %d events delivered exactly once (%d duplicates) after 3 failed attempts; %d requests, all delivered %v after the first event",
		len(count), n, dups, len(reqs), took.Round(time.Millisecond))
}

// clientMarker sends one more client event (client-marker) on channel and
// waits for it: an endpoint delivers in order, so anything generated
// earlier (a duplicate included) would have arrived before it.
func clientMarker(t *testing.T, a *wsClient, r *whReceiver, channel string) {
	t.Helper()
	a.sendClientEvent(channel, "client-marker", `{}`)
	eventually(t, whWait, "marker client event", func() bool {
		for _, e := range r.matching("client_event", channel) {
			if e.Event == "client-marker" {
				return true
			}
		}
		return false
	})
}

// The webhook queue is created only for apps with endpoints: a server
// without webhooks writes nothing to its data directory.
func TestWebhookNoEndpointsNoDatabase(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startServer(t, func(c *config.Config) { c.DataDir = dir })
	c := connect(t, s)
	c.subscribe("x")
	if err := s.stop(15 * time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "webhooks.db")); err == nil {
		t.Errorf("a server without webhook endpoints created %s/webhooks.db", dir)
	}
}

// A failing endpoint holds back only its own deliveries.
func TestWebhookFailingEndpointIsolated(t *testing.T) {
	t.Parallel()
	down, up := newReceiver(t, "down"), newReceiver(t, "up")
	down.setDown(true)
	s := whServer(t, nil,
		config.Webhook{URL: down.URL(), EventTypes: []string{"client_event"}},
		config.Webhook{URL: up.URL(), EventTypes: []string{"client_event"}})
	a := connect(t, s)
	a.subscribePrivate("private-iso")
	const n = 10
	for i := range n {
		a.sendClientEvent("private-iso", "client-i", fmt.Sprintf(`{"i":%d}`, i))
		time.Sleep(5 * time.Millisecond) // spread over several batches
	}
	// While the other endpoint is still down (its retries would last the
	// default 5 minutes), this one gets everything.
	up.waitFor(t, n, "client_event", "private-iso")
	if len(down.allRequests()) == 0 {
		t.Error("the failing endpoint was never tried")
	}
	if got := down.events(); len(got) != 0 {
		t.Fatalf("the down endpoint acknowledged %v", got)
	}
	down.setDown(false)
	down.waitFor(t, n, "client_event", "private-iso")
}

// After the retry window a batch is given up on (counted as dead), and the
// endpoint goes on with later events.
func TestWebhookDeadAfterRetryWindow(t *testing.T) {
	t.Parallel()
	r := newReceiver(t, "a")
	r.setDown(true)
	s := whServer(t, func(c *config.Config) { c.Webhooks.RetryWindow = config.Duration(time.Second) },
		config.Webhook{URL: r.URL(), EventTypes: []string{"client_event"}})
	a := connect(t, s)
	a.subscribePrivate("private-dead")
	const n = 3
	for i := range n {
		a.sendClientEvent("private-dead", "client-lost", fmt.Sprintf(`{"i":%d}`, i))
	}
	eventually(t, whWait, "the events counted dead", func() bool {
		return s.metricValue(`herald_webhook_events_dead_total{app_id="1",reason="http_status"}`) == n
	})
	attempts := len(r.allRequests())
	r.setDown(false)
	clientMarker(t, a, r, "private-dead")
	for _, e := range r.events() {
		if e.Event == "client-lost" {
			t.Errorf("a dead event was delivered later: %s", e)
		}
	}
	if attempts < 2 {
		t.Errorf("%d attempts within the 1s retry window, want at least 2", attempts)
	}
	// The receiver has seen the marker; the dispatcher removes its record
	// once it has read the 2xx, a moment later.
	eventually(t, whWait, "herald_webhook_queue_records to be 0 after everything was delivered or dead", func() bool {
		return s.metricValue(`herald_webhook_queue_records`) == 0
	})
}

// Configured extra headers are sent; they cannot override Content-Type or
// the X-Pusher-* headers (the receiver checks those on every request).
func TestWebhookCustomHeaders(t *testing.T) {
	t.Parallel()
	r := newReceiver(t, "a")
	s := whServer(t, nil, config.Webhook{URL: r.URL(), EventTypes: []string{"channel_occupied"}, Headers: map[string]string{
		"X-Custom": "v1", "Authorization": "Bearer tok",
		"Content-Type": "text/plain", "X-Pusher-Key": "evil", "x-pusher-signature": "forged",
	}})
	a := connect(t, s)
	a.subscribe("hdr")
	r.waitFor(t, 1, "channel_occupied", "hdr")
	h := r.allRequests()[0].header
	if h.Get("X-Custom") != "v1" || h.Get("Authorization") != "Bearer tok" {
		t.Errorf("configured headers missing: %v", h)
	}
}
