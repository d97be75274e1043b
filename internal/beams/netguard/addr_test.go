package netguard

import (
	"net/netip"
	"strings"
	"testing"
)

func TestAllowedRefuses(t *testing.T) {
	t.Parallel()
	cases := []struct{ ip, reason string }{
		{"0.0.0.0", "this network"},
		{"0.1.2.3", "this network"},
		{"10.0.0.1", "private"},
		{"10.255.255.255", "private"},
		{"172.16.0.1", "private"},
		{"172.31.255.255", "private"},
		{"192.168.1.1", "private"},
		{"100.64.0.1", "carrier-grade NAT"},
		{"100.127.255.254", "carrier-grade NAT"},
		{"127.0.0.1", "loopback"},
		{"127.255.255.254", "loopback"},
		{"169.254.0.1", "link-local"},
		{"192.0.0.170", "IETF"},
		{"192.0.2.1", "documentation"},
		{"198.51.100.7", "documentation"},
		{"203.0.113.9", "documentation"},
		{"192.88.99.1", "6to4 relay"},
		{"198.18.0.1", "benchmarking"},
		{"198.19.255.255", "benchmarking"},
		{"224.0.0.1", "multicast"},
		{"239.255.255.250", "multicast"},
		{"240.0.0.1", "reserved"},
		{"255.255.255.255", "broadcast"},

		// Cloud metadata, each with its own reason.
		{"169.254.169.254", "metadata"},
		{"100.100.100.200", "metadata"},
		{"168.63.129.16", "metadata"},
		{"fd00:ec2::254", "metadata"},

		{"::", "unspecified"},
		{"::1", "loopback"},
		{"fc00::1", "private"},
		{"fd12:3456::1", "private"},
		{"fe80::1", "link-local"},
		{"fe80::1%eth0", "link-local"}, // a zone must not hide the range
		{"fec0::1", "site-local"},
		{"ff02::1", "multicast"},
		{"ff0e::1", "multicast"},
		{"100::1", "discard"},
		{"2001:db8::1", "documentation"},
		{"3fff::1", "documentation"},
		{"2001::1", "IETF"},   // Teredo
		{"2001:2::1", "IETF"}, // benchmarking
		{"64:ff9b:1::1", "NAT64"},
		{"4000::1", "reserved"}, // outside 2000::/3
		{"::127.0.0.1", "reserved"},

		// IPv4 in IPv6 clothing is judged by the IPv4 address.
		{"::ffff:127.0.0.1", "loopback"},
		{"::ffff:10.0.0.1", "private"},
		{"::ffff:0.0.0.0", "this network"},
		{"::ffff:169.254.169.254", "metadata"},
		{"::ffff:0:127.0.0.1", "loopback"}, // IPv4-translated
		{"64:ff9b::127.0.0.1", "loopback"}, // NAT64
		{"64:ff9b::10.1.2.3", "private"},
		{"64:ff9b::169.254.169.254", "metadata"},
		{"2002:7f00:1::1", "loopback"}, // 6to4 of 127.0.0.1
		{"2002:c0a8:101::1", "private"},
		{"2002:a9fe:a9fe::", "metadata"},
	}
	for _, c := range cases {
		ip := netip.MustParseAddr(c.ip)
		if Allowed(ip) {
			t.Errorf("Allowed(%s) = true", c.ip)
			continue
		}
		if r := classify(ip); !strings.Contains(r, c.reason) {
			t.Errorf("classify(%s) = %q, want it to mention %q", c.ip, r, c.reason)
		}
	}
	if Allowed(netip.Addr{}) {
		t.Error("the zero Addr is allowed")
	}
}

func TestAllowedPublic(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		"8.8.8.8", "1.1.1.1", "142.250.185.74",
		"2606:4700::1111", "2001:4860:4860::8888",
		"::ffff:8.8.8.8", "64:ff9b::8.8.8.8", "2002:808:808::1",
		// Just outside refused ranges.
		"9.255.255.255", "11.0.0.0", "100.63.255.255", "100.128.0.0",
		"172.15.255.255", "172.32.0.0", "198.17.255.255", "198.20.0.0",
		"223.255.255.255", "169.253.255.255", "2001:200::1",
	} {
		if !Allowed(netip.MustParseAddr(s)) {
			t.Errorf("Allowed(%s) = false (%s)", s, classify(netip.MustParseAddr(s)))
		}
	}
}

func TestCheckAllowPrivate(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		ip      string
		refused bool
	}{
		{"127.0.0.1", false},
		{"::1", false},
		{"10.0.0.1", false},
		{"fe80::1", false},
		{"169.254.169.254", true},
		{"::ffff:169.254.169.254", true},
		{"64:ff9b::a9fe:a9fe", true},
		{"fd00:ec2::254", true},
		{"100.100.100.200", true},
	} {
		if got := check(netip.MustParseAddr(c.ip), true) != ""; got != c.refused {
			t.Errorf("check(%s, allowPrivate) refused = %v, want %v", c.ip, got, c.refused)
		}
	}
}
