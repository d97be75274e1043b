// Package apns is the APNs sender of the Beams-compatible push service
// (spec beams.md 4.4): the notification built from a publish's apns
// payload, the ES256 provider token, and the HTTP/2 request to Apple with
// its answer classified like every other sender's (webpush.Result).
package apns

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// LoadKey reads the signing key Apple hands out as a .p8 file: a PEM
// "PRIVATE KEY" block holding a PKCS#8 EC P-256 key. Its errors never
// quote the file.
func LoadKey(p8 []byte) (*ecdsa.PrivateKey, error) {
	block, _ := pem.Decode(p8)
	if block == nil {
		return nil, errors.New("apns: the .p8 key is not PEM (want a -----BEGIN PRIVATE KEY----- block)")
	}
	if block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("apns: the .p8 key is a PEM %q block, want \"PRIVATE KEY\" (PKCS#8, as Apple issues it)", block.Type)
	}
	// x509's messages describe the structure, but nothing of a key may
	// reach a log: say what is wrong without them.
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, errors.New("apns: the .p8 key is not a readable PKCS#8 private key")
	}
	ec, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("apns: the .p8 key is %s, want an EC P-256 key", keyKind(k))
	}
	if ec.Curve != elliptic.P256() {
		return nil, fmt.Errorf("apns: the .p8 key is on %s, want P-256", ec.Curve.Params().Name)
	}
	return ec, nil
}

func keyKind(k any) string {
	switch k.(type) {
	case *rsa.PrivateKey:
		return "an RSA key"
	case ed25519.PrivateKey:
		return "an Ed25519 key"
	case *ecdh.PrivateKey:
		return "an X25519 key"
	}
	return "another kind of key"
}
