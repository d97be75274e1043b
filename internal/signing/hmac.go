package signing

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
)

// HMACHex returns the lower-case hex HMAC-SHA256 of msg keyed with secret,
// the one primitive behind all four Pusher signature schemes.
func HMACHex(secret string, msg []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(msg)
	return hex.EncodeToString(m.Sum(nil))
}

// MD5Hex returns the lower-case hex MD5 of body, as carried in body_md5.
// MD5 is what the protocol mandates; it only binds the body to the signed
// query, the HMAC provides the authenticity.
func MD5Hex(body []byte) string {
	sum := md5.Sum(body)
	return hex.EncodeToString(sum[:])
}

// SignWebhook returns the X-Pusher-Signature value for a webhook body. The
// signature covers exactly these bytes, so callers must sign what they send.
func SignWebhook(secret string, body []byte) string {
	return HMACHex(secret, body)
}

// equal compares two strings in constant time (for equal lengths); lengths
// are not secret here since every valid value has a fixed, public length.
func equal(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
