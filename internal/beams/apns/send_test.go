package apns_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/beams/apns"
	"github.com/heraldhq/herald/internal/beams/webpush"
)

const (
	kid    = "ABC123DEFG"
	team   = "DEF123GHIJ"
	device = "9f4b2c0e6d8a1b3c5e7f90a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5"
	unix0  = 1795874291
)

type env struct {
	fake *fakeAPNs
	clk  *clock
	snd  *apns.Sender
}

func setup(t *testing.T) *env {
	t.Helper()
	key, p8 := testKey(t)
	loaded, err := apns.LoadKey(p8)
	if err != nil {
		t.Fatal(err)
	}
	f := startFake(t, &key.PublicKey, kid, team, `{"reason":"Unregistered","timestamp":1700000000000}`)
	clk := &clock{t: time.Unix(unix0, 0)}
	return &env{fake: f, clk: clk, snd: &apns.Sender{KeyID: kid, TeamID: team, Key: loaded, Topic: "com.example.app", BaseURL: f.srv.URL + "/", Client: f.srv.Client(), Now: clk.Now}}
}

func message(t *testing.T, payload string) ([]byte, apns.Headers) {
	t.Helper()
	body, h, err := apns.Build(json.RawMessage(payload), "inst", "pubid-1")
	if err != nil {
		t.Fatal(err)
	}
	return body, h
}

// Every answer APNs gives, classified as spec 4.1 says.
func TestSendOutcomes(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	body, h := message(t, `{"aps":{"alert":"Hi"}}`)

	r, id := e.snd.SendID(ctx, device, "", body, h)
	if r.Outcome != webpush.Delivered || r.Status != 200 || r.Err != nil || id == "" {
		t.Fatalf("delivery: %+v %q", r, id)
	}
	if got := e.fake.requests()[0]; got.Header.Get("Apns-Topic") != "com.example.app" || got.Proto != "HTTP/2.0" || got.Path != "/3/device/"+device {
		t.Fatalf("the sender's topic: %+v", got)
	}

	date := e.clk.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	for _, c := range []struct {
		a     answer
		want  webpush.Outcome
		after time.Duration
	}{
		{answer{Status: 410, Reason: "ExpiredToken"}, webpush.Gone, 0},
		{answer{Status: 410, Reason: "Unregistered"}, webpush.Gone, 0},
		{answer{Status: 400, Reason: "BadDeviceToken"}, webpush.Gone, 0},
		{answer{Status: 400, Reason: "DeviceTokenNotForTopic"}, webpush.Gone, 0},
		{answer{Status: 400, Reason: "BadCollapseId"}, webpush.Rejected, 0},
		{answer{Status: 400, Reason: "BadTopic"}, webpush.Rejected, 0},
		{answer{Status: 400, Reason: "InvalidPushType"}, webpush.Rejected, 0},
		{answer{Status: 413, Reason: "PayloadTooLarge"}, webpush.Rejected, 0},
		{answer{Status: 403, Reason: "InvalidProviderToken"}, webpush.ConfigError, 0},
		{answer{Status: 403, Reason: "MissingProviderToken"}, webpush.ConfigError, 0},
		{answer{Status: 404, Reason: "BadPath"}, webpush.ConfigError, 0},
		{answer{Status: 429, Reason: "TooManyRequests", RetryAfter: "7"}, webpush.Retry, 7 * time.Second},
		{answer{Status: 429, Reason: "TooManyProviderTokenUpdates"}, webpush.Retry, 0},
		{answer{Status: 500, Reason: "InternalServerError"}, webpush.Retry, 0},
		{answer{Status: 503, Reason: "ServiceUnavailable", RetryAfter: date}, webpush.Retry, 90 * time.Second},
		{answer{Status: 503, Reason: "Shutdown", RetryAfter: "99999"}, webpush.Retry, time.Hour},
		{answer{Status: 502, Raw: "<html>Bad Gateway</html>"}, webpush.Retry, 0},
		{answer{Abort: true}, webpush.Retry, 0},
	} {
		e.fake.answer(device, c.a)
		r, id := e.snd.SendID(ctx, device, "com.example.app", body, h)
		var ae *apns.Error
		switch {
		case r.Outcome != c.want || r.RetryAfter != c.after || r.Err == nil || id != "":
			t.Errorf("%+v: %+v %q, want %v after %v", c.a, r, id, c.want, c.after)
		case c.a.Abort:
			if r.Status != 0 || errors.As(r.Err, &ae) {
				t.Errorf("network error: %+v", r)
			}
		case !errors.As(r.Err, &ae) || ae.Status != c.a.Status || ae.Reason != c.a.Reason || r.Status != c.a.Status:
			t.Errorf("%+v: error %v", c.a, r.Err)
		case c.a.Raw != "" && !strings.Contains(r.Err.Error(), "Bad Gateway"):
			t.Errorf("a non-JSON answer is shown: %v", r.Err)
		}
	}

	// Refused before any request.
	n := len(e.fake.requests())
	for _, c := range []struct {
		name          string
		device, topic string
		body          []byte
		h             apns.Headers
		want          webpush.Outcome
	}{
		{"token not hex", "zz" + device[2:], "", body, h, webpush.Gone},
		{"token odd length", device[1:], "", body, h, webpush.Gone},
		{"empty token", "", "", body, h, webpush.Gone},
		{"token with a path", device + "/../x", "", body, h, webpush.Gone},
		{"device's topic not a bundle id", device, "com.example\r\nx: y", body, h, webpush.Gone},
		{"empty body", device, "", nil, h, webpush.Rejected},
		{"body too large", device, "", make([]byte, apns.MaxBody+1), h, webpush.Rejected},
		{"collapse id too long", device, "", body, apns.Headers{CollapseID: strings.Repeat("c", 65)}, webpush.Rejected},
		{"priority 7", device, "", body, apns.Headers{Priority: 7}, webpush.Rejected},
		{"control character in a header", device, "", body, apns.Headers{CollapseID: "a\nb"}, webpush.Rejected},
	} {
		if r := e.snd.Send(ctx, c.device, c.topic, c.body, c.h); r.Outcome != c.want || r.Err == nil {
			t.Errorf("%s: %+v, want %v", c.name, r, c.want)
		}
	}
	noTopic := &apns.Sender{KeyID: kid, TeamID: team, Key: e.snd.Key, BaseURL: e.fake.srv.URL, Client: e.fake.srv.Client()}
	if r := noTopic.Send(ctx, device, "", body, h); r.Outcome != webpush.ConfigError {
		t.Errorf("no topic anywhere: %+v", r)
	}
	noKey := &apns.Sender{KeyID: kid, TeamID: team, Topic: "com.example.app", BaseURL: e.fake.srv.URL, Client: e.fake.srv.Client()}
	if r := noKey.Send(ctx, device, "", body, h); r.Outcome != webpush.ConfigError {
		t.Errorf("no key: %+v", r)
	}
	if got := len(e.fake.requests()); got != n {
		t.Errorf("%d requests for refused sends", got-n)
	}
	// A key Apple does not know (another team's, or revoked).
	other := setup(t)
	other.snd.BaseURL, other.snd.Client = e.fake.srv.URL, e.fake.srv.Client()
	if r := other.snd.Send(ctx, device, "", body, h); r.Outcome != webpush.ConfigError || r.Status != 403 {
		t.Errorf("unknown key: %+v", r)
	}
	// Down: nobody listening.
	down := setup(t)
	down.fake.srv.Close()
	if r := down.snd.Send(ctx, device, "", body, h); r.Outcome != webpush.Retry || r.Err == nil {
		t.Errorf("APNs unreachable: %+v", r)
	}
}

// A background notification goes with its push type and priority, the
// optional headers only when set, the device's topic over the sender's.
func TestSendHeaders(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	body, h := message(t, `{"aps":{"content-available":1},"collapse_id":"sync","expiration":1795900000}`)
	h.ID = "123e4567-e89b-12d3-a456-426614174000"
	if r := e.snd.Send(ctx, device, "com.example.other", body, h); r.Outcome != webpush.Delivered {
		t.Fatal(r)
	}
	got := e.fake.requests()[0].Header
	for name, want := range map[string]string{
		"Apns-Push-Type": "background", "Apns-Priority": "5", "Apns-Expiration": "1795900000",
		"Apns-Collapse-Id": "sync", "Apns-Id": h.ID, "Apns-Topic": "com.example.other",
	} {
		if got.Get(name) != want {
			t.Errorf("%s: %q, want %q", name, got.Get(name), want)
		}
	}
	if string(e.fake.requests()[0].Body) != `{"aps":{"content-available":1},"data":{"pusher":{"publishId":"pubid-1","instanceId":"inst"}}}` {
		t.Errorf("body %s", e.fake.requests()[0].Body)
	}

	// Zero headers: an alert, expiration 0 (deliver once), no priority.
	if r := e.snd.Send(ctx, device, "", body, apns.Headers{}); r.Outcome != webpush.Delivered {
		t.Fatal(r)
	}
	got = e.fake.requests()[1].Header
	if got.Get("Apns-Push-Type") != "alert" || got.Get("Apns-Expiration") != "0" || got.Values("Apns-Priority") != nil || got.Values("Apns-Collapse-Id") != nil || got.Values("Apns-Id") != nil {
		t.Errorf("zero headers: %v", got)
	}
}

// One provider token for every send until it is 40 minutes old; then one
// new one.
func TestProviderTokenReuse(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	body, h := message(t, `{"aps":{"alert":"Hi"}}`)
	for i := range 40 {
		if r := e.snd.Send(ctx, device, "", body, h); r.Outcome != webpush.Delivered {
			t.Fatalf("send %d: %+v", i, r)
		}
		e.clk.Add(59 * time.Second) // the last send at 38m21s
	}
	if tokens := e.fake.distinctJWTs(); len(tokens) != 1 || tokens[0].IAT != unix0 {
		t.Fatalf("%d tokens over 39 minutes", len(tokens))
	}
	e.clk.Add(39 * time.Second) // 39m59s
	e.snd.Send(ctx, device, "", body, h)
	if n := len(e.fake.distinctJWTs()); n != 1 {
		t.Fatalf("%d tokens at 39m59s", n)
	}
	e.clk.Add(time.Second) // 40 minutes
	for range 3 {
		e.snd.Send(ctx, device, "", body, h)
	}
	tokens := e.fake.distinctJWTs()
	if len(tokens) != 2 || tokens[1].IAT != unix0+40*60 {
		t.Fatalf("after 40 minutes: %d tokens", len(tokens))
	}
	// A host that slept (the monotonic clock stood still) renews on waking:
	// ages are wall-clock ages.
	e.clk.Add(3 * time.Hour)
	e.snd.Send(ctx, device, "", body, h)
	if tokens := e.fake.distinctJWTs(); len(tokens) != 3 {
		t.Fatalf("after 3 hours: %d tokens", len(tokens))
	}
}

// Apple calls the token expired: a new one, and the notification sent once
// more — but never a new token younger than 20 minutes, and never a second
// retry.
func TestExpiredProviderToken(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	body, h := message(t, `{"aps":{"alert":"Hi"}}`)
	if r := e.snd.Send(ctx, device, "", body, h); r.Outcome != webpush.Delivered {
		t.Fatal(r)
	}
	e.clk.Add(25 * time.Minute)
	e.fake.expireBefore(e.clk.Now()) // Apple's clock runs ahead of ours
	r, id := e.snd.SendID(ctx, device, "", body, h)
	reqs := e.fake.requests()
	if r.Outcome != webpush.Delivered || id == "" || len(reqs) != 3 || reqs[1].JWT != reqs[0].JWT || reqs[2].JWT == reqs[1].JWT || reqs[2].IAT != unix0+25*60 || string(reqs[2].Body) != string(body) {
		t.Fatalf("expired token: %+v, %d requests", r, len(reqs))
	}

	// Expired again at once: the token is 5 minutes old, so no new one
	// (Apple would answer TooManyProviderTokenUpdates), no retry.
	e.clk.Add(5 * time.Minute)
	e.fake.expireBefore(e.clk.Now().Add(time.Hour))
	r = e.snd.Send(ctx, device, "", body, h)
	var ae *apns.Error
	if r.Outcome != webpush.ConfigError || r.Status != 403 || !errors.As(r.Err, &ae) || ae.Reason != "ExpiredProviderToken" || len(e.fake.requests()) != 4 {
		t.Fatalf("expired young token: %+v, %d requests", r, len(e.fake.requests()))
	}
	// 20 minutes on, still refused: one new token, one retry, then a
	// configuration error.
	e.clk.Add(20 * time.Minute)
	r = e.snd.Send(ctx, device, "", body, h)
	reqs = e.fake.requests()
	if r.Outcome != webpush.ConfigError || len(reqs) != 6 || reqs[5].JWT == reqs[4].JWT {
		t.Fatalf("expired twice: %+v, %d requests", r, len(reqs))
	}
	tokens := e.fake.distinctJWTs()
	for i := 1; i < len(tokens); i++ {
		if gap := tokens[i].IAT - tokens[i-1].IAT; gap < 20*60 {
			t.Errorf("token %d made %d s after the previous one", i, gap)
		}
	}
}

// Concurrent sends share one token; after a refresh they share the next.
func TestConcurrentSendsShareToken(t *testing.T) {
	e := setup(t)
	body, h := message(t, `{"aps":{"alert":"Hi"}}`)
	burst := func() {
		var wg sync.WaitGroup
		for range 50 {
			wg.Go(func() {
				if r := e.snd.Send(context.Background(), device, "", body, h); r.Outcome != webpush.Delivered {
					t.Error(r)
				}
			})
		}
		wg.Wait()
	}
	burst()
	if n := len(e.fake.distinctJWTs()); n != 1 {
		t.Fatalf("%d tokens for one burst", n)
	}
	e.clk.Add(41 * time.Minute)
	e.fake.expireBefore(e.clk.Now().Add(-time.Minute)) // the first token is dead at Apple
	burst()
	if n := len(e.fake.distinctJWTs()); n != 2 {
		t.Fatalf("%d tokens for two bursts 41 minutes apart", n)
	}
	if n := len(e.fake.requests()); n != 100 {
		t.Fatalf("%d requests", n)
	}
}

// Concurrent sends that all hear "expired" make one new token between them.
func TestConcurrentExpiredShareNewToken(t *testing.T) {
	e := setup(t)
	body, h := message(t, `{"aps":{"alert":"Hi"}}`)
	e.snd.Send(context.Background(), device, "", body, h)
	e.clk.Add(30 * time.Minute)
	e.fake.expireBefore(e.clk.Now())
	var wg sync.WaitGroup
	for range 30 {
		wg.Go(func() {
			if r := e.snd.Send(context.Background(), device, "", body, h); r.Outcome != webpush.Delivered {
				t.Error(r)
			}
		})
	}
	wg.Wait()
	if n := len(e.fake.distinctJWTs()); n != 2 {
		t.Fatalf("%d tokens", n)
	}
}

// NewClient speaks HTTP/2 only, as APNs requires.
func TestNewClient(t *testing.T) {
	e := setup(t)
	c := apns.NewClient(5 * time.Second)
	pool := x509.NewCertPool()
	pool.AddCert(e.fake.srv.Certificate())
	c.Transport.(*http.Transport).TLSClientConfig.RootCAs = pool
	e.snd.Client = c
	body, h := message(t, `{"aps":{"alert":"Hi"}}`)
	for range 3 {
		if r := e.snd.Send(context.Background(), device, "", body, h); r.Outcome != webpush.Delivered {
			t.Fatal(r)
		}
	}
	for _, r := range e.fake.requests() {
		if r.Proto != "HTTP/2.0" {
			t.Fatalf("proto %s", r.Proto)
		}
	}
}
