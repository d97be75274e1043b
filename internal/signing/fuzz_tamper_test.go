package signing

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

// FuzzVerifyUser: the pusher:signin signature verifies for exactly the
// string AuthenticateUser produces, and a channel authorization is never
// accepted as a sign-in (the two schemes share a key and an HMAC).
func FuzzVerifyUser(f *testing.F) {
	f.Add("app-key", "app-secret", "123.456", `{"id":"12345"}`, "app-key:4708d583dada6a56435fb8bc611c77c359a31eebde13337c16ab9b0d5e4f8fd5", "private-x")
	f.Add("app-key", "app-secret", "1.1", `{"id":"10","user_info":{"name":"Ten"},"watchlist":["1"]}`, "", "presence-room")
	f.Add("", "", "", "", ":", "")
	f.Add("k", "s", "1.1::user::x", "y", "k:00", ":user::x")
	f.Fuzz(func(t *testing.T, key, secret, socketID, userData, auth, channel string) {
		want := AuthenticateUser(key, secret, socketID, userData)
		if !VerifyUser(key, secret, socketID, userData, want) {
			t.Fatal("own sign-in signature rejected")
		}
		if VerifyUser(key, secret, socketID, userData, auth) != (auth == want) {
			t.Fatalf("VerifyUser(%q) disagrees with string equality (want %q)", auth, want)
		}
		if !strings.HasPrefix(want, key+":") || len(want) != len(key)+65 {
			t.Fatalf("auth %q is not key:hex", want)
		}
		// Server-generated socket ids and valid channel names cannot make a
		// channel's string to sign look like a sign-in's.
		if validSocketID(socketID) && validName(channel) {
			for _, cd := range []*string{nil, &userData} {
				if VerifyUser(key, secret, socketID, userData, AuthorizeChannel(key, secret, socketID, channel, cd)) {
					t.Fatalf("channel authorization for %q accepted as a sign-in", channel)
				}
			}
		}
	})
}

// validSocketID and validName restate protocol.ValidSocketID and
// protocol.ValidChannelName (signing may not import protocol).
func validSocketID(s string) bool {
	a, b, ok := strings.Cut(s, ".")
	return ok && a != "" && b != "" && strings.Trim(a, "0123456789") == "" && strings.Trim(b, "0123456789") == ""
}

func validName(s string) bool {
	const set = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=@,.;"
	return s != "" && len(s) <= 200 && strings.Trim(s, set) == ""
}

// FuzzVerifyRequestTamper signs a request, changes one thing about it and
// checks that verification fails, or, for a changed query, that it only
// succeeds when the change left the signed string unchanged.
func FuzzVerifyRequestTamper(f *testing.F) {
	body := []byte(`{"name":"my-event","data":"{\"message\":\"hello world\"}","channels":["my-channel"]}`)
	f.Add("POST", "/apps/1/events", "", body, 0, byte('x'))
	f.Add("GET", "/apps/1/channels", "filter_by_prefix=presence-&info=user_count", []byte(nil), 40, byte('%'))
	f.Add("GET", "/apps/1/channels/presence-room", "info=user_count,subscription_count", []byte(nil), 7, byte('&'))
	f.Add("POST", "/apps/1/batch_events", "a=1&a=2&A=3&b", []byte(`{"batch":[]}`), 3, byte('+'))
	f.Add("GET", "/apps/1/channels", "filter_by_prefix=private-a;b&x=%20", []byte(nil), 120, byte(';'))
	f.Add("post", "/apps/1/users/u/terminate_connections", "auth_key=other&AUTH_SIGNATURE=x", []byte("{}"), 200, byte('K'))

	cred := Credential{"app-key", "app-secret"}
	creds := []Credential{{"other", "x"}, cred}
	clock := time.Unix(1700000000, 0)
	f.Fuzz(func(t *testing.T, method, path, rawParams string, body []byte, pos int, b byte) {
		if strings.ContainsAny(method+path, "\n") {
			return // HTTP cannot carry these; the string to sign would be ambiguous
		}
		params, err := parseQuery(rawParams)
		if err != nil {
			params = nil
		}
		q := SignRequest(cred, method, path, params, body, clock)
		raw := q.Encode()
		if _, err := VerifyRequest(method, path, raw, body, creds, clock, 0); err != nil {
			t.Fatalf("own signature rejected: %v (query %q)", err, raw)
		}
		if pos < 0 {
			pos = -pos
		}
		if pos < 0 { // math.MinInt
			pos = 0
		}

		// A different signature never verifies.
		sig := q.Get(paramSignature)
		i := pos % len(sig)
		other := byte('0')
		if sig[i] == '0' {
			other = '1'
		}
		q2 := cloneQuery(q)
		q2.Set(paramSignature, sig[:i]+string(other)+sig[i+1:])
		if _, err := VerifyRequest(method, path, q2.Encode(), body, creds, clock, 0); err == nil {
			t.Fatalf("signature with digit %d changed accepted", i)
		}

		// A different body never verifies.
		body2 := append([]byte(nil), body...)
		if len(body2) > 0 && b != 0 {
			body2[pos%len(body2)] ^= b
		} else {
			body2 = append(body2, b)
		}
		if _, err := VerifyRequest(method, path, raw, body2, creds, clock, 0); err == nil {
			t.Fatalf("body %q accepted with the signature of %q", body2, body)
		}

		// Nor does another method or path.
		if _, err := VerifyRequest(method+"X", path, raw, body, creds, clock, 0); err == nil {
			t.Fatalf("method %qX accepted with the signature of %q", method, method)
		}
		if _, err := VerifyRequest(method, path+string(rune('a'+pos%26)), raw, body, creds, clock, 0); err == nil {
			t.Fatal("longer path accepted")
		}

		// A changed query verifies only if it signs the same string.
		if raw[pos%len(raw)] == b {
			return
		}
		raw2 := raw[:pos%len(raw)] + string(b) + raw[pos%len(raw)+1:]
		if _, err := VerifyRequest(method, path, raw2, body, creds, clock, 0); err == nil {
			q3, err := parseQuery(raw2)
			if err != nil {
				t.Fatalf("query %q verified but does not parse: %v", raw2, err)
			}
			if got, want := StringToSign(method, path, q3), StringToSign(method, path, q); got != want {
				t.Fatalf("query %q verified with the signature of %q: signs %q, not %q", raw2, raw, got, want)
			}
		}
	})
}

func cloneQuery(q url.Values) url.Values {
	out := make(url.Values, len(q))
	for k, v := range q {
		out[k] = append([]string(nil), v...)
	}
	return out
}
