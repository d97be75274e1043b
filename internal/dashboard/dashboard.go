// Package dashboard serves the web dashboard on the admin listener: a login
// with the admin token exchanged for a session cookie, and server-rendered
// pages to list, create, edit, enable, disable, delete apps and rotate their
// secrets (and the same for stored Beams instances), through the admin
// package's operations. Every page works without JavaScript; the small
// script in assets/ only adds copy buttons and a typed-confirmation check.
// The charts pages (charts.go, with Deps.Stats) are the exception: their
// script draws the time series with uPlot, embedded from assets/vendor/.
// So is the debug console (console.go, with Deps.Console): its script
// shows an app's live events from a Server-Sent Events stream.
//
// The config file's apps (Deps.ConfigApps) are listed beside the app
// store's and have their pages, console and charts, read-only
// (configapps.go): they are changed in the config file.
//
// The dashboard answers under / and under /dashboard/ alike; the links of a
// page keep the prefix it was asked with. It must never be mounted on the
// public port.
package dashboard

import (
	"context"
	"crypto/sha256"
	"log/slog"
	"maps"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/admin"
	"github.com/heraldhq/herald/internal/apps"
	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/console"
)

// Defaults of Config's zero values.
const (
	DefaultSessionTTL           = 12 * time.Hour
	DefaultIdleTimeout          = time.Hour
	DefaultMaxSessions          = 1000
	DefaultLoginFailuresPerAddr = 5
	DefaultLoginFailuresGlobal  = 30
	DefaultLoginFailureWindow   = time.Minute
	DefaultSecretUseWindow      = 15 * time.Minute
	DefaultWebhookTestInterval  = 2 * time.Second
)

// MaxFormBytes bounds a form body; larger ones get 413.
const MaxFormBytes = 64 << 10

// Config configures the dashboard. Every zero value means the default named
// beside it.
type Config struct {
	// Token is the admin token (HERALD_ADMIN_TOKEN / _FILE) a login must
	// give. Empty: the dashboard is off and every request gets 404.
	Token string

	// SessionTTL is the absolute lifetime of a session and its cookie's
	// Max-Age (default 12h); IdleTimeout ends a session unused that long
	// (default 1h).
	SessionTTL  time.Duration
	IdleTimeout time.Duration
	// MaxSessions bounds the sessions kept in memory (default 1,000); a
	// login beyond it drops the oldest.
	MaxSessions int

	// Failed logins allowed per LoginFailureWindow (default 1 min) from one
	// client address (default 5) and from all together (default 30);
	// beyond them a login gets 429 with Retry-After.
	LoginFailuresPerAddr int
	LoginFailuresGlobal  int
	LoginFailureWindow   time.Duration

	// SecretUseWindow is the period the App keys page reports secret
	// generation use over (default 15 min).
	SecretUseWindow time.Duration

	// WebhookTestInterval is the least time between two test webhooks of
	// one app (default 2s), whoever sends them: the button cannot be used
	// to hammer a receiver.
	WebhookTestInterval time.Duration

	// Where SDKs reach the public port, for the snippets: PublicHost ""
	// or a wildcard address means 127.0.0.1, PublicPort 0 means
	// config.DefaultPort, TLS selects wss/https, PathPrefix is the
	// server's path_prefix ("" = none).
	PublicHost string
	PublicPort int
	TLS        bool
	PathPrefix string

	// Secure sets the Secure flag of the cookies: false on the plain-HTTP
	// admin listener, true when a TLS proxy fronts it.
	Secure bool

	// BeamsConfigIDs are the ids of the config file's Beams instances: a
	// stored instance with one of them is neither created nor deleted here
	// (as in the admin API).
	BeamsConfigIDs []string
}

// Conns reports live connection counts; the server implements it from the
// hub. Must be safe for concurrent use.
type Conns interface {
	// Connections returns the number of open connections of the app.
	Connections(appID string) int
}

// SecretUse reports which secret generation recent signatures were verified
// with; the server implements it from herald_secret_verifications_total.
// Must be safe for concurrent use.
type SecretUse interface {
	// SecretUses returns how many signatures of the app (channel and user
	// authorizations, API requests) were verified in the last window, by
	// secret generation as apps.SecretGeneration names it ("primary",
	// "previous"). A generation without uses may be missing.
	SecretUses(appID string, window time.Duration) map[string]uint64
}

// Deps are what the dashboard works through.
type Deps struct {
	// Apps is the app store's management interface. Nil (apps only in the
	// config file): the app list says so, and the pages that create or
	// change an app of the store are 404.
	Apps apps.Manager
	// ConfigApps returns the config file's apps as the server serves them
	// now (the server passes its apps.Reloadable's All, which SIGHUP
	// swaps); nil: none. They are shown read-only and, as in serving
	// (apps.Layered), win over an app of the store with the same id or
	// key. Must be safe for concurrent use; the dashboard never changes
	// what it returns.
	ConfigApps func() []*apps.App
	// Beams holds the stored Beams instances; nil: no Beams pages.
	Beams admin.BeamsStore
	// Conns gives the app list and pages their live connection counts;
	// nil: not shown.
	Conns Conns
	// SecretUse gives the App keys page its secret-generation counts; nil:
	// not shown.
	SecretUse SecretUse
	// Stats gives the charts pages (/stats, /apps/{id}/stats) their time
	// series; the server passes its *stats.Store. Nil: no charts pages.
	Stats StatsSource
	// Console is the debug console's feed, served by the console pages
	// (/apps/{id}/console, console.go); the server passes the one feed it
	// gives the hub and the edges. Nil: no console pages or links.
	Console *console.Feed
	// WebhookTester sends the settings page's test webhooks (webhooktest.go);
	// nil: no "Send test webhook" buttons.
	WebhookTester WebhookTester
	// Trigger publishes the console's event creator's events through the
	// HTTP API; nil (or no Console): no event creator.
	Trigger Trigger
	Logger  *slog.Logger     // nil: discard
	Now     func() time.Time // nil: time.Now; the clock of sessions, limits and rotations
}

// Handler is the dashboard, an http.Handler for the admin listener's mux.
type Handler struct {
	cfg      Config
	on       bool
	token    [sha256.Size]byte
	apps     apps.Manager
	config   func() []*apps.App
	beams    admin.BeamsStore
	conns    Conns
	secretUs SecretUse
	stats    StatsSource
	console  *console.Feed
	trigger  Trigger
	tester   WebhookTester
	testRate *testLimiter
	log      *slog.Logger
	now      func() time.Time
	sessions *sessions
	limiter  *loginLimiter
	pages    *pages
	assets   *assets
	mux      *http.ServeMux
}

var _ http.Handler = (*Handler)(nil)

// New returns the dashboard. Mount it at / on the admin listener (it also
// answers under /dashboard/); paths it does not know get a 404 page.
func New(cfg Config, d Deps) *Handler {
	setDefault(&cfg.SessionTTL, DefaultSessionTTL)
	setDefault(&cfg.IdleTimeout, DefaultIdleTimeout)
	setDefault(&cfg.MaxSessions, DefaultMaxSessions)
	setDefault(&cfg.LoginFailuresPerAddr, DefaultLoginFailuresPerAddr)
	setDefault(&cfg.LoginFailuresGlobal, DefaultLoginFailuresGlobal)
	setDefault(&cfg.LoginFailureWindow, DefaultLoginFailureWindow)
	setDefault(&cfg.SecretUseWindow, DefaultSecretUseWindow)
	setDefault(&cfg.WebhookTestInterval, DefaultWebhookTestInterval)
	setDefault(&cfg.PublicPort, config.DefaultPort)
	h := &Handler{
		cfg:      cfg,
		on:       cfg.Token != "",
		token:    sha256.Sum256([]byte(cfg.Token)),
		apps:     d.Apps,
		config:   d.ConfigApps,
		beams:    d.Beams,
		conns:    d.Conns,
		secretUs: d.SecretUse,
		stats:    d.Stats,
		console:  d.Console,
		trigger:  d.Trigger,
		tester:   d.WebhookTester,
		testRate: newTestLimiter(cfg.WebhookTestInterval),
		log:      d.Logger,
		now:      d.Now,
		pages:    loadPages(),
		assets:   loadAssets(),
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	h.log = h.log.With("component", "dashboard")
	if h.now == nil {
		h.now = time.Now
	}
	h.sessions = newSessions(cfg.SessionTTL, cfg.IdleTimeout, cfg.MaxSessions)
	h.limiter = newLoginLimiter(cfg.LoginFailureWindow, cfg.LoginFailuresPerAddr, cfg.LoginFailuresGlobal)
	h.mux = http.NewServeMux()
	h.routes()
	return h
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// securityHeaders go on every response. No inline script or style is
// allowed: the script and style sheet are files under /assets/.
var securityHeaders = map[string]string{
	"Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
	"X-Content-Type-Options":  "nosniff",
	"Referrer-Policy":         "same-origin",
	"X-Frame-Options":         "DENY",
}

// call is what one request carries through the handlers.
type call struct {
	base   string // "" or "/dashboard": the prefix links keep
	sid    string // the session id, once authenticated
	csrf   string // the session's CSRF token, once authenticated
	remote string // the client address (host only)
}

type callKey struct{}

// handlerFunc is a dashboard handler: c is never nil.
type handlerFunc func(w http.ResponseWriter, r *http.Request, c *call)

const dashboardPrefix = "/dashboard"

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	for k, v := range securityHeaders {
		w.Header().Set(k, v)
	}
	c := &call{remote: clientAddr(r)}
	if !h.on {
		h.errorPage(w, r, c, http.StatusNotFound, "Dashboard off",
			"The dashboard is off: set HERALD_ADMIN_TOKEN or HERALD_ADMIN_TOKEN_FILE to turn it on.")
		return
	}
	p := r.URL.Path
	if p == dashboardPrefix {
		http.Redirect(w, r, dashboardPrefix+"/", http.StatusMovedPermanently)
		return
	}
	if strings.HasPrefix(p, dashboardPrefix+"/") {
		c.base, p = dashboardPrefix, strings.TrimPrefix(p, dashboardPrefix)
	}
	// Unclean paths get 404 rather than the mux's redirect, which would
	// lose the prefix.
	if clean := path.Clean(p); clean != p && clean+"/" != p {
		h.notFound(w, r, c)
		return
	}
	r2 := r.WithContext(context.WithValue(r.Context(), callKey{}, c))
	u := *r.URL
	u.Path, u.RawPath = p, ""
	r2.URL = &u
	h.mux.ServeHTTP(w, r2)
}

// routes registers every page. Paths are those under the prefix.
func (h *Handler) routes() {
	h.route("/assets/{name...}", public, methods{"GET": h.asset})
	h.route("/login", public, methods{"GET": h.loginForm, "POST": h.login})
	h.route("/logout", private, methods{"POST": h.logout})

	h.route("/{$}", private, methods{"GET": h.appList})
	h.route("/apps/new", private, methods{"GET": h.appNew})
	h.route("/apps", private, methods{"GET": h.appListRedirect, "POST": h.appCreate})
	h.route("/apps/{id}", private, methods{"GET": h.appShow})
	h.route("/apps/{id}/reveal", private, methods{"POST": h.appReveal})
	h.route("/apps/{id}/edit", private, methods{"GET": h.appEdit, "POST": h.appUpdate})
	h.route("/apps/{id}/enable", private, methods{"POST": h.appSetEnabled(true)})
	h.route("/apps/{id}/disable", private, methods{"POST": h.appSetEnabled(false)})
	h.route("/apps/{id}/rotate", private, methods{"POST": h.appRotate})
	h.route("/apps/{id}/delete", private, methods{"GET": h.appDeleteConfirm, "POST": h.appDelete})
	if h.tester != nil {
		h.route("/apps/{id}/webhooks/test", private, methods{"POST": h.webhookTest})
	}
	if h.stats != nil {
		h.route("/stats", private, methods{"GET": h.statsServer})
		h.route("/stats/data", private, methods{"GET": h.statsData})
		h.route("/apps/{id}/stats", private, methods{"GET": h.statsApp})
	}
	if h.console != nil {
		h.route("/apps/{id}/console", private, methods{"GET": h.consoleShow})
		// public: the handler checks the session itself, answering 401.
		h.route("/apps/{id}/console/stream", public, methods{"GET": h.consoleStream})
		if h.trigger != nil {
			h.route("/apps/{id}/console/trigger", private, methods{"POST": h.consoleTrigger})
		}
	}

	h.route("/beams", private, methods{"GET": h.beamsList, "POST": h.beamsCreate})
	h.route("/beams/new", private, methods{"GET": h.beamsNew})
	h.route("/beams/{id}", private, methods{"GET": h.beamsShow})
	h.route("/beams/{id}/reveal", private, methods{"POST": h.beamsReveal})
	h.route("/beams/{id}/rotate", private, methods{"POST": h.beamsRotate})
	h.route("/beams/{id}/delete", private, methods{"GET": h.beamsDeleteConfirm, "POST": h.beamsDelete})

	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { h.notFound(w, r, callOf(r)) })
}

type methods map[string]handlerFunc

type access bool

const (
	public  access = true  // no session needed (login, assets)
	private access = false // a session needed; writes need its CSRF token
)

func callOf(r *http.Request) *call {
	if c, ok := r.Context().Value(callKey{}).(*call); ok {
		return c
	}
	return &call{remote: clientAddr(r)}
}

// route registers path with a handler per method; HEAD is served as GET.
// A private route needs a session; a write (any method but GET and HEAD)
// has its form read (bounded), its Origin or Referer checked and, when
// private, its CSRF token.
func (h *Handler) route(pattern string, acc access, byMethod methods) {
	allow := strings.Join(slices.Sorted(maps.Keys(byMethod)), ", ")
	h.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		c := callOf(r)
		method := r.Method
		if method == http.MethodHead {
			method = http.MethodGet
		}
		fn, ok := byMethod[method]
		if !ok {
			w.Header().Set("Allow", allow)
			h.errorPage(w, r, c, http.StatusMethodNotAllowed, "Method not allowed",
				"This page does not answer "+r.Method+" requests.")
			return
		}
		if acc == private && !h.authenticate(w, r, c) {
			return
		}
		if method != http.MethodGet {
			if !h.readForm(w, r, c) || !h.sameOrigin(w, r, c) {
				return
			}
			if acc == private && !h.checkCSRF(w, r, c) {
				return
			}
		}
		fn(w, r, c)
	})
}

// link is a path under the prefix the request came with.
func (c *call) link(p string) string { return c.base + p }
