package apns

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"sync"
	"time"
)

// A provider token is reused for every request (spec 4.4): Apple refuses
// one whose iat is over an hour old (403 ExpiredProviderToken) and new
// ones made more often than every 20 minutes (429
// TooManyProviderTokenUpdates). Ages are measured on the wall clock, the
// one iat is judged by, so a host that slept renews its token on waking.
const (
	tokenRefresh = 40 * time.Minute // a token this old is replaced before use
	tokenMinAge  = 20 * time.Minute // no token is replaced younger than this
)

// providerToken is the token a Sender shares between its concurrent sends.
type providerToken struct {
	mu  sync.Mutex
	jwt string // "" until the first send, or after Apple called it expired
	iat int64  // unix seconds
}

// token returns the current provider token, made anew when there is none
// or it is tokenRefresh old.
func (s *Sender) token() (string, error) {
	now := s.now().Unix()
	t := &s.tok
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.jwt != "" && now-t.iat < int64(tokenRefresh/time.Second) {
		return t.jwt, nil
	}
	jwt, err := signToken(s.Key, s.KeyID, s.TeamID, now)
	if err != nil {
		return "", err
	}
	t.jwt, t.iat = jwt, now
	return jwt, nil
}

// expired takes Apple's word that jwt has expired and reports whether a
// retry would carry another token: yes when another send has replaced it
// already, or when it is old enough to be replaced. A younger one stays
// (Apple's clock and ours disagree; a new token would not fare better and
// would risk TooManyProviderTokenUpdates).
func (s *Sender) expired(jwt string) bool {
	now := s.now().Unix()
	t := &s.tok
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.jwt != jwt {
		return true
	}
	if now-t.iat < int64(tokenMinAge/time.Second) {
		return false
	}
	t.jwt = ""
	return true
}

var b64 = base64.RawURLEncoding

// signToken makes a provider token: an ES256 JWT with kid, iss and iat,
// its signature raw r‖s (JOSE), not DER.
func signToken(key *ecdsa.PrivateKey, keyID, teamID string, iat int64) (string, error) {
	if key == nil || keyID == "" || teamID == "" {
		return "", errors.New("apns: the sender needs Key, KeyID and TeamID")
	}
	if key.Curve != elliptic.P256() {
		return "", errors.New("apns: the signing key must be on P-256")
	}
	head, err := json.Marshal(struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}{"ES256", keyID})
	if err != nil {
		return "", err
	}
	claims, err := json.Marshal(struct {
		Iat int64  `json:"iat"`
		Iss string `json:"iss"`
	}{iat, teamID})
	if err != nil {
		return "", err
	}
	signing := b64.EncodeToString(head) + "." + b64.EncodeToString(claims)
	h := sha256.Sum256([]byte(signing))
	r, ss, err := ecdsa.Sign(rand.Reader, key, h[:])
	if err != nil {
		return "", err
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	ss.FillBytes(sig[32:])
	return signing + "." + b64.EncodeToString(sig), nil
}
