package fcm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/heraldhq/herald/internal/beams/webpush"
)

// DefaultBaseURL is FCM's HTTP v1 API.
const DefaultBaseURL = "https://fcm.googleapis.com"

// defaultClient is used when Sender.Client is nil: the context bounds a
// send, the timeout bounds a context without a deadline.
var defaultClient = &http.Client{Timeout: 30 * time.Second}

// Sender pushes messages through FCM HTTP v1 for one instance's service
// account. It caches one access token until tokenRenew before it expires;
// concurrent sends that find it missing share one token request. Safe for
// concurrent use.
type Sender struct {
	Account *ServiceAccount  // required
	BaseURL string           // "": DefaultBaseURL
	Client  *http.Client     // nil: a client with a 30 s timeout
	Now     func() time.Time // nil: time.Now

	mu      sync.Mutex
	token   string    // the cached access token; "" when none
	renewAt time.Time // when it is to be replaced
	flight  *tokenFlight
}

// Send posts message, a body from Translate, to the device token. A body
// translated with token "" (once per publish) gets token put in; one that
// already names a token must name this one (or token be ""). It never
// returns an error: every failure is a Result, classified as spec 4.1 says:
//
//	200                                               Delivered
//	404 UNREGISTERED, 403 SENDER_ID_MISMATCH          Gone (delete the device)
//	400 INVALID_ARGUMENT about the registration token Gone
//	other 400 and 4xx                                 Rejected
//	429, 5xx, network errors                          Retry (RetryAfter when FCM said)
//	401, other 403 and 404, refused access token      ConfigError (the instance's, not the device's)
//
// An unreachable or overloaded token endpoint (network, 429, 5xx) is Retry;
// a token endpoint that refuses the account (4xx) is ConfigError.
func (s *Sender) Send(ctx context.Context, token string, message []byte) webpush.Result {
	body, err := withToken(message, token)
	if err != nil {
		return webpush.Result{Outcome: webpush.Rejected, Err: err}
	}
	access, err := s.accessToken(ctx)
	if err != nil {
		var te *TokenError
		if errors.As(err, &te) && !te.Transient {
			return webpush.Result{Outcome: webpush.ConfigError, Err: err}
		}
		r := webpush.Result{Outcome: webpush.Retry, Err: err}
		if te != nil {
			r.RetryAfter = te.RetryAfter
		}
		return r
	}
	endpoint := s.baseURL() + "/v1/projects/" + url.PathEscape(s.Account.ProjectID) + "/messages:send"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return webpush.Result{Outcome: webpush.ConfigError, Err: fmt.Errorf("fcm: %w", err)} // a BaseURL that is no URL
	}
	req.Header.Set("Authorization", "Bearer "+access)
	req.Header.Set("Content-Type", "application/json; charset=UTF-8")
	resp, err := s.client().Do(req)
	if err != nil {
		return webpush.Result{Outcome: webpush.Retry, Err: fmt.Errorf("fcm: %w", err)}
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	r := webpush.Result{Status: resp.StatusCode}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		r.Outcome = webpush.Delivered
		return r
	}
	e := parseError(answer)
	r.Outcome = classify(resp.StatusCode, e)
	switch {
	case r.Outcome == webpush.Retry:
		r.RetryAfter = webpush.RetryAfter(resp.Header.Get("Retry-After"), s.now())
	case resp.StatusCode == http.StatusUnauthorized && e.errorCode() != "THIRD_PARTY_AUTH_ERROR":
		s.dropToken(access) // revoked or expired early: the next send asks for a new one
	}
	r.Err = fmt.Errorf("fcm answered %s: %s", resp.Status, e.describe(answer))
	return r
}

// v1Error is FCM's error answer.
type v1Error struct {
	Error struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Status  string `json:"status"`
		Details []struct {
			Type            string `json:"@type"`
			ErrorCode       string `json:"errorCode"`
			FieldViolations []struct {
				Field       string `json:"field"`
				Description string `json:"description"`
			} `json:"fieldViolations"`
		} `json:"details"`
	} `json:"error"`
}

// parseError reads an error answer; a body that is not one gives the zero value.
func parseError(body []byte) *v1Error {
	e := new(v1Error)
	if json.Unmarshal(body, e) != nil {
		return new(v1Error)
	}
	return e
}

// errorCode is the FcmError detail's code ("UNREGISTERED", ...), or "".
func (e *v1Error) errorCode() string {
	for _, d := range e.Error.Details {
		if d.ErrorCode != "" {
			return d.ErrorCode
		}
	}
	return ""
}

// aboutToken: an INVALID_ARGUMENT that is about the registration token
// (the only 400 that means the device is gone).
func (e *v1Error) aboutToken() bool {
	mentions := func(s string) bool { return strings.Contains(strings.ToLower(s), "registration token") }
	if mentions(e.Error.Message) {
		return true
	}
	for _, d := range e.Error.Details {
		for _, v := range d.FieldViolations {
			if v.Field == "message.token" || mentions(v.Description) {
				return true
			}
		}
	}
	return false
}

func (e *v1Error) describe(raw []byte) string {
	if e.Error.Status == "" && e.Error.Message == "" {
		return truncate(string(bytes.TrimSpace(raw)), 200)
	}
	parts := []string{}
	for _, p := range []string{e.Error.Status, e.errorCode(), truncate(e.Error.Message, 200)} {
		if p != "" && (len(parts) == 0 || parts[len(parts)-1] != p) {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, ": ")
}

// classify an FCM answer other than 2xx (spec 4.1, 4.5).
func classify(status int, e *v1Error) webpush.Outcome {
	code := e.errorCode()
	switch {
	case code == "UNREGISTERED" || code == "SENDER_ID_MISMATCH":
		return webpush.Gone
	case code == "THIRD_PARTY_AUTH_ERROR" || status == http.StatusUnauthorized:
		return webpush.ConfigError
	case status == http.StatusBadRequest:
		if e.aboutToken() {
			return webpush.Gone
		}
		return webpush.Rejected
	case status == http.StatusTooManyRequests || status >= 500:
		return webpush.Retry
	case status == http.StatusForbidden || status == http.StatusNotFound:
		// PERMISSION_DENIED (the account may not send for the project), or
		// NOT_FOUND without UNREGISTERED (no such project, a wrong BaseURL):
		// nothing of this instance's can be delivered; keep the device.
		return webpush.ConfigError
	}
	return webpush.Rejected
}

var messagePrefix = []byte(`{"message":{`)

// withToken is message with its token set (see Send).
func withToken(message []byte, token string) ([]byte, error) {
	rest, ok := bytes.CutPrefix(message, messagePrefix)
	if !ok {
		return nil, errors.New("fcm: not a message from Translate")
	}
	q, _ := marshal(token)
	if tail, named := bytes.CutPrefix(rest, []byte(`"token":`)); named {
		if token == "" {
			return message, nil
		}
		if after, same := bytes.CutPrefix(tail, q); same && len(after) > 0 && (after[0] == ',' || after[0] == '}') {
			return message, nil
		}
		return nil, errors.New("fcm: the message was translated for another device token")
	}
	if token == "" {
		return nil, errors.New("fcm: no device token")
	}
	b := make([]byte, 0, len(message)+len(q)+10)
	b = append(b, messagePrefix...)
	b = append(b, `"token":`...)
	b = append(b, q...)
	if len(rest) > 0 && rest[0] != '}' {
		b = append(b, ',')
	}
	return append(b, rest...), nil
}

func (s *Sender) baseURL() string {
	if s.BaseURL == "" {
		return DefaultBaseURL
	}
	return strings.TrimRight(s.BaseURL, "/")
}

func (s *Sender) client() *http.Client {
	if s.Client != nil {
		return s.Client
	}
	return defaultClient
}

func (s *Sender) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}
