package ws

import "testing"

func TestOriginAllowed(t *testing.T) {
	list := []string{"https://app.example.com", "https://*.example.org", "http://localhost:3000"}
	cases := map[string]bool{
		"":                             true,
		"https://app.example.com":      true,
		"https://APP.example.com":      true,
		"http://app.example.com":       false,
		"https://evil.com":             false,
		"https://app.example.com.evil": false,
		"https://a.example.org":        true,
		"https://a.b.example.org":      true,
		"https://example.org":          false,
		"https://evilexample.org":      false,
		"http://localhost:3000":        true,
		"http://localhost:3001":        false,
		"null":                         false,
	}
	for origin, want := range cases {
		if got := originAllowed(origin, list); got != want {
			t.Errorf("%q: got %v, want %v", origin, got, want)
		}
	}
	if !originAllowed("https://anything.io", []string{"*"}) || !originAllowed("https://x.io", nil) {
		t.Error("* and an empty list allow every origin")
	}
}
