package webhooks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/apps"
	"github.com/heraldhq/herald/internal/signing"
)

// job is one attempt at a stored batch, handed from the loop to a worker.
type job struct {
	ep    endpointID
	seq   uint64
	body  []byte
	count int
}

// result is what a worker reports back; the loop alone changes state.
type result struct {
	ep        endpointID
	outcome   string // outcomeSuccess or a failure reason (a metric label)
	err       string // for the log; never contains the URL's query or a secret
	status    int    // HTTP status when a response arrived, else 0
	key       string // the app key that signed it ("" when the app was not found)
	permanent bool   // retrying cannot help: dead at once
	aborted   bool   // cut short by shutdown: not counted as an attempt
}

// Outcomes, bounded: they are metric labels.
const (
	outcomeSuccess         = "success"
	outcomeHTTPStatus      = "http_status"
	outcomeTimeout         = "timeout"
	outcomeNetwork         = "network"
	outcomeInvalidURL      = "invalid_url"
	outcomeEndpointRemoved = "endpoint_removed"
	outcomeAppNotFound     = "app_not_found"
	outcomeAppLookup       = "app_lookup"
)

// deliver makes one attempt. The app is looked up now, not when the event
// happened, so a rotated key and secret sign pending webhooks too.
func (d *Dispatcher) deliver(ctx context.Context, j job) result {
	r := result{ep: j.ep}
	app, err := d.apps.ByID(ctx, j.ep.App)
	switch {
	case ctx.Err() != nil:
		r.aborted = true
		return r
	case errors.Is(err, apps.ErrNotFound):
		r.outcome, r.err, r.permanent = outcomeAppNotFound, "app no longer configured", true
		return r
	case err != nil:
		r.outcome, r.err = outcomeAppLookup, err.Error()
		return r
	}
	r.key = app.Key
	w, ok := resolve(app, j.ep)
	if !ok {
		r.outcome, r.err, r.permanent = outcomeEndpointRemoved, "endpoint no longer configured", true
		return r
	}
	start := time.Now()
	r.status, err = post(ctx, d.client, d.cfg.Timeout, w, app.Key, app.Secret, j.body, nil)
	d.m.RequestDuration.WithLabelValues(j.ep.App).Observe(time.Since(start).Seconds())
	if err == nil {
		r.outcome = outcomeSuccess
		return r
	}
	if ctx.Err() != nil {
		r.aborted = true
		return r
	}
	r.outcome, r.permanent = classify(err)
	r.err = withoutURL(err).Error()
	return r
}

// resolve finds the configured endpoint a stored record belongs to: by
// index when the URL still matches, else by URL (the list was reordered).
func resolve(app *apps.App, id endpointID) (apps.Webhook, bool) {
	if id.Index < len(app.Webhooks) && app.Webhooks[id.Index].URL == id.URL {
		return app.Webhooks[id.Index], true
	}
	for _, w := range app.Webhooks {
		if w.URL == id.URL {
			return w, true
		}
	}
	return apps.Webhook{}, false
}

var errInvalidURL = errors.New("URL is not http(s) with a host")

// StatusError is a response outside 2xx (a 3xx included: redirects are not
// followed).
type StatusError struct{ Code int }

func (e *StatusError) Error() string {
	return fmt.Sprintf("HTTP %d %s", e.Code, http.StatusText(e.Code))
}

// post sends body to w signed with secret and returns the status code.
// Success is a 2xx; the response body is read up to maxResponseBytes (so the
// connection can be reused) and discarded. seen, when not nil, is given the
// response first (a test webhook keeps the start of its body).
func post(ctx context.Context, client *http.Client, timeout time.Duration, w apps.Webhook, key, secret string, body []byte, seen func(*http.Response)) (int, error) {
	u, err := url.Parse(w.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return 0, errInvalidURL // config validation refuses these; a store might not
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return 0, errInvalidURL
	}
	h := req.Header
	h["User-Agent"] = []string{userAgent}
	for k, v := range w.Headers {
		if reservedHeader(k) {
			continue
		}
		h.Set(k, v)
	}
	// Assigned directly so the spelling is exactly this on the wire
	// (pusher-http-php indexes these exact names).
	h["Content-Type"] = []string{"application/json"} // no charset: the Node SDK rejects one
	h["X-Pusher-Key"] = []string{key}
	h["X-Pusher-Signature"] = []string{signing.SignWebhook(secret, body)}

	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	if seen != nil {
		seen(resp)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBytes))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, &StatusError{Code: resp.StatusCode}
	}
	return resp.StatusCode, nil
}

// reservedHeader reports headers an endpoint's extra headers cannot set.
func reservedHeader(name string) bool {
	name = strings.ToLower(name)
	switch name {
	case "content-type", "content-length", "host", "transfer-encoding", "connection":
		return true
	}
	return strings.HasPrefix(name, "x-pusher-")
}

func classify(err error) (outcome string, permanent bool) {
	var se *StatusError
	var ne net.Error
	switch {
	case errors.Is(err, errInvalidURL):
		return outcomeInvalidURL, true
	case errors.As(err, &se):
		return outcomeHTTPStatus, false
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return outcomeTimeout, false
	}
	return outcomeNetwork, false
}

// withoutURL drops the *url.Error wrapper (nil stays nil): it quotes the
// full URL, whose query may carry a token.
func withoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
