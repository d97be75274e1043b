package token

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

type vectors struct {
	Constants struct {
		InstanceID      string `json:"instanceId"`
		SecretKey       string `json:"secretKey"`
		FrozenDateNowMs int64  `json:"frozenDateNowMs"`
	} `json:"constants"`
	GenerateToken []struct {
		Name  string `json:"name"`
		Input struct {
			UserID          string `json:"userId"`
			FrozenDateNowMs int64  `json:"frozenDateNowMs"`
		} `json:"input"`
		Output struct {
			Token string `json:"token"`
		} `json:"output"`
		Key string `json:"verifiedHS256WithKey"`
	} `json:"generateToken"`
}

func load(t *testing.T) *vectors {
	t.Helper()
	raw, err := os.ReadFile("../../../testdata/beams-vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v vectors
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.GenerateToken) == 0 || v.Constants.InstanceID == "" {
		t.Fatal("beams-vectors.json: unexpected shape")
	}
	return &v
}

// The node SDK's tokens: Generate makes them byte for byte, Verify takes them.
func TestNodeSDKTokens(t *testing.T) {
	v := load(t)
	id := v.Constants.InstanceID
	for _, c := range v.GenerateToken {
		now := time.UnixMilli(c.Input.FrozenDateNowMs)
		if got := Generate(id, c.Key, c.Input.UserID, now); got != c.Output.Token {
			t.Errorf("%s: Generate\n got %s\nwant %s", c.Name, got, c.Output.Token)
		}
		user, err := Verify(c.Output.Token, id, []string{c.Key}, nil, now.Add(time.Hour))
		if err != nil || user != c.Input.UserID {
			t.Errorf("%s: Verify = %q, %v; want %q", c.Name, user, err, c.Input.UserID)
		}
		// The key of a rotation's grace period works too, in either place.
		if user, err := Verify(c.Output.Token, id, []string{"new-key", c.Key}, nil, now); err != nil || user != c.Input.UserID {
			t.Errorf("%s: with the old key second: %q, %v", c.Name, user, err)
		}
	}
}

// forge signs arbitrary header and claims JSON with key.
func forge(key, header, claims string) string {
	signing := b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString([]byte(claims))
	return signing + "." + b64.EncodeToString(sign(key, signing))
}

func TestVerifyRefusals(t *testing.T) {
	const id, key = "00000000-0000-0000-0000-000000000001", "beams-secret"
	now := time.Unix(1_700_000_000, 0)
	iss := Issuer(id)
	hs := `{"alg":"HS256","typ":"JWT"}`
	good := `{"exp":1700086400,"iss":"` + iss + `","sub":"alice"}`
	noneTok := b64.EncodeToString([]byte(`{"alg":"none"}`)) + "." + b64.EncodeToString([]byte(good)) + "."
	cases := []struct {
		name   string
		tok    string
		status int
	}{
		{"alg none, no signature", noneTok, 401},
		{"alg none, signed anyway", forge(key, `{"alg":"none"}`, good), 401},
		{"RS256 header", forge(key, `{"alg":"RS256"}`, good), 401},
		{"hs256 in lower case", forge(key, `{"alg":"hs256"}`, good), 401},
		{"another key", forge("other", hs, good), 401},
		{"expired", forge(key, hs, `{"exp":1699999000,"iss":"`+iss+`","sub":"alice"}`), 401},
		{"no exp", forge(key, hs, `{"iss":"`+iss+`","sub":"alice"}`), 401},
		{"exp not a number", forge(key, hs, `{"exp":"soon","iss":"`+iss+`","sub":"alice"}`), 401},
		{"another instance", forge(key, hs, `{"exp":1700086400,"iss":"https://other.pushnotifications.pusher.com","sub":"alice"}`), 401},
		{"no iss", forge(key, hs, `{"exp":1700086400,"sub":"alice"}`), 401},
		{"no sub", forge(key, hs, `{"exp":1700086400,"iss":"`+iss+`"}`), 422},
		{"empty sub", forge(key, hs, `{"exp":1700086400,"iss":"`+iss+`","sub":""}`), 422},
		{"sub of 165 characters", forge(key, hs, `{"exp":1700086400,"iss":"`+iss+`","sub":"`+strings.Repeat("ü", 165)+`"}`), 422},
		{"two parts", "a.b", 401},
		{"garbage", "not a token", 401},
		{"claims not JSON", forge(key, hs, `alice`), 401},
	}
	for _, c := range cases {
		_, err := Verify(c.tok, id, []string{key}, nil, now)
		var e *Error
		if !errors.As(err, &e) || e.Status != c.status {
			t.Errorf("%s: %v, want status %d", c.name, err, c.status)
		}
	}
	// Tampering with a good token's claims breaks its signature.
	tok := forge(key, hs, good)
	p := strings.Split(tok, ".")
	p[1] = b64.EncodeToString([]byte(strings.Replace(good, "alice", "mallory", 1)))
	if _, err := Verify(strings.Join(p, "."), id, []string{key}, nil, now); err == nil {
		t.Error("a token with changed claims verified")
	}
}

func TestVerifyAccepts(t *testing.T) {
	const id, key = "inst", "k"
	now := time.Unix(1_700_000_000, 0)
	iss := Issuer(id)
	cases := []struct{ name, header, claims string }{
		{"no typ, other key order", `{"alg":"HS256"}`, `{"sub":"bob","iss":"` + iss + `","exp":1700000100}`},
		{"exp as a float", `{"typ":"JWT","alg":"HS256"}`, `{"exp":1700000100.5,"iss":"` + iss + `","sub":"bob"}`},
		{"expired 20 s ago (clock leeway)", `{"alg":"HS256"}`, `{"exp":1699999980,"iss":"` + iss + `","sub":"bob"}`},
		{"sub of 164 characters", `{"alg":"HS256"}`, `{"exp":1700000100,"iss":"` + iss + `","sub":"` + strings.Repeat("ü", 164) + `"}`},
	}
	for _, c := range cases {
		if _, err := Verify(forge(key, c.header, c.claims), id, []string{key}, nil, now); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	// A configured self-hosted issuer.
	tok := forge(key, `{"alg":"HS256"}`, `{"exp":1700000100,"iss":"https://push.example.com","sub":"bob"}`)
	if _, err := Verify(tok, id, []string{key}, []string{"https://push.example.com"}, now); err != nil {
		t.Errorf("extra issuer: %v", err)
	}
	if _, err := Verify(tok, id, []string{key}, nil, now); err == nil {
		t.Error("an unknown issuer was accepted")
	}
}
