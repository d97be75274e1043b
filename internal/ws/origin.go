package ws

import (
	"net/url"
	"slices"
	"strings"
)

// originAllowed matches a browser's Origin header against an app's
// allow-list. Entries are "*", an exact origin ("https://app.example.com",
// port included when not the default) or a wildcard subdomain
// ("https://*.example.com", which does not match the apex). A missing
// Origin is allowed: only browsers send one, and any other client could
// forge it anyway, so the list constrains web pages using the key.
func originAllowed(origin string, allowed []string) bool {
	if len(allowed) == 0 || origin == "" || slices.Contains(allowed, "*") {
		return true // "*" allows even origins without a host ("null", file://)
	}
	u, err := url.Parse(origin)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return false
	}
	scheme, host := strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	for _, a := range allowed {
		p, err := url.Parse(strings.Replace(a, "*.", "wildcard.", 1))
		if err != nil || strings.ToLower(p.Scheme) != scheme {
			continue
		}
		want := strings.ToLower(p.Host)
		if strings.Contains(a, "*.") {
			suffix := strings.TrimPrefix(want, "wildcard")
			if strings.HasSuffix(host, suffix) && len(host) > len(suffix) {
				return true
			}
			continue
		}
		if host == want {
			return true
		}
	}
	return false
}
