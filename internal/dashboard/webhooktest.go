package dashboard

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/heraldhq/herald/internal/admin"
	"github.com/heraldhq/herald/internal/apps"
)

// WebhookTester sends one signed test webhook to one saved endpoint of an
// app, synchronously and outside the delivery queue, and reports what the
// receiver answered; the server implements it with internal/webhooks.
// Must be safe for concurrent use, and bound its own time.
type WebhookTester interface {
	// TestWebhook posts to url, one of app's webhook URLs, signed with
	// app's key and secret. err is set when no answer arrived (the URL
	// refused, connection refused, timeout...), with a message for people
	// that never holds the secret or the signature; a non-2xx answer is a
	// result, not an error.
	TestWebhook(ctx context.Context, app *apps.App, url string) (WebhookTestResult, error)
}

// WebhookTestResult is a receiver's answer to a test webhook.
type WebhookTestResult struct {
	Status      int           // HTTP status; 0 without an answer
	Latency     time.Duration // until the answer was read, or the failure
	ContentType string        // the answer's Content-Type
	Body        string        // the start of the answer's body, as text
	Truncated   bool          // the body was longer than Body
}

// maxTestBodyShown bounds the answer's body the page shows, whatever the
// tester returns.
const maxTestBodyShown = 2 << 10

// maxTestLimited bounds the apps the test limiter remembers; beyond it,
// those whose interval has passed are forgotten.
const maxTestLimited = 1024

// webhookTestView is a test's result as the settings page shows it.
type webhookTestView struct {
	URL         string
	Status      string // "500 Internal Server Error"; "" without an answer
	OK          bool   // a 2xx
	Verdict     string // what the answer means for real deliveries
	Latency     string
	ContentType string
	Body        string
	Truncated   bool
}

// webhookTest is POST /apps/{id}/webhooks/test (url): it sends a test
// webhook to url, which must be one of the app's saved webhook URLs (the
// dashboard is no proxy to anywhere else), and shows the answer above the
// app's settings form, or above a config file's app's page (which has no
// form).
func (h *Handler) webhookTest(w http.ResponseWriter, r *http.Request, c *call) {
	a, fromConfig := h.servedApp(w, r, c)
	if a == nil {
		return
	}
	show := func(status int, v *webhookTestView, msg string) {
		if !fromConfig {
			f := formFromApp(admin.FromApp(a, false), false)
			f.Test = v
			h.renderAppForm(w, r, c, status, f, msg)
			return
		}
		p, err := h.configAppPage(r.Context(), c, a, false)
		if err != nil {
			h.internalError(w, r, c, err)
			return
		}
		p.Test, p.Error = v, msg
		h.render(w, r, c, status, "app", p)
	}
	target := r.PostForm.Get("url")
	idx := slices.IndexFunc(a.Webhooks, func(wh apps.Webhook) bool { return wh.URL == target })
	if target == "" || idx < 0 {
		msg := "Not sent: only a saved webhook URL of this app can be tested. Save the settings first, then test."
		if fromConfig {
			msg = "Not sent: only a webhook URL of this app in the config file can be tested."
		}
		show(http.StatusUnprocessableEntity, nil, msg)
		return
	}
	if wait := h.testRate.take(a.ID, h.now()); wait > 0 {
		secs := int(math.Ceil(wait.Seconds()))
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		show(http.StatusTooManyRequests, nil, fmt.Sprintf(
			"Not sent: a test webhook of this app went out less than %s ago. Try again in %ds.",
			roundDuration(h.cfg.WebhookTestInterval), secs))
		return
	}
	res, err := h.tester.TestWebhook(r.Context(), a, target)
	v := &webhookTestView{URL: target, Latency: fmt.Sprintf("%.1f ms", float64(res.Latency.Microseconds())/1000),
		ContentType: res.ContentType, Body: clip(res.Body, maxTestBodyShown), Truncated: res.Truncated || len(res.Body) > maxTestBodyShown}
	// The URL stays out of the log: its query may carry a token.
	logArgs := []any{"app_id", a.ID, "webhook", idx, "remote", c.remote, "status", res.Status, "latency", res.Latency}
	switch {
	case err != nil:
		v.Verdict = "No answer: " + err.Error()
		logArgs = append(logArgs, "err", err.Error())
	default:
		v.Status = strconv.Itoa(res.Status) + " " + http.StatusText(res.Status)
		v.OK, v.Verdict = verdict(res.Status)
	}
	h.log.Info("test webhook sent", logArgs...)
	show(http.StatusOK, v, "")
}

// verdict says what a status means for the app's real deliveries.
func verdict(status int) (ok bool, msg string) {
	switch {
	case status >= 200 && status <= 299:
		return true, "Accepted: deliveries to this URL count as delivered."
	case status >= 300 && status <= 399:
		return false, "A redirect: webhooks do not follow redirects, so deliveries fail. Configure the final URL."
	case status == http.StatusUnauthorized, status == http.StatusForbidden:
		return false, "Refused: deliveries fail. Check that the receiver verifies X-Pusher-Signature with this app's key and current secret."
	}
	return false, "An error status: deliveries fail and are retried with backoff, then dropped."
}

// testLimiter spaces an app's test webhooks at least every apart.
type testLimiter struct {
	every time.Duration

	mu   sync.Mutex
	last map[string]time.Time // app id → its last test
}

func newTestLimiter(every time.Duration) *testLimiter {
	return &testLimiter{every: every, last: map[string]time.Time{}}
}

// take records a test of app at now, or returns how long to wait for one.
func (l *testLimiter) take(app string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t, ok := l.last[app]; ok {
		// A clock that went back counts as the interval passed.
		if wait := l.every - now.Sub(t); wait > 0 && wait <= l.every {
			return wait
		}
	}
	if len(l.last) >= maxTestLimited {
		for id, t := range l.last {
			if now.Sub(t) >= l.every {
				delete(l.last, id)
			}
		}
	}
	l.last[app] = now
	return 0
}
