// Package webpush is Web Push for the Beams sender: message encryption
// (RFC 8291, "aes128gcm" content coding of RFC 8188), VAPID
// application-server identification (RFC 8292), and the Sender that posts
// a message to a push service (RFC 8030) and classifies the answer. The
// test push service (pushtest) uses the same code to check it. Standard
// library only.
package webpush

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
)

const (
	// RecordSize is the rs of every message: push services must accept
	// 4096-byte bodies (RFC 8030), and RFC 8291 wants one record larger
	// than its content.
	RecordSize = 4096
	// headerLen is salt(16) ‖ rs(4) ‖ idlen(1) ‖ keyid(65).
	headerLen = 16 + 4 + 1 + 65
	tagLen    = 16
	// MaxPlaintext is the largest message that fits one 4096-byte body:
	// 4096 − header − tag − the 0x02 delimiter.
	MaxPlaintext = RecordSize - headerLen - tagLen - 1
)

// ErrTooLarge is returned for a message over MaxPlaintext.
var ErrTooLarge = fmt.Errorf("webpush: message over %d bytes", MaxPlaintext)

// Encrypt encrypts msg for the subscription whose keys are p256dh (the
// user agent's public key, 65-byte uncompressed P-256 point) and auth (its
// 16-byte authentication secret), with a fresh ephemeral key and salt.
func Encrypt(msg, p256dh, auth []byte) ([]byte, error) {
	eph, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	return encrypt(msg, p256dh, auth, eph, salt)
}

// encrypt is Encrypt with the ephemeral key and salt given (test vectors).
func encrypt(msg, p256dh, auth []byte, eph *ecdh.PrivateKey, salt []byte) ([]byte, error) {
	if len(msg) > MaxPlaintext {
		return nil, ErrTooLarge
	}
	if len(auth) != 16 || len(salt) != 16 {
		return nil, errors.New("webpush: auth secret and salt must be 16 bytes")
	}
	ua, err := ecdh.P256().NewPublicKey(p256dh)
	if err != nil {
		return nil, fmt.Errorf("webpush: p256dh: %w", err)
	}
	secret, err := eph.ECDH(ua)
	if err != nil {
		return nil, fmt.Errorf("webpush: ecdh: %w", err)
	}
	asPub := eph.PublicKey().Bytes()
	gcm, nonce, err := contentKeys(secret, auth, salt, p256dh, asPub)
	if err != nil {
		return nil, err
	}
	out := make([]byte, headerLen, headerLen+len(msg)+1+tagLen)
	copy(out, salt)
	binary.BigEndian.PutUint32(out[16:], RecordSize)
	out[20] = byte(len(asPub))
	copy(out[21:], asPub)
	record := append(append(make([]byte, 0, len(msg)+1), msg...), 2) // 0x02: the last (only) record, no padding
	return gcm.Seal(out, nonce, record, nil), nil
}

// contentKeys derives the AES-GCM key and nonce of RFC 8291 section 3.4.
func contentKeys(ecdhSecret, auth, salt, uaPub, asPub []byte) (cipher.AEAD, []byte, error) {
	info := make([]byte, 0, 14+65+65)
	info = append(info, "WebPush: info\x00"...)
	info = append(append(info, uaPub...), asPub...)
	ikm, err := hkdf.Key(sha256.New, ecdhSecret, auth, string(info), 32)
	if err != nil {
		return nil, nil, err
	}
	cek, err := hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: aes128gcm\x00", 16)
	if err != nil {
		return nil, nil, err
	}
	nonce, err := hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: nonce\x00", 12)
	if err != nil {
		return nil, nil, err
	}
	block, err := aes.NewCipher(cek)
	if err != nil {
		return nil, nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, nil, err
	}
	return gcm, nonce, nil
}

// Decrypt is the user agent's side: it opens a body made by Encrypt (or
// any sender of one aes128gcm record) with the subscription's private key
// and auth secret. The test push service uses it to check every message.
func Decrypt(body []byte, ua *ecdh.PrivateKey, auth []byte) ([]byte, error) {
	if len(body) < 21 {
		return nil, errors.New("webpush: body shorter than its header")
	}
	salt := body[:16]
	rs := binary.BigEndian.Uint32(body[16:20])
	idlen := int(body[20])
	if len(body) < 21+idlen+tagLen+1 {
		return nil, errors.New("webpush: body shorter than its header and one record")
	}
	keyid := body[21 : 21+idlen]
	ct := body[21+idlen:]
	if rs < tagLen+2 || uint64(len(ct)) > uint64(rs) {
		return nil, fmt.Errorf("webpush: %d bytes of ciphertext with record size %d: not one record", len(ct), rs)
	}
	as, err := ecdh.P256().NewPublicKey(keyid)
	if err != nil {
		return nil, fmt.Errorf("webpush: keyid: %w", err)
	}
	secret, err := ua.ECDH(as)
	if err != nil {
		return nil, fmt.Errorf("webpush: ecdh: %w", err)
	}
	gcm, nonce, err := contentKeys(secret, auth, salt, ua.PublicKey().Bytes(), keyid)
	if err != nil {
		return nil, err
	}
	plain, err := gcm.Open(nil, nonce, ct, nil)
	if err != nil {
		return nil, fmt.Errorf("webpush: decrypt: %w", err)
	}
	// Padding is zeros after the delimiter; the last record's delimiter is 0x02.
	i := len(plain) - 1
	for i >= 0 && plain[i] == 0 {
		i--
	}
	if i < 0 || plain[i] != 2 {
		return nil, errors.New("webpush: no last-record delimiter")
	}
	return plain[:i], nil
}
