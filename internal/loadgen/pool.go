package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	ltls "github.com/lesismal/llib/std/crypto/tls"
	"github.com/lesismal/nbio"

	"github.com/heraldhq/herald/internal/nbiofix"

	"github.com/heraldhq/herald/internal/signing"
)

// Target is the server under test and the app whose credentials we use.
type Target struct {
	Host       string
	Port       int
	PathPrefix string // server path prefix ("" = routes at the root)
	AppID      string
	Key        string
	Secret     string
	// SpreadSource binds each WebSocket to its own 127.x.y.z source
	// address (only for loopback targets) so that more connections than
	// one address's ephemeral ports can be opened.
	SpreadSource bool
	// WSAddrs, when set, are the host:port addresses the WebSocket
	// connections are spread over, round-robin by connection id (the nodes
	// of a cluster); the HTTP API still goes to Host:Port.
	WSAddrs []string
	// TLS, when set, makes the WebSocket connections wss:// and the HTTP
	// API https://; nil means plaintext. Shared by every copy of the
	// Target (it holds the run's session caches and handshake counts).
	TLS *ClientTLS
}

// Addr is host:port.
func (t Target) Addr() string { return net.JoinHostPort(t.Host, strconv.Itoa(t.Port)) }

// HTTPBase is the base URL of the HTTP API, prefix included.
func (t Target) HTTPBase() string {
	if t.TLS != nil {
		return "https://" + t.Addr() + t.PathPrefix
	}
	return "http://" + t.Addr() + t.PathPrefix
}

func (t Target) wsPath() string {
	return t.PathPrefix + "/app/" + t.Key + "?protocol=7&client=herald-bench&version=1.0&flash=false"
}

// WSAddr is the host:port the i-th WebSocket connection dials: Addr(), or
// WSAddrs[i mod len(WSAddrs)].
func (t Target) WSAddr(i int64) string {
	if len(t.WSAddrs) == 0 {
		return t.Addr()
	}
	return t.WSAddrs[i%int64(len(t.WSAddrs))]
}

// loopback reports whether host is a loopback name or IPv4 address.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback() && !strings.Contains(host, ":")
}

// sourceAddr returns the local address for the i-th connection: one of
// 62,500 addresses 127.1.0.1–127.1.249.250, so ports never run out.
func (t Target) sourceAddr(i int64) *net.TCPAddr {
	host, _, err := net.SplitHostPort(t.WSAddr(i))
	if !t.SpreadSource || err != nil || !loopback(host) {
		return nil
	}
	n := i % (250 * 250)
	return &net.TCPAddr{IP: net.IPv4(127, 1, byte(n/250), byte(n%250+1))}
}

// Handler receives every message of every connection of a pool. It runs on
// an nbio poller goroutine; calls for one connection never overlap. m is
// passed by value so that it stays on the poller's stack: behind an
// interface call a pointer would make every message a heap allocation.
type Handler interface {
	OnMessage(c *Conn, m Message)
}

// Conn is one client WebSocket connection after the handshake.
type Conn struct {
	pool     *Pool
	nc       *nbio.Conn
	ID       int64
	SocketID string
	// Data is the scenario's per-connection state.
	Data any

	buf    []byte // unparsed bytes of a frame split across reads
	frag   []byte // fragmented message being reassembled
	closed atomic.Bool

	// tls is the connection's TLS layer (nil = plaintext), in non-blocking
	// mode over nc: the poller pushes it the bytes it read (onTLS). wmu
	// serialises its writes with Close, whose close_notify alert llib
	// writes without taking its own output lock.
	tls *ltls.Conn
	wmu sync.Mutex
}

// Pool owns an nbio engine and the connections it reads.
type Pool struct {
	T         Target
	eng       *nbio.Engine
	h         Handler
	log       *slog.Logger
	nextID    atomic.Int64
	closing   atomic.Bool
	closeOnce sync.Once

	mu    sync.Mutex
	conns []*Conn

	// Counters.
	Subscribed   atomic.Int64 // subscription_succeeded received
	Disconnected atomic.Int64 // connections closed while the pool was open
	ProtoErrors  atomic.Int64 // pusher:error / subscription_error / bad frames
	Messages     atomic.Int64 // messages parsed
	firstErr     atomic.Pointer[string]
}

// NewPool starts an nbio engine with pollers goroutines (0 = 2) and returns
// once every poller is running. log receives warnings (nil = discarded).
func NewPool(t Target, h Handler, pollers int, log *slog.Logger) (*Pool, error) {
	if pollers <= 0 {
		pollers = 2
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Pool{T: t, h: h, log: log}
	p.eng = nbio.NewEngine(nbio.Config{
		Name:           "herald-bench",
		NPoller:        pollers,
		ReadBufferSize: 64 << 10,
	})
	p.eng.OnData(p.onData)
	p.eng.OnClose(func(nc *nbio.Conn, err error) {
		c, ok := nc.Session().(*Conn)
		if !ok || c.closed.Swap(true) {
			return
		}
		if !p.closing.Load() {
			p.Disconnected.Add(1)
			if err != nil {
				p.noteErr("disconnected: " + err.Error())
			} else {
				p.noteErr("disconnected by server")
			}
		}
	})
	if err := p.eng.Start(); err != nil {
		return nil, err
	}
	// Stop must not run before every poller is in its loop (see engine.go).
	if err := nbiofix.Await(p.eng, pollerStartTimeout); err != nil {
		p.stopEngine()
		return nil, err
	}
	return p, nil
}

// stopEngine stops the nbio engine, giving up after engineStopTimeout.
func (p *Pool) stopEngine() {
	if err := stopWithin(p.eng.Stop, engineStopTimeout); err != nil {
		p.log.Warn("leaving the nbio poller goroutines running", "err", err)
	}
}

func (p *Pool) noteErr(s string) {
	if len(s) > 300 {
		s = s[:300]
	}
	p.firstErr.CompareAndSwap(nil, &s)
}

// answered reports whether n subscriptions have all had their answer,
// subscription_succeeded or an error (counted in ProtoErrors): waiting
// longer for Subscribed to reach n cannot help.
func (p *Pool) answered(n int64) bool {
	return p.Subscribed.Load()+p.ProtoErrors.Load() >= n
}

// FirstError is the first protocol error or disconnect seen ("" if none).
func (p *Pool) FirstError() string {
	if s := p.firstErr.Load(); s != nil {
		return *s
	}
	return ""
}

// Conns returns the open connections.
func (p *Pool) Conns() []*Conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*Conn(nil), p.conns...)
}

// Len is the number of connections added to the pool.
func (p *Pool) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// Close closes every connection and stops the engine; later calls do
// nothing (a second nbio Engine.Stop would panic).
func (p *Pool) Close() {
	p.closeOnce.Do(func() {
		p.closing.Store(true)
		for _, c := range p.Conns() {
			c.Close()
		}
		p.stopEngine()
	})
}

// Handshake dials the server, runs the TLS handshake (with t.TLS),
// upgrades to WebSocket and reads pusher:connection_established, all in
// blocking mode. It returns the open connection (an llib *tls.Conn with
// t.TLS), the socket id and the time from dial start to the welcome.
func (t Target) Handshake(ctx context.Context, id int64) (net.Conn, string, time.Duration, error) {
	start := time.Now()
	d := net.Dialer{Timeout: 10 * time.Second}
	if la := t.sourceAddr(id); la != nil {
		d.LocalAddr = la
	}
	addr := t.WSAddr(id)
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, "", 0, err
	}
	fail := func(err error) (net.Conn, string, time.Duration, error) {
		_ = nc.Close()
		return nil, "", 0, err
	}
	deadline := time.Now().Add(15 * time.Second)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	_ = nc.SetDeadline(deadline)
	conn := nc // what the upgrade is spoken over
	if t.TLS != nil {
		tc, err := t.TLS.handshake(nc, addr)
		if err != nil {
			return fail(err)
		}
		conn = tc
		fail = func(err error) (net.Conn, string, time.Duration, error) {
			_ = tc.Close()
			return nil, "", 0, err
		}
	}
	var key [16]byte
	for i := range key {
		key[i] = byte(rand.Uint32())
	}
	k := base64.StdEncoding.EncodeToString(key[:])
	req := "GET " + t.wsPath() + " HTTP/1.1\r\nHost: " + addr +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + k +
		"\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		return fail(err)
	}
	br := bufio.NewReaderSize(conn, 1024)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return fail(fmt.Errorf("handshake: %w", err))
	}
	if resp.StatusCode != 101 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		return fail(fmt.Errorf("handshake: %s: %s", resp.Status, bytes.TrimSpace(b)))
	}
	h := sha1.Sum([]byte(k + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	if resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(h[:]) {
		return fail(errors.New("handshake: bad Sec-WebSocket-Accept"))
	}
	var raw []byte
	for len(raw) < 1<<20 {
		b, err := br.ReadByte()
		if err != nil {
			return fail(fmt.Errorf("welcome: %w", err))
		}
		raw = append(raw, b)
		fin, op, payload, total, err := parseFrame(raw, 1<<20)
		if err != nil {
			return fail(err)
		}
		if total == 0 {
			continue
		}
		if op == 8 {
			return fail(fmt.Errorf("welcome: server closed: %q", payload))
		}
		if !fin || op != 1 {
			return fail(fmt.Errorf("welcome: unexpected frame opcode %d", op))
		}
		var m Message
		if !parseEnvelope(payload, &m) {
			return fail(fmt.Errorf("welcome: not JSON: %.200s", payload))
		}
		if string(m.Event) != "pusher:connection_established" {
			return fail(fmt.Errorf("welcome: %.200s", payload))
		}
		var w struct {
			SocketID string `json:"socket_id"`
		}
		if err := json.Unmarshal([]byte(m.DataString()), &w); err != nil || w.SocketID == "" {
			return fail(fmt.Errorf("welcome: no socket_id: %.200s", payload))
		}
		if br.Buffered() != 0 {
			return fail(errors.New("welcome: unexpected data after connection_established"))
		}
		elapsed := time.Since(start)
		_ = nc.SetDeadline(time.Time{})
		return conn, w.SocketID, elapsed, nil
	}
	return fail(errors.New("welcome: too large"))
}

// Dial opens one connection and hands it to the pool's poller. setup runs
// before the poller can deliver anything, to initialise c.Data.
func (p *Pool) Dial(ctx context.Context, setup func(c *Conn)) (*Conn, time.Duration, error) {
	id := p.nextID.Add(1) - 1
	raw, sid, took, err := p.T.Handshake(ctx, id)
	if err != nil {
		return nil, 0, err
	}
	sock := raw
	tc, _ := raw.(*ltls.Conn)
	if tc != nil {
		sock = tc.Conn()
	}
	nbc, err := nbiofix.NBConn(sock) // dups the fd (close-on-exec) and closes sock
	if err != nil {
		_ = sock.Close()
		return nil, 0, err
	}
	if tc != nil {
		// From now on the TLS layer writes to the poller's connection
		// and decrypts what the poller hands it (nbhttp's client does the
		// same after its blocking handshake).
		tc.ResetConn(nbc, true)
	}
	c := &Conn{pool: p, nc: nbc, tls: tc, ID: id, SocketID: sid}
	if setup != nil {
		setup(c)
	}
	nbc.SetSession(c)
	if _, err := p.eng.AddConn(nbc); err != nil {
		_ = nbc.Close()
		return nil, 0, err
	}
	p.mu.Lock()
	p.conns = append(p.conns, c)
	p.mu.Unlock()
	return c, took, nil
}

// OpenMany opens n connections with conc concurrent dials. each runs after
// every successful dial (from the dialling goroutine). It stops early on ctx
// or when more than maxFail dials failed.
func (p *Pool) OpenMany(ctx context.Context, n, conc, maxFail int, setup func(c *Conn), each func(i int, c *Conn)) (opened, failed int, firstErr error) {
	if conc <= 0 {
		conc = 64
	}
	var next, ok, bad atomic.Int64
	var errOnce sync.Once
	var wg sync.WaitGroup
	for w := 0; w < conc && w < n; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && bad.Load() <= int64(maxFail) {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				c, _, err := p.Dial(ctx, setup)
				if err != nil {
					bad.Add(1)
					errOnce.Do(func() { firstErr = err })
					continue
				}
				ok.Add(1)
				if each != nil {
					each(i, c)
				}
			}
		}()
	}
	wg.Wait()
	return int(ok.Load()), int(bad.Load()), firstErr
}

// Close closes the connection (after a close_notify alert over TLS).
func (c *Conn) Close() {
	c.closed.Store(true)
	if c.tls == nil {
		_ = c.nc.Close()
		return
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.tls.Close() // closes nc too
}

// write sends b, through the TLS layer if there is one.
func (c *Conn) write(b []byte) error {
	if c.tls == nil {
		_, err := c.nc.Write(b)
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err := c.tls.Write(b)
	return err
}

// SendText sends one masked text frame.
func (c *Conn) SendText(p []byte) error {
	return c.write(appendMaskedFrame(make([]byte, 0, len(p)+14), 1, p))
}

// Send marshals v and sends it as a text frame.
func (c *Conn) Send(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.SendText(b)
}

type subscribeData struct {
	Auth        string `json:"auth"`
	ChannelData string `json:"channel_data,omitempty"`
	Channel     string `json:"channel"`
}

type envelopeOut struct {
	Event   string `json:"event"`
	Data    any    `json:"data"`
	Channel string `json:"channel,omitempty"`
}

// Subscribe sends pusher:subscribe; private- and presence- channels are
// signed with the app secret exactly as an auth endpoint would.
func (c *Conn) Subscribe(channel, channelData string) error {
	d := subscribeData{Channel: channel, ChannelData: channelData}
	if strings.HasPrefix(channel, "private-") || strings.HasPrefix(channel, "presence-") {
		var cd *string
		if channelData != "" {
			cd = &channelData
		}
		d.Auth = signing.AuthorizeChannel(c.pool.T.Key, c.pool.T.Secret, c.SocketID, channel, cd)
	}
	return c.Send(envelopeOut{Event: "pusher:subscribe", Data: d})
}

// Unsubscribe sends pusher:unsubscribe.
func (c *Conn) Unsubscribe(channel string) error {
	return c.Send(envelopeOut{Event: "pusher:unsubscribe", Data: map[string]string{"channel": channel}})
}

var pongFrame = []byte(`{"event":"pusher:pong","data":{}}`)

// maxMessage bounds a server frame and a reassembled fragmented message.
const maxMessage = 16 << 20

func (p *Pool) onData(nc *nbio.Conn, data []byte) {
	c, ok := nc.Session().(*Conn)
	if !ok {
		nbiofix.Seen(nc)
		return
	}
	if c.tls != nil {
		p.onTLS(c, data)
		return
	}
	p.onFrames(c, data)
}

// onFrames parses WebSocket frames; a frame split across reads waits in
// c.buf.
func (p *Pool) onFrames(c *Conn, data []byte) {
	if len(c.buf) > 0 {
		c.buf = append(c.buf, data...)
		data = c.buf
	}
	for len(data) > 0 {
		fin, op, payload, total, err := parseFrame(data, maxMessage)
		if err != nil {
			p.ProtoErrors.Add(1)
			p.noteErr(err.Error())
			c.Close()
			return
		}
		if total == 0 {
			break
		}
		switch op {
		case 1, 2:
			if fin {
				p.handle(c, payload)
			} else {
				c.frag = append(c.frag[:0], payload...)
			}
		case 0:
			if len(c.frag)+len(payload) > maxMessage {
				p.ProtoErrors.Add(1)
				p.noteErr("fragmented message too large")
				c.Close()
				return
			}
			c.frag = append(c.frag, payload...)
			if fin {
				p.handle(c, c.frag)
				c.frag = nil
			}
		case 8:
			if !p.closing.Load() {
				p.noteErr(fmt.Sprintf("server sent close frame %q", payload))
			}
			c.Close()
			return
		case 9:
			_ = c.write(appendMaskedFrame(nil, 10, payload))
		}
		data = data[total:]
	}
	switch {
	case len(data) == 0:
		if cap(c.buf) > 4096 {
			c.buf = nil
		} else {
			c.buf = c.buf[:0]
		}
	case len(c.buf) > 0 && &data[0] != &c.buf[0]:
		n := copy(c.buf, data) // overlapping move to the front
		c.buf = c.buf[:n]
	case len(c.buf) == 0:
		c.buf = append(c.buf[:0], data...)
	}
}

func (p *Pool) handle(c *Conn, payload []byte) {
	var m Message
	if !parseEnvelope(payload, &m) {
		p.ProtoErrors.Add(1)
		p.noteErr(fmt.Sprintf("unparsable message: %.200s", payload))
		return
	}
	p.Messages.Add(1)
	switch string(m.Event) {
	case "pusher:ping":
		_ = c.SendText(pongFrame)
		return
	case "pusher_internal:subscription_succeeded":
		p.Subscribed.Add(1)
	case "pusher:error", "pusher:subscription_error":
		p.ProtoErrors.Add(1)
		p.noteErr(fmt.Sprintf("%.300s", payload))
	}
	if p.h != nil {
		p.h.OnMessage(c, m)
	}
}
