package test

import (
	"bufio"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/wsraw"
)

// BenchmarkBroadcastTLS is the write path of a broadcast, plaintext and
// TLS side by side: one event (published through the HTTP API) to 200
// subscribers of a channel, each reading on its own goroutine; an
// iteration ends when every subscriber has the event. ns/delivery is the
// cost of one delivery, the API call shared by the 200.
func BenchmarkBroadcastTLS(b *testing.B) {
	for _, useTLS := range []bool{false, true} {
		b.Run(map[bool]string{false: "plain", true: "tls"}[useTLS], func(b *testing.B) {
			benchBroadcast(b, useTLS, 200)
		})
	}
}

func benchBroadcast(b *testing.B, useTLS bool, subscribers int) {
	var s *testServer
	if useTLS {
		s = startServer(b, selfSignedTLS(b))
		s.http.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	} else {
		s = startServer(b, nil)
	}
	var got atomic.Int64
	for i := range subscribers {
		c, br := benchDial(b, s, useTLS)
		// As pusher-js: nothing is sent before connection_established
		// (the server drops what comes before admission).
		if f, err := wsraw.ReadServerFrame(br); err != nil || !strings.Contains(string(f.Payload), "connection_established") {
			b.Fatalf("subscriber %d: want connection_established, got %q (%v)", i, f.Payload, err)
		}
		sub := wsraw.ClientFrame(true, 0x1, []byte(`{"event":"pusher:subscribe","data":{"channel":"bench-tls"}}`))
		if _, err := c.Write(sub); err != nil {
			b.Fatal(err)
		}
		for { // subscription_succeeded
			f, err := wsraw.ReadServerFrame(br)
			if err != nil {
				b.Fatalf("subscriber %d: %v", i, err)
			}
			if strings.Contains(string(f.Payload), "subscription_succeeded") {
				break
			}
		}
		_ = c.SetReadDeadline(time.Time{})
		go func() {
			for {
				if _, err := wsraw.ReadServerFrame(br); err != nil {
					return // closed at the end of the benchmark
				}
				got.Add(1)
			}
		}()
	}
	b.ResetTimer()
	for i := range b.N {
		s.trigger("bench-tls", "e", `{"x":1}`)
		want := int64(i+1) * int64(subscribers)
		deadline := time.Now().Add(10 * time.Second)
		for got.Load() < want {
			if time.Now().After(deadline) {
				b.Fatalf("%d of %d deliveries after 10 s", got.Load(), want)
			}
			time.Sleep(20 * time.Microsecond)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*subscribers), "ns/delivery")
}

// benchDial opens a WebSocket connection (over TLS when useTLS) up to the
// 101 answer; it is closed when the benchmark ends.
func benchDial(b *testing.B, s *testServer, useTLS bool) (net.Conn, *bufio.Reader) {
	b.Helper()
	var c net.Conn
	var err error
	if useTLS {
		c, err = tls.DialWithDialer(&net.Dialer{Timeout: readTimeout}, "tcp", s.addr, &tls.Config{InsecureSkipVerify: true})
	} else {
		c, err = net.DialTimeout("tcp", s.addr, readTimeout)
	}
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	key := make([]byte, 16)
	_, _ = rand.Read(key)
	_ = c.SetDeadline(time.Now().Add(readTimeout))
	req := "GET " + pusherPath(appKey) + " HTTP/1.1\r\nHost: " + s.addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + base64.StdEncoding.EncodeToString(key) + "\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := c.Write([]byte(req)); err != nil {
		b.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		b.Fatalf("handshake: %v %v", resp, err)
	}
	return c, br
}
