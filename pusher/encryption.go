package pusher

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"

	"golang.org/x/crypto/nacl/secretbox"
)

const nonceSize = 24

// encrypt seals plaintext for an encrypted channel and returns the data
// string pusher-js decrypts: {"nonce":"<b64>","ciphertext":"<b64>"}, nonce
// first as the Node and Go SDKs send it.
func (c *Client) encrypt(field, channel string, plaintext []byte) (string, error) {
	if c.masterKey == nil {
		return "", &ValidationError{Field: field, Reason: "encrypted channel " + channel + " needs Config.EncryptionMasterKeyBase64", Err: ErrNoMasterKey}
	}
	var key [32]byte
	copy(key[:], sharedSecret(channel, c.masterKey))
	var nonce [nonceSize]byte
	if _, err := io.ReadFull(c.nonce, nonce[:]); err != nil {
		return "", fmt.Errorf("pusher: reading a random nonce: %w", err)
	}
	box := secretbox.Seal(nil, plaintext, &nonce, &key)
	return `{"nonce":"` + base64.StdEncoding.EncodeToString(nonce[:]) +
		`","ciphertext":"` + base64.StdEncoding.EncodeToString(box) + `"}`, nil
}

// Decrypt opens the data of an event on a private-encrypted- channel with
// the channel's 32-byte shared secret (the decoded shared_secret of its
// authorization) and returns the plaintext. Errors wrap ErrDecrypt.
func Decrypt(sharedSecret []byte, data string) ([]byte, error) {
	if len(sharedSecret) != 32 {
		return nil, fmt.Errorf("%w: shared secret is %d bytes, want 32", ErrDecrypt, len(sharedSecret))
	}
	var env struct {
		Nonce      string `json:"nonce"`
		Ciphertext string `json:"ciphertext"`
	}
	if err := json.Unmarshal([]byte(data), &env); err != nil {
		return nil, fmt.Errorf("%w: data is not {\"nonce\",\"ciphertext\"} JSON: %w", ErrDecrypt, err)
	}
	nonce, err := base64.StdEncoding.DecodeString(env.Nonce)
	if err != nil || len(nonce) != nonceSize {
		return nil, fmt.Errorf("%w: nonce is not 24 bytes of base64", ErrDecrypt)
	}
	box, err := base64.StdEncoding.DecodeString(env.Ciphertext)
	if err != nil || len(box) < secretbox.Overhead {
		return nil, fmt.Errorf("%w: ciphertext is not base64 of at least %d bytes", ErrDecrypt, secretbox.Overhead)
	}
	var key [32]byte
	copy(key[:], sharedSecret)
	var n [nonceSize]byte
	copy(n[:], nonce)
	plain, ok := secretbox.Open(nil, box, &n, &key)
	if !ok {
		return nil, fmt.Errorf("%w: authentication failed (wrong key?)", ErrDecrypt)
	}
	return plain, nil
}

// Decrypt opens the data of an event on the given private-encrypted-
// channel with the key derived from the configured master key.
func (c *Client) Decrypt(channel, data string) ([]byte, error) {
	if !isEncrypted(channel) {
		return nil, invalid("Channel", channel+" is not a private-encrypted- channel")
	}
	if c.masterKey == nil {
		return nil, &ValidationError{Field: "Channel", Reason: "decrypting needs Config.EncryptionMasterKeyBase64", Err: ErrNoMasterKey}
	}
	return Decrypt(sharedSecret(channel, c.masterKey), data)
}
