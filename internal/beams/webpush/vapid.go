package webpush

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"strings"
	"time"
)

var b64 = base64.RawURLEncoding

// VAPIDKey is an instance's application-server key pair (P-256). Browsers
// bind each subscription to its public key, so it is generated once and
// kept: a new key makes push services refuse every existing subscription.
type VAPIDKey struct {
	priv   *ecdsa.PrivateKey
	public string // 65-byte uncompressed point, base64url without padding
}

// NewVAPIDKey generates a key pair.
func NewVAPIDKey() (*VAPIDKey, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	return newVAPIDKey(priv)
}

// ParseVAPIDKey reads a private key saved with PrivateString.
func ParseVAPIDKey(private string) (*VAPIDKey, error) {
	raw, err := b64.DecodeString(private)
	if err != nil {
		return nil, fmt.Errorf("webpush: VAPID private key: %w", err)
	}
	priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), raw)
	if err != nil {
		return nil, fmt.Errorf("webpush: VAPID private key: %w", err)
	}
	return newVAPIDKey(priv)
}

func newVAPIDKey(priv *ecdsa.PrivateKey) (*VAPIDKey, error) {
	pub, err := priv.PublicKey.Bytes()
	if err != nil {
		return nil, err
	}
	return &VAPIDKey{priv: priv, public: b64.EncodeToString(pub)}, nil
}

// PublicString is the public key as browsers take it (applicationServerKey).
func (k *VAPIDKey) PublicString() string { return k.public }

// PrivateString is the private scalar, base64url: what is stored.
func (k *VAPIDKey) PrivateString() string {
	raw, err := k.priv.Bytes()
	if err != nil { // cannot happen for a P-256 key we made or parsed
		panic(err)
	}
	return b64.EncodeToString(raw)
}

// Claims are a VAPID JWT's claims.
type Claims struct {
	Aud string `json:"aud"` // the push service's origin
	Exp int64  `json:"exp"` // unix seconds
	Sub string `json:"sub"` // mailto: or https: contact
}

var jwtHeader = b64.EncodeToString([]byte(`{"alg":"ES256","typ":"JWT"}`))

// Authorization is the Authorization header value for a request to
// endpoint: "vapid t=<JWT>, k=<public key>", the JWT valid until exp.
func (k *VAPIDKey) Authorization(endpoint, sub string, exp time.Time) (string, error) {
	aud, err := Audience(endpoint)
	if err != nil {
		return "", err
	}
	claims, err := json.Marshal(Claims{Aud: aud, Exp: exp.Unix(), Sub: sub})
	if err != nil {
		return "", err
	}
	signing := jwtHeader + "." + b64.EncodeToString(claims)
	h := sha256.Sum256([]byte(signing))
	r, s, err := ecdsa.Sign(rand.Reader, k.priv, h[:])
	if err != nil {
		return "", err
	}
	sig := make([]byte, 64) // JOSE: raw r ‖ s, not DER
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return "vapid t=" + signing + "." + b64.EncodeToString(sig) + ", k=" + k.public, nil
}

// Audience is the origin of a push endpoint: scheme://host[:port].
func Audience(endpoint string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "", fmt.Errorf("webpush: endpoint %q is not an absolute URL", endpoint)
	}
	return u.Scheme + "://" + u.Host, nil
}

// ParseAuthorization splits "vapid t=<JWT>, k=<key>" (RFC 8292 section 3).
func ParseAuthorization(h string) (token, key string, err error) {
	rest, ok := strings.CutPrefix(h, "vapid ")
	if !ok {
		return "", "", errors.New(`webpush: Authorization is not "vapid ..."`)
	}
	for part := range strings.SplitSeq(rest, ",") {
		name, val, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch name {
		case "t":
			token = val
		case "k":
			key = val
		}
	}
	if token == "" || key == "" {
		return "", "", errors.New("webpush: Authorization lacks t= or k=")
	}
	return token, key, nil
}

// VerifyToken checks a VAPID JWT's ES256 signature with the public key
// (base64url, uncompressed point) and returns its claims; it does not
// judge the claims (the caller checks aud, exp and sub against its rules).
func VerifyToken(token, public string) (Claims, error) {
	var c Claims
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return c, errors.New("webpush: JWT without three parts")
	}
	head, err := b64.DecodeString(parts[0])
	if err != nil {
		return c, fmt.Errorf("webpush: JWT header: %w", err)
	}
	var hdr struct{ Alg, Typ string }
	if err := json.Unmarshal(head, &hdr); err != nil || hdr.Alg != "ES256" {
		return c, fmt.Errorf("webpush: JWT header %s: want alg ES256", head)
	}
	pubRaw, err := b64.DecodeString(public)
	if err != nil {
		return c, fmt.Errorf("webpush: public key: %w", err)
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), pubRaw)
	if err != nil {
		return c, fmt.Errorf("webpush: public key: %w", err)
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		return c, errors.New("webpush: JWT signature is not 64 raw bytes")
	}
	h := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if !ecdsa.Verify(pub, h[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		return c, errors.New("webpush: JWT signature does not verify")
	}
	body, err := b64.DecodeString(parts[1])
	if err != nil {
		return c, fmt.Errorf("webpush: JWT claims: %w", err)
	}
	if err := json.Unmarshal(body, &c); err != nil {
		return c, fmt.Errorf("webpush: JWT claims: %w", err)
	}
	return c, nil
}
