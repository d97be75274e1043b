package fcm_test

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/beams/fcm"
	"github.com/heraldhq/herald/internal/beams/webpush"
)

func message(t *testing.T, token string) []byte {
	t.Helper()
	b, err := fcm.Translate(json.RawMessage(vectorFCM), token, testInstance, "pubid-1")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The vectors' request, byte for byte, through the fake; the assertion has
// the vectors' header and claims.
func TestSendVector(t *testing.T) {
	v := loadVectors(t)
	f := startFake(t)
	snd := f.sender(t)
	ctx := context.Background()

	for _, token := range []string{"fcm-registration-token-1", ""} { // translated for the device, or once per publish
		r := snd.Send(ctx, "fcm-registration-token-1", message(t, token))
		if r.Outcome != webpush.Delivered || r.Status != v.ProviderFakes.FCMV1.ResponseStatus || r.Err != nil {
			t.Fatalf("send: %+v", r)
		}
	}
	want := v.ProviderFakes.FCMV1
	for i, got := range f.recordedSends() {
		if got.method != want.Method || got.path != want.Path || got.authorization != want.Authorization ||
			got.contentType != want.ContentType || string(got.body) != want.Body {
			t.Errorf("request %d: %s %s %q %q\n%s\nwant %s %s %q %q\n%s", i, got.method, got.path, got.authorization,
				got.contentType, got.body, want.Method, want.Path, want.Authorization, want.ContentType, want.Body)
		}
	}

	g := v.ProviderFakes.GoogleOAuthToken
	f.mu.Lock()
	header, claims, form := f.lastHeader, f.lastClaims, f.lastForm
	f.mu.Unlock()
	if !sameKeys(header, g.AssertionHeader) || !sameKeys(claims, g.AssertionClaims) {
		t.Errorf("assertion %v %v; vectors %v %v", header, claims, g.AssertionHeader, g.AssertionClaims)
	}
	for _, k := range []string{"alg", "typ", "kid"} {
		if header[k] != g.AssertionHeader[k] {
			t.Errorf("assertion header %s: %v, vectors %v", k, header[k], g.AssertionHeader[k])
		}
	}
	for _, k := range []string{"iss", "scope", "iat", "exp"} { // aud is the vectors' own port
		if claims[k] != g.AssertionClaims[k] {
			t.Errorf("assertion claim %s: %v, vectors %v", k, claims[k], g.AssertionClaims[k])
		}
	}
	if form["contentType"] != g.ContentType || form["grant_type"] != g.GrantType {
		t.Errorf("token request %v, vectors %s %s", form, g.ContentType, g.GrantType)
	}
}

func sameKeys(a, b map[string]any) bool {
	return slices.Equal(slices.Sorted(maps.Keys(a)), slices.Sorted(maps.Keys(b)))
}

// Every answer of FCM, classified (spec 4.1, 4.5).
func TestSendOutcomes(t *testing.T) {
	f := startFake(t)
	snd := f.sender(t)
	ctx := context.Background()
	for _, c := range []struct {
		token  string
		want   webpush.Outcome
		status int
		after  time.Duration
		says   string
	}{
		{"dead", webpush.Gone, 404, 0, "UNREGISTERED"},
		{"mismatch", webpush.Gone, 403, 0, "SENDER_ID_MISMATCH"},
		{"invalid", webpush.Gone, 400, 0, "INVALID_ARGUMENT"},
		{"invalid-message", webpush.Gone, 400, 0, "registration token"},
		{"bad-payload", webpush.Rejected, 400, 0, "message.android.ttl"},
		{"too-big", webpush.Rejected, 413, 0, "Request Entity Too Large"},
		{"quota", webpush.Retry, 429, 30 * time.Second, "QUOTA_EXCEEDED"},
		{"unavailable", webpush.Retry, 503, 5 * time.Second, "UNAVAILABLE"},
		{"internal", webpush.Retry, 500, 0, "INTERNAL"},
		{"hangup", webpush.Retry, 0, 0, "EOF"},
		{"third-party", webpush.ConfigError, 401, 0, "THIRD_PARTY_AUTH_ERROR"},
		{"permission", webpush.ConfigError, 403, 0, "PERMISSION_DENIED"},
	} {
		r := snd.Send(ctx, c.token, message(t, ""))
		if r.Outcome != c.want || r.Status != c.status || r.RetryAfter != c.after || r.Err == nil || !strings.Contains(r.Err.Error(), c.says) {
			t.Errorf("%s: %v %d %v %v; want %v %d %v saying %q", c.token, r.Outcome, r.Status, r.RetryAfter, r.Err, c.want, c.status, c.after, c.says)
		}
	}
	if n := f.tokenRequests(); n != 1 {
		t.Errorf("%d token requests for one sender", n)
	}

	// Another project: FCM does not know it; nothing of the instance's can go.
	other := f.sender(t)
	other.Account.ProjectID = "no-such-project"
	if r := other.Send(ctx, "tok", message(t, "")); r.Outcome != webpush.ConfigError || r.Status != 404 {
		t.Errorf("unknown project: %+v", r)
	}
	// FCM unreachable.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	gone := f.sender(t)
	gone.BaseURL = "http://" + l.Addr().String()
	if r := gone.Send(ctx, "tok", message(t, "")); r.Outcome != webpush.Retry || r.Status != 0 || r.Err == nil {
		t.Errorf("unreachable FCM: %+v", r)
	}
	// A cancelled context.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if r := snd.Send(cctx, "tok", message(t, "")); r.Outcome != webpush.Retry {
		t.Errorf("cancelled: %+v", r)
	}
}

// The message and the token must agree; a template needs one.
func TestSendMessageToken(t *testing.T) {
	f := startFake(t)
	snd := f.sender(t)
	ctx := context.Background()
	for _, c := range []struct {
		name, token string
		msg         []byte
		want        webpush.Outcome
	}{
		{"translated for the device, token repeated", "tok-a", message(t, "tok-a"), webpush.Delivered},
		{"translated for the device, no token", "", message(t, "tok-a"), webpush.Delivered},
		{"template", "tok-b", message(t, ""), webpush.Delivered},
		{"translated for another device", "tok-c", message(t, "tok-a"), webpush.Rejected},
		{"a token that prefixes the message's", "tok", message(t, "tok-a"), webpush.Rejected},
		{"template without a token", "", message(t, ""), webpush.Rejected},
		{"not from Translate", "tok-d", []byte(`{"to":"tok-d"}`), webpush.Rejected},
	} {
		if r := snd.Send(ctx, c.token, c.msg); r.Outcome != c.want {
			t.Errorf("%s: %+v, want %v", c.name, r, c.want)
		}
	}
	var tokens []string
	for _, s := range f.recordedSends() {
		var m struct{ Message struct{ Token string } }
		if err := json.Unmarshal(s.body, &m); err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, m.Message.Token)
	}
	if want := []string{"tok-a", "tok-a", "tok-b"}; !slices.Equal(tokens, want) {
		t.Errorf("FCM got tokens %v, want %v", tokens, want)
	}
}

// One token request for many sends; a new one shortly before it expires
// (expires_in 3599 s, renewed 5 min early), signed at the new time.
func TestTokenCache(t *testing.T) {
	f := startFake(t)
	snd := f.sender(t)
	ctx := context.Background()
	send := func() {
		t.Helper()
		if r := snd.Send(ctx, "tok", message(t, "")); r.Outcome != webpush.Delivered {
			t.Fatalf("send: %+v", r)
		}
	}
	for range 5 {
		send()
	}
	if n := f.tokenRequests(); n != 1 {
		t.Fatalf("%d token requests for 5 sends", n)
	}
	f.clock.Advance(3599*time.Second - 5*time.Minute - time.Second)
	send()
	if n := f.tokenRequests(); n != 1 {
		t.Fatalf("renewed %v early", time.Second)
	}
	f.clock.Advance(time.Second)
	send()
	send()
	if n := f.tokenRequests(); n != 2 {
		t.Fatalf("%d token requests after the renewal time", n)
	}
	sends := f.recordedSends()
	if a := sends[len(sends)-1].authorization; a != "Bearer ya29.fake-access-token-2" {
		t.Fatalf("after renewal: %s", a)
	}

	// FCM refuses a token (revoked): that send is a configuration error,
	// and the next one asks for a new token.
	f.revokeAll()
	if r := snd.Send(ctx, "tok", message(t, "")); r.Outcome != webpush.ConfigError || r.Status != 401 {
		t.Fatalf("revoked token: %+v", r)
	}
	send()
	if n := f.tokenRequests(); n != 3 {
		t.Fatalf("%d token requests after a refusal", n)
	}
}

// Concurrent sends that find no token share one request.
func TestConcurrentSendsShareOneRefresh(t *testing.T) {
	f := startFake(t)
	f.set(func(f *fakeGoogle) { f.tokenDelay = 50 * time.Millisecond })
	snd := f.sender(t)
	msg := message(t, "")
	var wg sync.WaitGroup
	results := make([]webpush.Result, 32)
	for i := range results {
		wg.Go(func() { results[i] = snd.Send(context.Background(), "tok", msg) })
	}
	wg.Wait()
	for i, r := range results {
		if r.Outcome != webpush.Delivered {
			t.Errorf("send %d: %+v", i, r)
		}
	}
	if n := f.tokenRequests(); n != 1 {
		t.Fatalf("%d token requests for %d concurrent sends", n, len(results))
	}
}

// The sender making the token request gives up (its context ends); one
// still waiting makes its own request instead of failing with it.
func TestAbandonedRefresh(t *testing.T) {
	f := startFake(t)
	gate, seen := make(chan struct{}), make(chan struct{})
	defer close(gate)
	f.set(func(f *fakeGoogle) { f.tokenGate, f.tokenSeen = gate, seen })
	snd := f.sender(t)
	msg := message(t, "")

	lctx, cancel := context.WithCancel(context.Background())
	leader := make(chan webpush.Result, 1)
	go func() { leader <- snd.Send(lctx, "tok", msg) }()
	<-seen // the leader's token request is at the endpoint
	follower := make(chan webpush.Result, 1)
	go func() { follower <- snd.Send(context.Background(), "tok", msg) }()
	cancel()
	if r := <-leader; r.Outcome != webpush.Retry || !errors.Is(r.Err, context.Canceled) {
		t.Errorf("leader: %+v", r)
	}
	select {
	case r := <-follower:
		if r.Outcome != webpush.Delivered {
			t.Errorf("follower: %+v", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the follower is still waiting")
	}
}

// A token endpoint that refuses the account is a configuration error, one
// that is down is worth a retry; neither is cached, FCM is not called.
func TestTokenEndpointFailures(t *testing.T) {
	f := startFake(t)
	snd := f.sender(t)
	ctx := context.Background()
	msg := message(t, "")

	f.set(func(f *fakeGoogle) {
		f.tokenFail = &failure{status: 400, body: `{"error":"invalid_grant","error_description":"Invalid JWT Signature."}`}
	})
	r := snd.Send(ctx, "tok", msg)
	var te *fcm.TokenError
	if r.Outcome != webpush.ConfigError || !errors.As(r.Err, &te) || te.Status != 400 || te.Transient ||
		!strings.Contains(r.Err.Error(), "invalid_grant: Invalid JWT Signature.") {
		t.Fatalf("refused: %+v", r)
	}
	if strings.Contains(r.Err.Error(), "assertion") || strings.Contains(r.Err.Error(), "eyJ") {
		t.Fatalf("the error quotes the assertion: %v", r.Err)
	}

	f.set(func(f *fakeGoogle) { f.tokenFail = &failure{status: 503, body: `oops`, retryAfter: "9"} })
	if r := snd.Send(ctx, "tok", msg); r.Outcome != webpush.Retry || r.RetryAfter != 9*time.Second {
		t.Fatalf("token endpoint down: %+v", r)
	}
	f.set(func(f *fakeGoogle) { f.tokenFail = &failure{status: 200, body: `{"token_type":"Bearer"}`} })
	if r := snd.Send(ctx, "tok", msg); r.Outcome != webpush.ConfigError {
		t.Fatalf("no access_token: %+v", r)
	}
	if n := len(f.recordedSends()); n != 0 {
		t.Fatalf("FCM called %d times without a token", n)
	}

	f.set(func(f *fakeGoogle) { f.tokenFail = nil })
	if r := snd.Send(ctx, "tok", msg); r.Outcome != webpush.Delivered {
		t.Fatalf("recovered: %+v", r)
	}
	if n := f.tokenRequests(); n != 4 {
		t.Fatalf("%d token requests (failures must not be cached)", n)
	}

	// Unreachable token endpoint.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	acct, err := fcm.LoadServiceAccount(accountJSON(t, "http://"+l.Addr().String()+"/token", nil))
	if err != nil {
		t.Fatal(err)
	}
	down := &fcm.Sender{Account: acct, BaseURL: f.srv.URL, Client: http.DefaultClient}
	if r := down.Send(ctx, "tok", msg); r.Outcome != webpush.Retry || !errors.As(r.Err, &te) || !te.Transient {
		t.Fatalf("unreachable token endpoint: %+v", r)
	}
}
