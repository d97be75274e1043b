package main

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The client uses raw net.Conn with a minimal RFC 6455 handshake and no
// goroutine per connection after setup, so it stays cheap: after the
// subscribe reply every connection just sits in a slice.
func clientMain(args []string) error {
	fs := flag.NewFlagSet("client", flag.ExitOnError)
	addr := fs.String("addr", "", "server address (127.0.0.1:port)")
	n := fs.Int("n", 1000, "connections to open")
	conc := fs.Int("c", 64, "concurrent dials")
	id := fs.Int("id", 0, "client process id (used in channel names)")
	hold := fs.Duration("hold", 10*time.Minute, "max time to keep connections open (also ends on stdin EOF)")
	setup := fs.Duration("timeout", 5*time.Minute, "max time for opening all connections")
	path := fs.String("path", "/app/benchkey?protocol=7&client=wsidle&version=1", "request path and query")
	pusher := fs.Bool("pusher", false, "speak Pusher protocol 7 strictly (herald): check the welcome and subscription_succeeded events, send auth \"\"")
	_ = fs.Parse(args)
	if !strings.HasPrefix(*addr, "127.0.0.1:") {
		return errors.New("-addr must be 127.0.0.1:port")
	}
	if !strings.HasPrefix(*path, "/") {
		return errors.New("-path must start with /")
	}
	if *n <= 0 || *n > 1_000_000 || *conc <= 0 {
		return errors.New("bad -n or -c")
	}

	conns := make([]net.Conn, *n)
	var failed atomic.Int64
	var firstErr atomic.Value
	deadline := time.Now().Add(*setup)
	jobs := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < *conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				c, err := openOne(*addr, *path, fmt.Sprintf("room-%d-%d", *id, i%1000), *pusher, deadline)
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				conns[i] = c
			}
		}()
	}
	for i := 0; i < *n && time.Now().Before(deadline); i++ {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	ok := 0
	for _, c := range conns {
		if c != nil {
			ok++
		}
	}
	if e := firstErr.Load(); e != nil {
		fmt.Fprintf(os.Stderr, "client %d: first error: %v\n", *id, e)
	}
	fmt.Printf("READY %d %d\n", ok, failed.Load())

	done := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); close(done) }()
	select {
	case <-done:
	case <-time.After(*hold):
	}
	for _, c := range conns {
		if c != nil {
			_ = c.Close()
		}
	}
	return nil
}

// openOne dials, performs the handshake, reads the welcome frame, sends a
// masked subscribe text frame and reads the reply. With pusher set it checks
// that the welcome is pusher:connection_established and the reply
// pusher_internal:subscription_succeeded for the channel.
func openOne(addr, path, channel string, pusher bool, deadline time.Time) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(minTime(deadline, time.Now().Add(30*time.Second)))
	var key [16]byte
	_, _ = rand.Read(key[:])
	req := "GET " + path + " HTTP/1.1\r\n" +
		"Host: " + addr + "\r\n" +
		"Upgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + base64.StdEncoding.EncodeToString(key[:]) + "\r\n" +
		"Sec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(c, req); err != nil {
		c.Close()
		return nil, err
	}
	br := bufio.NewReaderSize(c, 512)
	status, err := br.ReadString('\n')
	if err != nil {
		c.Close()
		return nil, err
	}
	if !strings.Contains(status, " 101 ") {
		c.Close()
		return nil, fmt.Errorf("handshake: %q", strings.TrimSpace(status))
	}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			c.Close()
			return nil, err
		}
		if line == "\r\n" {
			break
		}
	}
	welcome, err := readFrame(br)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("welcome: %w", err)
	}
	if pusher && !strings.Contains(string(welcome), `"event":"pusher:connection_established"`) {
		c.Close()
		return nil, fmt.Errorf("welcome: %.200s", welcome)
	}
	payload := []byte(`{"event":"pusher:subscribe","data":{"channel":"` + channel + `"}}`)
	if pusher {
		payload = []byte(`{"event":"pusher:subscribe","data":{"auth":"","channel":"` + channel + `"}}`)
	}
	if _, err := c.Write(maskedTextFrame(payload)); err != nil {
		c.Close()
		return nil, err
	}
	reply, err := readFrame(br)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("subscribe reply: %w", err)
	}
	if pusher && (!strings.Contains(string(reply), `"event":"pusher_internal:subscription_succeeded"`) ||
		!strings.Contains(string(reply), `"channel":"`+channel+`"`)) {
		c.Close()
		return nil, fmt.Errorf("subscribe reply: %.200s", reply)
	}
	if br.Buffered() != 0 {
		c.Close()
		return nil, errors.New("unexpected extra data from server")
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

func readFrame(br *bufio.Reader) ([]byte, error) {
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return nil, err
	}
	if h[0]&0x0f != 1 {
		return nil, fmt.Errorf("unexpected opcode %d", h[0]&0x0f)
	}
	n := int(h[1] & 0x7f)
	if n == 126 {
		var l [2]byte
		if _, err := io.ReadFull(br, l[:]); err != nil {
			return nil, err
		}
		n = int(l[0])<<8 | int(l[1])
	} else if n == 127 {
		return nil, errors.New("frame too large")
	}
	p := make([]byte, n)
	_, err := io.ReadFull(br, p)
	return p, err
}

func maskedTextFrame(p []byte) []byte {
	if len(p) > 125 {
		panic("payload too long for this minimal client")
	}
	var mask [4]byte
	_, _ = rand.Read(mask[:])
	f := make([]byte, 0, 6+len(p))
	f = append(f, 0x81, 0x80|byte(len(p)))
	f = append(f, mask[:]...)
	for i, b := range p {
		f = append(f, b^mask[i%4])
	}
	return f
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
