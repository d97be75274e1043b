package webpush_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/beams/netguard"
	"github.com/heraldhq/herald/internal/beams/pushtest"
	"github.com/heraldhq/herald/internal/beams/webpush"
)

func sender(t *testing.T, allowPrivate bool) *webpush.Sender {
	t.Helper()
	key, err := webpush.NewVAPIDKey()
	if err != nil {
		t.Fatal(err)
	}
	return &webpush.Sender{Key: key, Subject: "mailto:ops@example.com", Client: netguard.Client(allowPrivate, 5*time.Second), AllowPrivate: allowPrivate}
}

func sub(s *pushtest.Subscription) webpush.Subscription {
	return webpush.Subscription{Endpoint: s.Endpoint, P256dh: s.P256dh, Auth: s.Auth}
}

// Through the test push service: real encryption and VAPID, every outcome.
func TestSenderOutcomes(t *testing.T) {
	ps := pushtest.Start(t, nil)
	snd := sender(t, true)
	ctx := context.Background()
	s1 := ps.Subscribe(snd.Key.PublicString())

	r := snd.Send(ctx, sub(s1), webpush.Message{Plaintext: []byte(`{"hello":1}`), TTL: 60, Urgency: "high", Topic: "news"})
	if r.Outcome != webpush.Delivered || r.Status != 201 || r.Err != nil {
		t.Fatalf("delivery: %+v (rejections %+v)", r, ps.Rejected())
	}
	select {
	case m := <-ps.Messages():
		if string(m.Plaintext) != `{"hello":1}` || m.Header.Get("TTL") != "60" || m.Header.Get("Urgency") != "high" || m.Header.Get("Topic") != "news" {
			t.Fatalf("message %s headers %v", m.Plaintext, m.Header)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no message at the push service")
	}

	ps.Inject(s1.ID, pushtest.Injected{Status: 429, RetryAfter: "7"}, pushtest.Injected{Status: 503}, pushtest.Injected{Status: 413}, pushtest.Injected{Status: 403})
	want := []struct {
		o     webpush.Outcome
		after time.Duration
	}{{webpush.Retry, 7 * time.Second}, {webpush.Retry, 0}, {webpush.Rejected, 0}, {webpush.ConfigError, 0}}
	for i, w := range want {
		r := snd.Send(ctx, sub(s1), webpush.Message{Plaintext: []byte("x"), TTL: 1})
		if r.Outcome != w.o || r.RetryAfter != w.after || r.Err == nil {
			t.Errorf("injected answer %d: %+v, want %v after %v", i, r, w.o, w.after)
		}
	}
	ps.Expire(s1.ID)
	if r := snd.Send(ctx, sub(s1), webpush.Message{Plaintext: []byte("x"), TTL: 1}); r.Outcome != webpush.Gone || r.Status != 410 {
		t.Fatalf("expired subscription: %+v", r)
	}

	// A subscription made for another instance's key: the service refuses the VAPID key.
	other := ps.Subscribe("another-key")
	if r := snd.Send(ctx, sub(other), webpush.Message{Plaintext: []byte("x"), TTL: 1}); r.Outcome != webpush.ConfigError {
		t.Fatalf("wrong applicationServerKey: %+v", r)
	}
	// Broken keys in a stored device can never receive.
	bad := sub(ps.Subscribe(snd.Key.PublicString()))
	bad.P256dh = "not-a-key"
	if r := snd.Send(ctx, bad, webpush.Message{Plaintext: []byte("x"), TTL: 1}); r.Outcome != webpush.Gone {
		t.Fatalf("broken p256dh: %+v", r)
	}
	if r := snd.Send(ctx, sub(ps.Subscribe(snd.Key.PublicString())), webpush.Message{Plaintext: make([]byte, webpush.MaxPlaintext+1), TTL: 1}); r.Outcome != webpush.Rejected {
		t.Fatalf("message too large: %+v", r)
	}
	// Padded base64 keys (some browsers) work.
	s2 := ps.Subscribe(snd.Key.PublicString())
	padded := sub(s2)
	padded.Auth += "=="
	if r := snd.Send(ctx, padded, webpush.Message{Plaintext: []byte("y"), TTL: 1}); r.Outcome != webpush.Delivered {
		t.Fatalf("padded auth: %+v %+v", r, ps.Rejected())
	}
}

// The guard stops a push to a private address unless allowed (such a
// device can never receive: gone), also when the refusal comes at connect
// time; a network error is retryable.
func TestSenderGuardAndNetwork(t *testing.T) {
	ps := pushtest.Start(t, nil)
	snd := sender(t, false)
	s := ps.Subscribe(snd.Key.PublicString())
	r := snd.Send(context.Background(), sub(s), webpush.Message{Plaintext: []byte("x"), TTL: 1})
	if r.Outcome != webpush.Gone || r.Err == nil || ps.Accepted() != 0 {
		t.Fatalf("push to http://127.0.0.1 without the switch: %+v", r)
	}
	// Allowed by the URL check, refused when connecting: the client's guard.
	mixed := sender(t, false)
	mixed.AllowPrivate = true
	if r := mixed.Send(context.Background(), sub(ps.Subscribe(mixed.Key.PublicString())), webpush.Message{Plaintext: []byte("x"), TTL: 1}); r.Outcome != webpush.Gone || !strings.Contains(r.Err.Error(), "not allowed") {
		t.Fatalf("refused at connect time: %+v", r)
	}
	// Nothing listening: retry later.
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	gone := sub(s)
	gone.Endpoint = deadURL + "/push/x"
	if r := sender(t, true).Send(context.Background(), gone, webpush.Message{Plaintext: []byte("x"), TTL: 1}); r.Outcome != webpush.Retry {
		t.Fatalf("connection refused: %+v", r)
	}
	// A redirect is never followed: the 3xx is a rejection.
	redir := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, ps.URL+"/push/"+s.ID, http.StatusTemporaryRedirect)
	}))
	defer redir.Close()
	snd2 := sender(t, true)
	moved := sub(s)
	moved.Endpoint = redir.URL + "/x"
	if r := snd2.Send(context.Background(), moved, webpush.Message{Plaintext: []byte("x"), TTL: 1}); r.Outcome != webpush.Rejected || r.Status != 307 {
		t.Fatalf("redirect: %+v", r)
	}
}

// One VAPID token per push-service origin, renewed before it expires.
func TestSenderTokenCache(t *testing.T) {
	ps := pushtest.Start(t, nil)
	now := time.Now()
	snd := sender(t, true)
	snd.Now = func() time.Time { return now }
	s := ps.Subscribe(snd.Key.PublicString())
	tokens := map[string]bool{}
	for i := range 3 {
		if i == 2 {
			now = now.Add(11*time.Hour + time.Minute) // under an hour left: renewed
		}
		if r := snd.Send(context.Background(), sub(s), webpush.Message{Plaintext: []byte("x"), TTL: 1}); r.Outcome != webpush.Delivered {
			t.Fatal(r)
		}
		m := <-ps.Messages()
		tokens[m.Header.Get("Authorization")] = true
	}
	if len(tokens) != 2 {
		t.Fatalf("%d distinct tokens for 3 pushes (the third after 11 h), want 2", len(tokens))
	}
}
