package test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/signing"
)

// Helpers for the sign-in, user-channel, watchlist, cache-channel and
// subscription-count tests.

// userChannel is the sendToUser channel of id.
func userChannel(id string) string { return "#server-to-user-" + id }

// sendSignin sends pusher:signin with a correct signature over userData
// for this connection.
func (c *wsClient) sendSignin(userData string) {
	c.t.Helper()
	c.send(map[string]any{"event": "pusher:signin", "data": map[string]any{
		"auth": signing.AuthenticateUser(appKey, appSecret, c.socketID, userData), "user_data": userData}})
}

// expectSigninSuccess reads the next frame, which must be
// pusher:signin_success whose data is a JSON string {"user_data":"<userData>"}
// holding exactly the user_data string that was sent.
func (c *wsClient) expectSigninSuccess(userData string) {
	c.t.Helper()
	f := c.next()
	checkSigninSuccess(c.t, f, userData)
}

func checkSigninSuccess(t *testing.T, f frame, userData string) {
	t.Helper()
	if f.Event != "pusher:signin_success" {
		t.Fatalf("want pusher:signin_success, got %s", f)
	}
	if f.has("channel") {
		t.Errorf("pusher:signin_success must not carry a channel key: %s", f)
	}
	var d map[string]json.RawMessage
	f.dataJSON(t, &d)
	var got string
	if err := json.Unmarshal(d["user_data"], &got); err != nil {
		t.Fatalf("signin_success: user_data is not a JSON string: %s", f)
	}
	if got != userData {
		t.Errorf("signin_success user_data = %q, want the exact string sent %q", got, userData)
	}
}

// signin signs the connection in and checks signin_success.
func (c *wsClient) signin(userData string) {
	c.t.Helper()
	c.sendSignin(userData)
	c.expectSigninSuccess(userData)
}

// connectAs connects and signs in as {"id":id}.
func connectAs(t *testing.T, s *testServer, id string) *wsClient {
	t.Helper()
	c := connect(t, s)
	c.signin(`{"id":"` + id + `"}`)
	return c
}

// sendToUser publishes event to #server-to-user-<id> through the HTTP API.
func (s *testServer) sendToUser(id, event, data string, socketID string) {
	s.t.Helper()
	body := map[string]any{"name": event, "channels": []string{userChannel(id)}, "data": data}
	if socketID != "" {
		body["socket_id"] = socketID
	}
	expectJSON(s.t, s.post("/apps/"+appID+"/events", body), `{}`)
}

// expectUserEvent reads the next frame: event on #server-to-user-<id> with
// data byte for byte and exactly the keys event, channel and data.
func (c *wsClient) expectUserEvent(id, event, data string) {
	c.t.Helper()
	f := c.next()
	checkChannelEvent(c.t, f, userChannel(id), event, data)
}

// checkChannelEvent checks an API-published event frame.
func checkChannelEvent(t *testing.T, f frame, channel, event, data string) {
	t.Helper()
	if f.Event != event || f.Channel != channel {
		t.Fatalf("want %s on %s, got %s", event, channel, f)
	}
	if got := f.dataString(t); got != data {
		t.Errorf("%s data = %q, want %q byte for byte", event, got, data)
	}
	if len(f.keys) != 3 {
		t.Errorf("an API event carries exactly event, channel and data: %s", f)
	}
}

// expectErrorCode checks that frames is exactly one pusher:error with code.
func expectErrorCode(t *testing.T, frames []frame, code int) {
	t.Helper()
	if len(frames) != 1 || frames[0].Event != "pusher:error" {
		t.Fatalf("want exactly one pusher:error %d, got %v", code, frames)
	}
	if e := frames[0].pusherError(t); e.Code == nil || *e.Code != code {
		t.Errorf("pusher:error code = %s, want %d: %s", codeString(e.Code), code, frames[0])
	}
}

// watchGroup is one element of a watchlist_events frame.
type watchGroup struct {
	Name    string   `json:"name"`
	UserIDs []string `json:"user_ids"`
}

// checkWatchlist checks a pusher_internal:watchlist_events frame: no channel
// key, data a JSON string {"events":[...]} with an "online" group holding
// exactly online and an "offline" group holding exactly offline (in any
// order), and no group for an empty list.
func checkWatchlist(t *testing.T, f frame, online, offline []string) {
	t.Helper()
	if f.Event != "pusher_internal:watchlist_events" {
		t.Fatalf("want pusher_internal:watchlist_events, got %s", f)
	}
	if f.has("channel") {
		t.Errorf("watchlist_events must not carry a channel key: %s", f)
	}
	var d struct {
		Events *[]watchGroup `json:"events"`
	}
	f.dataJSON(t, &d)
	if d.Events == nil {
		t.Fatalf("watchlist_events data has no events array: %s", f)
	}
	got := map[string][]string{}
	for _, g := range *d.Events {
		if _, dup := got[g.Name]; dup {
			t.Errorf("watchlist_events: group %q twice: %s", g.Name, f)
		}
		if g.Name != "online" && g.Name != "offline" {
			t.Errorf("watchlist_events: unexpected group %q: %s", g.Name, f)
		}
		if len(g.UserIDs) == 0 {
			t.Errorf("watchlist_events: empty group %q must be left out: %s", g.Name, f)
		}
		ids := slices.Clone(g.UserIDs)
		slices.Sort(ids)
		got[g.Name] = ids
	}
	for name, want := range map[string][]string{"online": online, "offline": offline} {
		want = slices.Clone(want)
		slices.Sort(want)
		g, ok := got[name]
		if len(want) == 0 {
			if ok {
				t.Errorf("watchlist_events: want no %q group, got %v: %s", name, g, f)
			}
			continue
		}
		if !slices.Equal(g, want) {
			t.Errorf("watchlist_events %q = %v, want %v: %s", name, g, want, f)
		}
	}
}

// expectWatchlist reads the next frame and checks it with checkWatchlist.
func (c *wsClient) expectWatchlist(online, offline []string) {
	c.t.Helper()
	checkWatchlist(c.t, c.next(), online, offline)
}

// terminateUser calls POST /users/{id}/terminate_connections with body {}.
func (s *testServer) terminateUser(escapedID string) apiResponse {
	s.t.Helper()
	return s.api(http.MethodPost, "/apps/"+appID+"/users/"+escapedID+"/terminate_connections", nil, []byte(`{}`))
}

// stayOpen proves for d that the connection stays open and receives nothing
// unsolicited: it keeps round-tripping pusher:ping until d has passed.
func (c *wsClient) stayOpen(d time.Duration, why string) {
	c.t.Helper()
	until := time.Now().Add(d)
	for time.Now().Before(until) {
		if fs := c.syncFrames(); len(fs) > 0 {
			c.t.Fatalf("%s: want no frame, got %v", why, fs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// subscribeAny subscribes c to channel with the right kind of auth and
// returns the frames that came after subscription_succeeded up to a
// pusher:pong (cache frames, subscription counts).
func (c *wsClient) subscribeAny(channel, presenceData string) []frame {
	c.t.Helper()
	switch {
	case strings.HasPrefix(channel, "presence-"):
		c.subscribePresence(channel, presenceData)
	case strings.HasPrefix(channel, "private-"):
		c.subscribePrivate(channel)
	default:
		c.subscribe(channel)
	}
	return c.syncFrames()
}

// waitConnections waits until the server counts n open connections of app
// "1"; the gauge drops only after a departing connection has been taken out
// of its channels and the user index.
func waitConnections(t *testing.T, s *testServer, n int) {
	t.Helper()
	eventually(t, readTimeout, fmt.Sprintf("%d open connections", n), func() bool {
		return s.metricValue(`herald_connections{app_id="1"}`) == float64(n)
	})
}
