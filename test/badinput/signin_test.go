package badinput

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/signing"
)

// signinFrame is a pusher:signin with auth and user_data.
func signinFrame(auth, userData string) string {
	b, _ := json.Marshal(map[string]any{"event": "pusher:signin", "data": map[string]any{"auth": auth, "user_data": userData}})
	return string(b)
}

// signin builds a correctly signed pusher:signin for userData.
func signin(userData string) func(string) string {
	return func(sid string) string {
		return signinFrame(signing.AuthenticateUser(appKey, appSecret, sid, userData), userData)
	}
}

// signinRefused is a failed sign-in: pusher:error 4009 (channels-protocol
// §11.1); the connection stays open (the app does not require sign-in).
func signinRefused(msg string) []string { return []string{errCode(4009, msg)} }

func signinSucceeded(userData string) string {
	inner := `{"user_data":` + quote(userData) + `}`
	return `{"event":"pusher:signin_success","data":` + quote(inner) + `}`
}

// TestSignin: pusher:signin of every wrong shape and signature, then the
// user channel and a second sign-in under another id.
func TestSignin(t *testing.T) {
	const ud = `{"id":"u1"}`
	const idRule = ": at most 128 characters from A-Z a-z 0-9 _ - = @ , . ;"
	longID := strings.Repeat("i", 129)
	var watch []string
	for i := range 101 {
		watch = append(watch, fmt.Sprintf("w%03d", i))
	}
	watchUD := `{"id":"u1","watchlist":["` + strings.Join(watch, `","`) + `"]}`
	kept := strings.Join(watch[:100], ",")
	offline, _ := json.Marshal(map[string]any{"events": []any{map[string]any{"name": "offline", "user_ids": watch[:100]}}})
	rows := []wsRow{
		// The shape of data.
		{name: "data missing", text: `{"event":"pusher:signin"}`, want: signinRefused("Missing data")},
		{name: "data null", text: `{"event":"pusher:signin","data":null}`, want: signinRefused("Missing data")},
		{name: "data an array", text: `{"event":"pusher:signin","data":[]}`, want: signinRefused("Data must be a JSON object")},
		{name: "auth missing", text: `{"event":"pusher:signin","data":{"user_data":"{\"id\":\"u1\"}"}}`, want: signinRefused("Missing auth")},
		{name: "auth empty", text: signinFrame("", ud), want: signinRefused("Missing auth")},
		{name: "auth a number", text: `{"event":"pusher:signin","data":{"auth":1,"user_data":"{}"}}`, want: signinRefused("auth must be a string")},
		{name: "user_data missing", text: `{"event":"pusher:signin","data":{"auth":"app-key:00"}}`, want: signinRefused("Missing user_data")},
		{name: "user_data an object, not a string", text: `{"event":"pusher:signin","data":{"auth":"app-key:00","user_data":{"id":"u1"}}}`,
			want: signinRefused("user_data must be a string")},

		// Signatures.
		{name: "signature made with another secret", build: func(sid string) string {
			return signinFrame(signing.AuthenticateUser(appKey, "not-the-secret", sid, ud), ud)
		}, want: signinRefused(`Invalid signature: expected HMAC SHA256 hex digest of {sid}::user::` + ud)},
		{name: "signature for another socket id", build: func(string) string {
			return signinFrame(signing.AuthenticateUser(appKey, appSecret, "1234.5678", ud), ud)
		}, want: signinRefused(`Invalid signature: expected HMAC SHA256 hex digest of {sid}::user::` + ud)},
		{name: "signature in upper-case hex", build: func(sid string) string {
			a := signing.AuthenticateUser(appKey, appSecret, sid, ud)
			return signinFrame(appKey+":"+strings.ToUpper(strings.TrimPrefix(a, appKey+":")), ud)
		}, want: signinRefused(`Invalid signature: expected HMAC SHA256 hex digest of {sid}::user::` + ud)},
		{name: "channel signature used for sign-in", build: func(sid string) string {
			return signinFrame(auth(sid, "private-a", nil), ud)
		}, want: signinRefused(`Invalid signature: expected HMAC SHA256 hex digest of {sid}::user::` + ud)},

		// The content of user_data, correctly signed.
		{name: "user_data not JSON", build: signin(`u1`), want: signinRefused("Invalid user_data: " + "user_data is not valid JSON")},
		{name: "user_data a JSON array", build: signin(`["u1"]`), want: signinRefused("Invalid user_data: " + "user_data must be a JSON object")},
		{name: "id missing", build: signin(`{"user_info":{}}`), want: signinRefused("Invalid user_data: " + "user_data must contain an id")},
		{name: "id a number", build: signin(`{"id":12345}`), want: signinRefused("Invalid user_data: " + "user_data id must be a non-empty string")},
		{name: "id empty", build: signin(`{"id":""}`), want: signinRefused("Invalid user_data: " + "user_data id must be a non-empty string")},
		{name: "id with a space", build: signin(`{"id":"a b"}`), want: signinRefused(`Invalid user id "a b"` + idRule)},
		{name: "id over 128 characters", build: signin(`{"id":"` + longID + `"}`), want: signinRefused(`Invalid user id "` + longID + `"` + idRule)},
		{name: "user_info not an object", build: signin(`{"id":"u1","user_info":"x"}`),
			want: signinRefused("Invalid user_data: " + "user_data user_info must be a JSON object")},
		{name: "user_info over 1 KB", build: signin(`{"id":"u1","user_info":{"p":"` + strings.Repeat("x", 1024) + `"}}`),
			want: signinRefused("user_info is larger than 1024 bytes")},
		{name: "watchlist not an array", build: signin(`{"id":"u1","watchlist":"u2"}`),
			want: signinRefused("Invalid user_data: " + "user_data watchlist must be an array of strings")},
		{name: "watchlist with a number", build: signin(`{"id":"u1","watchlist":["u2",3]}`),
			want: signinRefused("Invalid user_data: " + "user_data watchlist must be an array of strings")},

		// After a refused sign-in the connection is not signed in.
		{name: "user channel after refused sign-ins", text: subscribeFrame("#server-to-user-u1", "", nil),
			want: refused("#server-to-user-u1", "AuthError", 403, `Subscribing to #server-to-user-u1 requires a connection signed in as user "u1"`)},

		// A valid sign-in with a watchlist over the limit: success, then
		// 4302 naming the ids kept, then their status.
		{name: "valid sign-in with 101 watched ids", build: signin(watchUD), want: []string{
			signinSucceeded(watchUD),
			errCode(4302, "Watchlist limit exceeded: only the first 100 ids are watched (1 dropped): "+kept),
			`{"event":"pusher_internal:watchlist_events","data":` + quote(string(offline)) + `}`,
		}},
		{name: "own user channel is accepted", text: subscribeFrame("#server-to-user-u1", "", nil), want: []string{succeeded("#server-to-user-u1")}},
		{name: "another user's channel", text: subscribeFrame("#server-to-user-u2", "", nil),
			want: refused("#server-to-user-u2", "AuthError", 403, `Subscribing to #server-to-user-u2 requires a connection signed in as user "u2"`)},
		{name: "second sign-in as another user", build: signin(`{"id":"u2"}`), want: signinRefused(`Connection is already signed in as user "u1"`)},
		{name: "second sign-in as the same user", build: signin(ud), want: []string{signinSucceeded(ud)}},
		{name: "presence without channel_data once signed in", build: withAuth("presence-signed", func(sid string) string {
			return auth(sid, "presence-signed", nil)
		}), want: []string{presenceSucceeded("presence-signed", "u1", "null")}},
	}
	openGroup{}.run(t, rows)
}
