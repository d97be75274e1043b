package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/heraldhq/herald/internal/apps"
	"github.com/heraldhq/herald/internal/signing"
)

// TestChannelQueriesSubscriptionCount: GET /channels/{name} and GET
// /channels answer subscription_count only for an app with
// enable_subscription_count, as hosted Pusher; without it the attribute is
// left out and everything else is answered as asked.
func TestChannelQueriesSubscriptionCount(t *testing.T) {
	api, _ := fuzzAPI(t)
	store, err := apps.NewStatic([]apps.App{
		{ID: "1", Key: "key-on", Secret: "secret-on", Enabled: true, EnableSubscriptionCount: true},
		{ID: "2", Key: "key-off", Secret: "secret-off", Enabled: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	api.apps = store
	on := signing.Credential{Key: "key-on", Secret: "secret-on"}
	off := signing.Credential{Key: "key-off", Secret: "secret-off"}
	get := func(cred signing.Credential, app, path, info string) string {
		t.Helper()
		path = "/apps/" + app + path
		q := signing.SignRequest(cred, "GET", path, url.Values{"info": {info}}, nil, testNow)
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, httptest.NewRequest("GET", path+"?"+q.Encode(), nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %s info=%s: %d %s", path, info, rec.Code, rec.Body)
		}
		var v any // compare as JSON, whatever the key order
		if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(v)
		return string(b)
	}
	// recBackend: every channel has 3 subscriptions and 2 users; the list
	// holds "<prefix>x" (and an internal channel, never listed).
	for _, tc := range []struct {
		cred       signing.Credential
		app, path  string
		info, want string
	}{
		{on, "1", "/channels/my-channel", "subscription_count", `{"occupied":true,"subscription_count":3}`},
		{off, "2", "/channels/my-channel", "subscription_count", `{"occupied":true}`},
		{on, "1", "/channels/presence-r", "user_count,subscription_count", `{"occupied":true,"subscription_count":3,"user_count":2}`},
		{off, "2", "/channels/presence-r", "user_count,subscription_count", `{"occupied":true,"user_count":2}`},
		{off, "2", "/channels/cache-c", "subscription_count,cache", `{"cache":{"data":"d","event":"e","ttl":0},"occupied":true}`},
		{on, "1", "/channels", "subscription_count", `{"channels":{"x":{"subscription_count":1}}}`},
		{off, "2", "/channels", "subscription_count", `{"channels":{"x":{}}}`},
	} {
		if got := get(tc.cred, tc.app, tc.path, tc.info); got != tc.want {
			t.Errorf("app %s GET %s info=%s = %s, want %s", tc.app, tc.path, tc.info, got, tc.want)
		}
	}
}
