// Package token is the Beams token: the HS256 JWT a customer's backend
// signs with the instance's secret key (a server SDK's generateToken) to
// let a device be associated with a user (spec beams.md section 3).
package token

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxUserIDLen is the longest user id, in Unicode code points (the most
// lenient of the SDKs' own measures).
const MaxUserIDLen = 164

// Lifetime is the validity the SDKs give their tokens.
const Lifetime = 24 * time.Hour

// leeway tolerates a small clock difference with the customer's backend.
const leeway = 30 * time.Second

var b64 = base64.RawURLEncoding

// Error is a refusal with its HTTP status (401, or 422 for a bad user id).
type Error struct {
	Status      int
	Description string
}

func (e *Error) Error() string { return e.Description }

func unauthorized(format string, args ...any) *Error {
	return &Error{Status: 401, Description: fmt.Sprintf(format, args...)}
}

// Issuer is the iss every SDK writes, whatever host it talks to.
func Issuer(instanceID string) string {
	return "https://" + instanceID + ".pushnotifications.pusher.com"
}

// Generate makes the token the node SDK's generateToken makes at now
// (same claims, same order): for tests and tools.
func Generate(instanceID, secret, userID string, now time.Time) string {
	payload, _ := json.Marshal(struct {
		Iat int64  `json:"iat"`
		Exp int64  `json:"exp"`
		Iss string `json:"iss"`
		Sub string `json:"sub"`
	}{now.Unix(), now.Add(Lifetime).Unix(), Issuer(instanceID), userID})
	signing := b64.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + b64.EncodeToString(payload)
	return signing + "." + b64.EncodeToString(sign(secret, signing))
}

func sign(secret, signing string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(signing))
	return m.Sum(nil)
}

// Verify checks tok for the instance: HS256 only, signed with one of
// secrets (the current key first, then keys still in their rotation
// grace), not expired, issued for the instance (or by one of
// extraIssuers), with a user id in sub. It returns the user id.
func Verify(tok, instanceID string, secrets []string, extraIssuers []string, now time.Time) (string, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return "", unauthorized("The token is not a JWT (three dot-separated parts).")
	}
	head, err := b64.DecodeString(parts[0])
	if err != nil {
		return "", unauthorized("The token's header is not base64url.")
	}
	var hdr struct {
		Alg string `json:"alg"`
	}
	if err := json.Unmarshal(head, &hdr); err != nil {
		return "", unauthorized("The token's header is not JSON.")
	}
	if hdr.Alg != "HS256" { // never "none", never an algorithm the key was not made for
		return "", unauthorized("The token must be signed with HS256, not %q.", hdr.Alg)
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil {
		return "", unauthorized("The token's signature is not base64url.")
	}
	signing := parts[0] + "." + parts[1]
	valid := false
	for _, s := range secrets {
		// Every key is tried, so the time does not tell which one matched.
		if hmac.Equal(sign(s, signing), sig) {
			valid = true
		}
	}
	if !valid {
		return "", unauthorized("The token's signature is not valid for this instance.")
	}
	raw, err := b64.DecodeString(parts[1])
	if err != nil {
		return "", unauthorized("The token's claims are not base64url.")
	}
	var claims struct {
		Exp json.Number `json:"exp"`
		Iss string      `json:"iss"`
		Sub *string     `json:"sub"`
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	if err := dec.Decode(&claims); err != nil {
		return "", unauthorized("The token's claims are not a JSON object.")
	}
	exp, err := strconv.ParseFloat(string(claims.Exp), 64)
	if err != nil {
		return "", unauthorized("The token has no numeric exp.")
	}
	if float64(now.Add(-leeway).Unix()) >= exp {
		return "", unauthorized("The token has expired.")
	}
	if claims.Iss != Issuer(instanceID) && !contains(extraIssuers, claims.Iss) {
		return "", unauthorized("The token was issued for another instance (iss %q).", claims.Iss)
	}
	if claims.Sub == nil || *claims.Sub == "" {
		return "", &Error{Status: 422, Description: "The token has no user id (sub)."}
	}
	if n := utf8.RuneCountInString(*claims.Sub); n > MaxUserIDLen || !utf8.ValidString(*claims.Sub) {
		return "", &Error{Status: 422, Description: fmt.Sprintf("The user id must be valid UTF-8 of at most %d characters.", MaxUserIDLen)}
	}
	return *claims.Sub, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s && s != "" {
			return true
		}
	}
	return false
}
