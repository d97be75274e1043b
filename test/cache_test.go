package test

import (
	"encoding/json"
	"net/url"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/signing"
)

// expectCacheMiss checks frames (what followed subscription_succeeded) is
// exactly {"event":"pusher:cache_miss","channel":ch}.
func expectCacheMiss(t *testing.T, ch string, frames []frame) {
	t.Helper()
	if len(frames) != 1 || frames[0].Event != "pusher:cache_miss" {
		t.Fatalf("want pusher:cache_miss right after subscription_succeeded, got %v", frames)
	}
	f := frames[0]
	if f.Channel != ch {
		t.Errorf("cache_miss channel = %q, want %q", f.Channel, ch)
	}
	if f.has("data") && string(f.Data) != `"{}"` {
		t.Errorf("cache_miss carries no data: %s", f)
	}
}

// expectCached checks frames is exactly the cached event.
func expectCached(t *testing.T, ch, event, data string, frames []frame) {
	t.Helper()
	if len(frames) != 1 {
		t.Fatalf("want exactly the cached %s right after subscription_succeeded, got %v", event, frames)
	}
	checkChannelEvent(t, frames[0], ch, event, data)
}

// cacheInfo is GET /channels/{ch}?info=cache decoded; cache is nil for null.
func cacheInfo(t *testing.T, s *testServer, ch string) (occupied bool, cache map[string]json.RawMessage, present bool) {
	t.Helper()
	r := s.get("/apps/1/channels/"+ch, url.Values{"info": {"cache"}})
	var d map[string]json.RawMessage
	if r.status != 200 || json.Unmarshal(r.body, &d) != nil {
		t.Fatalf("GET %s?info=cache: %v", ch, r)
	}
	if err := json.Unmarshal(d["occupied"], &occupied); err != nil {
		t.Fatalf("no occupied boolean: %s", r.body)
	}
	raw, present := d["cache"]
	if present && string(raw) != "null" {
		if err := json.Unmarshal(raw, &cache); err != nil || cache == nil {
			t.Fatalf("cache is neither an object nor null: %s", r.body)
		}
	}
	return occupied, cache, present
}

func TestCacheChannels(t *testing.T) {
	t.Parallel()
	s := startCountingServer(t, nil)
	for _, ch := range []string{"cache-news", "private-cache-news", "presence-cache-news", "private-encrypted-cache-news"} {
		t.Run(ch, func(t *testing.T) {
			t.Parallel()
			s := s.with(t)
			const member = `{"user_id":"1","user_info":{"name":"A"}}`

			// Nothing cached: cache_miss, and the API says null.
			a := connect(t, s)
			expectCacheMiss(t, ch, a.subscribeAny(ch, member))
			if _, cache, present := cacheInfo(t, s, ch); !present || cache != nil {
				t.Errorf("nothing cached: want \"cache\":null")
			}

			// An API event is delivered and cached.
			const data = "{ \"p\" : 1.50, \"s\":\"caf\u00e9 \\u00e9\" }"
			s.trigger(ch, "price", data)
			checkChannelEvent(t, a.next(), ch, "price", data)

			b := connect(t, s)
			expectCached(t, ch, "price", data, b.subscribeAny(ch, `{"user_id":"2"}`))

			// The cache survives the channel becoming empty.
			a.close()
			b.close()
			eventually(t, readTimeout, ch+" to become vacant", func() bool { return s.subscriptionCount(ch) == 0 })
			occupied, cache, _ := cacheInfo(t, s, ch)
			if occupied || cache == nil {
				t.Fatalf("vacant channel with a cached event: occupied=%v cache=%v", occupied, cache)
			}
			var ev, d string
			var ttl float64
			if json.Unmarshal(cache["event"], &ev) != nil || ev != "price" ||
				json.Unmarshal(cache["data"], &d) != nil || d != data ||
				json.Unmarshal(cache["ttl"], &ttl) != nil || ttl <= 0 || ttl > 1800 || ttl != float64(int(ttl)) {
				t.Errorf(`cache = {event:%s data:%s ttl:%s}, want {"event":"price","data":%q,"ttl":1..1800}`, cache["event"], cache["data"], cache["ttl"], data)
			}

			c := connect(t, s)
			expectCached(t, ch, "price", data, c.subscribeAny(ch, `{"user_id":"3"}`))

			// A newer event replaces the cached one; socket_id exclusion does
			// not stop it from being cached.
			expectJSON(t, s.post("/apps/1/events", map[string]any{"name": "price2", "channels": []string{ch}, "data": "2", "socket_id": c.socketID}), `{}`)
			c.expectQuiet("the excluded socket")
			e := connect(t, s)
			expectCached(t, ch, "price2", "2", e.subscribeAny(ch, `{"user_id":"4"}`))
			if ch == "presence-cache-news" {
				// The member_added for the new member follows only for others.
				checkMemberAdded(t, c.next(), ch, "4", "")
			}
			c.expectQuiet("no cache replay to existing subscribers")

			// A repeated subscribe is answered again, cache frame included.
			switch ch {
			case "presence-cache-news":
				e.sendPresenceSubscribe(ch, `{"user_id":"4"}`)
				e.expect("pusher_internal:subscription_succeeded")
			case "cache-news":
				e.send(map[string]any{"event": "pusher:subscribe", "data": map[string]any{"auth": "", "channel": ch}})
				e.expectSucceeded(ch)
			default:
				e.send(map[string]any{"event": "pusher:subscribe", "data": map[string]any{"auth": signing.AuthorizeChannel(appKey, appSecret, e.socketID, ch, nil), "channel": ch}})
				e.expectSucceeded(ch)
			}
			expectCached(t, ch, "price2", "2", e.syncFrames())
		})
	}
}

// TestCacheTTL: an event older than cache_ttl is gone.
func TestCacheTTL(t *testing.T) {
	t.Parallel()
	s := startServer(t, func(c *config.Config) { c.CacheTTL = config.Duration(time.Second) })
	const ch = "cache-short"
	s.trigger(ch, "e", "x")
	a := connect(t, s)
	expectCached(t, ch, "e", "x", a.subscribeAny(ch, ""))
	eventually(t, 4*time.Second, "the cached event to expire", func() bool {
		_, cache, present := cacheInfo(t, s, ch)
		return present && cache == nil
	})
	b := connect(t, s)
	expectCacheMiss(t, ch, b.subscribeAny(ch, ""))
	// A fresh event is cached again.
	s.trigger(ch, "e2", "y")
	checkChannelEvent(t, a.next(), ch, "e2", "y")
	checkChannelEvent(t, b.next(), ch, "e2", "y")
	c := connect(t, s)
	expectCached(t, ch, "e2", "y", c.subscribeAny(ch, ""))
}

// TestCacheClientEventsNotCached: client events on a private-cache channel
// are relayed but never cached.
func TestCacheClientEventsNotCached(t *testing.T) {
	t.Parallel()
	s := startServer(t, enableClientMessages)
	const ch = "private-cache-chat"
	a, b := connect(t, s), connect(t, s)
	expectCacheMiss(t, ch, a.subscribeAny(ch, ""))
	expectCacheMiss(t, ch, b.subscribeAny(ch, ""))
	a.sendRaw(`{"event":"client-typing","channel":"private-cache-chat","data":{"t":1}}`)
	if f := b.next(); f.Event != "client-typing" {
		t.Fatalf("B: want client-typing, got %s", f)
	}
	c := connect(t, s)
	expectCacheMiss(t, ch, c.subscribeAny(ch, ""))
	if _, cache, _ := cacheInfo(t, s, ch); cache != nil {
		t.Errorf("a client event must not be cached: %v", cache)
	}

	// An API event after it is cached; a later client event does not replace it.
	s.trigger(ch, "api", "1")
	a.sendRaw(`{"event":"client-typing","channel":"private-cache-chat","data":{"t":2}}`)
	b.waitEvent("client-typing", ch)
	d := connect(t, s)
	expectCached(t, ch, "api", "1", d.subscribeAny(ch, ""))
}

// TestCacheOnlyOnCacheChannels: other channels never get cache_miss nor a
// replay, whatever their names contain.
func TestCacheOnlyOnCacheChannels(t *testing.T) {
	t.Parallel()
	s := startCountingServer(t, nil)
	for _, ch := range []string{"my-channel", "private-x", "presence-x", "private-encrypted-x", "cached-data", "my-cache-x", "cache", "private-cachex"} {
		t.Run(ch, func(t *testing.T) {
			t.Parallel()
			s := s.with(t)
			a := connect(t, s)
			if fs := a.subscribeAny(ch, `{"user_id":"1"}`); len(fs) != 0 {
				t.Errorf("%s is no cache channel: want nothing after subscription_succeeded, got %v", ch, fs)
			}
			s.trigger(ch, "e", "x")
			a.expect("e")
			b := connect(t, s)
			if fs := b.subscribeAny(ch, `{"user_id":"2"}`); len(fs) != 0 {
				t.Errorf("%s is no cache channel: nothing is replayed, got %v", ch, fs)
			}
			expectJSON(t, s.get("/apps/1/channels/"+ch, url.Values{"info": {"subscription_count"}}),
				`{"occupied":true,"subscription_count":2}`)
		})
	}
}

// TestCacheInfoAPI: ?info=cache together with other attributes.
func TestCacheInfoAPI(t *testing.T) {
	t.Parallel()
	s := startCountingServer(t, nil)
	expectJSON(t, s.get("/apps/1/channels/cache-none", url.Values{"info": {"cache"}}), `{"occupied":false,"cache":null}`)
	a := connect(t, s)
	a.subscribeAny("cache-x", "")
	expectJSON(t, s.get("/apps/1/channels/cache-x", url.Values{"info": {"cache,subscription_count"}}),
		`{"occupied":true,"subscription_count":1,"cache":null}`)
	s.trigger("cache-x", "ev", `{"a":1}`)
	a.expect("ev")
	r := s.get("/apps/1/channels/cache-x", url.Values{"info": {"subscription_count,cache"}})
	var d struct {
		Occupied          bool `json:"occupied"`
		SubscriptionCount int  `json:"subscription_count"`
		Cache             *struct {
			Event *string `json:"event"`
			Data  *string `json:"data"`
			TTL   *int    `json:"ttl"`
		} `json:"cache"`
	}
	if r.status != 200 || json.Unmarshal(r.body, &d) != nil {
		t.Fatalf("GET cache-x: %v", r)
	}
	if !d.Occupied || d.SubscriptionCount != 1 || d.Cache == nil || d.Cache.Event == nil || *d.Cache.Event != "ev" ||
		d.Cache.Data == nil || *d.Cache.Data != `{"a":1}` || d.Cache.TTL == nil || *d.Cache.TTL < 1700 || *d.Cache.TTL > 1800 {
		t.Errorf(`want {"occupied":true,"subscription_count":1,"cache":{"event":"ev","data":"{\"a\":1}","ttl":~1800}}, got %s`, r.body)
	}
}
