package api

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func httptestRequest(remote string) *http.Request {
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = remote
	return r
}

func TestBearerToken(t *testing.T) {
	for _, tc := range []struct {
		header string
		set    bool
		want   string
	}{
		{"", false, ""},
		{"Bearer abc", true, "abc"},
		{"bearer abc", true, "abc"},
		{"BEARER  abc  ", true, "abc"},
		{"Bearer", true, ""},
		{"Bearer    ", true, ""},
		{"Basic abc", true, ""},
		{"Bearerabc", true, ""},
		{"abc", true, ""},
		{"Bearer a b", true, "a b"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		if tc.set {
			r.Header.Set("Authorization", tc.header)
		}
		if got := bearerToken(r); got != tc.want {
			t.Errorf("bearerToken(%q) = %q, want %q", tc.header, got, tc.want)
		}
	}
}
