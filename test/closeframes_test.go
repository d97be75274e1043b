package test

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/config"
)

// Close frames end a connection's frames (RFC 6455 §5.5.1): after one side
// has sent its close frame, the server sends nothing but, when the peer
// closed first, its one answer. Checked on plain connections (the poller
// and Herald's writer) and on TLS (nbio's blocking mode).

// selfSignedTLS writes a certificate for 127.0.0.1 and configures it.
func selfSignedTLS(t testing.TB) func(*config.Config) {
	t.Helper()
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return func(c *config.Config) { c.TLS = config.TLSConfig{CertFile: certFile, KeyFile: keyFile} }
}

// dialRawMaybeTLS is dialRaw over TLS when useTLS.
func dialRawMaybeTLS(t *testing.T, s *testServer, path string, useTLS bool) *rawWS {
	t.Helper()
	if !useTLS {
		return dialRaw(t, s, path)
	}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: readTimeout}, "tcp", s.addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	key := make([]byte, 16)
	_, _ = rand.Read(key)
	_ = conn.SetDeadline(time.Now().Add(readTimeout))
	req := "GET " + path + " HTTP/1.1\r\nHost: " + s.addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + base64.StdEncoding.EncodeToString(key) + "\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := conn.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %v %v", resp, err)
	}
	return &rawWS{t: t, conn: conn, br: br}
}

// expectNothingMore reads until the connection ends and fails on any frame.
func (c *rawWS) expectNothingMore(after string) {
	c.t.Helper()
	for {
		f, err := c.readErr(3 * time.Second)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				c.t.Fatalf("connection still open 3 s after %s", after)
			}
			return
		}
		c.t.Fatalf("frame after %s: op %d %q", after, f.Op, f.Payload)
	}
}

func TestCloseFrameIsLast(t *testing.T) {
	t.Parallel()
	for _, useTLS := range []bool{false, true} {
		name := map[bool]string{false: "plain", true: "tls"}[useTLS]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var mutate func(*config.Config)
			if useTLS {
				mutate = selfSignedTLS(t)
			}
			s := startServer(t, mutate)
			s.http.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}

			t.Run("server closes, client answers", func(t *testing.T) {
				c := dialRawMaybeTLS(t, s, "/app/unknown-key"+pusherQuery, useTLS)
				if code, _ := c.expectClose(); code != 4001 {
					t.Fatalf("close %d, want 4001", code)
				}
				c.write(maskedFrame(true, 0x8, []byte{0x0f, 0xa1})) // the client's answer: 4001
				c.expectNothingMore("the server's close frame")
			})

			t.Run("client closes while events are published", func(t *testing.T) {
				c := dialRawMaybeTLS(t, s, pusherPath(appKey), useTLS)
				c.read() // connection_established
				c.write(maskedFrame(true, 0x1, []byte(`{"event":"pusher:subscribe","data":{"channel":"closing"}}`)))
				if f := c.read(); !strings.Contains(string(f.Payload), "subscription_succeeded") {
					t.Fatalf("want subscription_succeeded, got %q", f.Payload)
				}
				c.write(maskedFrame(true, 0x8, []byte{0x03, 0xe8, 'b', 'y', 'e'}))
				for range 20 { // racing with the server's handling of the close frame
					s.post("/apps/1/events", map[string]any{"name": "e", "channel": "closing", "data": "x"})
				}
				for {
					f, err := c.readErr(3 * time.Second)
					if err != nil {
						t.Fatalf("no close frame in answer: %v", err)
					}
					if f.Op == 0x8 {
						if f.CloseCode() != 1000 {
							t.Fatalf("answer close %d, want 1000", f.CloseCode())
						}
						break
					}
				}
				c.expectNothingMore("the close echo")
			})
		})
	}
}

// TestPingInsideLargeFragmentedMessage: a ping between the fragments of a
// message just under the frame limit is answered, and the message handled;
// nbio, which counts the ping against the message, must not close the
// connection on its own.
func TestPingInsideLargeFragmentedMessage(t *testing.T) {
	t.Parallel()
	s := startServer(t, func(c *config.Config) { c.Limits.MaxFrameKB = 8 })
	c := connectRaw(t, s)
	msg := []byte(`{"event":"pusher:foo","data":"` + strings.Repeat("x", 8<<10-40) + `"}`)
	c.write(maskedFrame(false, 0x1, msg[:len(msg)-10]))
	c.write(maskedFrame(true, 0x9, []byte(strings.Repeat("p", 100))))
	c.write(maskedFrame(true, 0x0, msg[len(msg)-10:]))
	if f := c.read(); f.Op != 0xA || len(f.Payload) != 100 {
		t.Fatalf("want a pong of 100 bytes, got op %d %q", f.Op, f.Payload)
	}
	c.write(maskedFrame(true, 0x1, []byte(`{"event":"pusher:ping"}`)))
	if f := c.read(); f.Op != 0x1 || !strings.Contains(string(f.Payload), "pusher:pong") {
		t.Fatalf("want pusher:pong (the connection still works), got op %d %q", f.Op, f.Payload)
	}
}
