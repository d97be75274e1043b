package sdkgo_test

import (
	"encoding/json"
	"net/http"
	"testing"
)

// signIn signs c in as userID with AuthenticateUser's answer (what an app's
// user-auth endpoint returns to pusher-js) and waits for signin_success;
// then it subscribes to #server-to-user-<id> as pusher-js does.
func signIn(t *testing.T, c *wsClient, userID string) {
	t.Helper()
	ans, err := sdk().AuthenticateUser(authParams(c.socketID, ""), map[string]any{
		"id": userID, "user_info": map[string]string{"name": "User " + userID},
	})
	if err != nil {
		t.Fatalf("AuthenticateUser: %v", err)
	}
	var a struct {
		Auth     string `json:"auth"`
		UserData string `json:"user_data"`
	}
	if err := json.Unmarshal(ans, &a); err != nil || a.Auth == "" || a.UserData == "" {
		t.Fatalf("AuthenticateUser answer = %s", ans)
	}
	c.send(map[string]any{"event": "pusher:signin", "data": map[string]string{"auth": a.Auth, "user_data": a.UserData}})
	f := c.expect(func(f frame) bool { return f.Event == "pusher:signin_success" || f.Event == "pusher:error" })
	if f.Event != "pusher:signin_success" {
		t.Fatalf("sign-in with AuthenticateUser's answer refused: %s", f.raw)
	}
	var d struct {
		UserData string `json:"user_data"`
	}
	if err := json.Unmarshal([]byte(f.dataString(t)), &d); err != nil || d.UserData != a.UserData {
		t.Errorf("signin_success user_data = %q, want the signed %q", d.UserData, a.UserData)
	}
	c.subscribe("#server-to-user-"+userID, nil)
}

func TestAuthenticateUserAndSendToUser(t *testing.T) {
	t.Parallel()
	user := unique(t, "user-")
	tab1, tab2, other := dial(t, appKey), dial(t, appKey), dial(t, appKey)
	signIn(t, tab1, user)
	signIn(t, tab2, user)
	signIn(t, other, user+"-other")

	if err := sdk().SendToUser(user, "notice", map[string]string{"text": "hello"}); err != nil {
		t.Fatalf("SendToUser: %v", err)
	}
	for _, c := range []*wsClient{tab1, tab2} {
		if got := c.expectEvent("#server-to-user-"+user, "notice"); got != `{"text":"hello"}` {
			t.Errorf("data = %s", got)
		}
	}
	if err := sdk().SendToUser(user+"-other", "mine", "x"); err != nil {
		t.Fatal(err)
	}
	f := other.expect(func(f frame) bool { return f.Event == "notice" || f.Event == "mine" })
	if f.Event != "mine" {
		t.Errorf("another user received %s", f.raw)
	}
}

// TestTerminateUserConnections: pusher-http-go 5.1.1 has no
// TerminateUserConnections (the Node and PHP SDKs do), so the request is
// signed here the way those SDKs sign it; the connections being closed
// were signed in with the Go SDK's AuthenticateUser.
func TestTerminateUserConnections(t *testing.T) {
	t.Parallel()
	user := unique(t, "kick-")
	tab1, tab2, bystander := dial(t, appKey), dial(t, appKey), dial(t, appKey)
	signIn(t, tab1, user)
	signIn(t, tab2, user)
	signIn(t, bystander, user+"-stays")

	status, body := signedPost(t, "/apps/"+appID+"/users/"+user+"/terminate_connections", []byte("{}"))
	if status != http.StatusOK || body != "{}" {
		t.Fatalf("terminate_connections = %d %s, want 200 {}", status, body)
	}
	for _, c := range []*wsClient{tab1, tab2} {
		if code := c.expectClose(); code != 4009 {
			t.Errorf("close code = %d, want 4009", code)
		}
	}
	if err := sdk().SendToUser(user+"-stays", "still-here", "x"); err != nil {
		t.Fatal(err)
	}
	bystander.expectEvent("#server-to-user-"+user+"-stays", "still-here")
}
