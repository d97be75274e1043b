package pusher

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRequestErrorOnNon2xx(t *testing.T) {
	for _, status := range []int{400, 401, 403, 404, 413, 500} {
		rec := &recorder{status: status, body: `{"error":"nope","code":` + http.StatusText(status) + `}`}
		c := newTestClient(t, rec)
		_, err := c.Trigger(context.Background(), TriggerParams{Channels: []string{"a"}, Event: "e", Data: "d"})
		var re *RequestError
		if !errors.As(err, &re) || re.Status != status || re.Body != rec.body {
			t.Errorf("HTTP %d: err = %v", status, err)
		}
	}
}

// TestResponseDecoding: tolerant of extra fields and of the spellings other
// servers use for "nothing"; an empty or non-JSON 2xx body is an error.
func TestResponseDecoding(t *testing.T) {
	ctx := context.Background()
	ok := []struct{ name, body string }{
		{"empty object", `{}`},
		{"null channels", `{"channels":null}`},
		{"array channels (soketi-style)", `{"channels":[]}`},
		{"extra fields", `{"channels":{"a":{"subscription_count":1,"occupied":true}},"extra":[1,2]}`},
	}
	for _, tc := range ok {
		c := newTestClient(t, &recorder{body: tc.body})
		res, err := c.Trigger(ctx, TriggerParams{Channels: []string{"a"}, Event: "e", Data: "d"})
		if err != nil || res.Channels == nil {
			t.Errorf("%s: %+v, %v", tc.name, res, err)
		}
		lres, err := c.Channels(ctx, ChannelsParams{})
		if err != nil || lres.Channels == nil {
			t.Errorf("%s (Channels): %+v, %v", tc.name, lres, err)
		}
	}
	for _, body := range []string{`{}`, `{"batch":{}}`, `{"batch":[]}`, `{"ok":true}`} {
		c := newTestClient(t, &recorder{body: body})
		res, err := c.TriggerBatch(ctx, []BatchEvent{{Channel: "a", Event: "e"}, {Channel: "b", Event: "e"}})
		if err != nil || len(res.Batch) != 2 {
			t.Errorf("batch %s: %+v, %v", body, res, err)
		}
	}
	c := newTestClient(t, &recorder{body: `{"occupied":false}`})
	if users, err := c.PresenceUsers(ctx, "presence-x"); err != nil || users == nil || len(users) != 0 {
		t.Errorf("users without list: %v %v", users, err)
	}
	for _, body := range []string{"", "  \n", "not json", `{"channels":{"a":5}}`, `[1]`, `{"batch":[1]}`} {
		c := newTestClient(t, &recorder{body: body})
		_, err1 := c.Trigger(ctx, TriggerParams{Channels: []string{"a"}, Event: "e", Data: "d"})
		_, err2 := c.TriggerBatch(ctx, []BatchEvent{{Channel: "a", Event: "e"}})
		if body == `{"channels":{"a":5}}` {
			err2 = err1 // only the trigger shape is wrong
		}
		if body == `{"batch":[1]}` {
			err1 = err2
		}
		if !errors.Is(err1, ErrInvalidResponse) || !errors.Is(err2, ErrInvalidResponse) {
			t.Errorf("body %q: errors %v / %v, want ErrInvalidResponse", body, err1, err2)
		}
	}
}

func TestPathPrefixAndEscaping(t *testing.T) {
	rec := &recorder{body: "{}"}
	c, err := New(Config{AppID: "my app", Key: testKey, Secret: testSecret, Host: "h:1", PathPrefix: "/herald/",
		HTTPClient: &http.Client{Transport: rec}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.TerminateUserConnections(context.Background(), "a/b c;d"); err != nil {
		t.Fatal(err)
	}
	got := rec.last(t)
	want := "/herald/apps/my%20app/users/a%2Fb%20c;d/terminate_connections"
	if got.RawPath != want || got.Path != "/herald/apps/my app/users/a/b c;d/terminate_connections" {
		t.Errorf("path %q (decoded %q), want %q", got.RawPath, got.Path, want)
	}
	if err := verifySigned("POST", want, got.RawQuery, got.Body, testKey, testSecret); err != nil {
		t.Errorf("signature over the wire path: %v", err)
	}
	q, _ := url.ParseQuery(got.RawQuery)
	if q.Get("body_md5") != "99914b932bd37a50b983c5e7c90ae93b" || string(got.Body) != "{}" {
		t.Errorf("terminate body %q md5 %s", got.Body, q.Get("body_md5"))
	}
}

func TestTimeoutAndContext(t *testing.T) {
	block := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		<-r.Context().Done()
		return nil, r.Context().Err()
	})
	c, err := New(Config{AppID: "1", Key: "k", Secret: "s", Host: "h", Timeout: 30 * time.Millisecond, HTTPClient: &http.Client{Transport: block}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = c.Channels(context.Background(), ChannelsParams{})
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Errorf("err = %v after %v, want DeadlineExceeded", err, time.Since(start))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Channels(ctx, ChannelsParams{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled ctx: %v", err)
	}
}

func TestParseURLAndEnv(t *testing.T) {
	cfg, err := ParseURL("https://k:s%2F@example.com:8443/herald/apps/42")
	if err != nil {
		t.Fatal(err)
	}
	want := Config{AppID: "42", Key: "k", Secret: "s/", Host: "example.com:8443", Scheme: "https", PathPrefix: "/herald"}
	if cfg != want {
		t.Errorf("ParseURL = %+v, want %+v", cfg, want)
	}
	for _, bad := range []string{"http://example.com/apps/1", "http://k:s@h/", "http://k:s@h/apps/", "http://k:s@h/apps/1/x", "://"} {
		if _, err := NewFromURL(bad); !errors.Is(err, ErrInvalidParams) {
			t.Errorf("NewFromURL(%q) = %v", bad, err)
		}
	}

	t.Setenv(EnvPusherURL, "http://pk:ps@p:1/apps/2")
	t.Setenv(EnvHeraldURL, "http://hk:hs@h:1/apps/3")
	t.Setenv(EnvEncryptionKey, testMasterKey)
	cfg, err = ConfigFromEnv()
	if err != nil || cfg.Key != "hk" || cfg.AppID != "3" || cfg.EncryptionMasterKeyBase64 != testMasterKey {
		t.Errorf("HERALD_URL first: %+v %v", cfg, err)
	}
	t.Setenv(EnvHeraldURL, "")
	if cfg, _ = ConfigFromEnv(); cfg.Key != "pk" {
		t.Errorf("PUSHER_URL: %+v", cfg)
	}
	t.Setenv(EnvPusherURL, "")
	t.Setenv(EnvAppID, "5")
	t.Setenv(EnvAppKey, "ek")
	t.Setenv(EnvAppSecret, "es")
	t.Setenv(EnvHost, "herald.local")
	t.Setenv(EnvPort, "6001")
	t.Setenv(EnvScheme, "https")
	c, err := NewFromEnv()
	if err != nil || c.appID != "5" || c.key != "ek" || c.secret != "es" || c.host != "herald.local:6001" || c.scheme != "https" || c.masterKey == nil {
		t.Errorf("PUSHER_* variables: %+v %v", c, err)
	}
	t.Setenv(EnvHost, "herald.local:7000") // an explicit port wins
	if cfg, _ = ConfigFromEnv(); cfg.Host != "herald.local:7000" {
		t.Errorf("host with port: %q", cfg.Host)
	}
	t.Setenv(EnvAppSecret, "")
	if _, err := NewFromEnv(); !errors.Is(err, ErrInvalidParams) {
		t.Errorf("missing secret: %v", err)
	}
}

func TestParseAuthRequests(t *testing.T) {
	p, err := ParseChannelAuthRequest([]byte("socket_id=123.456&channel_name=private-foobar&extra=x%20y"))
	if err != nil || p.SocketID != "123.456" || p.Channel != "private-foobar" {
		t.Errorf("ParseChannelAuthRequest = %+v, %v", p, err)
	}
	for _, bad := range []string{"", "socket_id=1&channel_name=private-x", "socket_id=1.2", "socket_id=1.2&channel_name=a%20b", "%zz"} {
		if _, err := ParseChannelAuthRequest([]byte(bad)); !errors.Is(err, ErrInvalidParams) {
			t.Errorf("ParseChannelAuthRequest(%q) = %v", bad, err)
		}
	}
	if sid, err := ParseUserAuthRequest([]byte("socket_id=123.456")); err != nil || sid != "123.456" {
		t.Errorf("ParseUserAuthRequest = %q, %v", sid, err)
	}
	if _, err := ParseUserAuthRequest([]byte("socket_id=abc")); !errors.Is(err, ErrInvalidParams) {
		t.Errorf("bad socket id accepted: %v", err)
	}
}

// TestKeepAlive: consecutive calls reuse one TCP connection.
func TestKeepAlive(t *testing.T) {
	var mu sync.Mutex
	conns := 0
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"channels":{}}`))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			mu.Lock()
			conns++
			mu.Unlock()
		}
	}
	srv.Start()
	defer srv.Close()
	c, err := New(Config{AppID: "1", Key: "k", Secret: "s", Host: strings.TrimPrefix(srv.URL, "http://")})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := c.Channels(context.Background(), ChannelsParams{}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Trigger(context.Background(), TriggerParams{Channels: []string{"a"}, Event: "e", Data: "d"}); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if conns != 1 {
		t.Errorf("%d connections for 10 requests, want 1", conns)
	}
}
