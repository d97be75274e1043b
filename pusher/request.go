package pusher

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// maxResponseBytes bounds how much of an answer is read; API answers are
// small (a users list of a full presence channel is a few KiB).
const maxResponseBytes = 4 << 20

// maxErrorBody is how much of an error answer RequestError keeps.
const maxErrorBody = 4 << 10

// escapeSegment percent-encodes s for one path segment, leaving the
// channel-name characters raw: channel names then travel exactly as the
// other SDKs send them, and odd user ids cannot change the path shape.
func escapeSegment(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-_=@,.;~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// apiPath returns the escaped path of an API resource: prefix, /apps/<id>,
// then the already-escaped rest.
func (c *Client) apiPath(rest string) string {
	return c.prefix + "/apps/" + escapeSegment(c.appID) + rest
}

// newRequest builds the signed request. escPath is the escaped path, which
// is exactly what goes on the wire and what is signed.
func (c *Client) newRequest(ctx context.Context, method, escPath string, params url.Values, body []byte) (*http.Request, error) {
	path, err := url.PathUnescape(escPath)
	if err != nil {
		return nil, fmt.Errorf("pusher: bad path %q: %w", escPath, err)
	}
	q := signQuery(c.key, c.secret, method, escPath, params, body, c.now())
	u := &url.URL{Scheme: c.scheme, Host: c.host, Path: path, RawPath: escPath, RawQuery: q.Encode()}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, fmt.Errorf("pusher: building request: %w", err)
	}
	// pusher-http-go sends the JSON type on every request; the server
	// ignores it on GET.
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Pusher-Library", "herald-go "+Version)
	return req, nil
}

// do sends a signed request and decodes a 2xx JSON answer into out (which
// must be non-nil: every API answer is a JSON object). Non-2xx answers
// become *RequestError.
func (c *Client) do(ctx context.Context, method, escPath string, params url.Values, body []byte, out any) error {
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	req, err := c.newRequest(ctx, method, escPath, params, body)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("pusher: %s %s: %w", method, escPath, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	// Drain what is left so the connection goes back to the pool.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		if len(b) > maxErrorBody {
			b = b[:maxErrorBody]
		}
		return &RequestError{Status: resp.StatusCode, Body: string(b)}
	}
	if err != nil {
		return fmt.Errorf("pusher: %s %s: reading answer: %w", method, escPath, err)
	}
	if len(b) > maxResponseBytes {
		return fmt.Errorf("%w: %s %s: answer larger than %d bytes", ErrInvalidResponse, method, escPath, maxResponseBytes)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return fmt.Errorf("%w: %s %s: empty body (HTTP %d)", ErrInvalidResponse, method, escPath, resp.StatusCode)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%w: %s %s: %w", ErrInvalidResponse, method, escPath, err)
	}
	return nil
}

// isEmptyJSON reports whether raw is absent, null, [] or {}: servers differ
// in how they spell "nothing" and none of them means an error.
func isEmptyJSON(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 16 {
		return false
	}
	s := strings.Join(strings.Fields(string(raw)), "")
	return s == "" || s == "null" || s == "[]" || s == "{}"
}

func wrapDecode(what string, err error) error {
	return fmt.Errorf("%w: decoding %s: %w", ErrInvalidResponse, what, err)
}
