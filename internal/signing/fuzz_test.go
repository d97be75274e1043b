package signing

import (
	"errors"
	"net/url"
	"testing"
	"time"
)

func FuzzVerifyRequest(f *testing.F) {
	cred := Credential{"app-key", "app-secret"}
	body := `{"name":"my-event","data":"{\"message\":\"hello world\"}","channels":["my-channel"]}`
	f.Add("POST", "/apps/1/events", signedQuery(cred, "POST", "/apps/1/events", nil, []byte(body), 1700000000), []byte(body), int64(1700000000), int64(0))
	f.Add("GET", "/apps/1/channels", "auth_key=app-key&auth_timestamp=1700000000&auth_version=1.0&filter_by_prefix=presence-&info=user_count&auth_signature=985aebc7e3bd1977bb4ab10e11ad6eba7624244a20ac945c884f459dd1366359", []byte(nil), int64(1700000000), int64(600))
	f.Add("GET", "/", "auth_key=app-key&AUTH_SIGNATURE=1&auth_signature=2", []byte(nil), int64(0), int64(-1))
	f.Add("GET", "/", "auth_timestamp=-9223372036854775808&auth_key=app-key&auth_version=1.0&auth_signature=x", []byte(nil), int64(9223372036854775807), int64(1))
	f.Add("POST", "/", "%zz=1&=&&;a=%", []byte("x"), int64(-1), int64(1<<62))

	creds := []Credential{{"other", "x"}, cred, {"app-key", "rotated"}}
	f.Fuzz(func(t *testing.T, method, path, rawQuery string, body []byte, now, window int64) {
		clock := time.Unix(now, 0)
		got, err := VerifyRequest(method, path, rawQuery, body, creds, clock, time.Duration(window))
		if err != nil {
			var ve *VerifyError
			if !errors.As(err, &ve) {
				t.Fatalf("error %T is not a *VerifyError", err)
			}
			if got != (Credential{}) {
				t.Fatalf("credential returned with an error")
			}
		} else if got != cred && got != creds[2] {
			t.Fatalf("accepted with credential %+v", got)
		}

		// Whatever parameters arrive, signing them must verify: the signer
		// and the verifier share one canonical form.
		params, perr := parseQuery(rawQuery)
		if perr != nil {
			return
		}
		signed := SignRequest(cred, method, path, params, body, clock).Encode()
		if got, err := VerifyRequest(method, path, signed, body, creds, clock, time.Duration(window)); err != nil || got != cred {
			t.Fatalf("own signature rejected: %v (query %q)", err, signed)
		}
		if _, err := url.ParseQuery(signed); err != nil {
			t.Fatalf("SignRequest produced an unparsable query %q: %v", signed, err)
		}
	})
}

func FuzzVerifyChannel(f *testing.F) {
	f.Add("app-key", "app-secret", "123.456", "private-foobar", "", false, "app-key:86df2f9450c48ed0131f49e4bc64af54a334ce51c7c0ba2006d593253d6a0579")
	f.Add("app-key", "app-secret", "123.456", "presence-foobar", `{"user_id":"10"}`, true, "app-key:aa1822019571983585bb0bc873dd76160dca0f14193b7c905c884dc3ba0504ee")
	f.Add("", "", "", "", "", true, ":")
	f.Fuzz(func(t *testing.T, key, secret, socketID, channel, data string, hasData bool, auth string) {
		var cd *string
		if hasData {
			cd = &data
		}
		want := AuthorizeChannel(key, secret, socketID, channel, cd)
		if !VerifyChannel(key, secret, socketID, channel, cd, want) {
			t.Fatal("own authorization rejected")
		}
		if VerifyChannel(key, secret, socketID, channel, cd, auth) != (auth == want) {
			t.Fatalf("VerifyChannel(%q) disagrees with string equality", auth)
		}
	})
}
