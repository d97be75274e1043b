// Package api is the HTTP face of the Beams-compatible push service: the
// publish, customer/user, device and reporting routes the official Beams
// SDKs call (spec beams.md sections 1, 2 and 3), with their exact statuses
// and {"error","description"} bodies, and CORS on the routes browsers call.
//
// Paths arrive without Herald's optional path prefix. Routing is a Go 1.22
// ServeMux (per-segment unescaping of ids, interests and user ids), but its
// plain-text 404 and 405 answers are replaced by JSON before they reach a
// client: every Beams SDK parses error bodies.
//
// Where the spec leaves the choice open, this package does what the SDKs
// can take: registration answers 200 (new or known device); calls whose
// reply carries nothing answer 200 with an empty body; GET device answers
// {"id","platform","userId" ("" for none),"metadata"}; device and reporting
// routes take a JSON body whatever its Content-Type (only publishes require
// application/json, as hosted Beams did); platform tokens that cannot be
// valid are refused with the error "InvalidToken", which Android reads as
// "do not retry"; a full publish queue is a 503 with Retry-After.
//
// The device and reporting routes take no credential, so their writes are
// limited per client address (a 429 "Rate Limited" with Retry-After, see
// Config.DeviceRate), and an instance id that is not a UUID is not found
// without asking the registry.
package api

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/beams/devices"
	"github.com/heraldhq/herald/internal/beams/instance"
	"github.com/heraldhq/herald/internal/beams/queue"
	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/metrics"
)

// Config tunes the API. The zero value is the production setting.
type Config struct {
	// AllowPrivateEndpoints lets web push endpoints use http and private or
	// loopback addresses (tests, private deployments). Cloud metadata
	// addresses stay refused.
	AllowPrivateEndpoints bool
	// ExtraIssuers are Beams token issuers accepted besides
	// https://{id}.pushnotifications.pusher.com, which every SDK writes.
	ExtraIssuers []string
	// DeviceRate is how many writes a second one client address may make
	// to the device and reporting APIs (registrations, interest, user,
	// metadata and token changes, deletions, reports), which take no
	// credential; DeviceBurst is how many it may make at once. The address
	// is the connection's peer: behind a proxy, the proxy's (see
	// clientAddr). Reads and preflights are not limited. 0: the defaults,
	// DefaultDeviceRate (20) and DefaultDeviceBurst (40); negative (either
	// one): no limit.
	DeviceRate  int
	DeviceBurst int
	// MaxDeviceClients bounds how many client addresses that limit tracks;
	// beyond it (after dropping those idle for a minute) the others share
	// one bucket. 0: DefaultMaxDeviceClients (100,000).
	MaxDeviceClients int
}

// Deps are the API's collaborators; all but Now are required.
type Deps struct {
	Instances instance.Registry
	Devices   devices.Store
	Queue     queue.Queue
	Logger    *slog.Logger
	Metrics   *metrics.BeamsMetrics
	Now       func() time.Time // nil: time.Now
}

// Bounds of request bodies and lists. Publish bodies are bounded by
// publish.MaxBody (10 KiB, the hosted limit).
const (
	maxDeviceBody    = 16 << 10 // registration, token refresh
	maxMetadata      = 2 << 10  // device metadata: the SDKs send two or three short fields (spec 2.1)
	maxInterestsBody = 1 << 20  // PUT interests: 5,000 names of up to 164 bytes fit
	maxReportBody    = 16 << 10 // one reporting event
	defaultListLimit = 100      // GET interests without limit (the web SDK's default)
	maxListLimit     = 1000     // GET interests: a larger limit is lowered to this
)

// Route groups: the "route" label of the request counter.
const (
	groupPublish   = "publish"
	groupUsers     = "users"
	groupDevice    = "device"
	groupReporting = "reporting"
	groupOther     = "other"
)

// unknownInstance labels requests whose instance does not exist: a label
// from the path would let any client grow the metric without bound.
const unknownInstance = "unknown"

// Handler serves every Beams route. Safe for concurrent use.
type Handler struct {
	cfg    Config
	deps   Deps
	log    *slog.Logger
	now    func() time.Time
	mux    *http.ServeMux
	limits *limiter
	// clients limits device and reporting writes; nil: no limit.
	clients    *clientLimiter
	errLimited *apiError
}

var _ http.Handler = (*Handler)(nil)

// New builds the handler.
func New(cfg Config, deps Deps) *Handler {
	if deps.Now == nil {
		deps.Now = time.Now
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &Handler{cfg: cfg, deps: deps, log: log.With("component", "beams-api"), now: deps.Now,
		mux: http.NewServeMux(), limits: newLimiter(),
		clients: newClientLimiter(cfg.DeviceRate, cfg.DeviceBurst, cfg.MaxDeviceClients)}
	if h.clients != nil {
		h.errLimited = &apiError{status: http.StatusTooManyRequests, title: "Rate Limited",
			desc: fmt.Sprintf("Too many requests from this address in quick succession (max %g a second); retry later.", h.clients.rate)}
	}
	h.routes()
	return h
}

func (h *Handler) routes() {
	const (
		pub = "/publish_api/v1/instances/{id}"
		dev = "/device_api/v1/instances/{id}"
		one = dev + "/devices/{platform}/{device}"
	)
	h.handle("POST "+pub+"/publishes/interests", h.publish(toInterests))
	h.handle("POST "+pub+"/publishes", h.publish(toInterests)) // legacy alias (go, ruby SDKs)
	h.handle("POST "+pub+"/publishes/users", h.publish(toUsers))
	// {user...}: python leaves a "/" of a user id raw, so an id may span
	// segments; the mux unescapes each and joins them with "/".
	h.handle("DELETE /customer_api/v1/instances/{id}/users/{user...}", h.deleteUser)
	h.handle("DELETE /user_api/v1/instances/{id}/users/{user...}", h.deleteUser)

	h.handle("GET "+dev+"/web-vapid-public-key", h.vapidKey)
	h.handle("POST "+dev+"/devices/{platform}", h.register)
	h.handle("GET "+one, h.getDevice)
	h.handle("DELETE "+one, h.deleteDevice)
	h.handle("POST "+one+"/interests/{interest}", h.changeInterest(h.deps.Devices.AddInterest))
	h.handle("DELETE "+one+"/interests/{interest}", h.changeInterest(h.deps.Devices.RemoveInterest))
	h.handle("PUT "+one+"/interests", h.setInterests)
	h.handle("GET "+one+"/interests", h.listInterests)
	h.handle("PUT "+one+"/user", h.setUser)
	h.handle("PUT "+one+"/metadata", h.setMetadata)
	h.handle("PUT "+dev+"/devices/fcm/{device}/token", h.setToken)

	h.handle("POST /reporting_api/v2/instances/{id}/events", h.report)
}

// call is one routed request of a known instance.
type call struct {
	x   *exchange
	r   *http.Request
	in  *instance.Instance
	now time.Time
}

// handle registers fn for pattern behind the instance lookup, which comes
// first on every route: an unknown instance is a 404 whatever else is wrong.
// An id that is not a UUID, the only form instance ids take, is not looked
// up: ids come from any client, and registries may remember the ids they
// did not find.
func (h *Handler) handle(pattern string, fn func(*call) error) {
	h.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		x := w.(*exchange) // ServeHTTP hands the mux nothing else
		x.routed = true
		id := r.PathValue("id")
		if !config.ValidBeamsInstanceID(id) {
			h.fail(x, errInstanceNotFound)
			return
		}
		in, err := h.deps.Instances.Get(r.Context(), id)
		if err != nil {
			if !errors.Is(err, instance.ErrNotFound) {
				h.log.Error("beams instance lookup failed", "route", r.Pattern, "err", err)
				h.fail(x, errInternal)
				return
			}
			h.fail(x, errInstanceNotFound)
			return
		}
		x.instance = in.ID
		c := &call{x: x, r: r, in: in, now: h.now()}
		if err := fn(c); err != nil {
			var ae *apiError
			if !errors.As(err, &ae) {
				h.log.Error("beams api request failed", "instance", in.ID, "route", r.Pattern, "err", err)
				ae = errInternal
			}
			h.fail(x, ae)
		}
	})
}

// ServeHTTP adds CORS on the browser routes, answers their preflights,
// routes, and replaces the mux's own plain-text answers with JSON.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	grp, cors := group(r.URL.Path)
	x := &exchange{ResponseWriter: w, instance: unknownInstance}
	defer func() {
		h.deps.Metrics.Requests.WithLabelValues(x.instance, grp, strconv.Itoa(x.code())).Inc()
	}()
	if cors {
		// On every answer, errors included: without it a browser hides the
		// JSON error from the SDK behind a generic network error.
		w.Header().Set("Access-Control-Allow-Origin", "*")
		if r.Method == http.MethodOptions {
			// Preflights carry no credentials and no body: answered for any
			// path, so the real request then gets its own (JSON) answer.
			hd := w.Header()
			hd.Set("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS")
			hd.Set("Access-Control-Allow-Headers", "Content-Type, Authorization")
			hd.Set("Access-Control-Max-Age", "600")
			x.routed = true
			x.WriteHeader(http.StatusNoContent)
			return
		}
		// Before routing: a write refused here costs no instance lookup.
		if h.clients != nil && r.Method != http.MethodGet && r.Method != http.MethodHead {
			if ok, wait := h.clients.allow(clientAddr(r), h.now()); !ok {
				w.Header().Set("Retry-After", retryAfter(wait))
				x.routed = true
				h.fail(x, h.errLimited)
				return
			}
		}
	}
	h.mux.ServeHTTP(x, r)
	if x.routed {
		return
	}
	// The mux answered by itself: 404, 405 with Allow, or a redirect to
	// the cleaned path (a "//" or "." segment). Its body was discarded.
	hd := w.Header()
	hd.Del("Content-Type")
	hd.Del("Location")
	hd.Del("X-Content-Type-Options")
	x.routed = true
	if x.muxStatus == http.StatusMethodNotAllowed {
		if cors {
			hd.Set("Allow", hd.Get("Allow")+", OPTIONS")
		}
		h.fail(x, &apiError{status: http.StatusMethodNotAllowed, title: "Method Not Allowed",
			desc: "Method " + r.Method + " is not allowed on this path; allowed: " + hd.Get("Allow") + ".", reason: "invalid"})
		return
	}
	// A redirect is answered 404 too: SDKs do not follow redirects of a
	// POST or DELETE, and a Beams path in canonical form never gets one.
	h.fail(x, &apiError{status: http.StatusNotFound, title: "Not Found",
		desc: "No Beams API route has this path.", reason: "not_found"})
}

// group is the route group of path and whether it gets CORS (device and
// reporting routes: browsers call them; never the secret-key routes).
func group(path string) (string, bool) {
	switch {
	case strings.HasPrefix(path, "/publish_api/"):
		return groupPublish, false
	case strings.HasPrefix(path, "/customer_api/"), strings.HasPrefix(path, "/user_api/"):
		return groupUsers, false
	case strings.HasPrefix(path, "/device_api/"):
		return groupDevice, true
	case strings.HasPrefix(path, "/reporting_api/"):
		return groupReporting, true
	}
	return groupOther, false
}
