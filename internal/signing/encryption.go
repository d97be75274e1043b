package signing

import "crypto/sha256"

// SharedSecret derives the 32-byte key of a private-encrypted- channel:
// SHA-256(channel || masterKey). The server never encrypts; the SDK uses
// this for shared_secret in auth responses and to encrypt payloads.
func SharedSecret(channel string, masterKey []byte) []byte {
	h := sha256.New()
	h.Write([]byte(channel))
	h.Write(masterKey)
	return h.Sum(nil)
}
