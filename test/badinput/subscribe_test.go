package badinput

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/signing"
)

// subscribeFrame is a pusher:subscribe with auth and, when cd is not nil,
// channel_data.
func subscribeFrame(channel, auth string, cd *string) string {
	d := map[string]any{"channel": channel, "auth": auth}
	if cd != nil {
		d["channel_data"] = *cd
	}
	b, _ := json.Marshal(map[string]any{"event": "pusher:subscribe", "data": d})
	return string(b)
}

// auth is the valid auth value of sid for channel (and channel_data).
func auth(sid, channel string, cd *string) string {
	return signing.AuthorizeChannel(appKey, appSecret, sid, channel, cd)
}

// signature is the hex part of auth.
func signature(sid, channel string, cd *string) string {
	_, sig, _ := strings.Cut(auth(sid, channel, cd), ":")
	return sig
}

// withAuth builds a subscribe to channel whose auth value is made from the
// connection's socket id by mk.
func withAuth(channel string, mk func(sid string) string) func(string) string {
	return func(sid string) string { return subscribeFrame(channel, mk(sid), nil) }
}

// badSig is the answer to a private subscription whose signature does not
// verify.
func badSig(channel string) []string {
	return refused(channel, "AuthError", 401, "Invalid signature: expected HMAC SHA256 hex digest of {sid}:"+channel)
}

const nameRule = ": use only A-Z a-z 0-9 _ - = @ , . ;"

// TestSubscribe: pusher:subscribe of every wrong shape, channel names that
// are not allowed and private-channel auth values of every wrong form.
// A malformed frame gets pusher:error (code null); a refused subscription
// gets pusher:error (code null) and pusher:subscription_error on the
// channel (channels-protocol §8.6); the connection stays open.
func TestSubscribe(t *testing.T) {
	name200 := strings.Repeat("c", 200)
	name201 := strings.Repeat("c", 201)
	rows := []wsRow{
		// The shape of data.
		{name: "data missing", text: `{"event":"pusher:subscribe"}`, want: []string{errFrame("Missing data")}},
		{name: "data null", text: `{"event":"pusher:subscribe","data":null}`, want: []string{errFrame("Missing data")}},
		{name: "data an array", text: `{"event":"pusher:subscribe","data":[]}`, want: []string{errFrame("Data must be a JSON object")}},
		{name: "data a string that is not JSON", text: `{"event":"pusher:subscribe","data":"my-channel"}`, want: []string{errFrame("Data must be a JSON object")}},
		{name: "data a string holding an array", text: `{"event":"pusher:subscribe","data":"[1]"}`, want: []string{errFrame("Data must be a JSON object")}},
		{name: "data a number", text: `{"event":"pusher:subscribe","data":5}`, want: []string{errFrame("Data must be a JSON object")}},
		{name: "data a boolean", text: `{"event":"pusher:subscribe","data":false}`, want: []string{errFrame("Data must be a JSON object")}},
		{name: "data a string holding the object is accepted", text: `{"event":"pusher:subscribe","data":"{\"channel\":\"string-data\"}"}`,
			want: []string{succeeded("string-data")}},

		// The channel member.
		{name: "channel missing", text: `{"event":"pusher:subscribe","data":{"auth":""}}`, want: []string{errFrame("Missing channel")}},
		{name: "channel null", text: `{"event":"pusher:subscribe","data":{"channel":null}}`, want: []string{errFrame("Missing channel")}},
		{name: "channel empty", text: `{"event":"pusher:subscribe","data":{"channel":""}}`, want: []string{errFrame("Missing channel")}},
		{name: "channel a number", text: `{"event":"pusher:subscribe","data":{"channel":5}}`, want: []string{errFrame("channel must be a string")}},
		{name: "channel an object", text: `{"event":"pusher:subscribe","data":{"channel":{"name":"x"}}}`, want: []string{errFrame("channel must be a string")}},
		{name: "auth a number", text: `{"event":"pusher:subscribe","data":{"channel":"private-x","auth":5}}`, want: []string{errFrame("auth must be a string")}},
		{name: "channel name of 200 characters is accepted", text: subscribeFrame(name200, "", nil), want: []string{succeeded(name200)}},
		{name: "channel name of 201 characters", text: subscribeFrame(name201, "", nil),
			want: refused(name201, "LimitReached", 400, "Channel name is longer than 200 characters")},
		{name: "channel name with a space", text: subscribeFrame("bad channel", "", nil),
			want: refused("bad channel", "InvalidChannel", 400, `Invalid channel name "bad channel"`+nameRule)},
		{name: "channel name with a slash", text: subscribeFrame("a/b", "", nil),
			want: refused("a/b", "InvalidChannel", 400, `Invalid channel name "a/b"`+nameRule)},
		{name: "channel name with a colon", text: subscribeFrame("a:b", "", nil),
			want: refused("a:b", "InvalidChannel", 400, `Invalid channel name "a:b"`+nameRule)},
		{name: "channel name with a NUL", text: subscribeFrame("a\x00b", "", nil),
			want: refused("a\x00b", "InvalidChannel", 400, `Invalid channel name "a\x00b"`+nameRule)},
		{name: "channel name with non-ASCII letters", text: subscribeFrame("kanal-ü", "", nil),
			want: refused("kanal-ü", "InvalidChannel", 400, `Invalid channel name "kanal-ü"`+nameRule)},
		{name: "channel name with a leading #", text: subscribeFrame("#internal", "", nil),
			want: refused("#internal", "InvalidChannel", 400, "Channel names starting with # are reserved")},
		{name: "user channel without sign-in", text: subscribeFrame("#server-to-user-x", "", nil),
			want: refused("#server-to-user-x", "AuthError", 403, `Subscribing to #server-to-user-x requires a connection signed in as user "x"`)},
		{name: "user channel with an empty id", text: subscribeFrame("#server-to-user-", "", nil),
			want: refused("#server-to-user-", "AuthError", 403, `Subscribing to #server-to-user- requires a connection signed in as user ""`)},
		{name: "a name merely containing private- is public", text: subscribeFrame("foo-private-x", "", nil), want: []string{succeeded("foo-private-x")}},
		{name: "subscribing twice answers twice", text: subscribeFrame("foo-private-x", "", nil), want: []string{succeeded("foo-private-x")}},

		// Private channel auth of every wrong form.
		{name: "private channel without auth", text: `{"event":"pusher:subscribe","data":{"channel":"private-a"}}`, want: badSig("private-a")},
		{name: "private channel with auth null", text: `{"event":"pusher:subscribe","data":{"channel":"private-a","auth":null}}`, want: badSig("private-a")},
		{name: "private channel with empty auth", text: subscribeFrame("private-a", "", nil), want: badSig("private-a")},
		{name: "auth with another app's key", build: withAuth("private-a", func(sid string) string {
			return "other-key:" + signature(sid, "private-a", nil)
		}), want: badSig("private-a")},
		{name: "auth with the key in upper case", build: withAuth("private-a", func(sid string) string {
			return "APP-KEY:" + signature(sid, "private-a", nil)
		}), want: badSig("private-a")},
		{name: "auth without the key and colon", build: withAuth("private-a", func(sid string) string {
			return signature(sid, "private-a", nil)
		}), want: badSig("private-a")},
		{name: "auth with a double colon", build: withAuth("private-a", func(sid string) string {
			return appKey + "::" + signature(sid, "private-a", nil)
		}), want: badSig("private-a")},
		{name: "auth with surrounding spaces", build: withAuth("private-a", func(sid string) string {
			return " " + auth(sid, "private-a", nil) + " "
		}), want: badSig("private-a")},
		{name: "signature of 63 hex digits", build: withAuth("private-a", func(sid string) string {
			return auth(sid, "private-a", nil)[:len(appKey)+1+63]
		}), want: badSig("private-a")},
		{name: "signature of 65 hex digits", build: withAuth("private-a", func(sid string) string {
			return auth(sid, "private-a", nil) + "0"
		}), want: badSig("private-a")},
		{name: "signature in upper-case hex", build: withAuth("private-a", func(sid string) string {
			return appKey + ":" + strings.ToUpper(signature(sid, "private-a", nil))
		}), want: badSig("private-a")},
		{name: "signature in base64", build: withAuth("private-a", func(sid string) string {
			raw, _ := hex.DecodeString(signature(sid, "private-a", nil))
			return appKey + ":" + base64.StdEncoding.EncodeToString(raw)
		}), want: badSig("private-a")},
		{name: "signature made with another secret", build: withAuth("private-a", func(sid string) string {
			return signing.AuthorizeChannel(appKey, "not-the-secret", sid, "private-a", nil)
		}), want: badSig("private-a")},
		{name: "signature for another socket id", build: withAuth("private-a", func(string) string {
			return auth("1234.5678", "private-a", nil)
		}), want: badSig("private-a")},
		{name: "signature for another channel", build: withAuth("private-a", func(sid string) string {
			return auth(sid, "private-b", nil)
		}), want: badSig("private-a")},
		{name: "private signature used on the encrypted channel", build: withAuth("private-encrypted-a", func(sid string) string {
			return auth(sid, "private-a", nil)
		}), want: badSig("private-encrypted-a")},
		{name: "private-cache channel without auth", text: subscribeFrame("private-cache-a", "", nil), want: badSig("private-cache-a")},
		{name: "private channel with channel_data in the signature", build: func(sid string) string {
			cd := `{"user_id":"1"}`
			return subscribeFrame("private-a", auth(sid, "private-a", &cd), &cd)
		}, want: badSig("private-a")},
		{name: "valid private subscription", build: withAuth("private-a", func(sid string) string {
			return auth(sid, "private-a", nil)
		}), want: []string{succeeded("private-a")}},
		{name: "refused re-subscribe keeps the subscription", text: subscribeFrame("private-a", "", nil), want: badSig("private-a")},
	}
	openGroup{}.run(t, rows)
}

// presence builds a signed presence subscribe with channel_data cd.
func presence(channel, cd string) func(string) string {
	return func(sid string) string { return subscribeFrame(channel, auth(sid, channel, &cd), &cd) }
}

// badChannelData is the answer to a signed presence subscription whose
// channel_data is unusable.
func badChannelData(channel, why string) []string {
	return refused(channel, "AuthError", 400, "Invalid channel_data: "+why)
}

// TestPresence: presence subscriptions with channel_data of every wrong
// shape (auth.md §1.4), each correctly signed unless the row is about the
// signature, so that the server's judgement of the content is what shows.
func TestPresence(t *testing.T) {
	bigInfo := `{"user_id":"big","user_info":{"pad":"` + strings.Repeat("x", 1024) + `"}}`
	longID := strings.Repeat("u", 129)
	rows := []wsRow{
		{name: "channel_data missing without sign-in", build: withAuth("presence-a", func(sid string) string {
			return auth(sid, "presence-a", nil)
		}), want: refused("presence-a", "AuthError", 401, "Presence channel subscriptions need channel_data or a signed-in connection")},
		{name: "channel_data null without sign-in", text: `{"event":"pusher:subscribe","data":{"channel":"presence-a","auth":"","channel_data":null}}`,
			want: refused("presence-a", "AuthError", 401, "Presence channel subscriptions need channel_data or a signed-in connection")},
		{name: "channel_data an object, not a string", text: `{"event":"pusher:subscribe","data":{"channel":"presence-a","auth":"","channel_data":{"user_id":"1"}}}`,
			want: []string{errFrame("channel_data must be a string")}},
		{name: "channel_data a number", text: `{"event":"pusher:subscribe","data":{"channel":"presence-a","auth":"","channel_data":1}}`,
			want: []string{errFrame("channel_data must be a string")}},
		{name: "channel_data not JSON", build: presence("presence-a", `user 1`), want: badChannelData("presence-a", "channel_data is not valid JSON")},
		{name: "channel_data empty", build: presence("presence-a", ``), want: badChannelData("presence-a", "channel_data is not valid JSON")},
		{name: "channel_data a JSON array", build: presence("presence-a", `[{"user_id":"1"}]`), want: badChannelData("presence-a", "channel_data must be a JSON object")},
		{name: "channel_data a JSON string", build: presence("presence-a", `"1"`), want: badChannelData("presence-a", "channel_data must be a JSON object")},
		{name: "user_id missing", build: presence("presence-a", `{"user_info":{}}`), want: badChannelData("presence-a", "channel_data must contain a user_id")},
		{name: "user_id null", build: presence("presence-a", `{"user_id":null}`), want: badChannelData("presence-a", "channel_data must contain a user_id")},
		{name: "user_id empty", build: presence("presence-a", `{"user_id":""}`), want: badChannelData("presence-a", "user_id must not be empty")},
		{name: "user_id an object", build: presence("presence-a", `{"user_id":{"id":1}}`), want: badChannelData("presence-a", "user_id must be a string or an integer")},
		{name: "user_id an array", build: presence("presence-a", `{"user_id":["1"]}`), want: badChannelData("presence-a", "user_id must be a string or an integer")},
		{name: "user_id a boolean", build: presence("presence-a", `{"user_id":true}`), want: badChannelData("presence-a", "user_id must be a string or an integer")},
		{name: "user_id a fraction", build: presence("presence-a", `{"user_id":1.5}`), want: badChannelData("presence-a", "user_id must be a string or an integer")},
		{name: "user_id beyond 2^53", build: presence("presence-a", `{"user_id":9007199254740993}`), want: badChannelData("presence-a", "user_id must be a string or an integer")},
		{name: "user_id over 128 characters", build: presence("presence-a", `{"user_id":"`+longID+`"}`),
			want: refused("presence-a", "LimitReached", 400, "user_id is longer than 128 characters")},
		{name: "user_info over 1 KB", build: presence("presence-a", bigInfo),
			want: refused("presence-a", "LimitReached", 413, "user_info is larger than 1024 bytes")},
		{name: "channel_data signed, then modified", build: func(sid string) string {
			signedCD := `{"user_id":"1"}`
			sentCD := `{"user_id":"2"}`
			return subscribeFrame("presence-a", auth(sid, "presence-a", &signedCD), &sentCD)
		}, want: refused("presence-a", "AuthError", 401, `Invalid signature: expected HMAC SHA256 hex digest of {sid}:presence-a:{"user_id":"2"}`)},
		{name: "channel_data re-serialised after signing", build: func(sid string) string {
			signedCD := `{"user_id": "1"}`
			sentCD := `{"user_id":"1"}`
			return subscribeFrame("presence-a", auth(sid, "presence-a", &signedCD), &sentCD)
		}, want: refused("presence-a", "AuthError", 401, `Invalid signature: expected HMAC SHA256 hex digest of {sid}:presence-a:{"user_id":"1"}`)},
		{name: "channel_data signed without it (2-part signature)", build: func(sid string) string {
			cd := `{"user_id":"1"}`
			return subscribeFrame("presence-a", auth(sid, "presence-a", nil), &cd)
		}, want: refused("presence-a", "AuthError", 401, `Invalid signature: expected HMAC SHA256 hex digest of {sid}:presence-a:{"user_id":"1"}`)},
		{name: "numeric user_id is accepted", build: presence("presence-num", `{"user_id":10}`),
			want: []string{presenceSucceeded("presence-num", "10", "null")}},
		{name: "user_info of exactly 1 KB is accepted", build: presence("presence-info",
			`{"user_id":"u","user_info":{"p":"`+strings.Repeat("x", 1024-len(`{"p":""}`))+`"}}`),
			want: []string{presenceSucceeded("presence-info", "u", `{"p":"`+strings.Repeat("x", 1024-len(`{"p":""}`))+`"}`)}},
		{name: "re-subscribing as another user", build: presence("presence-num", `{"user_id":11}`),
			want: refused("presence-num", "AuthError", 400, `Already subscribed to presence-num as user "10"`)},
	}
	openGroup{}.run(t, rows)
}

// TestUnsubscribe: pusher:unsubscribe of every wrong shape. Unknown or
// unsubscribed channels are ignored (channels-protocol §9.1).
func TestUnsubscribe(t *testing.T) {
	rows := []wsRow{
		{name: "data missing", text: `{"event":"pusher:unsubscribe"}`, want: []string{errFrame("Missing data")}},
		{name: "data null", text: `{"event":"pusher:unsubscribe","data":null}`, want: []string{errFrame("Missing data")}},
		{name: "data an array", text: `{"event":"pusher:unsubscribe","data":["unsub-a"]}`, want: []string{errFrame("Data must be a JSON object")}},
		{name: "data a string", text: `{"event":"pusher:unsubscribe","data":"unsub-a"}`, want: []string{errFrame("Data must be a JSON object")}},
		{name: "channel missing", text: `{"event":"pusher:unsubscribe","data":{}}`, want: []string{errFrame("Missing channel")}},
		{name: "channel empty", text: `{"event":"pusher:unsubscribe","data":{"channel":""}}`, want: []string{errFrame("Missing channel")}},
		{name: "channel a number", text: `{"event":"pusher:unsubscribe","data":{"channel":1}}`, want: []string{errFrame("channel must be a string")}},
		{name: "channel not subscribed is ignored", text: `{"event":"pusher:unsubscribe","data":{"channel":"never-subscribed"}}`},
		{name: "channel with an illegal name is ignored", text: `{"event":"pusher:unsubscribe","data":{"channel":"bad channel"}}`},
		{name: "reserved channel is ignored", text: `{"event":"pusher:unsubscribe","data":{"channel":"#server-to-user-x"}}`},
		{name: "valid unsubscribe gets no answer", text: `{"event":"pusher:unsubscribe","data":{"channel":"unsub-a"}}`},
		{name: "unsubscribing twice is ignored", text: `{"event":"pusher:unsubscribe","data":{"channel":"unsub-a"}}`},
	}
	openGroup{setup: func(t *testing.T, c *rawConn) {
		expectSetup(t, c, subscribeFrame("unsub-a", "", nil), succeeded("unsub-a"))
	}}.run(t, rows)
}
