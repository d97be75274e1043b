// Package netguard keeps the server from being used to reach internal
// addresses (SSRF). Push endpoints are attacker-controlled: anyone who knows
// an instance id can register a device with any URL and the server then
// POSTs to it (spec beams.md sections 4.2 and 6). The guard works twice:
// CheckURL at registration (syntax and IP literals, no DNS), and a dialer
// that checks the address actually connected to, so a name that resolves
// (or re-resolves) to an internal address is refused too.
package netguard

import (
	"net/netip"
	"slices"
)

// RefusedError is an address the guard will not connect to. It is apart
// from network errors so callers can count refusals on their own; it
// survives the wrapping of url.Error and net.OpError for errors.As.
type RefusedError struct {
	Addr   string // what was refused: "127.0.0.1:8080" when dialling, the host at registration
	Reason string // why, in plain words: "loopback address"
}

func (e *RefusedError) Error() string { return e.Addr + " is not allowed: " + e.Reason }

// Allowed reports whether ip is a public unicast address, the only kind a
// push service lives on. IPv4-mapped, IPv4-translated, NAT64 and 6to4
// addresses are judged by the IPv4 address they carry.
func Allowed(ip netip.Addr) bool { return classify(ip) == "" }

const reasonMetadata = "cloud metadata address"

// metadataAddrs answer with cloud credentials to any request from the
// host. They stay refused even when private addresses are allowed: no push
// service lives there, and they are the prize of an SSRF.
var metadataAddrs = []netip.Addr{
	netip.MustParseAddr("169.254.169.254"), // AWS, GCP, Azure, Oracle, DigitalOcean...
	netip.MustParseAddr("fd00:ec2::254"),   // AWS over IPv6
	netip.MustParseAddr("100.100.100.200"), // Alibaba Cloud
	netip.MustParseAddr("168.63.129.16"),   // Azure WireServer: a public address answered only inside Azure
}

type refusedRange struct {
	prefix netip.Prefix
	reason string
}

func ranges(pairs ...string) []refusedRange {
	out := make([]refusedRange, 0, len(pairs)/2)
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, refusedRange{netip.MustParsePrefix(pairs[i]), pairs[i+1]})
	}
	return out
}

// IPv4 special-purpose ranges (IANA registry) that no public service uses.
var refused4 = ranges(
	"0.0.0.0/8", "\"this network\" address",
	"10.0.0.0/8", "private network address",
	"100.64.0.0/10", "carrier-grade NAT address",
	"127.0.0.0/8", "loopback address",
	"169.254.0.0/16", "link-local address",
	"172.16.0.0/12", "private network address",
	"192.0.0.0/24", "IETF protocol assignment",
	"192.0.2.0/24", "documentation address",
	"192.88.99.0/24", "6to4 relay address",
	"192.168.0.0/16", "private network address",
	"198.18.0.0/15", "benchmarking address",
	"198.51.100.0/24", "documentation address",
	"203.0.113.0/24", "documentation address",
	"224.0.0.0/4", "multicast address",
	"255.255.255.255/32", "broadcast address",
	"240.0.0.0/4", "reserved address",
)

// IPv6: these give a precise reason; anything else outside 2000::/3 (the
// only global unicast space allocated) is refused as reserved, so a range
// forgotten here still fails closed.
var refused6 = ranges(
	"::/128", "unspecified address",
	"::1/128", "loopback address",
	"100::/64", "discard-only address",
	"64:ff9b:1::/48", "local-use NAT64 address",
	"2001::/23", "IETF protocol assignment", // Teredo, benchmarking, ORCHID
	"2001:db8::/32", "documentation address",
	"3fff::/20", "documentation address",
	"fc00::/7", "private network address",
	"fe80::/10", "link-local address",
	"fec0::/10", "site-local address",
	"ff00::/8", "multicast address",
)

var (
	globalUnicast6 = netip.MustParsePrefix("2000::/3")
	nat64          = netip.MustParsePrefix("64:ff9b::/96")
	translated     = netip.MustParsePrefix("::ffff:0:0:0/96") // SIIT, RFC 2765
	sixToFour      = netip.MustParsePrefix("2002::/16")
)

// normalize drops the zone (netip.Prefix.Contains never matches a zoned
// address, which would let fe80::1%eth0 through) and unmaps ::ffff:a.b.c.d.
func normalize(ip netip.Addr) netip.Addr { return ip.WithZone("").Unmap() }

// embedded4 returns the IPv4 address an IPv6 address stands for: a
// connection to it may well end at that IPv4 address.
func embedded4(ip netip.Addr) (netip.Addr, bool) {
	b := ip.As16()
	switch {
	case !ip.Is6():
		return netip.Addr{}, false
	case nat64.Contains(ip), translated.Contains(ip):
		return netip.AddrFrom4([4]byte(b[12:16])), true
	case sixToFour.Contains(ip):
		return netip.AddrFrom4([4]byte(b[2:6])), true
	}
	return netip.Addr{}, false
}

func isMetadata(ip netip.Addr) bool {
	ip = normalize(ip)
	if v4, ok := embedded4(ip); ok {
		ip = v4
	}
	return slices.Contains(metadataAddrs, ip)
}

// classify returns why ip is refused, or "" when it is public unicast.
func classify(ip netip.Addr) string {
	if !ip.IsValid() {
		return "invalid address"
	}
	ip = normalize(ip)
	if isMetadata(ip) {
		return reasonMetadata
	}
	if v4, ok := embedded4(ip); ok {
		if r := classify(v4); r != "" {
			return r + " " + v4.String() + " in IPv6 form"
		}
		return ""
	}
	table := refused6
	if ip.Is4() {
		table = refused4
	}
	for _, r := range table {
		if r.prefix.Contains(ip) {
			return r.reason
		}
	}
	if ip.Is6() && !globalUnicast6.Contains(ip) {
		return "reserved address"
	}
	return ""
}

// check is the decision with the allow-private switch: when it is on (tests,
// private deployments) only the metadata addresses stay refused.
func check(ip netip.Addr, allowPrivate bool) string {
	if allowPrivate {
		if isMetadata(ip) {
			return reasonMetadata
		}
		return ""
	}
	return classify(ip)
}
