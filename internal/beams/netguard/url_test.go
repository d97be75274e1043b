package netguard

import (
	"errors"
	"net/netip"
	"net/url"
	"strings"
	"testing"
)

func TestCheckURL(t *testing.T) {
	t.Parallel()
	long := "https://push.example.com/" + strings.Repeat("a", MaxURLLen)
	cases := []struct {
		raw          string
		allowPrivate bool
		want         string // part of the error; "" = accepted
		refused      bool   // the error is a *RefusedError
	}{
		{"https://fcm.googleapis.com/fcm/send/abc:def", false, "", false},
		{"https://updates.push.services.mozilla.com/wpush/v2/gAAA", false, "", false},
		{"https://web.push.apple.com:443/QGx?x=1", false, "", false},
		{"HTTPS://FCM.googleapis.com./x", false, "", false},
		{"https://8.8.8.8/x", false, "", false},
		{"https://[2606:4700::1111]:8443/x", false, "", false},

		{"", false, "missing", false},
		{long, false, "longer than 2048", false},
		{"http://push.example.com/x", false, "https", false},
		{"ftp://push.example.com/x", true, "https", false},
		{"/relative/path", false, "absolute", false},
		{"push.example.com/x", false, "absolute", false},
		{"https:opaque", false, "absolute", false},
		{"https:///x", false, "absolute", false},
		{"https://user:pass@push.example.com/x", false, "user name", false},
		{"https://user@push.example.com/x", false, "user name", false},
		{"https://push.example.com:0/x", false, "port", false},
		{"https://push.example.com:65536/x", false, "port", false},
		{"https://push.example.com:x/x", false, "not a valid URL", false},
		{"https://push example.com/x", false, "not a valid URL", false},
		{"https://push_ex!.com/x", false, "valid host", false},
		{"https://[push.example.com]/x", false, "valid host", false},
		{"https://a..b.com/x", false, "valid host", false},

		// IP literals, in every spelling.
		{"https://127.0.0.1/x", false, "loopback", true},
		{"https://10.0.0.1:8443/x", false, "private", true},
		{"https://169.254.169.254/latest/meta-data/", false, "metadata", true},
		{"https://[::1]/x", false, "loopback", true},
		{"https://[::ffff:127.0.0.1]/x", false, "loopback", true},
		{"https://[::ffff:7f00:1]/x", false, "loopback", true},
		{"https://[64:ff9b::7f00:1]/x", false, "loopback", true},
		{"https://[2002:7f00:1::1]/x", false, "loopback", true},
		{"https://[fe80::1%25eth0]/x", false, "link-local", true},
		{"https://[fd00:ec2::254]/x", false, "metadata", true},
		// Numeric hosts that resolvers read as IPv4 are not names.
		{"https://127.1/x", false, "valid host", false},
		{"https://2130706433/x", false, "valid host", false},
		{"https://0x7f.0.0.1/x", false, "valid host", false},
		{"https://127.000.000.001/x", false, "valid host", false},
		{"https://[127.0.0.1]/x", false, "not a valid URL", false},

		// Names that resolve only locally.
		{"https://localhost/x", false, "local host name", true},
		{"https://LOCALHOST./x", false, "local host name", true},
		{"https://a.localhost/x", false, "local host name", true},
		{"https://metadata.google.internal/x", false, "local host name", true},
		{"https://printer.local/x", false, "local host name", true},
		{"https://nas.home.arpa/x", false, "local host name", true},
		{"https://redis/x", false, "single-label", true},

		// The test switch: loopback over http, but never metadata.
		{"http://127.0.0.1:41234/push/abc", true, "", false},
		{"http://localhost:41234/push/abc", true, "", false},
		{"https://[::1]:8443/x", true, "", false},
		{"http://redis:8080/x", true, "", false},
		{"http://169.254.169.254/latest/", true, "metadata", true},
		{"http://127.0.0.1:0/x", true, "port", false},
	}
	for _, c := range cases {
		err := CheckURL(c.raw, c.allowPrivate)
		name := c.raw
		if len(name) > 60 {
			name = name[:60] + "..."
		}
		if c.want == "" {
			if err != nil {
				t.Errorf("CheckURL(%q, %v) = %v, want nil", name, c.allowPrivate, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("CheckURL(%q, %v) = %v, want an error mentioning %q", name, c.allowPrivate, err, c.want)
			continue
		}
		if !strings.HasPrefix(err.Error(), "endpoint ") {
			t.Errorf("CheckURL(%q) = %q: API errors start with \"endpoint \"", name, err)
		}
		if _, ok := errors.AsType[*RefusedError](err); ok != c.refused {
			t.Errorf("CheckURL(%q) = %v: *RefusedError %v, want %v", name, err, ok, c.refused)
		}
	}
}

// FuzzCheckURL checks that whatever CheckURL accepts without the switch is
// an https URL with a host, no user info, and no refused IP literal.
func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{
		"https://fcm.googleapis.com/fcm/send/x", "https://[::ffff:127.0.0.1]/", "https://127.1/",
		"https://[fe80::1%25eth0]/", "https://u@h.com/", "https://h.com:99999/", "http://h.com/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if CheckURL(raw, false) != nil {
			return
		}
		u, err := url.Parse(raw)
		if err != nil || u.Scheme != "https" || u.Hostname() == "" || u.User != nil {
			t.Fatalf("accepted %q", raw)
		}
		if ip, err := netip.ParseAddr(u.Hostname()); err == nil && !Allowed(ip) {
			t.Fatalf("accepted %q with a refused address", raw)
		}
	})
}
