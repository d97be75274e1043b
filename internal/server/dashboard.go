package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/internal/apps"
	"github.com/heraldhq/herald/internal/dashboard"
	"github.com/heraldhq/herald/internal/hub"
	"github.com/heraldhq/herald/internal/signing"
	"github.com/heraldhq/herald/internal/webhooks"
)

// hubConns gives the dashboard the live connection counts of the hub.
type hubConns struct{ h *hub.Hub }

func (c hubConns) Connections(appID string) int { return c.h.ConnectionCount(appID) }

// secretUses answers the dashboard's "which secret generation did recent
// requests use" from herald_secret_verifications_total: a snapshot of the
// counter per app and generation each minute (at most maxSnapshots kept),
// subtracted from the current values.
type secretUses struct {
	gather prometheus.Gatherer
	now    func() time.Time

	mu    sync.Mutex
	snaps []secretSnap // oldest first
}

type secretSnap struct {
	at     time.Time
	counts map[string]map[string]uint64 // app → generation → verifications
}

const (
	secretSnapEvery = time.Minute
	maxSecretSnaps  = 61 // an hour of minutes, the longest window asked
)

func newSecretUses(g prometheus.Gatherer) *secretUses {
	return &secretUses{gather: g, now: time.Now}
}

// run snapshots the counter every minute until ctx ends.
func (s *secretUses) run(ctx context.Context) error {
	t := time.NewTicker(secretSnapEvery)
	defer t.Stop()
	for {
		s.snapshot()
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (s *secretUses) snapshot() {
	c := s.read()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.snaps = append(s.snaps, secretSnap{at: s.now(), counts: c})
	if len(s.snaps) > maxSecretSnaps {
		s.snaps = s.snaps[len(s.snaps)-maxSecretSnaps:]
	}
}

// read sums the counter over kinds, per app and generation.
func (s *secretUses) read() map[string]map[string]uint64 {
	out := map[string]map[string]uint64{}
	families, _ := s.gather.Gather() // a partial answer is still useful
	for _, f := range families {
		if f.GetName() != "herald_secret_verifications_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			var app, gen string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "app_id":
					app = l.GetValue()
				case "generation":
					gen = l.GetValue()
				}
			}
			if out[app] == nil {
				out[app] = map[string]uint64{}
			}
			out[app][gen] += uint64(m.GetCounter().GetValue())
		}
	}
	return out
}

// SecretUses implements dashboard.SecretUse: the verifications of the last
// window, by generation (since the start when the server is younger).
func (s *secretUses) SecretUses(appID string, window time.Duration) map[string]uint64 {
	cur := s.read()[appID]
	s.mu.Lock()
	var base map[string]uint64
	since := s.now().Add(-window)
	for _, snap := range s.snaps { // the newest snapshot at or before the window's start
		if snap.at.After(since) {
			break
		}
		base = snap.counts[appID]
	}
	s.mu.Unlock()
	out := make(map[string]uint64, len(cur))
	for gen, n := range cur {
		if b := base[gen]; n > b {
			out[gen] = n - b
		}
	}
	return out
}

// snippetAddr is a bound address as a browser on this machine reaches it.
func snippetAddr(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return net.JoinHostPort(snippetHost(host), port)
}

// StatsFile is the dashboard's chart history in the data directory.
const StatsFile = "stats.db"

// apiTrigger is the dashboard's event creator: it publishes through the
// HTTP API's own handler, with a request signed by the app's primary
// secret, so validation, limits, metrics and console events are exactly an
// API call's.
type apiTrigger struct {
	api  http.Handler
	apps apps.Store
}

// Trigger implements dashboard.Trigger.
func (t apiTrigger) Trigger(ctx context.Context, appID, channel, event, data string) error {
	app, err := t.apps.ByID(ctx, appID)
	if err != nil {
		return err
	}
	body, err := json.Marshal(struct {
		Name    string `json:"name"`
		Channel string `json:"channel"`
		Data    string `json:"data"`
	}{event, channel, data})
	if err != nil {
		return err
	}
	path := "/apps/" + url.PathEscape(appID) + "/events"
	q := signing.SignRequest(signing.Credential{Key: app.Key, Secret: app.Secret}, http.MethodPost, path, nil, body, time.Now())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, path+"?"+q.Encode(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.RemoteAddr = "127.0.0.1:0" // the dashboard, as logs and limits see it
	w := &answer{header: http.Header{}}
	t.api.ServeHTTP(w, req)
	if w.status == 0 || w.status == http.StatusOK {
		return nil
	}
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(w.body.Bytes(), &e) != nil || e.Error == "" {
		e.Error = strings.TrimSpace(w.body.String())
	}
	return fmt.Errorf("%d %s", w.status, e.Error)
}

// answer records an in-process response (at most 4 KiB of its body).
type answer struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (a *answer) Header() http.Header { return a.header }

func (a *answer) WriteHeader(code int) {
	if a.status == 0 {
		a.status = code
	}
}

func (a *answer) Write(p []byte) (int, error) {
	a.WriteHeader(http.StatusOK)
	if room := 4<<10 - a.body.Len(); room > 0 {
		a.body.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// maxWebhookTestTimeout bounds a dashboard test webhook, whatever
// webhooks.timeout says: the page waits for it.
const maxWebhookTestTimeout = 5 * time.Second

// webhookTester is the dashboard's "Send test webhook": one request built,
// signed and checked by the webhook code itself (with the app as the
// dashboard just read it: its current key and secret), sent at once rather
// than queued.
type webhookTester struct{ client *http.Client }

func newWebhookTester(timeout time.Duration) webhookTester {
	if timeout <= 0 || timeout > maxWebhookTestTimeout {
		timeout = maxWebhookTestTimeout
	}
	return webhookTester{client: webhooks.NewClient(timeout)}
}

// TestWebhook implements dashboard.WebhookTester.
func (t webhookTester) TestWebhook(ctx context.Context, app *apps.App, url string) (dashboard.WebhookTestResult, error) {
	r := webhooks.SendTestTo(ctx, app, url, t.client, time.Now())
	out := dashboard.WebhookTestResult{Status: r.Status, Latency: r.Latency, ContentType: r.ContentType, Body: r.Body, Truncated: r.Truncated}
	if se := (*webhooks.StatusError)(nil); r.Err != nil && !errors.As(r.Err, &se) {
		return out, r.Err
	}
	return out, nil // an answer, whatever its status
}
