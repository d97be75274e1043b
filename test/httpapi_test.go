package test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/signing"
)

func TestAPIPublishDelivers(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	c := connect(t, s)
	c.subscribe("my-channel")

	for _, tc := range []struct {
		name string
		body string
		data string
	}{
		{"channels array", `{"name":"my-event","channels":["my-channel"],"data":"{\"message\":\"hello world\"}"}`, `{"message":"hello world"}`},
		{"channel string (PHP SDK)", `{"name":"my-event","data":"plain text","channel":"my-channel"}`, "plain text"},
		{"data kept byte for byte", `{"name":"my-event","channels":["my-channel"],"data":"{ \"b\" : 2,\n \"a\":1.50, \"h\":\"<\/script>&\", \"u\":\"caf\u00e9 \\u00e9\" }"}`,
			"{ \"b\" : 2,\n \"a\":1.50, \"h\":\"</script>&\", \"u\":\"caf\u00e9 \\u00e9\" }"},
		{"Laravel event name", `{"name":"App\\Events\\OrderShipped","channels":["my-channel"],"data":"{}"}`, "{}"},
		{"non-string data is re-serialised compactly", `{"name":"my-event","channels":["my-channel"],"data":{ "a" : [1, 2] }}`, `{"a":[1,2]}`},
		{"data of exactly 10 KiB", `{"name":"my-event","channels":["my-channel"],"data":"` + strings.Repeat("d", 10240) + `"}`, strings.Repeat("d", 10240)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.t = t
			s := s.with(t)
			expectJSON(t, s.api(http.MethodPost, "/apps/1/events", nil, []byte(tc.body)), `{}`)
			f := c.next()
			var b struct{ Name string }
			if err := json.Unmarshal([]byte(tc.body), &b); err != nil || b.Name == "" {
				t.Fatalf("bad test case body %s: %v", tc.body, err)
			}
			if f.Event != b.Name || f.Channel != "my-channel" {
				t.Fatalf("want %s on my-channel, got %s", b.Name, f)
			}
			if got := f.dataString(t); got != tc.data {
				t.Errorf("data = %q, want %q byte for byte", got, tc.data)
			}
			if len(f.keys) != 3 {
				t.Errorf("an API event carries exactly event, channel and data: %s", f)
			}
		})
	}
}

func TestAPIPublishSocketIDExclusion(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	a, b := connect(t, s), connect(t, s)
	a.subscribe("my-channel")
	b.subscribe("my-channel")
	expectJSON(t, s.post("/apps/1/events", map[string]any{"name": "e", "channels": []string{"my-channel"}, "data": "x", "socket_id": a.socketID}), `{}`)
	if f := b.next(); f.Event != "e" {
		t.Fatalf("B: want e, got %s", f)
	}
	a.expectQuiet("the excluded socket gets nothing")

	// An unknown socket id excludes nobody.
	expectJSON(t, s.post("/apps/1/events", map[string]any{"name": "e2", "channels": []string{"my-channel"}, "data": "x", "socket_id": "1.1"}), `{}`)
	a.expect("e2")
	b.expect("e2")
}

func TestAPIPublishInfo(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	c := connect(t, s)
	c.subscribe("my-channel")
	c.subscribePresence(room, `{"user_id":"1"}`)

	r := s.post("/apps/1/events", map[string]any{"name": "e", "channels": []string{"my-channel", room, "empty"}, "data": "x",
		"info": "subscription_count,user_count"})
	expectJSON(t, r, `{"channels":{"my-channel":{"subscription_count":1},"presence-room":{"user_count":1,"subscription_count":1},"empty":{"subscription_count":0}}}`)
	r = s.post("/apps/1/events", map[string]any{"name": "e", "channels": []string{"my-channel"}, "data": "x", "info": "user_count"})
	expectJSON(t, r, `{"channels":{"my-channel":{}}}`)
	if string(r.body) == "" || strings.Contains(string(r.body), "null") {
		t.Errorf("no null maps: %s", r.body)
	}
	r = s.post("/apps/1/events", map[string]any{"name": "e", "channels": []string{"my-channel"}, "data": "x"})
	if r.status != http.StatusOK || string(r.body) != `{}` {
		t.Errorf("without info the body must be exactly {}, got %v", r)
	}
}

func TestAPIBatchEvents(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	c := connect(t, s)
	c.subscribe("my-channel")
	c.subscribePresence(room, `{"user_id":"1"}`)

	r := s.post("/apps/1/batch_events", map[string]any{"batch": []map[string]any{
		{"channel": "my-channel", "name": "event-1", "data": `{"x":1}`},
		{"channel": room, "name": "event-2", "data": "str"},
	}})
	if r.status != http.StatusOK || string(r.body) != `{}` {
		t.Errorf("batch without info: want exactly {}, got %v", r)
	}
	for _, want := range []struct{ event, channel, data string }{{"event-1", "my-channel", `{"x":1}`}, {"event-2", room, "str"}} {
		f := c.next()
		if f.Event != want.event || f.Channel != want.channel || f.dataString(t) != want.data {
			t.Errorf("want %v in order, got %s", want, f)
		}
	}

	r = s.post("/apps/1/batch_events", map[string]any{"batch": []map[string]any{
		{"channel": "my-channel", "name": "event-1", "data": "a"},
		{"channel": room, "name": "event-2", "data": "b", "info": "user_count,subscription_count"},
		{"channel": "my-channel", "name": "event-3", "data": "c", "info": "subscription_count"},
	}})
	expectJSON(t, r, `{"batch":[{},{"user_count":1,"subscription_count":1},{"subscription_count":1}]}`)
	for _, ev := range []string{"event-1", "event-2", "event-3"} {
		c.expect(ev)
	}
}

func TestAPIChannelQueries(t *testing.T) {
	t.Parallel()
	s := startCountingServer(t, nil)
	expectJSON(t, s.get("/apps/1/channels", nil), `{"channels":{}}`)
	expectJSON(t, s.get("/apps/1/channels/presence-room/users", nil), `{"users":[]}`)

	a, b := connect(t, s), connect(t, s)
	a.subscribe("my-channel")
	b.subscribe("my-channel")
	a.subscribePrivate("private-x")
	a.subscribePresence(room, `{"user_id":"1"}`)
	b.subscribePresence(room, `{"user_id":"1"}`)

	expectJSON(t, s.get("/apps/1/channels", nil), `{"channels":{"my-channel":{},"private-x":{},"presence-room":{}}}`)
	expectJSON(t, s.get("/apps/1/channels", url.Values{"filter_by_prefix": {"presence-"}}), `{"channels":{"presence-room":{}}}`)
	expectJSON(t, s.get("/apps/1/channels", url.Values{"filter_by_prefix": {"presence-"}, "info": {"user_count"}}),
		`{"channels":{"presence-room":{"user_count":1}}}`)
	expectJSON(t, s.get("/apps/1/channels", url.Values{"filter_by_prefix": {"nothing-"}}), `{"channels":{}}`)
	expectStatus(t, s.get("/apps/1/channels", url.Values{"info": {"user_count"}}), http.StatusBadRequest)
	expectStatus(t, s.get("/apps/1/channels", url.Values{"filter_by_prefix": {"my-"}, "info": {"user_count"}}), http.StatusBadRequest)

	expectJSON(t, s.get("/apps/1/channels/my-channel", nil), `{"occupied":true}`)
	expectJSON(t, s.get("/apps/1/channels/my-channel", url.Values{"info": {"subscription_count"}}), `{"occupied":true,"subscription_count":2}`)
	expectJSON(t, s.get("/apps/1/channels/"+room, url.Values{"info": {"user_count,subscription_count"}}),
		`{"occupied":true,"user_count":1,"subscription_count":2}`)
	expectStatus(t, s.get("/apps/1/channels/my-channel", url.Values{"info": {"user_count"}}), http.StatusBadRequest)
	expectJSON(t, s.get("/apps/1/channels/vacant", nil), `{"occupied":false}`)
	// Requested counters of an unoccupied channel are 0 (http-api §7).
	expectJSON(t, s.get("/apps/1/channels/vacant", url.Values{"info": {"subscription_count"}}), `{"occupied":false,"subscription_count":0}`)

	expectJSON(t, s.get("/apps/1/channels/"+room+"/users", nil), `{"users":[{"id":"1"}]}`)
	expectStatus(t, s.get("/apps/1/channels/my-channel/users", nil), http.StatusBadRequest)
	expectStatus(t, s.get("/apps/1/channels/private-x/users", nil), http.StatusBadRequest)
}

// TestAPIFailures checks the status and the JSON error body of every refusal.
func TestAPIFailures(t *testing.T) {
	t.Parallel()
	s := startServer(t, func(c *config.Config) {
		c.Apps = append(c.Apps, config.App{ID: "2", Key: "disabled-key", Secret: "disabled-secret", Enabled: ptr(false)})
	})
	event := func(extra map[string]any) []byte {
		m := map[string]any{"name": "e", "channels": []string{"my-channel"}, "data": "x"}
		for k, v := range extra {
			if v == nil {
				delete(m, k)
			} else {
				m[k] = v
			}
		}
		b, _ := json.Marshal(m)
		return b
	}
	manyChannels := make([]string, 101)
	for i := range manyChannels {
		manyChannels[i] = fmt.Sprintf("c%d", i)
	}
	batch := func(n int) []byte {
		items := make([]map[string]any, n)
		for i := range items {
			items[i] = map[string]any{"name": "e", "channel": "my-channel", "data": "x"}
		}
		b, _ := json.Marshal(map[string]any{"batch": items})
		return b
	}
	signed := func(method, path string, body []byte, cred signing.Credential, now time.Time, edit func(url.Values)) func() apiResponse {
		return func() apiResponse {
			q := signing.SignRequest(cred, method, path, nil, body, now)
			if edit != nil {
				edit(q)
			}
			return s.do(method, path+"?"+q.Encode(), body)
		}
	}
	ok := event(nil)
	now := time.Now()

	for _, tc := range []struct {
		name   string
		req    func() apiResponse
		status int
	}{
		{"control: a correct request", signed("POST", "/apps/1/events", ok, appCred, now, nil), 200},
		{"control: timestamp 590 s old", signed("POST", "/apps/1/events", ok, appCred, now.Add(-590*time.Second), nil), 200},
		{"bad signature", signed("POST", "/apps/1/events", ok, appCred, now, func(q url.Values) {
			q.Set("auth_signature", strings.Repeat("ab", 32))
		}), 401},
		{"signed with the wrong secret", signed("POST", "/apps/1/events", ok, signing.Credential{Key: appKey, Secret: "nope"}, now, nil), 401},
		{"unknown auth_key", signed("POST", "/apps/1/events", ok, signing.Credential{Key: "other", Secret: appSecret}, now, nil), 401},
		{"timestamp 601 s old", signed("POST", "/apps/1/events", ok, appCred, now.Add(-601*time.Second), nil), 401},
		{"timestamp 601 s ahead", signed("POST", "/apps/1/events", ok, appCred, now.Add(601*time.Second), nil), 401},
		{"missing auth params", func() apiResponse { return s.do("POST", "/apps/1/events", ok) }, 401},
		{"missing auth_signature", signed("POST", "/apps/1/events", ok, appCred, now, func(q url.Values) { q.Del("auth_signature") }), 401},
		{"auth_version 2.0", signed("POST", "/apps/1/events", ok, appCred, now, func(q url.Values) { q.Set("auth_version", "2.0") }), 401},
		{"wrong body_md5", func() apiResponse {
			// A valid signature over a body_md5 that does not match the body sent.
			q := signing.SignRequest(appCred, "POST", "/apps/1/events", nil, event(map[string]any{"data": "y"}), now)
			return s.do("POST", "/apps/1/events?"+q.Encode(), ok)
		}, 401},
		{"missing body_md5", func() apiResponse {
			q := signing.SignRequest(appCred, "POST", "/apps/1/events", nil, nil, now)
			return s.do("POST", "/apps/1/events?"+q.Encode(), ok)
		}, 401},
		{"unknown app id", signed("POST", "/apps/999/events", ok, appCred, now, nil), 404},
		{"disabled app", signed("POST", "/apps/2/events", ok, signing.Credential{Key: "disabled-key", Secret: "disabled-secret"}, now, nil), 403},
		{"invalid JSON", signed("POST", "/apps/1/events", []byte(`{"name":`), appCred, now, nil), 400},
		{"JSON array body", signed("POST", "/apps/1/events", []byte(`[]`), appCred, now, nil), 400},
		{"empty body", signed("POST", "/apps/1/events", nil, appCred, now, nil), 400},
		{"missing name", signed("POST", "/apps/1/events", event(map[string]any{"name": nil}), appCred, now, nil), 400},
		{"missing data", signed("POST", "/apps/1/events", event(map[string]any{"data": nil}), appCred, now, nil), 400},
		{"missing channels", signed("POST", "/apps/1/events", event(map[string]any{"channels": nil}), appCred, now, nil), 400},
		{"empty channels", signed("POST", "/apps/1/events", event(map[string]any{"channels": []string{}}), appCred, now, nil), 400},
		{"101 channels", signed("POST", "/apps/1/events", event(map[string]any{"channels": manyChannels}), appCred, now, nil), 400},
		{"event name of 201 characters", signed("POST", "/apps/1/events", event(map[string]any{"name": strings.Repeat("n", 201)}), appCred, now, nil), 400},
		{"invalid channel name", signed("POST", "/apps/1/events", event(map[string]any{"channels": []string{"bad channel!"}}), appCred, now, nil), 400},
		{"reserved # channel", signed("POST", "/apps/1/events", event(map[string]any{"channels": []string{"#foo"}}), appCred, now, nil), 400},
		{"channel name of 201 characters", signed("POST", "/apps/1/events", event(map[string]any{"channels": []string{strings.Repeat("c", 201)}}), appCred, now, nil), 400},
		{"multi-channel with an encrypted channel", signed("POST", "/apps/1/events",
			event(map[string]any{"channels": []string{"my-channel", "private-encrypted-x"}}), appCred, now, nil), 400},
		{"bad socket_id", signed("POST", "/apps/1/events", event(map[string]any{"socket_id": "abc"}), appCred, now, nil), 400},
		{"socket_id with three parts", signed("POST", "/apps/1/events", event(map[string]any{"socket_id": "1.2.3"}), appCred, now, nil), 400},
		{"data over 10 KiB", signed("POST", "/apps/1/events", event(map[string]any{"data": strings.Repeat("d", 10241)}), appCred, now, nil), 413},
		{"body over the limit", signed("POST", "/apps/1/events", event(map[string]any{"data": strings.Repeat("d", 300<<10)}), appCred, now, nil), 413},
		{"batch item with two channels", signed("POST", "/apps/1/batch_events",
			[]byte(`{"batch":[{"name":"e","channels":["a","b"],"data":"x"}]}`), appCred, now, nil), 400},
		{"control: sendToUser channel", signed("POST", "/apps/1/events", event(map[string]any{"channels": []string{"#server-to-user-12345"}}), appCred, now, nil), 200},
		{"11 batch events", signed("POST", "/apps/1/batch_events", batch(11), appCred, now, nil), 400},
		{"empty batch", signed("POST", "/apps/1/batch_events", []byte(`{"batch":[]}`), appCred, now, nil), 400},
		{"batch item over 10 KiB", signed("POST", "/apps/1/batch_events",
			[]byte(`{"batch":[{"name":"e","channel":"c","data":"x"},{"name":"e","channel":"c","data":"`+strings.Repeat("d", 10241)+`"}]}`), appCred, now, nil), 413},
		{"batch item with invalid channel", signed("POST", "/apps/1/batch_events",
			[]byte(`{"batch":[{"name":"e","channel":"bad channel","data":"x"}]}`), appCred, now, nil), 400},
		{"GET on /events", signed("GET", "/apps/1/events", nil, appCred, now, nil), 405},
		{"unknown API path", signed("GET", "/apps/1/nope", nil, appCred, now, nil), 404},
		{"unknown path", func() apiResponse { return s.do("GET", "/nope", nil) }, 404},
		{"invalid channel name in GET path", signed("GET", "/apps/1/channels/bad*name", nil, appCred, now, nil), 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.t = t
			r := tc.req()
			expectStatus(t, r, tc.status)
		})
	}
	s.t = t
}

// TestAPISigningLikeTheSDKs sends requests the way the Go SDK and the PHP SDK
// lay out their queries: sorted with auth_signature in the middle, and
// percent-encoded values.
func TestAPISigningLikeTheSDKs(t *testing.T) {
	t.Parallel()
	s := startCountingServer(t, nil)
	c := connect(t, s)
	c.subscribePresence(room, `{"user_id":"1"}`)

	q := signing.SignRequest(appCred, "GET", "/apps/1/channels", url.Values{"filter_by_prefix": {"presence-"}, "info": {"user_count"}}, nil, time.Now())
	// Raw commas and hyphens, as Node and Go send them.
	var parts []string
	for _, k := range []string{"auth_key", "auth_signature", "auth_timestamp", "auth_version", "filter_by_prefix", "info"} {
		parts = append(parts, k+"="+q.Get(k))
	}
	expectJSON(t, s.do("GET", "/apps/1/channels?"+strings.Join(parts, "&"), nil), `{"channels":{"presence-room":{"user_count":1}}}`)

	q = signing.SignRequest(appCred, "GET", "/apps/1/channels/"+room, url.Values{"info": {"user_count,subscription_count"}}, nil, time.Now())
	expectJSON(t, s.do("GET", "/apps/1/channels/"+room+"?"+q.Encode(), nil), `{"occupied":true,"user_count":1,"subscription_count":1}`)
}
