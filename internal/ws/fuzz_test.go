package ws

import (
	"encoding/binary"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/protocol"
)

// Fuzz targets for what the WebSocket edge reads from the handshake: the
// Origin header against an app's allow-list, the protocol query parameter,
// and the close reasons that may quote them.

// originSeeds are allow-list entries and origins from the tests, plus the
// tricks used against suffix checks.
var originSeeds = [][2]string{
	{"https://app.example.com", "https://app.example.com"},
	{"https://APP.example.com", "https://app.example.com"},
	{"https://a.b.example.org", "https://*.example.org"},
	{"https://example.org", "https://*.example.org"},
	{"https://evilexample.org", "https://*.example.org"},
	{"https://app.example.com.evil", "https://app.example.com"},
	{"http://localhost:3000", "http://localhost:3000"},
	{"http://localhost:3001", "http://localhost:3000"},
	{"https://a.example.org:8443", "https://*.example.org:8443"},
	{"https://evil.com/.example.org", "https://*.example.org"},
	{"https://evil.com#.example.org", "https://*.example.org"},
	{"https://x@a.example.org", "https://*.example.org"},
	{"https://[::1]:6001", "https://[::1]:6001"},
	{"", "https://a.com"}, {"https://a.com", ""}, {"HTTPS://A.COM", "https://a.com"},
}

// browserOrigin reports whether o has the form browsers send:
// scheme://host[:port] and nothing else.
func browserOrigin(o string) bool {
	_, rest, ok := strings.Cut(o, "://")
	return ok && !strings.ContainsAny(rest, "/?#@\\ *") && config.ValidOrigin(o)
}

// FuzzOriginAllowed: "*", an empty list and a missing Origin allow every
// origin, whatever the Origin header holds ("null" from sandboxed frames,
// "file://" from local pages, garbage from non-browsers).
func FuzzOriginAllowed(f *testing.F) {
	for _, s := range originSeeds {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, origin, entry string) {
		for _, c := range []struct {
			origin string
			list   []string
		}{{origin, []string{"*"}}, {origin, nil}, {"", []string{entry}}} {
			if !originAllowed(c.origin, c.list) {
				t.Fatalf("originAllowed(%q, %q) = false; \"*\", an empty list and a missing Origin allow every origin", c.origin, c.list)
			}
		}
	})
}

// FuzzOriginMatch: for entries the config accepts (config.ValidOrigin) and
// origins as browsers send them, an origin passes exactly when it is the
// entry, or for "https://*.d" a non-empty subdomain of d, compared
// case-insensitively; any origin that passes has the entry's scheme.
func FuzzOriginMatch(f *testing.F) {
	for _, s := range originSeeds {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, origin, entry string) {
		if entry == "*" || !config.ValidOrigin(entry) {
			return
		}
		got := originAllowed(origin, []string{entry})
		if got && origin != "" {
			u, err := url.Parse(origin)
			scheme, _, _ := strings.Cut(entry, "://")
			if err != nil || !strings.EqualFold(u.Scheme, scheme) {
				t.Fatalf("origin %q allowed by %q with another scheme", origin, entry)
			}
		}
		if !browserOrigin(origin) {
			return
		}
		o, e := strings.ToLower(origin), strings.ToLower(entry)
		want := o == e
		if prefix, suffix, wild := strings.Cut(e, "*"); wild {
			want = strings.HasPrefix(o, prefix) && strings.HasSuffix(o, suffix) && len(o) > len(prefix)+len(suffix)
		}
		if got != want {
			t.Fatalf("originAllowed(%q, [%q]) = %v, want %v", origin, entry, got, want)
		}
	})
}

// FuzzCheckProtocol: the handshake's protocol parameter is accepted when
// absent or an integer from 5 to 7; anything else closes with 4007 and a
// reason that fits a close frame.
func FuzzCheckProtocol(f *testing.F) {
	for _, s := range []string{"protocol=7", "protocol=5&client=js&version=8.4.0", "", "protocol=", "protocol=8",
		"protocol=+7", "protocol=07", "protocol=7.0", "protocol=%E9%E9%E9%E9%E9%E9%E9%E9%E9%E9", "protocol=9999999999999999999999",
		"protocol=6&protocol=9", "PROTOCOL=1", "protocol", "protocol=%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, _ := url.ParseQuery(raw) // r.URL.Query() keeps what parses
		perr := checkProtocol(q)
		vals := q["protocol"]
		want := len(vals) == 0 || vals[0] == ""
		if !want {
			n, err := strconv.Atoi(vals[0])
			want = err == nil && n >= 5 && n <= 7
		}
		if want != (perr == nil) {
			t.Fatalf("checkProtocol(%q) = %v", raw, perr)
		}
		if perr == nil {
			return
		}
		if perr.Code != protocol.CodeUnsupportedProtocol || !perr.Close {
			t.Fatalf("checkProtocol(%q) = %+v", raw, perr)
		}
		checkCloseFrame(t, perr.Code, perr.Message)
	})
}

// FuzzCloseReason: any reason (they quote client input) becomes a close
// frame within RFC 6455's limits: valid UTF-8, at most 123 bytes, cut only
// between characters.
func FuzzCloseReason(f *testing.F) {
	for _, s := range []string{"", "Unsupported protocol version 8", strings.Repeat("é", 100), strings.Repeat("x", 122) + "é",
		"\xff\xfe", "App key " + strings.Repeat("k", 200) + " not in this cluster"} {
		f.Add(4009, s)
	}
	f.Fuzz(func(t *testing.T, code int, reason string) {
		checkCloseFrame(t, code&0xffff, reason)
	})
}

func checkCloseFrame(t *testing.T, code int, reason string) {
	t.Helper()
	b := appendCloseFrame(nil, code, reason)
	if len(b) < 4 || b[0] != 0x80|0x8 || b[1]&0x80 != 0 || int(b[1]) != len(b)-2 || len(b)-2 > closePayloadMax {
		t.Fatalf("close frame % x for reason %q", b, reason)
	}
	if got := int(binary.BigEndian.Uint16(b[2:4])); got != code {
		t.Fatalf("close code %d, want %d", got, code)
	}
	sent := string(b[4:])
	if !utf8.ValidString(sent) {
		t.Fatalf("close reason %q is not UTF-8", sent)
	}
	if valid := strings.ToValidUTF8(reason, "?"); !strings.HasPrefix(valid, sent) || (len(valid) <= 123 && sent != valid) {
		t.Fatalf("reason %q sent as %q", reason, sent)
	}
}
