package redis

import (
	"strings"
	"testing"
)

func TestCheckVersion(t *testing.T) {
	for _, tc := range []struct {
		info    string
		wantErr string
	}{
		{"# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\n", ""},
		{"# Server\r\nredis_version:7.2.4\r\n", ""},
		{"# Server\r\nredis_version:8.0.0\r\n", ""},
		{"# Server\r\nredis_version:6.2.14\r\n", "Redis 6.2.14 is too old: Herald needs Redis 7.0 or later"},
		{"# Server\r\nredis_version:5.0.7\r\n", "Redis 5.0.7 is too old"},
		{"# Server\r\nredis_mode:standalone\r\n", ""}, // not said: the commands decide
		{"redis_version:unknown\r\n", ""},
	} {
		err := checkVersion(tc.info)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%q: unexpected error %v", tc.info, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%q: error %v, want it to contain %q", tc.info, err, tc.wantErr)
		}
	}
}

// The test server (Debian's redis-server, >= 7.0) passes the check.
func TestCheckServer(t *testing.T) {
	srv := startRedis(t)
	n := newNode(t, fastConfig(srv.URL()))
	if err := n.CheckServer(ctxT(t)); err != nil {
		t.Fatalf("CheckServer against %s: %v", srv.URL(), err)
	}
}
