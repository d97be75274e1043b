package test

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/config"
)

// The official Python server SDK (pusher 3.3.4), run from the venv that
// scripts/install-deps.sh makes when pip can reach PyPI.
const (
	pySDKPython = "sdkpy/.venv/bin/python"
	pySDKScript = "sdkpy/sdk_test.py"
	pySDKWait   = 30 * time.Second // one run of the script, interpreter start included
)

// runPySDK runs one step of sdkpy/sdk_test.py against s and decodes the
// JSON object it prints.
func runPySDK(t *testing.T, s *testServer, step string, env ...string) map[string]json.RawMessage {
	t.Helper()
	host, port, err := net.SplitHostPort(s.addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), pySDKWait)
	defer cancel()
	cmd := exec.CommandContext(ctx, pySDKPython, pySDKScript, step)
	cmd.Env = append(os.Environ(), "HERALD_HOST="+host, "HERALD_PORT="+port,
		"HERALD_APP_ID="+appID, "HERALD_KEY="+appKey, "HERALD_SECRET="+appSecret)
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("python SDK step %s: %v\n%s", step, err, stderr.Bytes())
	}
	var out map[string]json.RawMessage
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("python SDK step %s printed %q: %v", step, stdout.Bytes(), err)
	}
	t.Logf("python SDK %s (pusher %s): %s", step, out["sdk_version"], stdout.Bytes())
	return out
}

// TestPythonSDK drives Herald with pusher-http-python: its channel and user
// auth are used by a real client, its triggers reach that client, its
// queries see it, terminate_user_connections closes it, and it accepts a
// real Herald webhook.
func TestPythonSDK(t *testing.T) {
	if _, err := os.Stat(pySDKPython); err != nil {
		t.Skipf("no %s (scripts/install-deps.sh installs pusher 3.3.4 there when pip can reach PyPI): %v", pySDKPython, err)
	}
	t.Parallel()
	r := newReceiver(t, "py")
	s := whServer(t, func(c *config.Config) { c.Apps[0].EnableSubscriptionCount = true },
		config.Webhook{URL: r.URL(), EventTypes: []string{"channel_occupied"}})
	s.dropCountFrames = true
	c := connect(t, s)

	// authenticate / authenticate_user, used for real.
	auth := runPySDK(t, s, "auth", "HERALD_SOCKET_ID="+c.socketID)
	var private struct{ Auth string }
	var presence, user struct {
		Auth        string
		ChannelData string `json:"channel_data"`
		UserData    string `json:"user_data"`
	}
	for k, v := range map[string]any{"private": &private, "presence": &presence, "user": &user} {
		if err := json.Unmarshal(auth[k], v); err != nil {
			t.Fatalf("auth %s = %s: %v", k, auth[k], err)
		}
	}
	c.send(map[string]any{"event": "pusher:subscribe", "data": map[string]any{"auth": private.Auth, "channel": "private-py"}})
	c.expectSucceeded("private-py")
	c.send(map[string]any{"event": "pusher:subscribe", "data": map[string]any{
		"auth": presence.Auth, "channel_data": presence.ChannelData, "channel": "presence-py"}})
	if f := c.expect("pusher_internal:subscription_succeeded"); f.Channel != "presence-py" || !strings.Contains(f.dataString(t), `py-user`) {
		t.Fatalf("presence subscription_succeeded: %s", f)
	}
	c.sendRaw(signinJSON(user.Auth, user.UserData))
	checkSigninSuccess(t, c.next(), user.UserData)

	// A real webhook for validate_webhook.
	r.waitFor(t, 1, "channel_occupied", "private-py")
	hook := r.allRequests()[0]
	api := runPySDK(t, s, "api",
		"HERALD_WEBHOOK_KEY="+hook.header.Get("X-Pusher-Key"),
		"HERALD_WEBHOOK_SIGNATURE="+hook.header.Get("X-Pusher-Signature"),
		"HERALD_WEBHOOK_BODY="+string(hook.body))

	// trigger, trigger_batch and send_to_user reach the client, in order.
	for _, want := range []struct{ event, channel, data string }{
		{"from-py", "private-py", `{"n":1}`},
		{"batch-1", "private-py", `{"n":2}`},
		{"batch-2", "private-py", `"plain"`},
		{"to-user", "#server-to-user-py-user", `{"n":3}`},
	} {
		f := c.next()
		data := f.dataString(t)
		if want.data == `"plain"` { // a string the SDK sends as it is
			data = `"` + data + `"`
		}
		if f.Event != want.event || f.Channel != want.channel || !jsonEqual(t, []byte(data), []byte(want.data)) {
			t.Errorf("want %s on %q with %s, got %s", want.event, want.channel, want.data, f)
		}
	}

	// The SDK's answers, as decoded JSON.
	for _, tc := range []struct{ key, want string }{
		{"trigger", `{}`},
		{"trigger_batch", `{}`},
		{"channels_info", `{"channels":{"presence-py":{"user_count":1}}}`},
		{"channel_info", `{"occupied":true,"subscription_count":1}`},
		{"users_info", `{"users":[{"id":"py-user"}]}`},
		{"send_to_user", `{}`},
	} {
		if !jsonEqual(t, api[tc.key], []byte(tc.want)) {
			t.Errorf("%s = %s, want %s", tc.key, api[tc.key], tc.want)
		}
	}
	var wh struct {
		Valid *struct {
			TimeMS int64 `json:"time_ms"`
			Events []struct{ Name, Channel string }
		}
		BadSignatureRefused bool `json:"bad_signature_refused"`
	}
	if err := json.Unmarshal(api["webhook"], &wh); err != nil || wh.Valid == nil || !wh.BadSignatureRefused ||
		len(wh.Valid.Events) == 0 || wh.Valid.Events[0].Name != "channel_occupied" {
		t.Errorf("validate_webhook on a Herald webhook: %s (%v)", api["webhook"], err)
	}

	// terminate_user_connections posts to /users/{id}/terminate_connections.
	if got := runPySDK(t, s, "terminate"); !jsonEqual(t, got["terminate"], []byte(`{}`)) {
		t.Errorf("terminate_user_connections = %s, want {}", got["terminate"])
	}
	c.expectClose(4009, readTimeout)
}
