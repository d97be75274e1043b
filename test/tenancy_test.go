package test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/signing"
)

// During a rotation grace period both the new primary secret and the old
// one verify API requests, channel authorizations and sign-ins; an expired
// old secret verifies nothing; the metrics say which generation was used.
func TestSecretRotationGracePeriod(t *testing.T) {
	const oldSecret, expiredSecret = "old-secret", "expired-secret"
	s := startServer(t, func(c *config.Config) {
		c.Apps[0].PreviousSecrets = []config.PreviousSecret{
			{Secret: oldSecret, ExpiresAt: time.Now().Add(time.Hour)},
			{Secret: expiredSecret, ExpiresAt: time.Now().Add(-time.Minute)},
		}
	})
	path := "/apps/" + appID + "/channels"
	for secret, want := range map[string]int{appSecret: 200, oldSecret: 200, expiredSecret: 401, "never": 401} {
		q := signing.SignRequest(signing.Credential{Key: appKey, Secret: secret}, "GET", path, url.Values{}, nil, time.Now())
		if r := s.do("GET", path+"?"+q.Encode(), nil); r.status != want {
			t.Errorf("API signed with %s: %v, want %d", secret, r, want)
		}
	}

	c := connect(t, s)
	for secret, ok := range map[string]bool{appSecret: true, oldSecret: true, expiredSecret: false} {
		ch := "private-rot-" + strings.ReplaceAll(secret, "-", "")
		c.send(map[string]any{"event": "pusher:subscribe", "data": map[string]any{
			"channel": ch, "auth": signing.AuthorizeChannel(appKey, secret, c.socketID, ch, nil)}})
		if ok {
			c.expectSucceeded(ch)
		} else {
			c.waitEvent("pusher:subscription_error", ch)
		}
	}
	ud := `{"id":"rotating-user"}`
	c.send(map[string]any{"event": "pusher:signin", "data": map[string]any{
		"user_data": ud, "auth": signing.AuthenticateUser(appKey, oldSecret, c.socketID, ud)}})
	c.expect("pusher:signin_success")

	if v := s.metricValue(`herald_secret_verifications_total{app_id="1",generation="previous",kind="api"}`); v != 1 {
		t.Errorf("previous-secret API verifications = %v, want 1", v)
	}
	if v := s.metricValue(`herald_secret_verifications_total{app_id="1",generation="previous",kind="channel"}`); v != 1 {
		t.Errorf("previous-secret channel verifications = %v, want 1", v)
	}
	if v := s.metricValue(`herald_secret_verifications_total{app_id="1",generation="primary",kind="channel"}`); v != 1 {
		t.Errorf("primary-secret channel verifications = %v, want 1", v)
	}
}

func TestAllowedOrigins(t *testing.T) {
	s := startServer(t, func(c *config.Config) {
		c.Apps[0].AllowedOrigins = []string{"https://app.example.com", "https://*.example.org"}
	})
	dialOrigin := func(origin string) *websocket.Conn {
		h := http.Header{}
		if origin != "" {
			h.Set("Origin", origin)
		}
		conn, _, err := (&websocket.Dialer{HandshakeTimeout: readTimeout}).Dial("ws://"+s.addr+pusherPath(appKey), h)
		if err != nil {
			t.Fatalf("dial with origin %q: %v", origin, err)
		}
		t.Cleanup(func() { conn.Close() })
		_ = conn.SetReadDeadline(time.Now().Add(readTimeout))
		return conn
	}
	for origin, allowed := range map[string]bool{
		"https://app.example.com": true, "https://chat.example.org": true, "": true,
		"https://evil.example.com": false, "http://app.example.com": false,
	} {
		conn := dialOrigin(origin)
		_, msg, err := conn.ReadMessage()
		if err != nil {
			t.Fatalf("origin %q: %v", origin, err)
		}
		f := frame{raw: msg}
		if json.Unmarshal(msg, &f.keys) != nil || json.Unmarshal(msg, &f) != nil {
			t.Fatalf("origin %q: first frame is not a JSON object: %s", origin, msg)
		}
		if allowed && f.Event != "pusher:connection_established" {
			t.Errorf("origin %q refused: %s", origin, msg)
		}
		if !allowed {
			if f.Event != "pusher:error" {
				t.Errorf("origin %q: want pusher:error 4009, got %s", origin, msg)
			} else if e := f.pusherError(t); e.Code == nil || *e.Code != 4009 {
				t.Errorf("origin %q: want pusher:error 4009, got %s", origin, msg)
			}
			_, _, err := conn.ReadMessage()
			if ce, ok := err.(*websocket.CloseError); !ok || ce.Code != 4009 {
				t.Errorf("origin %q: want close 4009, got %v", origin, err)
			}
		}
	}
}

func TestAPIRateLimit(t *testing.T) {
	s := startServer(t, func(c *config.Config) {
		c.Apps[0].APIRateLimit = 1
		c.Apps[0].APIRateBurst = 3
	})
	var limited apiResponse
	ok := 0
	for range 10 {
		r := s.get("/apps/"+appID+"/channels", nil)
		if r.status == http.StatusTooManyRequests {
			limited = r
			break
		}
		expectStatus(t, r, 200)
		ok++
	}
	if ok != 3 {
		t.Fatalf("%d requests passed before 429, want the burst of 3", ok)
	}
	if ra := limited.header.Get("Retry-After"); ra == "" {
		t.Errorf("429 without Retry-After: %v", limited)
	}
	if !json.Valid(limited.body) {
		t.Errorf("429 body is not JSON: %s", limited.body)
	}
}

func TestPerAppTriggerAndBatchLimits(t *testing.T) {
	s := startServer(t, func(c *config.Config) {
		c.Apps[0].MaxChannelsPerTrigger = 2
		c.Apps[0].MaxBatchSize = 2
	})
	r := s.post("/apps/"+appID+"/events", map[string]any{"name": "e", "data": "x", "channels": []string{"a", "b", "c"}})
	expectStatus(t, r, 400)
	r = s.post("/apps/"+appID+"/events", map[string]any{"name": "e", "data": "x", "channels": []string{"a", "b"}})
	expectStatus(t, r, 200)
	ev := map[string]any{"name": "e", "data": "x", "channel": "a"}
	expectStatus(t, s.post("/apps/"+appID+"/batch_events", map[string]any{"batch": []any{ev, ev, ev}}), 400)
	expectStatus(t, s.post("/apps/"+appID+"/batch_events", map[string]any{"batch": []any{ev, ev}}), 200)
}

func TestPerAppClientEventRateAndUserInfo(t *testing.T) {
	s := startServer(t, func(c *config.Config) {
		c.Apps[0].EnableClientMessages = true
		c.Apps[0].ClientEventsPerSec = 2
		c.Apps[0].MaxUserInfoKB = 2
	})
	a, b := connect(t, s), connect(t, s)
	a.subscribePrivate("private-rate")
	b.subscribePrivate("private-rate")
	for i := range 3 {
		a.send(map[string]any{"event": "client-x", "channel": "private-rate", "data": map[string]int{"i": i}})
	}
	f := a.expect("pusher:error")
	if e := f.pusherError(t); e.Code == nil || *e.Code != 4301 {
		t.Fatalf("third client event in a second: want 4301, got %s", f)
	}
	// 1.5 KB of user_info is over the server default (1 KB) but within this app's 2 KB.
	info := `{"bio":"` + strings.Repeat("x", 1500) + `"}`
	a.subscribePresence("presence-big", `{"user_id":"1","user_info":`+info+`}`)
}
