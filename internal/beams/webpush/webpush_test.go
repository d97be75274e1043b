package webpush

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"
	"time"
)

const vectorsPath = "../../../testdata/beams-vectors.json"

type vectors struct {
	WebPush struct {
		RFC8291 struct {
			Plaintext    string `json:"plaintext"`
			UAPrivateKey string `json:"uaPrivateKey"`
			UAPublicKey  string `json:"uaPublicKey"`
			ASPrivateKey string `json:"asPrivateKey"`
			ASPublicKey  string `json:"asPublicKey"`
			AuthSecret   string `json:"authSecret"`
			Salt         string `json:"salt"`
			RecordSize   int    `json:"recordSize"`
			Body         string `json:"body"`
		} `json:"rfc8291AppendixA"`
		WebpushGo struct {
			Request struct {
				Headers       map[string]string `json:"headers"`
				BodyBase64url string            `json:"bodyBase64url"`
			} `json:"request"`
			Audience          string `json:"audience"`
			ExpectedPlaintext string `json:"expectedPlaintext"`
			VapidJwtClaims    Claims `json:"vapidJwtClaims"`
		} `json:"webpushGoDecryptVector"`
	} `json:"webPush"`
}

func load(t *testing.T) *vectors {
	t.Helper()
	raw, err := os.ReadFile(vectorsPath)
	if err != nil {
		t.Fatal(err)
	}
	var v vectors
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("decode %s: %v", vectorsPath, err)
	}
	if v.WebPush.RFC8291.Body == "" || v.WebPush.WebpushGo.Request.BodyBase64url == "" {
		t.Fatalf("%s: unexpected shape", vectorsPath)
	}
	return &v
}

func dec(t *testing.T, s string) []byte {
	t.Helper()
	b, err := b64.DecodeString(s)
	if err != nil {
		t.Fatalf("base64url %q: %v", s, err)
	}
	return b
}

func ecdhKey(t *testing.T, priv string) *ecdh.PrivateKey {
	t.Helper()
	k, err := ecdh.P256().NewPrivateKey(dec(t, priv))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// RFC 8291 Appendix A, byte for byte: encrypting with its sender key and
// salt gives its body, and decrypting its body gives its message.
func TestRFC8291AppendixA(t *testing.T) {
	a := load(t).WebPush.RFC8291
	if a.RecordSize != RecordSize {
		t.Fatalf("vector record size %d, ours %d", a.RecordSize, RecordSize)
	}
	as := ecdhKey(t, a.ASPrivateKey)
	if got := b64.EncodeToString(as.PublicKey().Bytes()); got != a.ASPublicKey {
		t.Fatalf("sender public key %s, want %s", got, a.ASPublicKey)
	}
	body, err := encrypt([]byte(a.Plaintext), dec(t, a.UAPublicKey), dec(t, a.AuthSecret), as, dec(t, a.Salt))
	if err != nil {
		t.Fatal(err)
	}
	if got := b64.EncodeToString(body); got != a.Body {
		t.Fatalf("body\n got %s\nwant %s", got, a.Body)
	}
	plain, err := Decrypt(dec(t, a.Body), ecdhKey(t, a.UAPrivateKey), dec(t, a.AuthSecret))
	if err != nil {
		t.Fatal(err)
	}
	if string(plain) != a.Plaintext {
		t.Fatalf("plaintext %q, want %q", plain, a.Plaintext)
	}
}

// A real request made by webpush-go (padded to 4096 bytes) decrypts, and
// its VAPID token verifies with the key it names.
func TestWebpushGoRequest(t *testing.T) {
	v := load(t).WebPush
	g := v.WebpushGo
	plain, err := Decrypt(dec(t, g.Request.BodyBase64url), ecdhKey(t, v.RFC8291.UAPrivateKey), dec(t, v.RFC8291.AuthSecret))
	if err != nil {
		t.Fatal(err)
	}
	if string(plain) != g.ExpectedPlaintext {
		t.Fatalf("plaintext\n got %s\nwant %s", plain, g.ExpectedPlaintext)
	}
	token, key, err := ParseAuthorization(g.Request.Headers["Authorization"])
	if err != nil {
		t.Fatal(err)
	}
	claims, err := VerifyToken(token, key)
	if err != nil {
		t.Fatal(err)
	}
	if claims != g.VapidJwtClaims || claims.Aud != g.Audience {
		t.Fatalf("claims %+v, want %+v (aud %s)", claims, g.VapidJwtClaims, g.Audience)
	}
	// One flipped bit of the signature or of the claims fails.
	for _, i := range []int{len(token) - 3, strings.IndexByte(token, '.') + 3} {
		bad := []byte(token)
		bad[i] ^= 1
		if bad[i] == '.' || bad[i] > 'z' {
			bad[i] ^= 3
		}
		if _, err := VerifyToken(string(bad), key); err == nil {
			t.Errorf("token with byte %d changed verified", i)
		}
	}
}

func subscription(t *testing.T) (*ecdh.PrivateKey, []byte) {
	t.Helper()
	ua, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	auth := make([]byte, 16)
	rand.Read(auth)
	return ua, auth
}

func TestEncryptRoundTripAndLimit(t *testing.T) {
	ua, auth := subscription(t)
	for _, n := range []int{0, 1, 100, MaxPlaintext} {
		msg := bytes.Repeat([]byte{'x'}, n)
		body, err := Encrypt(msg, ua.PublicKey().Bytes(), auth)
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		if len(body) > RecordSize {
			t.Fatalf("%d bytes: body of %d > %d", n, len(body), RecordSize)
		}
		got, err := Decrypt(body, ua, auth)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("%d bytes: round trip %v, equal %v", n, err, bytes.Equal(got, msg))
		}
		// Each message has its own key and salt.
		again, _ := Encrypt(msg, ua.PublicKey().Bytes(), auth)
		if bytes.Equal(again[:86], body[:86]) {
			t.Fatal("two messages share salt and key")
		}
	}
	if _, err := Encrypt(make([]byte, MaxPlaintext+1), ua.PublicKey().Bytes(), auth); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("over the limit: %v, want ErrTooLarge", err)
	}
	// Another subscription's keys do not open it.
	other, otherAuth := subscription(t)
	body, _ := Encrypt([]byte("secret"), ua.PublicKey().Bytes(), auth)
	if _, err := Decrypt(body, other, otherAuth); err == nil {
		t.Fatal("decrypted with another subscription's keys")
	}
	if _, err := Decrypt(body, ua, otherAuth); err == nil {
		t.Fatal("decrypted with another auth secret")
	}
	if _, err := Encrypt([]byte("x"), []byte("not a point"), auth); err == nil {
		t.Fatal("a bad p256dh was accepted")
	}
}

func TestVAPID(t *testing.T) {
	k, err := NewVAPIDKey()
	if err != nil {
		t.Fatal(err)
	}
	if raw := dec(t, k.PublicString()); len(raw) != 65 || raw[0] != 4 {
		t.Fatalf("public key %d bytes, first %x: want a 65-byte uncompressed point", len(raw), raw[0])
	}
	k2, err := ParseVAPIDKey(k.PrivateString())
	if err != nil || k2.PublicString() != k.PublicString() {
		t.Fatalf("saved and parsed again: %v, same public key %v", err, k2 != nil && k2.PublicString() == k.PublicString())
	}
	exp := time.Unix(1_900_000_000, 0)
	h, err := k.Authorization("https://push.example.com:8443/send/abc?x=1", "mailto:ops@example.com", exp)
	if err != nil {
		t.Fatal(err)
	}
	token, key, err := ParseAuthorization(h)
	if err != nil || key != k.PublicString() {
		t.Fatalf("ParseAuthorization(%q): %v, key %s", h, err, key)
	}
	c, err := VerifyToken(token, key)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Claims{Aud: "https://push.example.com:8443", Exp: exp.Unix(), Sub: "mailto:ops@example.com"}); c != want {
		t.Fatalf("claims %+v, want %+v", c, want)
	}
	other, _ := NewVAPIDKey()
	if _, err := VerifyToken(token, other.PublicString()); err == nil {
		t.Fatal("verified with another key")
	}
	for _, bad := range []string{"WebPush x", "vapid t=abc", "vapid k=abc", ""} {
		if _, _, err := ParseAuthorization(bad); err == nil {
			t.Errorf("ParseAuthorization(%q) accepted", bad)
		}
	}
	if _, err := k.Authorization("/relative", "mailto:x@y", exp); err == nil {
		t.Fatal("a relative endpoint was accepted")
	}
}

// TestBeamsVectorsCopyCurrent: the repo's copy of beams-vectors.json
// matches the shared spec's, when the shared spec sits beside the repo.
func TestBeamsVectorsCopyCurrent(t *testing.T) {
	const shared = "../../../../shared/spec/beams-vectors.json"
	want, err := os.ReadFile(shared)
	if errors.Is(err, fs.ErrNotExist) {
		t.Skip("no shared spec beside the repo; the copy in testdata is used as it is")
	}
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(vectorsPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from %s: copy the shared file again (testdata/README.md)", vectorsPath, shared)
	}
}
