package protocol

import (
	"strings"
	"testing"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		name string
		want ChannelInfo
	}{
		{"my-channel", ChannelInfo{Public, false}},
		{"foo-private-x", ChannelInfo{Public, false}},
		{"privateer", ChannelInfo{Public, false}},
		{"private", ChannelInfo{Public, false}},
		{"presences", ChannelInfo{Public, false}},
		{"cached-data", ChannelInfo{Public, false}},
		{"cache", ChannelInfo{Public, false}},
		{"Private-x", ChannelInfo{Public, false}},
		{"x-cache-y", ChannelInfo{Public, false}},
		{"cache-prices", ChannelInfo{Public, true}},
		{"private-foobar", ChannelInfo{Private, false}},
		{"private-cache-foobar", ChannelInfo{Private, true}},
		{"private-cached-x", ChannelInfo{Private, false}},
		{"private-encrypted-foobar", ChannelInfo{Encrypted, false}},
		{"private-encrypted-cache-foobar", ChannelInfo{Encrypted, true}},
		{"private-encryptedx", ChannelInfo{Private, false}},
		{"private-encrypted-cachex", ChannelInfo{Encrypted, false}},
		{"presence-foobar", ChannelInfo{Presence, false}},
		{"presence-cache-foobar", ChannelInfo{Presence, true}},
		{"presence-private-x", ChannelInfo{Presence, false}},
		{"#server-to-user-12345", ChannelInfo{UserChannel, false}},
		{"#server-to-user-", ChannelInfo{UserChannel, false}},
		{"#server-to-user", ChannelInfo{Reserved, false}},
		{"#anything", ChannelInfo{Reserved, false}},
		{"#", ChannelInfo{Reserved, false}},
		{"#cache-x", ChannelInfo{Reserved, false}},
		{"", ChannelInfo{Public, false}},
	}
	for _, tc := range tests {
		if got := Classify(tc.name); got != tc.want {
			t.Errorf("Classify(%q) = %v/%v, want %v/%v", tc.name, got.Type, got.Cache, tc.want.Type, tc.want.Cache)
		}
	}
}

func TestRequiresAuth(t *testing.T) {
	want := map[ChannelType]bool{Public: false, Private: true, Presence: true, Encrypted: true, UserChannel: false, Reserved: false}
	for typ, w := range want {
		if typ.RequiresAuth() != w {
			t.Errorf("%v.RequiresAuth() = %v", typ, !w)
		}
	}
}

func TestValidChannelName(t *testing.T) {
	tests := []struct {
		name   string
		maxLen int
		ok     bool
	}{
		{strings.Repeat("a", 200), 0, true},
		{strings.Repeat("a", 201), 0, false},
		{strings.Repeat("a", 164), 164, true},
		{strings.Repeat("a", 165), 164, false},
		{strings.Repeat("a", 201), -1, false},
		{"", 0, false},
		{"#server-to-user-1", 0, false},
		{"#foo", 0, false},
		{"caf\u00e9", 0, false},
		{"\u0430bc", 0, false}, // Cyrillic a
		{"a b", 0, false},
		{"a/b", 0, false},
		{"a:b", 0, false},
		{"a\x00b", 0, false},
		{"a*b", 0, false},
		{"private-encrypted-cache-Foo_Bar=1@x,y.z;w", 0, true},
	}
	for _, c := range "-_=@,.;" + "azAZ09" {
		tests = append(tests, struct {
			name   string
			maxLen int
			ok     bool
		}{"x" + string(c) + "y", 0, true})
	}
	for _, tc := range tests {
		if got := ValidChannelName(tc.name, tc.maxLen); got != tc.ok {
			t.Errorf("ValidChannelName(%q, %d) = %v, want %v", tc.name, tc.maxLen, got, tc.ok)
		}
	}
	// Every byte outside the allowed set is refused.
	allowed := "-_=@,.;abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	for c := 0; c < 256; c++ {
		want := strings.IndexByte(allowed, byte(c)) >= 0
		if got := ValidChannelName(string([]byte{byte(c)}), 0); got != want {
			t.Errorf("byte %#x: got %v, want %v", c, got, want)
		}
	}
}

func TestUserChannelID(t *testing.T) {
	tests := []struct {
		name, id string
		ok       bool
	}{
		{"#server-to-user-12345", "12345", true},
		{"#server-to-user-a-b", "a-b", true},
		{"#server-to-user-", "", false},
		{"#server-to-user", "", false},
		{"server-to-user-1", "", false},
		{"private-foo", "", false},
	}
	for _, tc := range tests {
		id, ok := UserChannelID(tc.name)
		if id != tc.id || ok != tc.ok {
			t.Errorf("UserChannelID(%q) = %q, %v", tc.name, id, ok)
		}
	}
}

func TestValidSocketID(t *testing.T) {
	tests := map[string]bool{
		"123.456":                              true,
		"1.2":                                  true,
		"0.0":                                  true,
		"1234567890.9876543210":                true,
		"":                                     false,
		".":                                    false,
		"1.":                                   false,
		".1":                                   false,
		"1.2.3":                                false,
		"12":                                   false,
		"a.1":                                  false,
		"1.a":                                  false,
		"-1.2":                                 false,
		"+1.2":                                 false,
		" 1.2":                                 false,
		"1.2\n":                                false,
		"\u0661.2":                             false, // Arabic-Indic digit one
		"f47ac10b-58cc-4372-a567-0e02b2c3d479": false,
	}
	for s, want := range tests {
		if got := ValidSocketID(s); got != want {
			t.Errorf("ValidSocketID(%q) = %v, want %v", s, got, want)
		}
	}
}
