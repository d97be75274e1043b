package signing

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"sync"
)

// HMACHex returns the lower-case hex HMAC-SHA256 of msg keyed with secret,
// the one primitive behind all four Pusher signature schemes.
func HMACHex(secret string, msg []byte) string {
	m := getMAC()
	defer m.release()
	return string(m.sumHex(secret, msg))
}

// mac is the scratch of one signature check or signing: the message
// (a string to sign) and the hex digest, pooled so that a request does not
// allocate them. The HMAC itself is crypto/hmac's.
type mac struct {
	sum [sha256.Size]byte
	hex [2 * sha256.Size]byte
	msg []byte // the caller's scratch for the message (a string to sign)
}

// maxPooledMsg bounds the message scratch a pooled mac keeps.
const maxPooledMsg = 4 << 10

var macPool = sync.Pool{New: func() any { return new(mac) }}

func getMAC() *mac { return macPool.Get().(*mac) }

// release returns m to the pool.
func (m *mac) release() {
	if cap(m.msg) > maxPooledMsg {
		m.msg = nil
	}
	m.msg = m.msg[:0]
	macPool.Put(m)
}

// sumHex computes hex(HMAC-SHA256(secret, msg)) into m.hex and returns it;
// the slice is valid until the next sumHex or release.
func (m *mac) sumHex(secret string, msg []byte) []byte {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write(msg)
	hex.Encode(m.hex[:], h.Sum(m.sum[:0]))
	return m.hex[:]
}

// MD5Hex returns the lower-case hex MD5 of body, as carried in body_md5.
// MD5 is what the protocol mandates; it only binds the body to the signed
// query, the HMAC provides the authenticity.
func MD5Hex(body []byte) string {
	var h [2 * md5.Size]byte
	return string(md5Hex(&h, body))
}

// md5Hex writes the hex MD5 of body into dst and returns it.
func md5Hex(dst *[2 * md5.Size]byte, body []byte) []byte {
	sum := md5.Sum(body)
	hex.Encode(dst[:], sum[:])
	return dst[:]
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
