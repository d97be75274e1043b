package fcm_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/beams/fcm"
)

func TestLoadServiceAccount(t *testing.T) {
	const uri = "https://oauth2.googleapis.com/token"
	for name, change := range map[string]func(map[string]any){
		"PKCS#8": nil,
		"PKCS#1": func(m map[string]any) { m["private_key"] = pemPKCS1() },
	} {
		a, err := fcm.LoadServiceAccount(accountJSON(t, uri, change))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if a.ProjectID != testProject || a.PrivateKeyID != testKeyID || a.ClientEmail != testEmail || a.TokenURI != uri {
			t.Errorf("%s: %+v", name, a)
		}
		// Printed any way, it shows no key.
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			if s := fmt.Sprintf(verb, a); strings.Contains(s, "PRIVATE") || strings.Contains(s, "key:") || len(s) > 200 {
				t.Errorf("%s printed with %s: %s", name, verb, s)
			}
		}
	}
}

func TestLoadServiceAccountRefusals(t *testing.T) {
	const uri = "https://oauth2.googleapis.com/token"
	ecDER, _ := x509.MarshalPKCS8PrivateKey(must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader)))
	ecPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER}))
	keyBody := strings.Split(pemPKCS8(t), "\n")[3] // a line of the key's base64
	cases := []struct {
		name   string
		json   []byte
		saying string
	}{
		{"not JSON", []byte(`{"type":"service_account","private_key":"` + keyBody), "not valid JSON"},
		{"not an object", []byte(`["service_account"]`), "not a JSON object"},
		{"a number for a string", []byte(`{"type":"service_account","project_id":42}`), "project_id must be a string"},
		{"no type", accountJSON(t, uri, func(m map[string]any) { delete(m, "type") }), "missing type"},
		{"wrong type", accountJSON(t, uri, func(m map[string]any) { m["type"] = "authorized_user" }), `type is "authorized_user"`},
		{"several missing", accountJSON(t, uri, func(m map[string]any) { delete(m, "project_id"); m["token_uri"] = " " }), "missing project_id, token_uri"},
		{"bad token_uri", accountJSON(t, "/token", nil), "token_uri"},
		{"key not PEM", accountJSON(t, uri, func(m map[string]any) { m["private_key"] = keyBody }), "private_key: not a PEM block"},
		{"key garbled", accountJSON(t, uri, func(m map[string]any) {
			m["private_key"] = strings.Replace(pemPKCS8(t), keyBody, strings.Repeat("A", len(keyBody)), 1)
		}), "private_key: not a PKCS#8 or PKCS#1 private key"},
		{"EC key", accountJSON(t, uri, func(m map[string]any) { m["private_key"] = ecPEM }), "want an RSA key"},
	}
	for _, field := range []string{"project_id", "private_key_id", "private_key", "client_email", "token_uri"} {
		cases = append(cases, struct {
			name   string
			json   []byte
			saying string
		}{"no " + field, accountJSON(t, uri, func(m map[string]any) { delete(m, field) }), "missing " + field})
	}
	for _, c := range cases {
		a, err := fcm.LoadServiceAccount(c.json)
		if err == nil || !strings.Contains(err.Error(), c.saying) {
			t.Errorf("%s: %v, %v; want an error saying %q", c.name, a, err, c.saying)
			continue
		}
		if strings.Contains(err.Error(), keyBody[:20]) || strings.Contains(err.Error(), "PRIVATE KEY") {
			t.Errorf("%s: the error quotes the key: %v", c.name, err)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
