package apns_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/beams/apns"
)

func TestLoadKey(t *testing.T) {
	key, p8 := testKey(t)
	got, err := apns.LoadKey(p8)
	if err != nil || !got.Equal(key) {
		t.Fatalf("LoadKey: %v", err)
	}
	// Apple's file ends with a newline or not; text around the block is ignored.
	if _, err := apns.LoadKey([]byte("\n" + strings.TrimSpace(string(p8)))); err != nil {
		t.Fatal(err)
	}

	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	sec1, _ := x509.MarshalECPrivateKey(key)
	pkcs8 := func(k any) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	for _, c := range []struct {
		name string
		p8   []byte
		want string
	}{
		{"empty", nil, "not PEM"},
		{"bare base64", []byte(base64.StdEncoding.EncodeToString(der)), "not PEM"},
		{"SEC1", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}), `"EC PRIVATE KEY"`},
		{"certificate", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1, 2}}), `"CERTIFICATE"`},
		{"garbage in the block", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der[:len(der)-9]}), "not a readable PKCS#8"},
		{"P-384", pkcs8(p384), "P-384"},
		{"RSA", pkcs8(rsaKey), "RSA"},
		{"Ed25519", pkcs8(edKey), "Ed25519"},
	} {
		_, err := apns.LoadKey(c.p8)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %s", c.name, err, c.want)
			continue
		}
		// Nothing of the file reaches the message.
		if b := pem.EncodeToMemory(&pem.Block{Type: "X", Bytes: der}); strings.Contains(err.Error(), string(b[20:40])) || strings.Contains(err.Error(), base64.StdEncoding.EncodeToString(der)[10:30]) {
			t.Errorf("%s: the error quotes the key: %v", c.name, err)
		}
	}
}
