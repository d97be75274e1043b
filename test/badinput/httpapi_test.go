package badinput

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/signing"
)

// apiRow is one bad REST request and its exact answer: the status and the
// JSON body {"error": err, "code": status} (or, for the positive rows,
// status 200 and body ok).
type apiRow struct {
	name string
	req  func() apiReq
	// prep runs before the request (for rows that need an earlier one).
	prep   func(t *testing.T)
	status int
	err    string                // the exact error text, or
	errOf  func(r apiReq) string // the error text computed from the request sent
	prefix bool                  // err only has to start the error text
	ok     string                // 200 rows: the JSON body
	// plain is the exact text/plain body of an answer Go's HTTP server
	// writes itself, before any handler runs.
	plain  string
	header map[string]string // response headers wanted
	// delivers names an event that must reach the bystander.
	delivers string
	skip     string
}

// badSignature is the 401 text for a request whose signature is wrong:
// the hosted wording, echoing the string to sign and what was sent.
func badSignature(r apiReq) string {
	return "Invalid signature: you should have sent HmacSHA256Hex(" + strconv.Quote(r.sts) + ", your_secret_key), but you sent " + strconv.Quote(r.sig)
}

// limitedRequest is a signed GET /apps/2/channels; app 2 allows one
// request per 10 s.
func limitedRequest() apiReq {
	return signedWith(signing.Credential{Key: limitedKey, Secret: limitedSecret}, time.Now(), http.MethodGet,
		"/apps/"+limitedAppID+"/channels", nil, "", nil)
}

// anyValue in apiRow.header asks for a header with any non-empty value.
const anyValue = "(any)"

// eventsPath and friends are app 1's endpoints.
const (
	eventsPath   = "/apps/" + appID + "/events"
	batchPath    = "/apps/" + appID + "/batch_events"
	channelsPath = "/apps/" + appID + "/channels"
)

const okEvent = `{"name":"e","channels":["api-ok"],"data":"x"}`

// setSig replaces auth_signature with what mk makes of the valid one.
func setSig(mk func(valid string) string) func(url.Values) {
	return func(q url.Values) { q.Set("auth_signature", mk(q.Get("auth_signature"))) }
}

// editQuery is a valid publish whose query edit changes after signing.
func editQuery(edit func(q url.Values)) apiReq {
	return signed(http.MethodPost, eventsPath, nil, okEvent, edit)
}

// rawQuery appends extra, as is, to a signed request's query.
func rawQuery(r apiReq, extra string) apiReq {
	r.query += "&" + extra
	return r
}

// TestHTTPAPI: REST requests with every signature fault, bad timestamps,
// body_md5 faults, duplicate parameters, bodies too large, bad JSON, limits
// and odd paths (http-api.md §2, §3, §4, §5).
func TestHTTPAPI(t *testing.T) {
	now := time.Now()
	channels := func(n int) string {
		cs := make([]string, n)
		for i := range cs {
			cs[i] = fmt.Sprintf(`"api-%d"`, i)
		}
		return `{"name":"e","data":"x","channels":[` + strings.Join(cs, ",") + `]}`
	}
	batchOf := func(n int) string {
		items := make([]string, n)
		for i := range items {
			items[i] = fmt.Sprintf(`{"channel":"api-%d","name":"e","data":"x"}`, i)
		}
		return `{"batch":[` + strings.Join(items, ",") + `]}`
	}
	data := func(n int) string {
		return `{"name":"e","channels":["api-ok"],"data":"` + strings.Repeat("d", n) + `"}`
	}
	big := `{"name":"e","channels":["api-ok"],"data":"` + strings.Repeat("b", 300<<10) + `"}`
	name200 := strings.Repeat("n", 200)
	chan201 := strings.Repeat("c", 201)
	expired := func(ts int64) string {
		return "Timestamp expired: Given timestamp (" + time.Unix(ts, 0).UTC().Format(time.RFC3339) + ") not within 600s of server time ("
	}
	const bodyTooLarge = "Request body is larger than 262144 bytes"

	rows := []apiRow{
		// Positive controls.
		{name: "valid publish", req: func() apiReq { return publish(okEvent) }, status: 200, ok: `{}`},
		{name: "the channel (singular) form is accepted", req: func() apiReq {
			return publish(`{"name":"singular-form","channel":"` + bystanderChannel + `","data":"x"}`)
		}, status: 200, ok: `{}`, delivers: "singular-form"},
		{name: "chunked body within the limit", req: func() apiReq { r := publish(okEvent); r.chunked = true; return r }, status: 200, ok: `{}`},
		{name: "upper-case parameter names are accepted", req: func() apiReq {
			r := publish(okEvent)
			q, _ := url.ParseQuery(r.query)
			up := url.Values{}
			for k, v := range q {
				up[strings.ToUpper(k)] = v
			}
			r.query = up.Encode()
			return r
		}, status: 200, ok: `{}`},
		{name: "timestamp 590 s old is accepted", req: func() apiReq {
			return signedWith(appCred, time.Now().Add(-590*time.Second), http.MethodPost, eventsPath, nil, okEvent, nil)
		}, status: 200, ok: `{}`},

		// Missing scheme parameters.
		{name: "auth_key missing", req: func() apiReq {
			return editQuery(func(q url.Values) { q.Del("auth_key") })
		}, status: 401, err: "Missing parameter: auth_key"},
		{name: "auth_timestamp missing", req: func() apiReq {
			return editQuery(func(q url.Values) { q.Del("auth_timestamp") })
		}, status: 401, err: "Missing parameter: auth_timestamp"},
		{name: "auth_version missing", req: func() apiReq {
			return editQuery(func(q url.Values) { q.Del("auth_version") })
		}, status: 401, err: "Missing parameter: auth_version"},
		{name: "auth_signature missing", req: func() apiReq {
			return editQuery(func(q url.Values) { q.Del("auth_signature") })
		}, status: 401, err: "Missing parameter: auth_signature"},
		{name: "auth_signature empty", req: func() apiReq {
			return editQuery(func(q url.Values) { q.Set("auth_signature", "") })
		}, status: 401, err: "Missing parameter: auth_signature"},
		{name: "no query at all", req: func() apiReq { return apiReq{method: http.MethodPost, path: eventsPath, body: []byte(okEvent)} },
			status: 401, err: "Missing parameter: auth_key"},

		// Keys and versions.
		{name: "unknown auth_key", req: func() apiReq {
			return signedWith(signing.Credential{Key: "no-such-key", Secret: appSecret}, time.Now(), http.MethodPost, eventsPath, nil, okEvent, nil)
		}, status: 401, err: "Unknown auth_key"},
		{name: "another app's key and secret", req: func() apiReq {
			return signedWith(signing.Credential{Key: limitedKey, Secret: limitedSecret}, time.Now(), http.MethodPost, eventsPath, nil, okEvent, nil)
		}, status: 401, err: "Unknown auth_key"},
		{name: "auth_version 2.0", req: func() apiReq {
			return editQuery(func(q url.Values) { q.Set("auth_version", "2.0") })
		}, status: 401, err: "Version not supported"},
		{name: "auth_version 1", req: func() apiReq {
			return editQuery(func(q url.Values) { q.Set("auth_version", "1") })
		}, status: 401, err: "Version not supported"},

		// Signatures.
		{name: "signature made with another secret", req: func() apiReq {
			return signedWith(signing.Credential{Key: appKey, Secret: "not-the-secret"}, time.Now(), http.MethodPost, eventsPath, nil, okEvent, nil)
		}, status: 401, errOf: badSignature},
		{name: "signature of 63 hex digits", req: func() apiReq {
			return editQuery(setSig(func(s string) string { return s[:63] }))
		}, status: 401, errOf: badSignature},
		{name: "signature of 65 hex digits", req: func() apiReq {
			return editQuery(setSig(func(s string) string { return s + "0" }))
		}, status: 401, errOf: badSignature},
		{name: "signature in upper-case hex", req: func() apiReq {
			return editQuery(setSig(strings.ToUpper))
		}, status: 401, errOf: badSignature},
		{name: "signature in base64", req: func() apiReq {
			return editQuery(setSig(func(s string) string {
				raw, _ := hex.DecodeString(s)
				return base64.StdEncoding.EncodeToString(raw)
			}))
		}, status: 401, errOf: badSignature},
		{name: "signature for another method", req: func() apiReq {
			r := signed(http.MethodGet, eventsPath, nil, "", nil)
			r.method, r.body = http.MethodPost, nil
			r.sts = "POST" + strings.TrimPrefix(r.sts, "GET")
			return r
		}, status: 401, errOf: badSignature},
		{name: "signature for another path", req: func() apiReq {
			r := signed(http.MethodPost, batchPath, nil, okEvent, nil)
			r.path = eventsPath
			r.sts = strings.Replace(r.sts, batchPath, eventsPath, 1)
			return r
		}, status: 401, errOf: badSignature},
		{name: "parameter added after signing", req: func() apiReq {
			r := rawQuery(publish(okEvent), "extra=1")
			r.sts += "&extra=1"
			return r
		}, status: 401, errOf: badSignature},
		{name: "bad percent escape in the query", req: func() apiReq { return rawQuery(publish(okEvent), "x=%zz") },
			status: 401, err: `Invalid query string: bad escape in value of "x"`},

		// Timestamps.
		{name: "timestamp 601 s old", req: func() apiReq {
			return signedWith(appCred, now.Add(-601*time.Second), http.MethodPost, eventsPath, nil, okEvent, nil)
		}, status: 401, err: expired(now.Unix() - 601), prefix: true},
		{name: "timestamp exactly 600 s old (the window is strict)", req: func() apiReq {
			return signedWith(appCred, now.Add(-600*time.Second), http.MethodPost, eventsPath, nil, okEvent, nil)
		}, status: 401, err: expired(now.Unix() - 600), prefix: true},
		{name: "timestamp 601 s in the future", req: func() apiReq {
			return signedWith(appCred, now.Add(601*time.Second), http.MethodPost, eventsPath, nil, okEvent, nil)
		}, status: 401, err: expired(now.Unix() + 601), prefix: true},
		{name: "timestamp in milliseconds", req: func() apiReq {
			return editQuery(func(q url.Values) { q.Set("auth_timestamp", strconv.FormatInt(now.UnixMilli(), 10)) })
		}, status: 401, err: "Timestamp expired: Given timestamp (", prefix: true},
		{name: "timestamp not a number", req: func() apiReq {
			return editQuery(func(q url.Values) { q.Set("auth_timestamp", "yesterday") })
		}, status: 401, err: "Invalid auth_timestamp: expected Unix time in seconds"},
		{name: "timestamp with a fraction", req: func() apiReq {
			return editQuery(func(q url.Values) { q.Set("auth_timestamp", strconv.FormatInt(now.Unix(), 10)+".5") })
		}, status: 401, err: "Invalid auth_timestamp: expected Unix time in seconds"},
		{name: "negative timestamp", req: func() apiReq {
			return editQuery(func(q url.Values) { q.Set("auth_timestamp", "-1") })
		}, status: 401, err: expired(-1), prefix: true},

		// body_md5.
		{name: "body_md5 missing on a POST with a body", req: func() apiReq {
			return editQuery(func(q url.Values) { q.Del("body_md5") })
		}, status: 401, err: "Missing parameter: body_md5 (required when the request has a body)"},
		{name: "body_md5 of another body", req: func() apiReq {
			r := publish(okEvent)
			r.body = []byte(strings.Replace(okEvent, `"x"`, `"y"`, 1))
			return r
		}, status: 401, err: "Invalid body_md5: it does not match the MD5 of the request body"},
		{name: "body_md5 in upper-case hex", req: func() apiReq {
			return editQuery(func(q url.Values) { q.Set("body_md5", strings.ToUpper(q.Get("body_md5"))) })
		}, status: 401, err: "Invalid body_md5: it does not match the MD5 of the request body"},
		{name: "body_md5 on a GET without a body", req: func() apiReq {
			// Signed over body_md5 of "{}", sent without the body.
			q := url.Values{"auth_key": {appKey}, "auth_timestamp": {strconv.FormatInt(time.Now().Unix(), 10)},
				"auth_version": {"1.0"}, "body_md5": {signing.MD5Hex([]byte(`{}`))}}
			q.Set("auth_signature", signing.HMACHex(appSecret, []byte(signing.StringToSign(http.MethodGet, channelsPath, q))))
			return apiReq{method: http.MethodGet, path: channelsPath, query: q.Encode()}
		}, status: 401, err: "Invalid body_md5: it does not match the MD5 of the request body"},

		// Duplicate parameters.
		{name: "auth_timestamp twice", req: func() apiReq { return rawQuery(publish(okEvent), "auth_timestamp="+strconv.FormatInt(now.Unix(), 10)) },
			status: 401, err: "Duplicate parameter: auth_timestamp"},
		{name: "auth_signature twice", req: func() apiReq { r := publish(okEvent); return rawQuery(r, "auth_signature="+r.sig) },
			status: 401, err: "Duplicate parameter: auth_signature"},
		{name: "auth_key and AUTH_KEY", req: func() apiReq { return rawQuery(publish(okEvent), "AUTH_KEY="+appKey) },
			status: 401, err: "Duplicate parameter: auth_key"},
		{name: "body_md5 twice", req: func() apiReq { r := publish(okEvent); return rawQuery(r, "body_md5="+signing.MD5Hex(r.body)) },
			status: 401, err: "Duplicate parameter: body_md5"},

		// App and method.
		{name: "unknown app id", req: func() apiReq { return signed(http.MethodPost, "/apps/999/events", nil, okEvent, nil) },
			status: 404, err: "Unknown app id"},
		{name: "unknown app id unsigned", req: func() apiReq { return apiReq{method: http.MethodGet, path: "/apps/999/channels"} },
			status: 404, err: "Unknown app id"},
		{name: "disabled app", req: func() apiReq {
			return signedWith(signing.Credential{Key: disabledKey, Secret: disabledSecret}, time.Now(), http.MethodPost,
				"/apps/"+disabledAppID+"/events", nil, okEvent, nil)
		}, status: 403, err: "App is disabled"},
		{name: "over the app's API rate limit", prep: func(t *testing.T) {
			// Takes the one token of app 2's bucket (refilled every 10 s) if
			// an earlier run has not.
			if _, err := do(limitedRequest()); err != nil {
				t.Fatal(err)
			}
		}, req: limitedRequest, status: 429, err: "Rate limit exceeded for this app; retry after ", prefix: true,
			header: map[string]string{"Retry-After": anyValue}},
		{name: "GET on the events endpoint", req: func() apiReq { return signed(http.MethodGet, eventsPath, nil, "", nil) },
			status: 405, err: "Method GET not allowed on this endpoint; use POST", header: map[string]string{"Allow": "POST"}},
		{name: "PUT on the events endpoint", req: func() apiReq { return signed(http.MethodPut, eventsPath, nil, okEvent, nil) },
			status: 405, err: "Method PUT not allowed on this endpoint; use POST", header: map[string]string{"Allow": "POST"}},
		{name: "POST on the channels endpoint", req: func() apiReq { return signed(http.MethodPost, channelsPath, nil, `{}`, nil) },
			status: 405, err: "Method POST not allowed on this endpoint; use GET", header: map[string]string{"Allow": "GET"}},
		{name: "DELETE on batch_events", req: func() apiReq { return signed(http.MethodDelete, batchPath, nil, "", nil) },
			status: 405, err: "Method DELETE not allowed on this endpoint; use POST", header: map[string]string{"Allow": "POST"}},

		// Paths.
		{name: "unknown endpoint", req: func() apiReq { return signed(http.MethodPost, "/apps/1/event", nil, okEvent, nil) },
			status: 404, err: "Unknown API endpoint"},
		{name: "endpoint in upper case", req: func() apiReq { return signed(http.MethodPost, "/apps/1/EVENTS", nil, okEvent, nil) },
			status: 404, err: "Unknown API endpoint"},
		{name: "trailing slash", req: func() apiReq { return signed(http.MethodPost, "/apps/1/events/", nil, okEvent, nil) },
			status: 404, err: "Unknown API endpoint"},
		{name: "dot-dot segment", req: func() apiReq { return signed(http.MethodPost, "/apps/1/../1/events", nil, okEvent, nil) },
			status: 404, err: "Not found"},
		{name: "dot segment", req: func() apiReq { return signed(http.MethodPost, "/apps/1/./events", nil, okEvent, nil) },
			status: 404, err: "Not found"},
		{name: "double slash", req: func() apiReq { return signed(http.MethodPost, "/apps//1/events", nil, okEvent, nil) },
			status: 404, err: "Not found"},
		{name: "percent-encoded slash before the endpoint", req: func() apiReq { return signed(http.MethodPost, "/apps/1%2Fevents", nil, okEvent, nil) },
			status: 404, err: "Unknown API endpoint"},
		{name: "percent-encoded slash in a channel name", req: func() apiReq { return signed(http.MethodGet, "/apps/1/channels/a%2Fb", nil, "", nil) },
			status: 400, err: `Invalid channel name "a/b"`},
		{name: "percent-encoded dot-dot", req: func() apiReq { return signed(http.MethodPost, "/apps/1/%2e%2e/1/events", nil, okEvent, nil) },
			status: 404, err: "Not found"},
		{name: "/apps without a slash", req: func() apiReq { return signed(http.MethodGet, "/apps", nil, "", nil) },
			status: 404, err: "Not found"},

		// Query endpoints.
		{name: "channel name of 201 characters in the path", req: func() apiReq { return signed(http.MethodGet, channelsPath+"/"+chan201, nil, "", nil) },
			status: 400, err: `Invalid channel name "` + chan201 + `"`},
		{name: "users of a public channel", req: func() apiReq { return signed(http.MethodGet, channelsPath+"/api-ok/users", nil, "", nil) },
			status: 400, err: "Users can only be listed for presence channels"},
		{name: "user_count of a public channel", req: func() apiReq {
			return signed(http.MethodGet, channelsPath+"/api-ok", url.Values{"info": {"user_count"}}, "", nil)
		}, status: 400, err: "user_count may only be requested for presence channels"},
		{name: "user_count without a presence- prefix filter", req: func() apiReq {
			return signed(http.MethodGet, channelsPath, url.Values{"info": {"user_count"}, "filter_by_prefix": {"private-"}}, "", nil)
		}, status: 400, err: "user_count may only be requested for presence channels - please supply filter_by_prefix beginning with presence-"},
		{name: "terminate_connections for an impossible user id", req: func() apiReq {
			return signed(http.MethodPost, "/apps/1/users/a%20b/terminate_connections", nil, `{}`, nil)
		}, status: 400, err: `Invalid user id "a b"`},

		// Requests Go's HTTP server refuses before any handler runs: plain
		// text, which http-api.md §3 allows.
		{name: "request head over 32 KiB", req: func() apiReq {
			r := signed(http.MethodGet, channelsPath, url.Values{"filter_by_prefix": {strings.Repeat("a", 40<<10)}}, "", nil)
			r.raw = "GET " + r.path + "?" + r.query + " HTTP/1.1\r\nHost: " + addr + "\r\n\r\n"
			return r
		}, status: 431, plain: "431 Request Header Fields Too Large"},
		{name: "Content-Length not a number", req: func() apiReq {
			r := publish(okEvent)
			r.raw = "POST " + r.path + "?" + r.query + " HTTP/1.1\r\nHost: " + addr + "\r\nContent-Length: ten\r\n\r\n"
			return r
		}, status: 400, plain: "400 Bad Request"},
		{name: "malformed chunked body", req: func() apiReq {
			r := publish(okEvent)
			r.raw = "POST " + r.path + "?" + r.query + " HTTP/1.1\r\nHost: " + addr + "\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"
			return r
		}, status: 400, err: "Could not read request body"},

		// Bodies too large.
		{name: "body too large by Content-Length", req: func() apiReq {
			r := signed(http.MethodPost, eventsPath, nil, "", nil)
			r.claimLength = 300 << 10
			return r
		}, status: 413, err: bodyTooLarge},
		{name: "body too large in chunks", req: func() apiReq { r := publish(big); r.chunked = true; return r },
			status: 413, err: bodyTooLarge},

		// JSON bodies.
		{name: "empty body", req: func() apiReq { return publish("") }, status: 400, err: "Missing JSON body"},
		{name: "invalid JSON", req: func() apiReq { return publish(`{"name":"e",`) }, status: 400, err: "Invalid JSON body: ", prefix: true},
		{name: "body not JSON at all", req: func() apiReq { return publish(`name=e&channels=x`) }, status: 400, err: "Invalid JSON body: ", prefix: true},
		{name: "body a JSON array", req: func() apiReq { return publish(`[` + okEvent + `]`) }, status: 400, err: "Invalid JSON body: ", prefix: true},
		{name: "body null", req: func() apiReq { return publish(`null`) }, status: 400, err: "Missing event name (name)"},
		{name: "channels a string", req: func() apiReq { return publish(`{"name":"e","channels":"api-ok","data":"x"}`) },
			status: 400, err: "Invalid JSON body: ", prefix: true},
		{name: "channels holding a number", req: func() apiReq { return publish(`{"name":"e","channels":[1],"data":"x"}`) },
			status: 400, err: "Invalid JSON body: ", prefix: true},
		{name: "name a number", req: func() apiReq { return publish(`{"name":1,"channels":["api-ok"],"data":"x"}`) },
			status: 400, err: "Invalid JSON body: ", prefix: true},
		{name: "data a number is accepted", req: func() apiReq { return publish(`{"name":"e","channels":["api-ok"],"data":5}`) }, status: 200, ok: `{}`},
		{name: "data null is published as the text null", req: func() apiReq { return publish(`{"name":"e","channels":["api-ok"],"data":null}`) },
			status: 200, ok: `{}`},
		{name: "name null", req: func() apiReq { return publish(`{"name":null,"channels":["api-ok"],"data":"x"}`) },
			status: 400, err: "Missing event name (name)"},
		{name: "data an object is accepted", req: func() apiReq { return publish(`{"name":"e","channels":["api-ok"],"data":{"a":1}}`) }, status: 200, ok: `{}`},

		// Event fields.
		{name: "name missing", req: func() apiReq { return publish(`{"channels":["api-ok"],"data":"x"}`) }, status: 400, err: "Missing event name (name)"},
		{name: "name empty", req: func() apiReq { return publish(`{"name":"","channels":["api-ok"],"data":"x"}`) }, status: 400, err: "Missing event name (name)"},
		{name: "name of 201 characters", req: func() apiReq { return publish(`{"name":"` + name200 + `n","channels":["api-ok"],"data":"x"}`) },
			status: 400, err: "Event name is longer than 200 characters"},
		{name: "name of 200 characters with backslashes is accepted", req: func() apiReq {
			return publish(`{"name":"App\\Events\\` + name200[:188] + `","channels":["api-ok"],"data":"x"}`)
		}, status: 200, ok: `{}`},
		{name: "data missing", req: func() apiReq { return publish(`{"name":"e","channels":["api-ok"]}`) }, status: 400, err: "Missing event data (data)"},
		{name: "channels missing", req: func() apiReq { return publish(`{"name":"e","data":"x"}`) },
			status: 400, err: "Missing channels: give channels (an array) or channel"},
		{name: "channels empty", req: func() apiReq { return publish(`{"name":"e","channels":[],"data":"x"}`) },
			status: 400, err: "Missing channels: give channels (an array) or channel"},
		{name: "channel name with a space", req: func() apiReq { return publish(`{"name":"e","channels":["bad channel"],"data":"x"}`) },
			status: 400, err: `Invalid channel name "bad channel"`},
		{name: "channel name empty", req: func() apiReq { return publish(`{"name":"e","channel":"","data":"x"}`) },
			status: 400, err: `Invalid channel name ""`},
		{name: "channel name of 201 characters", req: func() apiReq { return publish(`{"name":"e","channels":["` + chan201 + `"],"data":"x"}`) },
			status: 400, err: `Invalid channel name "` + chan201 + `"`},
		{name: "channel name with a leading #", req: func() apiReq { return publish(`{"name":"e","channels":["#internal"],"data":"x"}`) },
			status: 400, err: `Invalid channel name "#internal"`},
		{name: "channel name with a NUL", req: func() apiReq { return publish(`{"name":"e","channels":["a\u0000b"],"data":"x"}`) },
			status: 400, err: `Invalid channel name "a\x00b"`},
		{name: "user channel is accepted", req: func() apiReq { return publish(`{"name":"e","channels":["#server-to-user-u9"],"data":"x"}`) },
			status: 200, ok: `{}`},
		{name: "user channel with an illegal id", req: func() apiReq { return publish(`{"name":"e","channels":["#server-to-user-a b"],"data":"x"}`) },
			status: 400, err: `Invalid channel name "#server-to-user-a b"`},
		{name: "100 channels are accepted", req: func() apiReq { return publish(channels(100)) }, status: 200, ok: `{}`},
		{name: "101 channels", req: func() apiReq { return publish(channels(101)) }, status: 400, err: "Too many channels: at most 100 per event"},
		{name: "encrypted channel among several", req: func() apiReq {
			return publish(`{"name":"e","channels":["api-ok","private-encrypted-x"],"data":"x"}`)
		}, status: 400, err: "Cannot publish to several channels when one is an encrypted channel (private-encrypted-x)"},
		{name: "socket_id not a socket id", req: func() apiReq { return publish(`{"name":"e","channels":["api-ok"],"data":"x","socket_id":"abc"}`) },
			status: 400, err: `Invalid socket_id "abc"`},
		{name: "data of 10240 bytes is accepted", req: func() apiReq { return publish(data(10240)) }, status: 200, ok: `{}`},
		{name: "data of 10241 bytes", req: func() apiReq { return publish(data(10241)) }, status: 413, err: "Event data is larger than 10240 bytes"},

		// Batches.
		{name: "batch of 10 is accepted", req: func() apiReq { return batch(batchOf(10)) }, status: 200, ok: `{}`},
		{name: "batch of 11", req: func() apiReq { return batch(batchOf(11)) }, status: 400, err: "Cannot batch-send more than 10 events at once"},
		{name: "batch empty", req: func() apiReq { return batch(`{"batch":[]}`) }, status: 400, err: "Missing batch: give an array of 1 to 10 events"},
		{name: "batch missing", req: func() apiReq { return batch(`{}`) }, status: 400, err: "Missing batch: give an array of 1 to 10 events"},
		{name: "batch an object", req: func() apiReq { return batch(`{"batch":{"channel":"api-ok","name":"e","data":"x"}}`) },
			status: 400, err: "Invalid JSON body: ", prefix: true},
		{name: "batch item with a bad channel", req: func() apiReq {
			return batch(`{"batch":[{"channel":"api-ok","name":"e","data":"x"},{"channel":"bad channel","name":"e","data":"x"}]}`)
		}, status: 400, err: `batch[1]: Invalid channel name "bad channel"`},
		{name: "batch item with two channels", req: func() apiReq {
			return batch(`{"batch":[{"channels":["api-a","api-b"],"name":"e","data":"x"}]}`)
		}, status: 400, err: "batch[0]: Too many channels: at most 1 per event"},
		{name: "batch item without a name", req: func() apiReq { return batch(`{"batch":[{"channel":"api-ok","data":"x"}]}`) },
			status: 400, err: "batch[0]: Missing event name (name)"},
		{name: "batch item with a bad socket_id", req: func() apiReq {
			return batch(`{"batch":[{"channel":"api-ok","name":"e","data":"x","socket_id":"1.2.3"}]}`)
		}, status: 400, err: `batch[0]: Invalid socket_id "1.2.3"`},
		{name: "batch item over 10 KB", req: func() apiReq {
			return batch(`{"batch":[{"channel":"api-ok","name":"e","data":"` + strings.Repeat("d", 10241) + `"}]}`)
		}, status: 413, err: "batch[0]: Event data is larger than 10240 bytes"},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			if r.skip != "" {
				t.Skip("SERVER BUG: " + r.skip)
			}
			if r.prep != nil {
				r.prep(t)
			}
			var arrived <-chan struct{}
			if r.delivers != "" {
				arrived = by.expect(r.delivers)
			}
			req := r.req()
			resp, err := do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", req.method, req.path, err)
			}
			switch {
			case r.plain != "":
				if resp.status != r.status || resp.header.Get("Content-Type") != "text/plain; charset=utf-8" || string(resp.body) != r.plain {
					t.Errorf("answer = %d %q %q, want %d text/plain %q", resp.status, resp.header.Get("Content-Type"), resp.body, r.status, r.plain)
				}
			case r.status == http.StatusOK:
				checkAPIOK(t, resp, r.ok)
			default:
				msg := r.err
				if r.errOf != nil {
					msg = r.errOf(req)
				}
				checkAPIError(t, resp, r.status, msg, r.prefix)
			}
			for k, v := range r.header {
				if got := resp.header.Get(k); got != v && (v != anyValue || got == "") {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
			if loc := resp.header.Get("Location"); loc != "" {
				t.Errorf("answered with a redirect to %q", loc)
			}
			if arrived != nil {
				select {
				case <-arrived:
				case <-time.After(wait):
					t.Errorf("%s did not reach the bystander within %v", r.delivers, wait)
				}
			}
			checkBystander(t)
		})
	}
}
