package loadgen

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"

	ltls "github.com/lesismal/llib/std/crypto/tls"
)

// Why two TLS implementations: a WebSocket connection ends up on an nbio
// poller, which hands the bench raw socket bytes; only nbio's TLS (llib's
// fork of crypto/tls, the one nbhttp's client uses) can decrypt bytes
// pushed to it (Conn.AppendAndRead) instead of reading a socket itself. So
// each connection does its TLS handshake and WebSocket upgrade in blocking
// mode on the dialling goroutine, as plaintext connections do, and then the
// same llib connection is switched to non-blocking mode on top of the
// nbio.Conn (the way nbhttp's client does it) and read by the pollers. The
// HTTP API goes through net/http, whose goroutines read their own sockets:
// there crypto/tls is used.
//
// llib negotiates what a Go 1.16 client would, not quite what a browser
// does: X25519 without the post-quantum hybrid, and ChaCha20-Poly1305
// before AES-GCM (llib never initialises its copy of Go's CPU feature
// detection, so it believes there are no AES instructions). Stats reports
// the outcome; docs/performance.md says what it means for the figures.

// sessionCacheSize bounds each address's TLS session cache. Every new
// connection stores the server's newest ticket under the same key, so a
// few entries suffice.
const sessionCacheSize = 64

// TLSOptions configure the bench's TLS client side.
type TLSOptions struct {
	// Insecure skips the verification of the server's certificate (for a
	// self-signed one); false verifies it against RootCAs.
	Insecure bool
	// NoResume makes every connection a full handshake. The zero value
	// resumes sessions (TLS 1.3 tickets) from a cache that the run's
	// connections share, as a browser does when it reconnects.
	NoResume bool
	// RootCAs are the certificates trusted when verifying (nil = the
	// system's roots).
	RootCAs *x509.CertPool
}

// ClientTLS is the TLS client side of one bench run: wss:// WebSocket
// connections and https:// API calls. One value is shared by every
// connection of the run, so that its session caches let later handshakes
// resume. Build it with NewClientTLS.
type ClientTLS struct {
	o   TLSOptions
	api *tls.Config

	mu sync.Mutex
	ws map[string]*ltls.Config // by dialled host:port, each with its own session cache

	full, resumed, apiHandshakes atomic.Int64
	negotiated                   atomic.Pointer[string] // of the first WebSocket handshake
}

// TLSStats counts a ClientTLS's completed handshakes.
type TLSStats struct {
	// Full and Resumed are WebSocket connections' handshakes (a resumed
	// one skips the certificate: no signature on the server, no
	// verification here).
	Full, Resumed int64
	// API counts handshakes of HTTP API connections (kept alive, so few).
	API int64
	// Negotiated is the version and cipher suite of the first WebSocket
	// handshake, e.g. "TLS 1.3, TLS_CHACHA20_POLY1305_SHA256" ("" before).
	Negotiated string
}

// NewClientTLS returns the TLS client side for o.
func NewClientTLS(o TLSOptions) *ClientTLS {
	c := &ClientTLS{o: o, ws: map[string]*ltls.Config{}}
	c.api = &tls.Config{
		InsecureSkipVerify: o.Insecure, //nolint:gosec // --insecure: the user asked for it
		RootCAs:            o.RootCAs,
		MinVersion:         tls.VersionTLS12,
		// Called after every handshake, verified or not.
		VerifyConnection: func(tls.ConnectionState) error { c.apiHandshakes.Add(1); return nil },
	}
	if !o.NoResume {
		c.api.ClientSessionCache = tls.NewLRUClientSessionCache(sessionCacheSize)
	}
	return c
}

// Stats returns the handshakes completed so far.
func (c *ClientTLS) Stats() TLSStats {
	s := TLSStats{Full: c.full.Load(), Resumed: c.resumed.Load(), API: c.apiHandshakes.Load()}
	if n := c.negotiated.Load(); n != nil {
		s.Negotiated = *n
	}
	return s
}

// Describe says how connections are secured, for the result's target line.
func (c *ClientTLS) Describe() string {
	s := "TLS, sessions resumed"
	if c.o.NoResume {
		s = "TLS, full handshakes"
	}
	if c.o.Insecure {
		s += ", certificate not verified"
	}
	return s
}

// wsConfig returns the llib configuration for WebSocket connections to
// addr (host:port): ServerName is the host, for verification and SNI, and
// each address has its own session cache, since the nodes of a cluster do
// not share ticket keys (llib keys its cache by ServerName alone).
func (c *ClientTLS) wsConfig(addr string) *ltls.Config {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cfg, ok := c.ws[addr]; ok {
		return cfg
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	cfg := &ltls.Config{
		ServerName:         host,
		InsecureSkipVerify: c.o.Insecure, //nolint:gosec // --insecure: the user asked for it
		RootCAs:            c.o.RootCAs,
		MinVersion:         ltls.VersionTLS12,
	}
	if !c.o.NoResume {
		cfg.ClientSessionCache = ltls.NewLRUClientSessionCache(sessionCacheSize)
	}
	c.ws[addr] = cfg
	return cfg
}

// handshake runs the TLS client handshake over nc (deadline already set)
// in blocking mode and returns the llib connection, still blocking.
//
// Its buffers are plain Go memory (llib's NativeAllocator), not nbio's
// memory pool that nbhttp's client passes: llib returns a record's raw
// input to the allocator as soon as it is decrypted, while the plaintext
// it hands out next is still a slice of it, so with a pool another
// connection can overwrite a message being read (the race detector shows
// it in TestTLSScenarios). The garbage collector frees it safely instead;
// an idle connection still holds no input buffer.
func (c *ClientTLS) handshake(nc net.Conn, addr string) (*ltls.Conn, error) {
	tc := ltls.NewConn(nc, c.wsConfig(addr), true, false)
	if err := tc.Handshake(); err != nil {
		return nil, fmt.Errorf("TLS handshake with %s: %w", addr, err)
	}
	st := tc.ConnectionState()
	if st.DidResume {
		c.resumed.Add(1)
	} else {
		c.full.Add(1)
	}
	if c.negotiated.Load() == nil {
		// llib's IDs are the IANA numbers that crypto/tls names.
		n := tls.VersionName(st.Version) + ", " + tls.CipherSuiteName(st.CipherSuite)
		c.negotiated.CompareAndSwap(nil, &n)
	}
	return tc, nil
}

// onTLS decrypts what the poller read and parses the plaintext. As in
// nbhttp's TLSDataHandler, the read buffer also receives the plaintext
// (up to len(data) bytes a call): AppendAndRead has copied the ciphertext
// into the connection's raw input before it writes any.
func (p *Pool) onTLS(c *Conn, data []byte) {
	defer c.tls.ResetOrFreeBuffer() // frees the raw input once it is all decrypted
	in := data
	for !c.closed.Load() {
		_, n, err := c.tls.AppendAndRead(in, data)
		in = nil
		if err != nil {
			// io.EOF is the server's close_notify; OnClose counts the
			// disconnect and notes err.
			_ = c.nc.CloseWithError(err)
			return
		}
		if n == 0 {
			return // the rest of a record is still on its way
		}
		p.onFrames(c, data[:n])
	}
}

// CertificateRefused reports whether an error message (a result's first
// error, or a scenario's error) is this bench refusing the server's
// certificate: unknown authority, wrong host name, expired. x509's
// messages, matched as text because results keep only the first error's
// text.
func CertificateRefused(msg string) bool { return strings.Contains(msg, "x509: ") }

// PlaintextToTLS reports whether an error message is a TLS server
// answering a plaintext request (the bench lacks TLS); TLSToPlaintext
// whether it is a TLS handshake answered by a plaintext server.
func PlaintextToTLS(msg string) bool {
	return strings.Contains(msg, "HTTP request to an HTTPS server")
}

// TLSToPlaintext: see PlaintextToTLS.
func TLSToPlaintext(msg string) bool {
	return strings.Contains(msg, "first record does not look like a TLS handshake") ||
		strings.Contains(msg, "server gave HTTP response to HTTPS client")
}
