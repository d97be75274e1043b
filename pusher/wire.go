package pusher

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The channel-name rules and the four signature schemes below are written
// again here instead of imported from the server: the SDK is a module of its
// own so that an app importing it does not pull in the server's dependencies.
// Both copies are checked against the same vectors of the Pusher spec
// (vectors_test.go here, internal/signing on the server side) and against each
// other end to end (test/sdkgo).

// userChannelPrefix starts the channel of one user's server-to-user events.
const userChannelPrefix = "#server-to-user-"

// isPresence and isEncrypted classify a channel by its prefix, anchored at
// the start ("foo-presence-x" is public).
func isPresence(channel string) bool { return strings.HasPrefix(channel, "presence-") }

func isEncrypted(channel string) bool { return strings.HasPrefix(channel, "private-encrypted-") }

// validChannelName reports whether name is non-empty, at most maxLen bytes and
// made only of [-a-zA-Z0-9_=@,.;].
func validChannelName(name string, maxLen int) bool {
	if name == "" || len(name) > maxLen {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("-_=@,.;", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// validSocketID reports whether s is digits "." digits, the only socket id
// form the server hands out.
func validSocketID(s string) bool {
	a, b, ok := strings.Cut(s, ".")
	return ok && allDigits(a) && allDigits(b)
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// hmacHex is the lower-case hex HMAC-SHA256 behind every Pusher signature.
func hmacHex(secret, msg string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(msg))
	return hex.EncodeToString(m.Sum(nil))
}

// channelAuth is the "key:hex" value authorizing socketID on channel; for
// presence channels the exact channel_data string is signed too.
func channelAuth(key, secret, socketID, channel string, channelData *string) string {
	msg := socketID + ":" + channel
	if channelData != nil {
		msg += ":" + *channelData
	}
	return key + ":" + hmacHex(secret, msg)
}

// userAuth is the "key:hex" value of a pusher:signin over the exact user_data.
func userAuth(key, secret, socketID, userData string) string {
	return key + ":" + hmacHex(secret, socketID+"::user::"+userData)
}

// sharedSecret is the key of one private-encrypted- channel:
// SHA-256(channel || master key).
func sharedSecret(channel string, masterKey []byte) []byte {
	h := sha256.New()
	h.Write([]byte(channel))
	h.Write(masterKey)
	return h.Sum(nil)
}

// signQuery returns params plus the auth_* parameters (and body_md5 for a
// body) that sign an HTTP API request. params is not modified; scheme
// parameters already in it, in any letter case, are replaced.
func signQuery(key, secret, method, path string, params url.Values, body []byte, now time.Time) url.Values {
	q := make(url.Values, len(params)+5)
	for k, vs := range params {
		switch lowerASCII(k) {
		case "auth_key", "auth_timestamp", "auth_version", "auth_signature", "body_md5":
			continue
		}
		q[k] = append([]string(nil), vs...)
	}
	q.Set("auth_key", key)
	q.Set("auth_timestamp", strconv.FormatInt(now.Unix(), 10))
	q.Set("auth_version", "1.0")
	if len(body) > 0 {
		sum := md5.Sum(body)
		q.Set("body_md5", hex.EncodeToString(sum[:]))
	}
	q.Set("auth_signature", hmacHex(secret, stringToSign(method, path, q)))
	return q
}

// stringToSign is METHOD "\n" path "\n" query, the query with keys
// lower-cased and sorted, auth_signature left out, nothing escaped, and the
// values of one key (or of keys equal but for case) joined with ",".
func stringToSign(method, path string, q url.Values) string {
	groups := make(map[string][]string, len(q))
	for k, vs := range q {
		lk := lowerASCII(k)
		if len(vs) == 0 || lk == "auth_signature" {
			continue
		}
		groups[lk] = append(groups[lk], k)
	}
	keys := make([]string, 0, len(groups))
	for lk := range groups {
		keys = append(keys, lk)
	}
	sort.Strings(keys)

	var b strings.Builder
	b.WriteString(strings.ToUpper(method) + "\n" + path + "\n")
	for i, lk := range keys {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(lk + "=")
		orig := groups[lk]
		sort.Strings(orig)
		n := 0
		for _, k := range orig {
			for _, v := range q[k] {
				if n > 0 {
					b.WriteByte(',')
				}
				b.WriteString(v)
				n++
			}
		}
	}
	return b.String()
}

// lowerASCII lower-cases A-Z only, so that no Unicode case folding (the
// Kelvin sign) can turn a key into a scheme parameter; s itself when it has
// no capital (every key an SDK sends), so signing allocates no copy.
func lowerASCII(s string) string {
	i := strings.IndexFunc(s, func(r rune) bool { return 'A' <= r && r <= 'Z' })
	if i < 0 {
		return s
	}
	b := []byte(s)
	for ; i < len(b); i++ {
		if c := b[i]; 'A' <= c && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
	return string(b)
}
