package netguard

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// MaxURLLen bounds a registered endpoint; real push endpoints are a few
// hundred bytes.
const MaxURLLen = 2048

// CheckURL says whether raw may be registered as an endpoint. It checks the
// URL itself and IP literals but does not resolve names: registration must
// not wait on DNS, and an answer now proves nothing about the address at
// send time, which the dialer checks. The error is meant for API callers.
// Host refusals are a *RefusedError.
func CheckURL(raw string, allowPrivate bool) error {
	if raw == "" {
		return errors.New("endpoint is missing")
	}
	if len(raw) > MaxURLLen {
		return fmt.Errorf("endpoint is longer than %d bytes", MaxURLLen)
	}
	u, err := url.Parse(raw)
	if err != nil {
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = ue.Err // without the echo of the whole URL
		}
		return fmt.Errorf("endpoint is not a valid URL: %v", err)
	}
	if !u.IsAbs() || u.Opaque != "" || u.Host == "" {
		return errors.New("endpoint must be an absolute URL such as https://push.example.com/...")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && allowPrivate:
	default:
		return errors.New("endpoint must use https")
	}
	if u.User != nil {
		return errors.New("endpoint must not contain a user name or password")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("endpoint port %q is not between 1 and 65535", p)
		}
	}
	host := u.Hostname()
	if ip, err := netip.ParseAddr(host); err == nil {
		if reason := check(ip, allowPrivate); reason != "" {
			return fmt.Errorf("endpoint %w", &RefusedError{Addr: host, Reason: reason})
		}
		return nil
	}
	// Brackets hold only IPv6 literals; ParseAddr has refused this one.
	if strings.HasPrefix(u.Host, "[") || !validHostName(host) {
		return fmt.Errorf("endpoint host %q is not a valid host name", host)
	}
	if reason := localName(host); reason != "" && !allowPrivate {
		return fmt.Errorf("endpoint %w", &RefusedError{Addr: host, Reason: reason})
	}
	return nil
}

// validHostName accepts ASCII DNS names (push services have no others) and
// refuses names ending in a numeric label: browsers and getaddrinfo read
// "127.1", "0x7f.1" or "2130706433" as IPv4 addresses, which would slip a
// loopback address past the IP-literal check above.
func validHostName(host string) bool {
	host = strings.TrimSuffix(host, ".")
	if host == "" || len(host) > 253 {
		return false
	}
	labels := strings.Split(host, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return false
		}
		for _, c := range []byte(l) {
			ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
			if !ok {
				return false
			}
		}
	}
	last := strings.ToLower(labels[len(labels)-1])
	return strings.Trim(last, "0123456789") != "" && !strings.HasPrefix(last, "0x")
}

// localName refuses names that by definition or convention resolve only
// inside a network (RFC 6761, 6762, 8375; ".internal" is where clouds put
// their metadata service). A single label goes through the resolver's
// search list to some internal host.
func localName(host string) string {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	for _, suffix := range []string{"localhost", "local", "internal", "home.arpa"} {
		if h == suffix || strings.HasSuffix(h, "."+suffix) {
			return "local host name"
		}
	}
	if !strings.Contains(h, ".") {
		return "single-label host name (not a public name)"
	}
	return ""
}
