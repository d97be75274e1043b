package sdkgo_test

import (
	"encoding/base64"
	"encoding/json"
	"testing"

	pusher "github.com/pusher/pusher-http-go/v5"
	"golang.org/x/crypto/nacl/secretbox"
)

func TestTrigger(t *testing.T) {
	t.Parallel()
	ch := unique(t, "orders-")
	c := dial(t, appKey)
	c.subscribe(ch, nil)

	if err := sdk().Trigger(ch, "order-shipped", map[string]any{"id": 7, "note": "<b>&"}); err != nil {
		t.Fatalf("Trigger: %v", err)
	}
	if got, want := c.expectEvent(ch, "order-shipped"), `{"id":7,"note":"\u003cb\u003e\u0026"}`; got != want {
		t.Errorf("data = %s, want the SDK's JSON %s", got, want)
	}
	// A string is sent as it is, not JSON-encoded again.
	if err := sdk().Trigger(ch, `App\Events\Plain`, "plain text"); err != nil {
		t.Fatalf("Trigger with a string and a Laravel-style event name: %v", err)
	}
	if got := c.expectEvent(ch, `App\Events\Plain`); got != "plain text" {
		t.Errorf("data = %q, want %q", got, "plain text")
	}
}

func TestTriggerMulti(t *testing.T) {
	t.Parallel()
	ch1, ch2 := unique(t, "multi-"), unique(t, "multi-")
	a, b := dial(t, appKey), dial(t, appKey)
	a.subscribe(ch1, nil)
	b.subscribe(ch2, nil)

	if err := sdk().TriggerMulti([]string{ch1, ch2}, "ping", map[string]string{"n": "1"}); err != nil {
		t.Fatalf("TriggerMulti: %v", err)
	}
	for _, x := range []struct {
		c  *wsClient
		ch string
	}{{a, ch1}, {b, ch2}} {
		if got := x.c.expectEvent(x.ch, "ping"); got != `{"n":"1"}` {
			t.Errorf("%s: data = %s", x.ch, got)
		}
	}

	// socket_id exclusion: a (subscribed to both now) is skipped, b is not.
	a.subscribe(ch2, nil)
	sid := a.socketID
	if _, err := sdk().TriggerMultiWithParams([]string{ch1, ch2}, "excluded", "x", pusher.TriggerParams{SocketID: &sid}); err != nil {
		t.Fatalf("TriggerMultiWithParams with SocketID: %v", err)
	}
	b.expectEvent(ch2, "excluded")
	if err := sdk().Trigger(ch2, "after", "y"); err != nil {
		t.Fatal(err)
	}
	f := a.expect(func(f frame) bool { return f.Event == "excluded" || f.Event == "after" })
	if f.Event != "after" {
		t.Errorf("the excluded socket received %s", f.raw)
	}
}

func TestTriggerBatch(t *testing.T) {
	t.Parallel()
	pub, pres := unique(t, "batch-"), unique(t, "presence-batch-")
	c := dial(t, countAppKey)
	c.subscribe(pub, nil)
	auth, err := countingSDK().AuthorizePresenceChannel(authParams(c.socketID, pres), pusher.MemberData{UserID: "batch-user"})
	if err != nil {
		t.Fatal(err)
	}
	c.subscribe(pres, auth)

	subs, users := "subscription_count", "user_count"
	res, err := countingSDK().TriggerBatch([]pusher.Event{
		{Channel: pub, Name: "one", Data: map[string]int{"n": 1}, Info: &subs},
		{Channel: pres, Name: "two", Data: "2", Info: &users},
	})
	if err != nil {
		t.Fatalf("TriggerBatch: %v", err)
	}
	if got := c.expectEvent(pub, "one"); got != `{"n":1}` {
		t.Errorf("one: data = %s", got)
	}
	if got := c.expectEvent(pres, "two"); got != "2" {
		t.Errorf("two: data = %s", got)
	}
	if len(res.Batch) != 2 {
		t.Fatalf("batch answer has %d items, want 2: %+v", len(res.Batch), res.Batch)
	}
	if n := res.Batch[0].SubscriptionCount; n == nil || *n != 1 {
		t.Errorf("batch[0].subscription_count = %v, want 1", ptrString(n))
	}
	if n := res.Batch[1].UserCount; n == nil || *n != 1 {
		t.Errorf("batch[1].user_count = %v, want 1", ptrString(n))
	}

	// Without info (app 1): no error, no attributes.
	if _, err := sdk().TriggerBatch([]pusher.Event{{Channel: pub, Name: "x", Data: "x"}}); err != nil {
		t.Errorf("TriggerBatch without info: %v", err)
	}
}

// TestTriggerWithParamsInfo asks for user_count and subscription_count on a
// trigger, with and without enable_subscription_count.
func TestTriggerWithParamsInfo(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		key  string
		sdk  func() *pusher.Client
	}{
		{"enable_subscription_count", countAppKey, countingSDK},
		{"without enable_subscription_count", appKey, sdk},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ch := unique(t, "presence-info-")
			for _, u := range []string{"u1", "u2"} {
				c := dial(t, tc.key)
				auth, err := tc.sdk().AuthorizePresenceChannel(authParams(c.socketID, ch), pusher.MemberData{UserID: u})
				if err != nil {
					t.Fatal(err)
				}
				c.subscribe(ch, auth)
			}
			info := "user_count,subscription_count"
			res, err := tc.sdk().TriggerWithParams(ch, "ev", "d", pusher.TriggerParams{Info: &info})
			if err != nil {
				t.Fatalf("TriggerWithParams: %v", err)
			}
			got, ok := res.Channels[ch]
			if !ok {
				t.Fatalf("answer lacks the channel: %+v", res.Channels)
			}
			if got.UserCount == nil || *got.UserCount != 2 {
				t.Errorf("user_count = %s, want 2", ptrString(got.UserCount))
			}
			// subscription_count is answered on a trigger whether or not the
			// app enabled it (unlike GET /channels[/{name}]); the existing
			// tests (test/httpapi_test.go, compat http-api) expect that.
			if got.SubscriptionCount == nil || *got.SubscriptionCount != 2 {
				t.Errorf("subscription_count = %s, want 2", ptrString(got.SubscriptionCount))
			}
		})
	}
}

// TestTriggerEncrypted: the SDK encrypts for a private-encrypted- channel
// with the shared secret its own authorization handed out; Herald relays
// the ciphertext as it is and the client opens it.
func TestTriggerEncrypted(t *testing.T) {
	t.Parallel()
	ch := unique(t, "private-encrypted-")
	c := dial(t, appKey)
	auth, err := sdk().AuthorizePrivateChannel(authParams(c.socketID, ch))
	if err != nil {
		t.Fatalf("AuthorizePrivateChannel (encrypted): %v", err)
	}
	var a struct {
		SharedSecret string `json:"shared_secret"`
	}
	if err := json.Unmarshal(auth, &a); err != nil || a.SharedSecret == "" {
		t.Fatalf("no shared_secret in %s", auth)
	}
	c.subscribe(ch, auth)

	if err := sdk().Trigger(ch, "secret", map[string]string{"msg": "hi"}); err != nil {
		t.Fatalf("Trigger (encrypted): %v", err)
	}
	var box struct{ Nonce, Ciphertext string }
	if err := json.Unmarshal([]byte(c.expectEvent(ch, "secret")), &box); err != nil {
		t.Fatalf("encrypted data is not {nonce, ciphertext}: %v", err)
	}
	key, _ := base64.StdEncoding.DecodeString(a.SharedSecret)
	nonce, _ := base64.StdEncoding.DecodeString(box.Nonce)
	ct, _ := base64.StdEncoding.DecodeString(box.Ciphertext)
	var k [32]byte
	var n [24]byte
	copy(k[:], key)
	copy(n[:], nonce)
	plain, ok := secretbox.Open(nil, ct, &n, &k)
	if !ok {
		t.Fatal("the client cannot open the SDK's ciphertext with the authorized shared_secret")
	}
	if string(plain) != `{"msg":"hi"}` {
		t.Errorf("plaintext = %s", plain)
	}
}

func ptrString(n *int) string {
	if n == nil {
		return "absent"
	}
	b, _ := json.Marshal(*n)
	return string(b)
}
