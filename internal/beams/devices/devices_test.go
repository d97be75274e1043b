package devices

import (
	"regexp"
	"testing"
)

func TestNewID(t *testing.T) {
	re := regexp.MustCompile(`^(web|fcm|apns)-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for _, p := range []Platform{Web, FCM, APNS} {
		for range 1000 {
			id := NewID(p)
			if !re.MatchString(id) || id[:len(p)] != string(p) {
				t.Fatalf("NewID(%s) = %q", p, id)
			}
			if seen[id[len(p):]] {
				t.Fatalf("NewID repeated %q", id)
			}
			seen[id[len(p):]] = true
		}
	}
}

func TestPlatformValid(t *testing.T) {
	for p, want := range map[Platform]bool{"web": true, "fcm": true, "apns": true, "": false, "WEB": false, "gcm": false} {
		if p.Valid() != want {
			t.Errorf("Platform(%q).Valid() = %v", p, !want)
		}
	}
}

func TestPageSize(t *testing.T) {
	for in, want := range map[int]int{-1: DefaultPageSize, 0: DefaultPageSize, 1: 1, 250: 250, MaxPageSize: MaxPageSize, MaxPageSize + 1: MaxPageSize} {
		if got := PageSize(in); got != want {
			t.Errorf("PageSize(%d) = %d, want %d", in, got, want)
		}
	}
}
