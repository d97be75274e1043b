package signing

import (
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Credential is one key/secret pair of an app. Apps may hold several during
// a rotation, so verification takes a slice.
type Credential struct {
	Key, Secret string
}

// Names of the query parameters the signing scheme itself adds.
const (
	paramKey       = "auth_key"
	paramTimestamp = "auth_timestamp"
	paramVersion   = "auth_version"
	paramSignature = "auth_signature"
	paramBodyMD5   = "body_md5"

	authVersion = "1.0"
)

// isSchemeParam reports whether a lower-cased key is one SignRequest sets
// itself; caller-supplied copies would otherwise be sent twice.
func isSchemeParam(lk string) bool {
	_, ok := schemeParamIndex(lk)
	return ok
}

// lowerASCII lower-cases only A-Z. Unicode case mapping would let exotic
// keys (the Kelvin sign "K") collapse onto scheme parameters like auth_key.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; 'A' <= c && c <= 'Z' {
					b[j] = c + ('a' - 'A')
				}
			}
			return string(b)
		}
	}
	return s
}

// CanonicalQuery builds the query part of the string to sign: every
// parameter except auth_signature (in any letter case), keys lower-cased and
// sorted byte-wise, "k=v" pairs joined with "&" and nothing escaped. Values
// of a repeated key (or of keys differing only in case, taken in byte order
// of the original keys) are joined with ",", as Reverb and the PHP signer do.
// Keys without values are left out, matching url.Values.Encode on the wire.
func CanonicalQuery(q url.Values) string {
	return string(appendCanonicalQuery(nil, q))
}

// appendCanonicalQuery appends CanonicalQuery(q) to dst. Every SDK sends
// lower-case keys, so each key is its own group: sorting the keys is all
// there is to do, without the grouping maps (appendCanonicalQueryFolded)
// that keys differing only in case need.
func appendCanonicalQuery(dst []byte, q url.Values) []byte {
	var buf [8]string
	keys := buf[:0]
	for k, vs := range q {
		if len(vs) == 0 {
			continue
		}
		if lowerASCII(k) != k { // no allocation unless k has a capital
			return appendCanonicalQueryFolded(dst, q)
		}
		if k != paramSignature {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, '&')
		}
		dst = append(dst, k...)
		dst = append(dst, '=')
		for j, v := range q[k] {
			if j > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, v...)
		}
	}
	return dst
}

// appendCanonicalQueryFolded is appendCanonicalQuery for any query: keys
// grouped by their lower-cased form.
func appendCanonicalQueryFolded(dst []byte, q url.Values) []byte {
	groups := make(map[string][]string, len(q))
	for k, vs := range q {
		if len(vs) == 0 {
			continue
		}
		lk := lowerASCII(k)
		if lk == paramSignature {
			continue
		}
		groups[lk] = append(groups[lk], k)
	}
	keys := make([]string, 0, len(groups))
	for lk := range groups {
		keys = append(keys, lk)
	}
	sort.Strings(keys)

	for i, lk := range keys {
		if i > 0 {
			dst = append(dst, '&')
		}
		dst = append(dst, lk...)
		dst = append(dst, '=')
		orig := groups[lk]
		sort.Strings(orig)
		n := 0
		for _, k := range orig {
			for _, v := range q[k] {
				if n > 0 {
					dst = append(dst, ',')
				}
				dst = append(dst, v...)
				n++
			}
		}
	}
	return dst
}

// StringToSign returns METHOD "\n" path "\n" canonical query. The method is
// upper-cased; the path is used as given, which must be the raw request path.
func StringToSign(method, path string, q url.Values) string {
	return string(appendStringToSign(nil, method, path, q))
}

// appendStringToSign appends StringToSign(method, path, q) to dst.
func appendStringToSign(dst []byte, method, path string, q url.Values) []byte {
	dst = append(dst, strings.ToUpper(method)...)
	dst = append(dst, '\n')
	dst = append(dst, path...)
	dst = append(dst, '\n')
	return appendCanonicalQuery(dst, q)
}

// SignRequest returns the query to send with a REST request: params plus
// auth_key, auth_timestamp (now, whole seconds), auth_version=1.0, body_md5
// when body is non-empty, and auth_signature. params is not modified; any
// scheme parameter already in it (in any case) is replaced.
func SignRequest(cred Credential, method, path string, params url.Values, body []byte, now time.Time) url.Values {
	q := make(url.Values, len(params)+5)
	for k, vs := range params {
		if isSchemeParam(lowerASCII(k)) {
			continue
		}
		q[k] = append([]string(nil), vs...)
	}
	q.Set(paramKey, cred.Key)
	q.Set(paramTimestamp, strconv.FormatInt(now.Unix(), 10))
	q.Set(paramVersion, authVersion)
	if len(body) > 0 {
		q.Set(paramBodyMD5, MD5Hex(body))
	}
	m := getMAC()
	defer m.release()
	m.msg = appendStringToSign(m.msg, method, path, q)
	q.Set(paramSignature, string(m.sumHex(cred.Secret, m.msg)))
	return q
}
