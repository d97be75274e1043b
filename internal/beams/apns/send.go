package apns

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/heraldhq/herald/internal/beams/webpush"
)

// Apple's hosts (spec 4.4).
const (
	ProductionURL = "https://api.push.apple.com"
	SandboxURL    = "https://api.sandbox.push.apple.com"
)

// Bounds of what Send takes.
const (
	MaxDeviceToken = 400 // hex digits of a device token (Apple's are 64; it may grow)
	MaxTopic       = 255 // bytes of a topic (a bundle id and suffix)
	DefaultTimeout = 30 * time.Second
	maxAnswer      = 4 << 10 // bytes of an error answer read
	maxReason      = 64      // bytes of a reason kept: Apple's are short names
)

// Sender pushes notifications for one instance's APNs key. Its provider
// token is shared by its concurrent sends and renewed as Apple requires.
// Safe for concurrent use; not to be copied after the first Send.
type Sender struct {
	KeyID  string            // the key's 10-character id from Apple (JWT kid)
	TeamID string            // the 10-character team id (JWT iss)
	Key    *ecdsa.PrivateKey // the .p8 signing key (LoadKey)
	// Topic is the apns-topic of devices that registered no bundle id of
	// their own: the app's bundle id. "": such devices cannot be reached.
	Topic string
	// Production selects api.push.apple.com; false: the sandbox, which
	// development builds of an app are registered with.
	Production bool
	// BaseURL replaces Apple's host (tests: a local fake); "": the host
	// Production selects.
	BaseURL string
	// Client must speak HTTP/2, which APNs requires (NewClient does); nil:
	// one client shared by every Sender, NewClient(DefaultTimeout).
	Client *http.Client
	Now    func() time.Time // nil: time.Now

	tok providerToken
}

// Error is APNs' refusal of a notification (a Result's Err): status and
// reason, which delivery may log and count.
type Error struct {
	Status int
	// Reason is Apple's reason ("Unregistered", "BadDeviceToken", …),
	// cut to 64 bytes; "" when the answer had none.
	Reason string
	// Timestamp is, on a 410, when Apple last knew the token valid; zero
	// otherwise.
	Timestamp time.Time
	detail    string // the start of an answer that was not Apple's JSON
}

func (e *Error) Error() string {
	switch {
	case e.Reason != "":
		return fmt.Sprintf("apns answered %d %s", e.Status, e.Reason)
	case e.detail != "":
		return fmt.Sprintf("apns answered %d: %s", e.Status, e.detail)
	}
	return fmt.Sprintf("apns answered %d", e.Status)
}

// Send posts a notification (body and headers from Build) to the device
// with this token (hex). topic is the device's bundle id; "" uses the
// Sender's Topic. It never returns an error: every failure is a Result,
// classified as spec 4.1 says. A provider token Apple calls expired is
// replaced and the notification sent once more.
func (s *Sender) Send(ctx context.Context, deviceToken, topic string, body []byte, h Headers) webpush.Result {
	r, _ := s.SendID(ctx, deviceToken, topic, body, h)
	return r
}

// SendID is Send that also returns the apns-id APNs gave a delivered
// notification ("" otherwise).
func (s *Sender) SendID(ctx context.Context, deviceToken, topic string, body []byte, h Headers) (webpush.Result, string) {
	if !validDeviceToken(deviceToken) {
		return webpush.Result{Outcome: webpush.Gone, Err: fmt.Errorf("apns: a device token must be 2 to %d hex digits, an even number", MaxDeviceToken)}, ""
	}
	switch {
	case topic != "" && !validTopic(topic): // the device registered it: it can never be reached
		return webpush.Result{Outcome: webpush.Gone, Err: fmt.Errorf("apns: the device's topic is not a bundle id (1 to %d of A-Z a-z 0-9 . - _)", MaxTopic)}, ""
	case topic == "" && s.Topic == "":
		return webpush.Result{Outcome: webpush.ConfigError, Err: errors.New("apns: no topic: the device has no bundle id and the sender no Topic")}, ""
	case topic == "" && !validTopic(s.Topic):
		return webpush.Result{Outcome: webpush.ConfigError, Err: errors.New("apns: the sender's Topic is not a bundle id")}, ""
	case topic == "":
		topic = s.Topic
	}
	if err := checkMessage(body, h); err != nil {
		return webpush.Result{Outcome: webpush.Rejected, Err: err}, ""
	}
	url := s.baseURL() + "/3/device/" + deviceToken
	for retried := false; ; retried = true {
		jwt, err := s.token()
		if err != nil {
			return webpush.Result{Outcome: webpush.ConfigError, Err: err}, ""
		}
		r, id := s.post(ctx, url, jwt, topic, body, h)
		var e *Error
		if errors.As(r.Err, &e) && e.Status == http.StatusForbidden && e.Reason == "ExpiredProviderToken" && !retried && s.expired(jwt) {
			continue
		}
		return r, id
	}
}

func (s *Sender) post(ctx context.Context, url, jwt, topic string, body []byte, h Headers) (webpush.Result, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return webpush.Result{Outcome: webpush.ConfigError, Err: fmt.Errorf("apns: BaseURL: %w", err)}, ""
	}
	req.Header.Set("Authorization", "bearer "+jwt)
	req.Header.Set("Apns-Topic", topic)
	req.Header.Set("Apns-Push-Type", cmp.Or(h.PushType, PushAlert))
	if h.Priority != 0 {
		req.Header.Set("Apns-Priority", strconv.Itoa(h.Priority))
	}
	req.Header.Set("Apns-Expiration", strconv.FormatInt(h.Expiration, 10))
	if h.CollapseID != "" {
		req.Header.Set("Apns-Collapse-Id", h.CollapseID)
	}
	if h.ID != "" {
		req.Header.Set("Apns-Id", h.ID)
	}
	resp, err := s.client().Do(req)
	if err != nil {
		return webpush.Result{Outcome: webpush.Retry, Err: fmt.Errorf("apns: %w", err)}, ""
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	r := webpush.Result{Status: resp.StatusCode}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		r.Outcome = webpush.Delivered
		return r, resp.Header.Get("Apns-Id")
	}
	e := parseError(resp.StatusCode, answer)
	r.Outcome = classify(e.Status, e.Reason)
	if r.Outcome == webpush.Retry {
		r.RetryAfter = webpush.RetryAfter(resp.Header.Get("Retry-After"), s.now())
	}
	r.Err = e
	return r, ""
}

// classify maps APNs' answer to an outcome (spec 4.1, 4.4).
func classify(status int, reason string) webpush.Outcome {
	switch {
	case status == http.StatusGone: // Unregistered, ExpiredToken: whatever the reason
		return webpush.Gone
	case status == http.StatusBadRequest && (reason == "BadDeviceToken" || reason == "DeviceTokenNotForTopic"):
		return webpush.Gone
	case status == http.StatusForbidden:
		// InvalidProviderToken, MissingProviderToken, ExpiredProviderToken
		// once retried: the key, the ids or the clock are wrong, not the device.
		return webpush.ConfigError
	case status == http.StatusNotFound || status == http.StatusMethodNotAllowed:
		return webpush.ConfigError // BadPath, MethodNotAllowed: BaseURL or a proxy is wrong
	case status == http.StatusTooManyRequests || status >= 500:
		return webpush.Retry
	}
	return webpush.Rejected // other 400 reasons, 413 PayloadTooLarge
}

func parseError(status int, answer []byte) *Error {
	e := &Error{Status: status}
	var a struct {
		Reason    string `json:"reason"`
		Timestamp int64  `json:"timestamp"` // milliseconds
	}
	if json.Unmarshal(answer, &a) == nil && a.Reason != "" {
		e.Reason = strings.ToValidUTF8(truncate(a.Reason, maxReason), "?")
		if a.Timestamp > 0 {
			e.Timestamp = time.UnixMilli(a.Timestamp)
		}
		return e
	}
	e.detail = strings.ToValidUTF8(truncate(string(bytes.TrimSpace(answer)), 200), "?")
	return e
}

func checkMessage(body []byte, h Headers) error {
	limit := MaxBody
	if h.PushType == "voip" {
		limit = MaxBodyVoIP
	}
	switch {
	case len(body) == 0:
		return errors.New("apns: empty notification")
	case len(body) > limit:
		return fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(body), limit)
	case len(h.CollapseID) > MaxCollapseID:
		return fmt.Errorf("apns: collapse id of %d bytes, at most %d", len(h.CollapseID), MaxCollapseID)
	case h.Priority != 0 && h.Priority != 10 && h.Priority != 5 && h.Priority != 1:
		return fmt.Errorf("apns: priority %d is not 10, 5 or 1", h.Priority)
	case h.Expiration < 0:
		return errors.New("apns: negative expiration")
	case !headerSafe(h.PushType) || !headerSafe(h.CollapseID) || !headerSafe(h.ID):
		return errors.New("apns: a header holds a control or non-ASCII character")
	}
	return nil
}

func validDeviceToken(t string) bool {
	if t == "" || len(t)%2 != 0 || len(t) > MaxDeviceToken {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func validTopic(t string) bool {
	if t == "" || len(t) > MaxTopic {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// headerSafe: printable ASCII, spaces allowed inside (a collapse id may
// hold them).
func headerSafe(v string) bool {
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] > 0x7e {
			return false
		}
	}
	return v == strings.TrimSpace(v)
}

func (s *Sender) baseURL() string {
	switch {
	case s.BaseURL != "":
		return strings.TrimSuffix(s.BaseURL, "/")
	case s.Production:
		return ProductionURL
	}
	return SandboxURL
}

func (s *Sender) client() *http.Client {
	if s.Client != nil {
		return s.Client
	}
	return sharedClient()
}

var sharedClient = sync.OnceValue(func() *http.Client { return NewClient(DefaultTimeout) })

// NewClient is a client for APNs: HTTP/2 only over TLS 1.2 or later, one
// long-lived connection per host multiplexing the sends, kept alive by
// pings; it does not follow redirects. timeout bounds each request (0:
// none).
func NewClient(timeout time.Duration) *http.Client {
	var p http.Protocols
	p.SetHTTP2(true)
	t := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		TLSClientConfig:     &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout: 10 * time.Second,
		ForceAttemptHTTP2:   true,
		Protocols:           &p,
		HTTP2: &http.HTTP2Config{
			SendPingTimeout: time.Minute, // a dead connection is found before a send waits on it
			PingTimeout:     15 * time.Second,
		},
	}
	return &http.Client{
		Transport:     t,
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func (s *Sender) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
