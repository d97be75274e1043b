// Package storedtest makes credentials for the tests of stored Beams
// instances (the store, the registry, the admin API, the CLI): a Google
// service-account JSON key and an APNs .p8 key that load, generated once
// per test binary. Never for production use.
package storedtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"sync"

	"github.com/heraldhq/herald/internal/beams/instance/stored"
)

var (
	once           sync.Once
	serviceAccount string
	apnsKey        string
)

func generate() {
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(rk)
	if err != nil {
		panic(err)
	}
	acct, err := json.Marshal(map[string]string{
		"type":           "service_account",
		"project_id":     "herald-test",
		"private_key_id": "0123456789abcdef",
		"private_key":    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":   "push@herald-test.iam.gserviceaccount.com",
		"token_uri":      "https://oauth2.googleapis.com/token",
	})
	if err != nil {
		panic(err)
	}
	serviceAccount = string(acct)

	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	if der, err = x509.MarshalPKCS8PrivateKey(ek); err != nil {
		panic(err)
	}
	apnsKey = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// ServiceAccount returns a service-account JSON key (project
// "herald-test") that fcm.LoadServiceAccount accepts.
func ServiceAccount() string { once.Do(generate); return serviceAccount }

// APNsKey returns a .p8 key (PEM, PKCS#8, P-256) that apns.LoadKey accepts.
func APNsKey() string { once.Do(generate); return apnsKey }

// Record returns a valid record with id and every credential set.
func Record(id string) stored.Record {
	return stored.Record{
		ID:           id,
		SecretKey:    "secret-key-0123456789abcdef",
		VAPIDSubject: "mailto:ops@example.com",
		FCM:          &stored.FCM{ServiceAccount: ServiceAccount()},
		APNs: &stored.APNs{Key: APNsKey(), KeyID: "KEY1234567", TeamID: "TEAM123456",
			Topic: "com.example.app", Production: true},
	}
}
