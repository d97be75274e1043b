package webhooks

import (
	"net/url"
	"strconv"

	"github.com/heraldhq/herald/internal/console"
)

// showResult reports one delivery attempt to the app's debug console: the
// endpoint's host only (its path, query and user info can hold tokens),
// the HTTP status and the outcome.
func (d *Dispatcher) showResult(r result, b *batch) {
	if !d.feed.Watching(r.ep.App) {
		return
	}
	host := "(unparsable)"
	if u, err := url.Parse(r.ep.URL); err == nil {
		host = u.Host
	}
	detail := strconv.Itoa(b.count) + " events, attempt " + strconv.Itoa(b.attempts)
	if r.err != "" {
		detail += ": " + r.err
	}
	d.feed.Emit(r.ep.App, console.Event{Type: console.Webhook, Endpoint: host, Status: r.status,
		Reason: r.outcome, Detail: detail})
}
