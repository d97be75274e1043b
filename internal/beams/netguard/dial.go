package netguard

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// Timeouts of Transport. A push service answers in well under a second;
// these only stop a slow or hostile endpoint from holding a sender.
const (
	DialTimeout           = 5 * time.Second
	TLSHandshakeTimeout   = 5 * time.Second
	ResponseHeaderTimeout = 10 * time.Second
)

// Dialer returns a dialer that checks every address it connects to, after
// name resolution: a name that resolves to 127.0.0.1 today (or only on the
// second lookup, DNS rebinding) is refused when the connection is made.
// With allowPrivate only the cloud metadata addresses are refused. A
// timeout of zero or less means DialTimeout.
func Dialer(allowPrivate bool, timeout time.Duration) *net.Dialer {
	if timeout <= 0 {
		timeout = DialTimeout
	}
	return &net.Dialer{
		Timeout:   timeout,
		KeepAlive: 30 * time.Second,
		Control:   control(allowPrivate),
	}
}

// control runs between socket() and connect(), with the resolved address.
// Anything it cannot read as an IP address is refused: the guard fails
// closed.
func control(allowPrivate bool) func(network, address string, _ syscall.RawConn) error {
	return func(network, address string, _ syscall.RawConn) error {
		if !strings.HasPrefix(network, "tcp") && !strings.HasPrefix(network, "udp") {
			return &RefusedError{Addr: address, Reason: "network " + network + " is not allowed"}
		}
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return &RefusedError{Addr: address, Reason: "not an IP address and port"}
		}
		if reason := check(ap.Addr(), allowPrivate); reason != "" {
			return &RefusedError{Addr: address, Reason: reason}
		}
		return nil
	}
}

// Transport returns an HTTP transport that connects only through Dialer.
// It takes no proxy from the environment: a proxy would make the proxy's
// address the one checked and hide the real target. Each call returns a new
// transport; share one per sender so connections are reused.
func Transport(allowPrivate bool) *http.Transport {
	return &http.Transport{
		Proxy:                  nil,
		DialContext:            Dialer(allowPrivate, DialTimeout).DialContext,
		ForceAttemptHTTP2:      true, // a custom DialContext turns HTTP/2 off otherwise
		TLSHandshakeTimeout:    TLSHandshakeTimeout,
		ResponseHeaderTimeout:  ResponseHeaderTimeout,
		ExpectContinueTimeout:  time.Second,
		IdleConnTimeout:        90 * time.Second,
		MaxIdleConns:           1024,
		MaxIdleConnsPerHost:    256, // above the pushes in flight to one service (beams.max_per_origin): fewer churns connections
		MaxResponseHeaderBytes: 64 << 10,
	}
}

// Client returns a client over Transport that does not follow redirects:
// push services answer directly, and a redirect is the easiest way for an
// endpoint to point the server somewhere else. The 3xx response is returned
// as is. timeout bounds a whole request, body included; zero means no bound
// beyond the transport's own timeouts.
//
// The client checks addresses, not schemes: senders check the endpoint
// with CheckURL before each send.
func Client(allowPrivate bool, timeout time.Duration) *http.Client {
	return &http.Client{
		Transport: Transport(allowPrivate),
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
