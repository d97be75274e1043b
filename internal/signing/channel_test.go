package signing

import (
	"encoding/json"
	"strings"
	"testing"
)

func strp(s string) *string { return &s }

// flipHex changes the last hex digit of a "key:hex" auth value.
func flipHex(auth string) string {
	last := auth[len(auth)-1]
	repl := byte('0')
	if last == '0' {
		repl = '1'
	}
	return auth[:len(auth)-1] + string(repl)
}

func TestChannelAuthorizationVectors(t *testing.T) {
	v := loadVectors(t)
	key, secret := v.App.Key, v.App.Secret
	for _, tc := range v.ChannelAuthorization {
		t.Run(tc.Label, func(t *testing.T) {
			sid, ch, cd := tc.Input.SocketID, tc.Input.ChannelName, tc.Output.ChannelData
			if got := ChannelStringToSign(sid, ch, cd); got != tc.StringToSign {
				t.Fatalf("string to sign = %q, want %q", got, tc.StringToSign)
			}
			if got := AuthorizeChannel(key, secret, sid, ch, cd); got != tc.Output.Auth {
				t.Fatalf("AuthorizeChannel = %q, want %q", got, tc.Output.Auth)
			}
			if !VerifyChannel(key, secret, sid, ch, cd, tc.Output.Auth) {
				t.Fatal("VerifyChannel rejected the SDK's auth")
			}

			bad := map[string]func() bool{
				"flipped hex digit": func() bool { return VerifyChannel(key, secret, sid, ch, cd, flipHex(tc.Output.Auth)) },
				"other socket id":   func() bool { return VerifyChannel(key, secret, "123.457", ch, cd, tc.Output.Auth) },
				"other channel":     func() bool { return VerifyChannel(key, secret, sid, ch+"x", cd, tc.Output.Auth) },
				"wrong key prefix": func() bool {
					return VerifyChannel(key, secret, sid, ch, cd, "other-key"+strings.TrimPrefix(tc.Output.Auth, key))
				},
				"verifier expects other key": func() bool { return VerifyChannel("other-key", secret, sid, ch, cd, tc.Output.Auth) },
				"other secret":               func() bool { return VerifyChannel(key, "other-secret", sid, ch, cd, tc.Output.Auth) },
				"signature only": func() bool {
					return VerifyChannel(key, secret, sid, ch, cd, strings.TrimPrefix(tc.Output.Auth, key+":"))
				},
				"upper-case hex": func() bool {
					return VerifyChannel(key, secret, sid, ch, cd, key+":"+strings.ToUpper(strings.TrimPrefix(tc.Output.Auth, key+":")))
				},
				"empty auth": func() bool { return VerifyChannel(key, secret, sid, ch, cd, "") },
			}
			if cd == nil {
				bad["channel_data added"] = func() bool { return VerifyChannel(key, secret, sid, ch, strp("{}"), tc.Output.Auth) }
				bad["empty channel_data added"] = func() bool { return VerifyChannel(key, secret, sid, ch, strp(""), tc.Output.Auth) }
			} else {
				bad["channel_data dropped"] = func() bool { return VerifyChannel(key, secret, sid, ch, nil, tc.Output.Auth) }
				// Same JSON value, different bytes: the signature covers bytes.
				var val any
				if err := json.Unmarshal([]byte(*cd), &val); err != nil {
					t.Fatal(err)
				}
				indented, _ := json.MarshalIndent(val, "", " ")
				bad["re-serialised channel_data (indented)"] = func() bool {
					return VerifyChannel(key, secret, sid, ch, strp(string(indented)), tc.Output.Auth)
				}
				bad["re-serialised channel_data (space added)"] = func() bool {
					return VerifyChannel(key, secret, sid, ch, strp(strings.Replace(*cd, ":", ": ", 1)), tc.Output.Auth)
				}
			}
			for name, f := range bad {
				if f() {
					t.Errorf("%s: accepted", name)
				}
			}
		})
	}
}

func TestUserAuthenticationVectors(t *testing.T) {
	v := loadVectors(t)
	key, secret := v.App.Key, v.App.Secret
	for _, tc := range v.UserAuthentication {
		t.Run(tc.Output.UserData, func(t *testing.T) {
			sid, ud := tc.Input.SocketID, tc.Output.UserData
			if got := userStringToSign(sid, ud); got != tc.StringToSign {
				t.Fatalf("string to sign = %q, want %q", got, tc.StringToSign)
			}
			if got := AuthenticateUser(key, secret, sid, ud); got != tc.Output.Auth {
				t.Fatalf("AuthenticateUser = %q, want %q", got, tc.Output.Auth)
			}
			if !VerifyUser(key, secret, sid, ud, tc.Output.Auth) {
				t.Fatal("VerifyUser rejected the SDK's auth")
			}
			bad := map[string]bool{
				"flipped hex digit":    VerifyUser(key, secret, sid, ud, flipHex(tc.Output.Auth)),
				"other socket id":      VerifyUser(key, secret, "1.2", ud, tc.Output.Auth),
				"re-serialised":        VerifyUser(key, secret, sid, strings.Replace(ud, ":", ": ", 1), tc.Output.Auth),
				"wrong key prefix":     VerifyUser(key, secret, sid, ud, "x"+tc.Output.Auth),
				"channel-style signed": VerifyUser(key, secret, sid, ud, AuthorizeChannel(key, secret, sid, ud, nil)),
			}
			for name, accepted := range bad {
				if accepted {
					t.Errorf("%s: accepted", name)
				}
			}
		})
	}
}

// TestAuthResponsesGo checks that pusher-http-go's auth responses verify too:
// both SDKs must agree with us, not only with each other.
func TestAuthResponsesGo(t *testing.T) {
	v := loadVectors(t)
	key, secret := v.App.Key, v.App.Secret
	var sid string
	if err := json.Unmarshal(v.AuthResponsesGo["input_socket_id"], &sid); err != nil {
		t.Fatal(err)
	}
	channels := map[string]string{
		"private": "private-foobar",
		"presence (MemberData{UserID:\"10\", UserInfo:{\"name\":\"Mr. Channels\"}})": "presence-foobar",
		"encrypted (private-encrypted-foobar)":                                       "private-encrypted-foobar",
	}
	n := 0
	for label, raw := range v.AuthResponsesGo {
		if label == "input_socket_id" {
			continue
		}
		var resp struct {
			Auth        string
			ChannelData *string `json:"channel_data"`
			UserData    *string `json:"user_data"`
		}
		if err := json.Unmarshal(raw, &resp); err != nil {
			t.Fatal(err)
		}
		n++
		if resp.UserData != nil {
			if !VerifyUser(key, secret, sid, *resp.UserData, resp.Auth) {
				t.Errorf("%s: user auth rejected", label)
			}
			continue
		}
		ch, ok := channels[label]
		if !ok {
			t.Errorf("no channel known for vector %q", label)
			continue
		}
		if !VerifyChannel(key, secret, sid, ch, resp.ChannelData, resp.Auth) {
			t.Errorf("%s: channel auth rejected", label)
		}
	}
	if n != 4 {
		t.Errorf("checked %d Go auth responses, want 4", n)
	}
}

// TestDocsWorkedExamples replays Pusher's documentation examples that are
// internally consistent (matches_docs true); the inconsistent presence
// example is deliberately not an oracle.
func TestDocsWorkedExamples(t *testing.T) {
	v := loadVectors(t)
	const key, secret, sid = "278d425bdf160c739803", "7ad3773142a6692b25b8", "1234.1234"
	checked := 0
	for _, tc := range v.DocsWorkedExamples {
		if !tc.MatchesDocs {
			continue
		}
		checked++
		t.Run(tc.Label, func(t *testing.T) {
			switch {
			case strings.Contains(tc.Label, "rest-api"):
				if got := MD5Hex([]byte(tc.Body)); got != tc.BodyMD5 {
					t.Errorf("MD5Hex = %s, want %s", got, tc.BodyMD5)
				}
				if got := HMACHex(secret, []byte(tc.StringToSign)); got != tc.DocsExpectedSignature {
					t.Errorf("signature = %s, want %s", got, tc.DocsExpectedSignature)
				}
				path, query := restExampleQuery(t, tc.StringToSign)
				rawQuery := query + "&auth_signature=" + tc.Signature
				cred, err := VerifyRequest("POST", path, rawQuery, []byte(tc.Body),
					[]Credential{{key, secret}}, unix(1353088179), 0)
				if err != nil || cred.Key != key {
					t.Errorf("VerifyRequest = %v, %v", cred, err)
				}
			case strings.Contains(tc.Label, "user authentication"):
				if got := AuthenticateUser(key, secret, sid, *tc.Output.UserData); got != tc.DocsExpectedAuth {
					t.Errorf("AuthenticateUser = %s, want %s", got, tc.DocsExpectedAuth)
				}
			case strings.Contains(tc.Label, "presence"):
				if got := AuthorizeChannel(key, secret, sid, "presence-foobar", tc.Output.ChannelData); got != tc.DocsExpectedAuth {
					t.Errorf("AuthorizeChannel = %s, want %s", got, tc.DocsExpectedAuth)
				}
			case strings.Contains(tc.Label, "private"):
				if got := AuthorizeChannel(key, secret, sid, "private-foobar", nil); got != tc.DocsExpectedAuth {
					t.Errorf("AuthorizeChannel = %s, want %s", got, tc.DocsExpectedAuth)
				}
			default:
				t.Fatalf("no check for docs example %q", tc.Label)
			}
		})
	}
	if checked != 4 {
		t.Errorf("checked %d docs examples, want 4", checked)
	}
}

// restExampleQuery splits "METHOD\npath\nquery" into path and query.
func restExampleQuery(t *testing.T, sts string) (path, query string) {
	t.Helper()
	parts := strings.SplitN(sts, "\n", 3)
	if len(parts) != 3 {
		t.Fatalf("malformed string to sign %q", sts)
	}
	return parts[1], parts[2]
}

func TestChannelStringToSign(t *testing.T) {
	tests := []struct {
		data *string
		want string
	}{
		{nil, "1.2:presence-x"},
		{strp(""), "1.2:presence-x:"},
		{strp(`{"user_id":"1"}`), `1.2:presence-x:{"user_id":"1"}`},
	}
	for _, tc := range tests {
		if got := ChannelStringToSign("1.2", "presence-x", tc.data); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}
