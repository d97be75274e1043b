package webhooks

import (
	"context"
	"log/slog"
	"net/http"
	"path/filepath"
	"time"

	"github.com/heraldhq/herald/internal/apps"
	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/console"
	"github.com/heraldhq/herald/internal/metrics"
)

// Defaults used for zero Config fields (the same values as internal/config).
const (
	DefaultLeaveDelay     = 3 * time.Second
	DefaultBatchWindow    = 100 * time.Millisecond
	DefaultBatchMaxEvents = 50
	DefaultTimeout        = 5 * time.Second
	DefaultRetryWindow    = 5 * time.Minute
	DefaultMaxQueue       = 100_000
	DefaultWorkers        = 16
	// DefaultFailureLogEvery spaces the lines about one failing endpoint:
	// its first failure is logged at once, then at most one summary per
	// interval while it keeps failing, then the recovery.
	DefaultFailureLogEvery = 30 * time.Second
	// Cluster mode (Deps.Queue set). ClaimEvery must stay well under the
	// broker's hook lease time (a third of it, say) or leases expire
	// between renewals.
	DefaultClaimEvery = time.Second
	DefaultPollEvery  = 100 * time.Millisecond
)

// Fixed bounds; none is worth a configuration knob.
const (
	cacheMissWindow  = time.Second      // cache_miss de-duplication per (app, channel)
	maxTxEvents      = 256              // inbox events per group commit
	inboxSize        = 8192             // hub events buffered ahead of the writer
	maxResponseBytes = 64 << 10         // response body read (then discarded)
	dropWarnEvery    = 10 * time.Second // rate limit of the "dropped" warning
	backoffBase      = time.Second
	backoffMax       = 60 * time.Second
	openTimeout      = 2 * time.Second // a db locked by another process fails instead of hanging
	userAgent        = "Herald-Webhooks/1"

	// Cluster mode.
	readPage     = 256             // entries per ReadHooks
	readers      = 4               // concurrent ReadHooks calls (one per app at a time)
	readQueue    = 64              // read requests waiting for a reader; more wait for the next poll
	maxAckIDs    = 1000            // ids per AckHooks call
	maxAcks      = 10_000          // acks waiting (the queue refuses them) beyond which reading pauses
	queueTimeout = 2 * time.Second // one call to the shared queue
	flushTimeout = 2 * time.Second // writer and acker at shutdown, lease release
	addRetryMax  = time.Second     // cap of the writer's backoff while the queue is down
)

// DBFile is the database file name inside the data directory.
const DBFile = "webhooks.db"

// DBPath returns the database path for a data directory.
func DBPath(dataDir string) string { return filepath.Join(dataDir, DBFile) }

// Config tunes the dispatcher. Zero values mean the defaults above.
type Config struct {
	LeaveDelay      time.Duration // channel_vacated / member_removed hold-back
	BatchWindow     time.Duration // how long a first pending event waits for company
	Timeout         time.Duration // one request, response included
	RetryWindow     time.Duration // retries after the first attempt, then dead
	BatchMaxEvents  int           // events per request
	MaxQueue        int           // stored events + delayed leaves + batches
	Workers         int           // concurrent requests overall
	FailureLogEvery time.Duration // least time between two summaries about one failing endpoint
	Path            string        // bbolt file; required without Deps.Queue (see DBPath), unused with it
	Now             func() time.Time

	// Cluster mode only (Deps.Queue set).
	ClaimEvery time.Duration // how often the hook leases are renewed and free ones taken
	PollEvery  time.Duration // how often each held app's queue is read when it had nothing more

	// Backoff of retries: backoffBase doubling up to backoffMax. Unexported
	// so tests can shrink them without widening the API.
	backoffBase, backoffMax time.Duration
	// logClock is the failure log's clock (nil: Now), so a test can step
	// it by hand while deliveries run on the real one.
	logClock func() time.Time
	// maxAcks: cluster mode pauses reading while more acks than this
	// wait (0: maxAcks).
	maxAcks int
}

func (c Config) withDefaults() Config {
	def := func(p *time.Duration, v time.Duration) {
		if *p <= 0 {
			*p = v
		}
	}
	defInt := func(p *int, v int) {
		if *p <= 0 {
			*p = v
		}
	}
	def(&c.LeaveDelay, DefaultLeaveDelay)
	def(&c.BatchWindow, DefaultBatchWindow)
	def(&c.Timeout, DefaultTimeout)
	def(&c.RetryWindow, DefaultRetryWindow)
	defInt(&c.BatchMaxEvents, DefaultBatchMaxEvents)
	defInt(&c.MaxQueue, DefaultMaxQueue)
	defInt(&c.Workers, DefaultWorkers)
	def(&c.backoffBase, backoffBase)
	def(&c.backoffMax, backoffMax)
	def(&c.FailureLogEvery, DefaultFailureLogEvery)
	def(&c.ClaimEvery, DefaultClaimEvery)
	def(&c.PollEvery, DefaultPollEvery)
	defInt(&c.maxAcks, maxAcks)
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.logClock == nil {
		c.logClock = c.Now
	}
	return c
}

// Deps are the collaborators.
type Deps struct {
	// Apps is consulted when an event is stored (which endpoints want it)
	// and again at each attempt (current key and secret, so a rotation
	// applies to pending webhooks).
	Apps    apps.Store
	Logger  *slog.Logger            // nil: discard
	Metrics *metrics.WebhookMetrics // nil: a private registry
	Client  *http.Client            // nil: NewClient(Timeout); redirects are never followed
	// Inbox is what the hub observes (nil: a new one; Observe on the
	// Dispatcher feeds it too). One Dispatcher per inbox.
	Inbox *Inbox

	// Queue selects cluster mode: the webhook queue is the broker's shared
	// one instead of a local database (Config.Path is not used). See the
	// package doc, "Cluster mode".
	Queue broker.HookQueue
	// Candidates returns the ids of the apps that have webhooks: the apps
	// whose hook leases this node competes for. Required with Queue;
	// called about once per ClaimEvery, off the loop.
	Candidates func(context.Context) []string

	// Console receives the debug console's events (each delivery attempt's
	// result); nil emits nothing.
	Console *console.Feed
}

// NewClient returns the HTTP client used when Deps.Client is nil: the
// timeout bounds a whole request and a redirect is returned as the
// response (a 3xx is a failure: the endpoint must be configured exactly).
func NewClient(timeout time.Duration) *http.Client {
	return noRedirects(&http.Client{Timeout: timeout})
}

func noRedirects(c *http.Client) *http.Client {
	cp := *c
	cp.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &cp
}
