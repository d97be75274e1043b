// Package fcm delivers Beams notifications to Android devices through FCM
// HTTP v1 (spec beams.md 4.5): an OAuth 2.0 access token obtained with a
// service account's RS256 assertion, the publisher's legacy `fcm` payload
// translated to a v1 message, and the answer classified with the same
// webpush.Outcome values as every other sender (spec 4.1).
package fcm

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// ServiceAccount is a Google service account that may send for a Firebase
// project. Its private key is kept unexported and never printed.
type ServiceAccount struct {
	ProjectID    string
	PrivateKeyID string // the assertion's kid
	ClientEmail  string // the assertion's iss
	TokenURI     string // where assertions are exchanged for access tokens (also their aud)

	key *rsa.PrivateKey
}

// LoadServiceAccount reads a service-account JSON file as the Google Cloud
// console hands it out. Every missing field is named in one error; no error
// ever quotes the private key.
func LoadServiceAccount(data []byte) (*ServiceAccount, error) {
	var f struct {
		Type         string `json:"type"`
		ProjectID    string `json:"project_id"`
		PrivateKeyID string `json:"private_key_id"`
		PrivateKey   string `json:"private_key"`
		ClientEmail  string `json:"client_email"`
		TokenURI     string `json:"token_uri"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		// The decoder's own message could quote a value; say only where.
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return nil, fmt.Errorf("fcm: service account: not valid JSON (at byte %d)", syn.Offset)
		}
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) && typ.Field != "" {
			return nil, fmt.Errorf("fcm: service account: %s must be a string", typ.Field)
		}
		return nil, errors.New("fcm: service account: not a JSON object")
	}
	if f.Type != "service_account" {
		if f.Type == "" {
			return nil, errors.New(`fcm: service account: missing type (want "service_account")`)
		}
		return nil, fmt.Errorf(`fcm: service account: type is %q, want "service_account"`, truncate(f.Type, 40))
	}
	var missing []string
	for _, field := range []struct{ name, value string }{
		{"project_id", f.ProjectID}, {"private_key_id", f.PrivateKeyID}, {"private_key", f.PrivateKey},
		{"client_email", f.ClientEmail}, {"token_uri", f.TokenURI},
	} {
		if strings.TrimSpace(field.value) == "" {
			missing = append(missing, field.name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("fcm: service account: missing %s", strings.Join(missing, ", "))
	}
	if u, err := url.Parse(f.TokenURI); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("fcm: service account: token_uri %q is not an absolute http(s) URL", truncate(f.TokenURI, 200))
	}
	key, err := parseRSAKey(f.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("fcm: service account: private_key: %w", err)
	}
	return &ServiceAccount{
		ProjectID:    f.ProjectID,
		PrivateKeyID: f.PrivateKeyID,
		ClientEmail:  f.ClientEmail,
		TokenURI:     f.TokenURI,
		key:          key,
	}, nil
}

// parseRSAKey reads a PEM RSA private key: PKCS#8 (what Google issues) or
// PKCS#1. Its errors name the problem, never the key's bytes.
func parseRSAKey(s string) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode([]byte(s))
	if block == nil {
		return nil, errors.New("not a PEM block")
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, errors.New("not a PKCS#8 or PKCS#1 private key")
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("a %T, want an RSA key", k)
	}
	return rk, nil
}

// String leaves the key out: a ServiceAccount printed in a log must not leak it.
func (a *ServiceAccount) String() string {
	return fmt.Sprintf("fcm.ServiceAccount{project %s, %s, key %s}", a.ProjectID, a.ClientEmail, a.PrivateKeyID)
}

// GoString keeps %#v from printing the key.
func (a *ServiceAccount) GoString() string { return a.String() }

// Assertion lifetime and the scope FCM requires (spec 4.5).
const (
	assertionLife = time.Hour
	messagingRole = "https://www.googleapis.com/auth/firebase.messaging"
)

var b64 = base64.RawURLEncoding

// assertion is the RS256 JWT exchanged for an access token (RFC 7523).
func (a *ServiceAccount) assertion(now time.Time) (string, error) {
	header, err := json.Marshal(struct {
		Alg string `json:"alg"`
		Typ string `json:"typ"`
		Kid string `json:"kid"`
	}{"RS256", "JWT", a.PrivateKeyID})
	if err != nil {
		return "", err
	}
	iat := now.Unix()
	claims, err := json.Marshal(struct {
		Iss   string `json:"iss"`
		Scope string `json:"scope"`
		Aud   string `json:"aud"`
		Iat   int64  `json:"iat"`
		Exp   int64  `json:"exp"`
	}{a.ClientEmail, messagingRole, a.TokenURI, iat, iat + int64(assertionLife/time.Second)})
	if err != nil {
		return "", err
	}
	signed := b64.EncodeToString(header) + "." + b64.EncodeToString(claims)
	sum := sha256.Sum256([]byte(signed))
	sig, err := rsa.SignPKCS1v15(rand.Reader, a.key, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("signing the assertion: %w", err)
	}
	return signed + "." + b64.EncodeToString(sig), nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
