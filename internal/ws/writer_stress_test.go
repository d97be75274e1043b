package ws

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lesismal/nbio"
)

// newPeer connects a plain TCP client to a connection added to eng.
func newPeer(t *testing.T, eng *nbio.Engine) (*nbio.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ch := make(chan net.Conn, 1)
	go func() { c, _ := ln.Accept(); ch <- c }()
	cl, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Close() })
	sc := <-ch
	if sc == nil {
		t.Fatal("accept failed")
	}
	nc, err := eng.AddConn(sc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, cl
}

// TestWriteOrderStress: several producers mix Send (direct when idle) and
// Queue on each of 4 real connections, with a 2 KiB coalescing limit so
// write-throughs happen all the time and two flushers; the peer checks the
// framing and every producer's order.
func TestWriteOrderStress(t *testing.T) {
	eng := nbio.NewEngine(nbio.Config{MaxWriteBufferSize: 64 << 20})
	if err := eng.Start(); err != nil {
		t.Fatal(err)
	}
	defer eng.Stop()
	srv := &Server{}
	srv.cfg.setDefaults()
	srv.pendingMax = 2048
	srv.unsentMax = 64 << 20 // written is not counted here (no OnWrittenSize hook): never slow
	fl := []*flusher{newFlusher(), newFlusher()}
	stop := make(chan struct{})
	var fwg sync.WaitGroup
	for _, f := range fl {
		fwg.Add(1)
		go func() { defer fwg.Done(); f.run(stop) }()
	}
	const conns, producers, per = 4, 4, 1500
	var rwg sync.WaitGroup
	var pwg sync.WaitGroup
	for ci := 0; ci < conns; ci++ {
		raw, client := newPeer(t, eng)
		ss := &session{srv: srv, raw: raw, flusher: fl[ci%2]}
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			br := bufio.NewReaderSize(client, 1<<16)
			next := make([]int, producers)
			got := 0
			for got < producers*per {
				var h [2]byte
				if _, err := io.ReadFull(br, h[:]); err != nil {
					t.Errorf("read: %v after %d", err, got)
					return
				}
				if h[0] != 0x81 {
					t.Errorf("bad header % x", h)
					return
				}
				n := int(h[1] & 0x7f)
				if n == 126 {
					var b [2]byte
					io.ReadFull(br, b[:])
					n = int(binary.BigEndian.Uint16(b[:]))
				} else if n == 127 {
					var b [8]byte
					io.ReadFull(br, b[:])
					n = int(binary.BigEndian.Uint64(b[:]))
				}
				body := make([]byte, n)
				if _, err := io.ReadFull(br, body); err != nil {
					t.Errorf("body: %v", err)
					return
				}
				s := strings.TrimRight(string(body), "x")
				a, b, _ := strings.Cut(s, ":")
				pi, _ := strconv.Atoi(a)
				seq, _ := strconv.Atoi(b)
				if seq != next[pi] {
					t.Errorf("producer %d: got %d want %d", pi, seq, next[pi])
					return
				}
				next[pi]++
				got++
			}
		}()
		for pi := 0; pi < producers; pi++ {
			pwg.Add(1)
			go func() {
				defer pwg.Done()
				for i := 0; i < per; i++ {
					msg := []byte(fmt.Sprintf("%d:%d", pi, i) + strings.Repeat("x", (i*131)%900))
					var err error
					if (i/7+pi)%2 == 0 {
						err = ss.Send(msg)
					} else {
						err = ss.Queue(msg)
					}
					if err != nil {
						t.Errorf("send: %v", err)
						return
					}
				}
			}()
		}
	}
	pwg.Wait()
	done := make(chan struct{})
	go func() { rwg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("readers stuck")
	}
	close(stop)
	fwg.Wait()
}

// TestNothingAfterClose: frames sent while another goroutine closes the
// connection never follow the close frame (RFC 6455 §5.5.1).
func TestNothingAfterClose(t *testing.T) {
	eng := nbio.NewEngine(nbio.Config{MaxWriteBufferSize: 1 << 20})
	if err := eng.Start(); err != nil {
		t.Fatal(err)
	}
	defer eng.Stop()
	srv := &Server{}
	srv.cfg.setDefaults()
	srv.cfg.CloseDelay = time.Hour
	srv.pendingMax = maxPending
	srv.unsentMax = 1 << 30 // written is not counted here (no OnWrittenSize hook): never slow
	f := newFlusher()
	stop := make(chan struct{})
	go f.run(stop)
	defer close(stop)

	for i := range 100 {
		raw, client := newPeer(t, eng)
		ss := &session{srv: srv, raw: raw, flusher: f}
		_ = ss.Queue([]byte("x"))
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			for j := range 200 {
				if j%2 == 0 {
					_ = ss.Queue([]byte("data"))
				} else {
					_ = ss.Send([]byte("data"))
				}
			}
		}()
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i%20) * time.Microsecond)
			ss.Close(4100, "bye")
		}()
		wg.Wait()
		_ = client.SetReadDeadline(time.Now().Add(2 * time.Second))
		br := bufio.NewReader(client)
		for {
			var h [2]byte
			if _, err := io.ReadFull(br, h[:]); err != nil {
				t.Fatalf("connection %d: no close frame: %v", i, err)
			}
			if _, err := io.CopyN(io.Discard, br, int64(h[1]&0x7f)); err != nil {
				t.Fatal(err)
			}
			if h[0]&0x0f == opClose {
				break
			}
		}
		_ = client.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		if n, _ := br.Read(make([]byte, 1)); n > 0 {
			t.Fatalf("connection %d: bytes after the close frame", i)
		}
		_ = raw.Close()
	}
}
