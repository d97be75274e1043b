package signing

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"net/url"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
)

func cryptoHMACHex(secret string, msg []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(msg)
	return hex.EncodeToString(m.Sum(nil))
}

// TestMACMatchesCryptoHMAC: the pooled HMAC is crypto/hmac's, for keys
// shorter than, equal to and longer than a block, one mac reused across
// keys of every length (no residue of a longer key).
func TestMACMatchesCryptoHMAC(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	m := getMAC()
	defer m.release()
	for _, klen := range []int{0, 1, 10, 20, 32, 63, 64, 65, 100, 128, 129, 300, 3, 0} {
		for _, mlen := range []int{0, 1, 55, 56, 63, 64, 65, 119, 120, 500} {
			key, msg := make([]byte, klen), make([]byte, mlen)
			for i := range key {
				key[i] = byte(r.Uint32())
			}
			for i := range msg {
				msg[i] = byte(r.Uint32())
			}
			want := cryptoHMACHex(string(key), msg)
			if got := string(m.sumHex(string(key), msg)); got != want {
				t.Fatalf("key %d bytes, msg %d bytes: sumHex %s, crypto/hmac %s", klen, mlen, got, want)
			}
			if got := HMACHex(string(key), msg); got != want {
				t.Fatalf("key %d bytes, msg %d bytes: HMACHex %s, crypto/hmac %s", klen, mlen, got, want)
			}
		}
	}
}

// canonicalQueryReference is CanonicalQuery as first written (grouping
// every key by its lower-cased form), the reference for the fast path.
func canonicalQueryReference(q url.Values) string {
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
	var b strings.Builder
	for i, lk := range keys {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(lk)
		b.WriteByte('=')
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

func TestCanonicalQueryMatchesReference(t *testing.T) {
	names := []string{"auth_key", "AUTH_KEY", "auth_signature", "Auth_Signature", "body_md5", "info", "INFO", "Info",
		"filter_by_prefix", "a", "A", "b", "", "k\u212aey", "z9", "auth_timestamp", "x", "y", "w", "v", "u"}
	r := rand.New(rand.NewPCG(3, 4))
	for range 20000 {
		q := url.Values{}
		for range r.IntN(12) {
			k := names[r.IntN(len(names))]
			switch r.IntN(5) {
			case 0:
				q[k] = nil // a key without values
			case 1:
				q[k] = []string{}
			default:
				for range 1 + r.IntN(3) {
					q[k] = append(q[k], names[r.IntN(len(names))]+"=,&")
				}
			}
		}
		want := canonicalQueryReference(q)
		if got := CanonicalQuery(q); got != want {
			t.Fatalf("CanonicalQuery(%v) = %q, want %q", q, got, want)
		}
		if got, want := StringToSign("post", "/apps/1/events", q), "POST\n/apps/1/events\n"+want; got != want {
			t.Fatalf("StringToSign(%v) = %q, want %q", q, got, want)
		}
	}
}

func FuzzCanonicalQuery(f *testing.F) {
	f.Add("auth_key=app-key&auth_timestamp=1700000000&auth_version=1.0&body_md5=15d251b35306a6da7efa515a0e971f80&auth_signature=4796")
	f.Add("a=1&A=2&a=3&b&c=&AUTH_SIGNATURE=x&auth_signature=y")
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := parseQuery(raw)
		if err != nil {
			return
		}
		if got, want := CanonicalQuery(q), canonicalQueryReference(q); got != want {
			t.Fatalf("CanonicalQuery(%q) = %q, want %q", raw, got, want)
		}
		if uq, err := url.ParseQuery(raw); err == nil {
			if got, want := CanonicalQuery(uq), canonicalQueryReference(uq); got != want {
				t.Fatalf("CanonicalQuery(url.ParseQuery(%q)) = %q, want %q", raw, got, want)
			}
		}
	})
}

// TestParseQueryRepeatedKeys: the values of a repeated key are kept in
// order, and appending to one key's values never writes over another's
// (the first values share one array).
func TestParseQueryRepeatedKeys(t *testing.T) {
	q, err := parseQuery("a=1&b=2&a=3&&c&b=4&d=5")
	if err != nil {
		t.Fatal(err)
	}
	want := url.Values{"a": {"1", "3"}, "b": {"2", "4"}, "c": {""}, "d": {"5"}}
	if got, w := q.Encode(), want.Encode(); got != w || len(q) != len(want) {
		t.Fatalf("parseQuery = %v, want %v", q, want)
	}
	q["c"] = append(q["c"], "x")
	q["d"][0] = "6"
	if q.Get("b") != "2" || q["d"][0] != "6" || len(q["d"]) != 1 || q["a"][1] != "3" {
		t.Fatalf("after writes: %v", q)
	}
}

// parseQueryReference is parseQuery as first written: every name and
// value through url.QueryUnescape.
func parseQueryReference(raw string) (url.Values, error) {
	q := make(url.Values)
	for raw != "" {
		var part string
		part, raw, _ = strings.Cut(raw, "&")
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		key, err := url.QueryUnescape(k)
		if err != nil {
			return nil, verifyErr("Invalid query string: bad escape in parameter name")
		}
		val, err := url.QueryUnescape(v)
		if err != nil {
			return nil, verifyErr("Invalid query string: bad escape in value of " + strconv.Quote(key))
		}
		q[key] = append(q[key], val)
	}
	return q, nil
}

func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{"auth_key=app-key&auth_timestamp=1700000000&auth_version=1.0&body_md5=15d2&auth_signature=4796",
		"a=1&a=2&&b&=c&d=", "filter_by_prefix=presence-;x&info=user_count,subscription_count", "a+b=c+d&%41=%zz", "k=%41%42&k=+", "%=1", "a=%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, gotErr := parseQuery(raw)
		want, wantErr := parseQueryReference(raw)
		if !reflect.DeepEqual(got, want) || (gotErr == nil) != (wantErr == nil) || (gotErr != nil && gotErr.Error() != wantErr.Error()) {
			t.Fatalf("parseQuery(%q) = %v, %v; want %v, %v", raw, got, gotErr, want, wantErr)
		}
	})
}
