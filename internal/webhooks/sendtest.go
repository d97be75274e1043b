package webhooks

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/heraldhq/herald/internal/apps"
)

// TestChannel is the channel named in the event SendTest sends.
const TestChannel = "herald-webhook-test"

// MaxTestBody bounds the start of a response body a TestResult keeps.
const MaxTestBody = 2 << 10

// ErrNotEndpoint is SendTestTo's error for a URL that is none of the app's
// webhook endpoints: nothing was sent, so it cannot serve as an open proxy.
var ErrNotEndpoint = errors.New("the URL is not one of the app's webhook endpoints")

// TestResult is the outcome of a test webhook to one endpoint. It never
// holds the app's secret or the signature sent.
type TestResult struct {
	URL         string
	Status      int           // HTTP status; 0 when no response arrived
	Latency     time.Duration // until the response was read, or the failure
	ContentType string        // the response's Content-Type, as sent
	Body        string        // the first MaxTestBody bytes of the response, as printable UTF-8
	Truncated   bool          // the response body was longer than Body
	// Err is nil on a 2xx, a *StatusError for other statuses; otherwise its
	// message says for people what went wrong (refused URL, connection
	// refused, timeout, DNS, TLS) and it wraps the cause.
	Err error
}

// SendTest posts one signed channel_occupied event for TestChannel to every
// endpoint of app, one after the other, each bounded by the client's
// timeout (nil client: NewClient(DefaultTimeout)). It ignores the
// endpoints' event-type and channel filters: it tests reachability and
// signature checking, not routing. Nothing is stored or retried.
func SendTest(ctx context.Context, app *apps.App, client *http.Client, now time.Time) []TestResult {
	client, timeout := testClient(client)
	body := testBody(now)
	out := make([]TestResult, 0, len(app.Webhooks))
	for _, w := range app.Webhooks {
		out = append(out, sendTest(ctx, client, timeout, app, w, body))
	}
	return out
}

// SendTestTo is SendTest for the one endpoint of app whose URL is url
// (ErrNotEndpoint if there is none), with its configured extra headers.
// The request is built, signed and sent as a delivery's is: same headers,
// same URL check, no redirect followed; but synchronously, outside the
// queue, bounded by the client's timeout (nil: NewClient(DefaultTimeout)).
func SendTestTo(ctx context.Context, app *apps.App, url string, client *http.Client, now time.Time) TestResult {
	for _, w := range app.Webhooks {
		if w.URL == url {
			client, timeout := testClient(client)
			return sendTest(ctx, client, timeout, app, w, testBody(now))
		}
	}
	return TestResult{URL: url, Err: ErrNotEndpoint}
}

func testClient(client *http.Client) (*http.Client, time.Duration) {
	if client == nil {
		return NewClient(DefaultTimeout), DefaultTimeout
	}
	timeout := DefaultTimeout
	if client.Timeout > 0 {
		timeout = client.Timeout
	}
	return noRedirects(client), timeout
}

// testBody is a real Pusher event, so a receiver's handler parses it.
func testBody(now time.Time) []byte {
	return buildBody(now.UnixMilli(), [][]byte{[]byte(`{"name":"channel_occupied","channel":"` + TestChannel + `"}`)})
}

func sendTest(ctx context.Context, client *http.Client, timeout time.Duration, app *apps.App, w apps.Webhook, body []byte) TestResult {
	res := TestResult{URL: w.URL}
	start := time.Now()
	status, err := post(ctx, client, timeout, w, app.Key, app.Secret, body, func(resp *http.Response) {
		ct := resp.Header.Get("Content-Type")
		res.ContentType = printable([]byte(ct[:min(len(ct), 200)]), len(ct) > 200)
		b, _ := io.ReadAll(io.LimitReader(resp.Body, MaxTestBody+1))
		res.Truncated = len(b) > MaxTestBody
		res.Body = printable(b[:min(len(b), MaxTestBody)], res.Truncated)
	})
	res.Latency = time.Since(start)
	res.Status = status
	res.Err = explain(err, timeout)
	return res
}

// testError is a failure told for people, wrapping its cause.
type testError struct {
	msg string
	err error
}

func (e *testError) Error() string { return e.msg }
func (e *testError) Unwrap() error { return e.err }

// explain turns a post error into one a person can act on. The URL is not
// repeated (its query may carry a token); a host name may be.
func explain(err error, timeout time.Duration) error {
	var (
		se      *StatusError
		ne      net.Error
		dnsErr  *net.DNSError
		certErr *tls.CertificateVerificationError
		msg     string
	)
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se):
		return se
	case errors.Is(err, errInvalidURL):
		msg = "refused: the URL is not http or https with a host"
	case errors.Is(err, context.Canceled):
		msg = "cancelled before an answer arrived"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		msg = fmt.Sprintf("timeout: no answer within %s", timeout)
	case errors.Is(err, syscall.ECONNREFUSED):
		msg = "connection refused: nothing accepts connections at that host and port"
	case errors.As(err, &dnsErr):
		msg = fmt.Sprintf("host %q not found: %s", dnsErr.Name, dnsErr.Err)
	case errors.As(err, &certErr):
		msg = "TLS: the receiver's certificate is not trusted: " + certErr.Err.Error()
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET):
		msg = "the receiver closed the connection without an answer"
	default:
		return withoutURL(err)
	}
	return &testError{msg: msg, err: err}
}

// printable is b as text that is safe to show: valid UTF-8 (a rune cut by
// truncation dropped) and no control characters but newlines and tabs.
func printable(b []byte, cut bool) string {
	if cut {
		for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
			if utf8.RuneStart(b[i]) {
				if !utf8.FullRune(b[i:]) {
					b = b[:i]
				}
				break
			}
		}
	}
	return strings.Map(func(r rune) rune {
		if (r < 0x20 && r != '\n' && r != '\r' && r != '\t') || r == 0x7f {
			return utf8.RuneError
		}
		return r
	}, strings.ToValidUTF8(string(b), string(utf8.RuneError)))
}
