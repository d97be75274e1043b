package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func validConfig() Config {
	return Config{
		Host: "127.0.0.1",
		Port: 6001,
		Apps: []App{
			{ID: "1", Key: "k1", Secret: "s1", Webhooks: []Webhook{{
				URL: "https://hooks.example.com/pusher", EventTypes: WebhookEventTypes,
				Headers: map[string]string{"X-Token": "t"},
			}}},
			{ID: "2", Key: "k2", Secret: "s2"},
		},
	}
}

func TestValidateOK(t *testing.T) {
	for _, applyDefaults := range []bool{false, true} {
		c := validConfig()
		if applyDefaults {
			c.ApplyDefaults()
		}
		if err := c.Validate(); err != nil {
			t.Errorf("defaults=%v: %v", applyDefaults, err)
		}
	}
	var zero Config
	if err := zero.Validate(); err != nil {
		t.Errorf("zero config: %v", err)
	}
}

func TestValidateEachProblem(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"host", func(c *Config) { c.Host = "not a host" }, `host: "not a host" is not an IP address or host name`},
		{"host bad IPv4", func(c *Config) { c.Host = "10.0.0.300" }, `host: "10.0.0.300" is not an IP address or host name (an IPv4 address is four numbers of 0-255)`},
		{"host with port", func(c *Config) { c.Host = "0.0.0.0:6001" }, `host: "0.0.0.0:6001" is not an IP address or host name (the port goes in port)`},
		{"host URL", func(c *Config) { c.Host = "http://example.com" }, `host: "http://example.com" is not an IP address or host name (no scheme: just the address, e.g. 0.0.0.0)`},
		{"port high", func(c *Config) { c.Port = 65536 }, "port: 65536 is out of range"},
		{"port negative", func(c *Config) { c.Port = -1 }, "port: -1 is out of range"},
		{"path prefix slash", func(c *Config) { c.PathPrefix = "ws" }, `path_prefix: must start with "/"`},
		{"path prefix query", func(c *Config) { c.PathPrefix = "/a?b" }, "path_prefix: must not contain"},
		{"admin listen no port", func(c *Config) { c.AdminListen = "127.0.0.1" }, `admin_listen: "127.0.0.1" is not host:port`},
		{"admin listen bad port", func(c *Config) { c.AdminListen = "127.0.0.1:pprof" }, `admin_listen: "127.0.0.1:pprof": port "pprof" is not a number in 0-65535`},
		{"log format", func(c *Config) { c.Log.Format = "xml" }, `log.format: "xml" is not one of text, json`},
		{"log level", func(c *Config) { c.Log.Level = "verbose" }, `log.level: "verbose" is not one of`},
		{"activity timeout", func(c *Config) { c.ActivityTimeout = -1 }, "activity_timeout: must not be negative"},
		{"pong timeout", func(c *Config) { c.PongTimeout = -1 }, "pong_timeout: must not be negative"},
		{"shutdown timeout", func(c *Config) { c.ShutdownTimeout = -1 }, "shutdown_timeout: must not be negative"},
		{"max frame", func(c *Config) { c.Limits.MaxFrameKB = -1 }, "limits.max_frame_kb: must not be negative"},
		{"channel name len", func(c *Config) { c.Limits.MaxChannelNameLen = -1 }, "limits.max_channel_name_len:"},
		{"event name len", func(c *Config) { c.Limits.MaxEventNameLen = -1 }, "limits.max_event_name_len:"},
		{"write buffer", func(c *Config) { c.Limits.WriteBufferKB = -1 }, "limits.write_buffer_kb:"},
		{"client events", func(c *Config) { c.Limits.ClientEventsPerSec = -1 }, "limits.client_events_per_sec:"},
		{"request body", func(c *Config) { c.Limits.MaxRequestBodyKB = -1 }, "limits.max_request_body_kb:"},
		{"user info", func(c *Config) { c.Limits.MaxUserInfoKB = -1 }, "limits.max_user_info_kb:"},
		{"user id", func(c *Config) { c.Limits.MaxUserIDLen = -1 }, "limits.max_user_id_len:"},
		{"empty id", func(c *Config) { c.Apps[1].ID = "" }, "apps[1].id: must not be empty"},
		{"empty key", func(c *Config) { c.Apps[1].Key = "" }, "apps[1].key: must not be empty"},
		{"empty secret", func(c *Config) { c.Apps[1].Secret = "" }, "apps[1].secret: must not be empty"},
		{"key with slash", func(c *Config) { c.Apps[0].Key = "a/b" }, `apps[0].key: "a/b" must not contain`},
		{"duplicate id", func(c *Config) { c.Apps[1].ID = "1" }, `apps[1].id: "1" duplicates apps[0].id`},
		{"duplicate key", func(c *Config) { c.Apps[1].Key = "k1" }, `apps[1].key: "k1" duplicates apps[0].key`},
		{"max connections", func(c *Config) { c.Apps[1].MaxConnections = -1 }, "apps[1].max_connections: must not be negative"},
		{"max presence", func(c *Config) { c.Apps[1].MaxPresenceMembers = -1 }, "apps[1].max_presence_members: must not be negative"},
		{"max payload", func(c *Config) { c.Apps[1].MaxEventPayloadKB = -1 }, "apps[1].max_event_payload_kb: must not be negative"},
		{"webhook scheme", func(c *Config) { c.Apps[0].Webhooks[0].URL = "ftp://x/y" }, "apps[0].webhooks[0].url: must be http or https"},
		{"webhook no host", func(c *Config) { c.Apps[0].Webhooks[0].URL = "http:///path" }, "apps[0].webhooks[0].url: must have a host"},
		{"webhook relative", func(c *Config) { c.Apps[0].Webhooks[0].URL = "/hook" }, "apps[0].webhooks[0].url: must be http or https"},
		{"webhook unparsable", func(c *Config) { c.Apps[0].Webhooks[0].URL = "http://[::1" }, "apps[0].webhooks[0].url: \"http://[::1\" is not a URL"},
		{"webhook empty url", func(c *Config) { c.Apps[0].Webhooks[0].URL = "" }, "apps[0].webhooks[0].url: must not be empty"},
		{"webhook no events", func(c *Config) { c.Apps[0].Webhooks[0].EventTypes = nil }, "apps[0].webhooks[0].event_types: must list at least one"},
		{"webhook bad event", func(c *Config) { c.Apps[0].Webhooks[0].EventTypes = []string{"client_event", "channel_created"} },
			`apps[0].webhooks[0].event_types[1]: unknown event type "channel_created"`},
		{"webhook header", func(c *Config) { c.Apps[0].Webhooks[0].Headers = map[string]string{"Bad Header": "x"} },
			`apps[0].webhooks[0].headers: "Bad Header" is not a valid header name`},
		{"tls cert only", func(c *Config) { c.TLS.CertFile = "x" }, "tls.key_file: must be set when tls.cert_file is set"},
		{"tls key only", func(c *Config) { c.TLS.KeyFile = "x" }, "tls.cert_file: must be set when tls.key_file is set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.mutate(&c)
			err := c.Validate()
			if err == nil {
				t.Fatal("no error")
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Errorf("not a *FieldError: %T", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %q, want %q", err, tt.want)
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	c := validConfig()
	c.Port = 70000
	c.Log.Level = "loud"
	c.Limits.WriteBufferKB = -1
	c.TLS.CertFile = filepath.Join(t.TempDir(), "missing.pem")
	c.Apps[0].Secret = ""
	c.Apps[0].Webhooks[0].URL = "ftp://x"
	c.Apps[0].Webhooks[0].EventTypes = []string{"nope", "member_added", "also_nope"}
	c.Apps[1].ID = "1"
	c.Apps[1].MaxEventPayloadKB = -10
	c.ApplyDefaults()

	problems := Problems(c.Validate())
	want := []string{
		"port:",
		"log.level:",
		"tls.key_file: must be set",
		"tls.cert_file:", // unreadable
		"limits.write_buffer_kb:",
		"apps[0].secret:",
		"apps[0].webhooks[0].url: must be http or https",
		"apps[0].webhooks[0].event_types[0]:",
		"apps[0].webhooks[0].event_types[2]:",
		"apps[1].id:",
		"apps[1].max_event_payload_kb:",
	}
	if len(problems) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(problems), len(want), errors.Join(problems...))
	}
	for i, w := range want {
		if !strings.HasPrefix(problems[i].Error(), w) {
			t.Errorf("problem %d = %q, want prefix %q", i, problems[i], w)
		}
	}
}

func TestValidateAdminListen(t *testing.T) {
	tests := []struct {
		addr string
		want string // "" = valid
	}{
		{"", ""}, // off
		{"127.0.0.1:6060", ""},
		{"localhost:6060", ""},
		{"[::1]:6060", ""},
		{":6060", ""},
		{"127.0.0.1:0", ""},
		{"127.0.0.1:65535", ""},
		{"127.0.0.1", "is not host:port"},
		{"6060", "is not host:port"},
		{"::1:6060", "is not host:port"},
		{"http://127.0.0.1:6060", "is not host:port"},
		{"127.0.0.1:", `port "" is not a number in 0-65535`},
		{"127.0.0.1:65536", `port "65536" is not a number in 0-65535`},
		{"127.0.0.1:-1", `port "-1" is not a number in 0-65535`},
		{"127.0.0.1:+80", `port "+80" is not a number in 0-65535`},
		{"bad host:6060", `"bad host" is not an IP address or host name`},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			c := Config{AdminListen: tt.addr}
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "admin_listen: ") {
				t.Fatalf("got %v, want admin_listen: ...%q", err, tt.want)
			}
			if n := len(Problems(err)); n != 1 {
				t.Errorf("got %d problems, want 1: %v", n, err)
			}
		})
	}
}

func TestValidateTLSFiles(t *testing.T) {
	dir := t.TempDir()
	cert, key := writeKeyPair(t, dir, "a")
	cert2, key2 := writeKeyPair(t, dir, "b")
	_ = cert2

	tests := []struct {
		name      string
		cert, key string
		want      string // "" = valid
	}{
		{"valid pair", cert, key, ""},
		{"mismatched pair", cert, key2, "tls: cert_file and key_file are not a valid key pair"},
		{"missing cert", filepath.Join(dir, "nope.pem"), key, "tls.cert_file: open"},
		{"missing key", cert, filepath.Join(dir, "nope.key"), "tls.key_file: open"},
		{"directory", dir, key, "is a directory"},
		{"garbage", writeFile(t, "junk.pem", "junk"), key, "not a valid key pair"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Config{TLS: TLSConfig{CertFile: tt.cert, KeyFile: tt.key}}
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
			if n := len(Problems(err)); n != 1 {
				t.Errorf("got %d problems, want 1: %v", n, err)
			}
		})
	}
}

func TestValidHost(t *testing.T) {
	for h, want := range map[string]bool{
		"0.0.0.0": true, "127.0.0.1": true, "::": true, "[::1]": true, "localhost": true,
		"herald.example.com": true, "my_host": true,
		"bad host": false, "-x.com": false, "a..b": false, "host:80": false, "http://x": false,
		"10.0.0.300": false, "256.1.1.1": false, "1.2.3": false, "127.1": false, "123": false, "": false,
		"x.1a": true, "1a.example": true, "a.": true,
	} {
		if got := ValidHost(h); got != want {
			t.Errorf("ValidHost(%q) = %v, want %v", h, got, want)
		}
	}
}

func writeKeyPair(t *testing.T, dir, name string) (certFile, keyFile string) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	certFile = filepath.Join(dir, name+".pem")
	keyFile = filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// TestValidOrigin: the config file and the app store (apps.Validate) accept
// the same origins.
func TestValidOrigin(t *testing.T) {
	for _, o := range []string{"*", "https://app.example.com", "https://*.example.com", "http://localhost:3000", "http://[::1]:8080", "http://127.0.0.1"} {
		if !ValidOrigin(o) {
			t.Errorf("ValidOrigin(%q) = false, want true", o)
		}
	}
	for _, o := range []string{"https://a.com/x", "a.com", "ftp://a.com", "https://a.*.com", "https://*", "https://u@a.com", "https://a.com:99999", "https://-a.com", ""} {
		if ValidOrigin(o) {
			t.Errorf("ValidOrigin(%q) = true, want false", o)
		}
	}
	cfg := Config{Apps: []App{{ID: "1", Key: "k", Secret: "s", AllowedOrigins: []string{"https://a.*.com"}}}}
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "allowed_origins[0]") {
		t.Errorf("config accepted an inner wildcard origin: %v", err)
	}
}
