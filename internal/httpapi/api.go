// Package httpapi serves the signed Pusher REST API (/apps/{app_id}/...):
// request authentication, size limits and thin handlers over the Backend
// interface it declares.
package httpapi

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/heraldhq/herald/internal/apps"
	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/console"
	"github.com/heraldhq/herald/internal/logthrottle"
	"github.com/heraldhq/herald/internal/metrics"
	"github.com/heraldhq/herald/internal/signing"
)

// Backend is what the API reads and publishes through: the hub, whose
// answers hold for the whole cluster. An error means the cluster's shared
// state could not be reached (the API answers 503).
type Backend interface {
	Publish(ctx context.Context, appID, channel, event, data, exceptSocketID string) error
	Channel(ctx context.Context, appID, name string) (broker.ChannelStats, error)
	Channels(ctx context.Context, appID, prefix string) (map[string]broker.ChannelStats, error)
	PresenceUsers(ctx context.Context, appID, name string) ([]string, error)
	Cached(ctx context.Context, appID, name string) (broker.CacheEntry, bool, error)
	TerminateUser(ctx context.Context, appID, userID string) error
	// Allow takes a token from the cluster-wide bucket named key.
	Allow(ctx context.Context, key string, rate float64, burst int) (time.Duration, bool, error)
}

// Admitter says whether the node takes a new publish now (memory); the
// admission gate implements it.
type Admitter interface {
	Publish() (ok bool, reason string)
}

// Config bounds the API. Zero values mean the documented default.
type Config struct {
	MaxBodyBytes      int64         // default 256 KiB; larger bodies get 413
	MaxChannelNameLen int           // default 200
	MaxEventNameLen   int           // default 200
	MaxUserIDLen      int           // default 128: user ids in #server-to-user- channels
	TimestampWindow   time.Duration // default 600s (the SDKs' and hosted Pusher's window)
	// PathPrefix is the prefix the server is mounted under; signatures over
	// the full path and over the path without it are both accepted.
	PathPrefix string
}

func (c *Config) setDefaults() {
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 256 << 10
	}
	if c.MaxChannelNameLen <= 0 {
		c.MaxChannelNameLen = 200
	}
	if c.MaxEventNameLen <= 0 {
		c.MaxEventNameLen = 200
	}
	if c.MaxUserIDLen <= 0 {
		c.MaxUserIDLen = 128
	}
	if c.TimestampWindow <= 0 {
		c.TimestampWindow = 600 * time.Second
	}
}

// Deps are the API's collaborators.
type Deps struct {
	Backend Backend
	Apps    apps.Store
	Logger  *slog.Logger
	Metrics *metrics.Metrics
	Now     func() time.Time // default time.Now
	// Admit refuses publishes with 503 while the node is near its memory
	// limit; nil admits all.
	Admit Admitter
	// Throttle bounds the log lines clients can cause (per remote address
	// and app); nil writes them all.
	Throttle *logthrottle.Throttle
	// Console receives the debug console's events (publishes, failed
	// authorizations); nil emits nothing.
	Console *console.Feed
}

// API is an http.Handler for /apps/...
type API struct {
	cfg  Config
	b    Backend
	apps apps.Store
	log  *slog.Logger
	m    *metrics.Metrics
	now  func() time.Time
	mux  *http.ServeMux

	admit    Admitter
	throttle *logthrottle.Throttle
	console  *console.Feed // nil: no debug console
}

// New builds the API handler.
func New(cfg Config, deps Deps) *API {
	cfg.setDefaults()
	if deps.Now == nil {
		deps.Now = time.Now
	}
	a := &API{cfg: cfg, b: deps.Backend, apps: deps.Apps, log: deps.Logger.With("component", "httpapi"),
		m: deps.Metrics, now: deps.Now, mux: http.NewServeMux(), admit: deps.Admit, throttle: deps.Throttle, console: deps.Console}
	a.handle(http.MethodPost, "/apps/{app_id}/events", "events", a.events)
	a.handle(http.MethodPost, "/apps/{app_id}/batch_events", "batch_events", a.batchEvents)
	a.handle(http.MethodGet, "/apps/{app_id}/channels", "channels", a.channels)
	a.handle(http.MethodGet, "/apps/{app_id}/channels/{channel_name}", "channel", a.channel)
	a.handle(http.MethodGet, "/apps/{app_id}/channels/{channel_name}/users", "users", a.users)
	a.handle(http.MethodPost, "/apps/{app_id}/users/{user_id}/terminate_connections", "terminate_connections", a.terminate)
	// The Python SDK's terminate_user_connections leaves out /apps/{app_id};
	// the app is then the one whose key signed the request.
	a.handleByKey(http.MethodPost, "/users/{user_id}/terminate_connections", "terminate_connections", a.terminate)
	a.mux.HandleFunc("/apps/", a.unknownEndpoint)
	a.mux.HandleFunc("/users/", a.unknownEndpoint)
	return a
}

// unknownEndpoint answers an API-looking path no route matches. Logged at
// debug only: scanners probe such paths all day.
func (a *API) unknownEndpoint(w http.ResponseWriter, r *http.Request) {
	if a.log.Enabled(r.Context(), slog.LevelDebug) {
		a.log.Debug("unknown api endpoint", "method", r.Method, "path", truncate(r.URL.EscapedPath(), 200), "remote", r.RemoteAddr)
	}
	writeError(w, http.StatusNotFound, "Unknown API endpoint")
}

func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

// publishEndpoints are refused with 503 while the node is near its memory
// limit (after authentication: a bad signature is still a 401; before the
// app's rate limit, so a refused publish costs no token). The SDKs surface
// the status; the sender retries later.
var publishEndpoints = map[string]bool{"events": true, "batch_events": true}

// request is an authenticated API call.
type request struct {
	*http.Request
	app *apps.App
	// body is valid until the handler returns: its buffer serves the next
	// request then. Handlers decode from it and keep only copies.
	body  []byte
	query url.Values // the query as it was signed (signing.ParseQuery)
}

// apiError is a refusal with its HTTP status.
type apiError struct {
	status int
	msg    string
	logMsg string      // what to log when msg must not be (it echoes a signature); "" means msg
	audit  auditReason // a failed authorization: why; noAudit otherwise
}

// auditReason is a console.Reason... in a byte, so apiError (allocated per
// request) keeps its size.
type auditReason uint8

const (
	noAudit auditReason = iota
	auditBadSignature
	auditExpiredTimestamp
	auditUnknownKey
	auditRateLimited
)

var auditReasons = [...]string{auditBadSignature: console.ReasonBadSignature, auditExpiredTimestamp: console.ReasonExpiredTimestamp,
	auditUnknownKey: console.ReasonUnknownKey, auditRateLimited: console.ReasonRateLimited}

func (e *apiError) Error() string { return e.msg }

func errorf(status int, msg string) *apiError { return &apiError{status: status, msg: msg} }

// unavailable is the answer when the cluster's shared state cannot be
// reached: never a 200 for what could not be done cluster-wide.
func unavailable(err error) *apiError {
	return &apiError{status: http.StatusServiceUnavailable, msg: "Cluster state unavailable; retry later",
		logMsg: "cluster state unavailable: " + truncate(err.Error(), 200)}
}

type handlerFunc func(*request) (any, *apiError)

// appBy says how a route names its app.
type appBy uint8

const (
	appByID  appBy = iota // the {app_id} path segment
	appByKey              // the signed auth_key (routes without /apps/{app_id})
)

// handle wraps h with body limits, app lookup and signature checks, and
// writes its result as JSON.
func (a *API) handle(method, pattern, name string, h handlerFunc) {
	a.handleApp(method, pattern, name, appByID, h)
}

// handleByKey is handle for a route whose app is the one owning auth_key.
func (a *API) handleByKey(method, pattern, name string, h handlerFunc) {
	a.handleApp(method, pattern, name, appByKey, h)
}

func (a *API) handleApp(method, pattern, name string, by appBy, h handlerFunc) {
	isPublish := publishEndpoints[name]
	a.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		status := http.StatusOK
		appID := "" // once the request names a known app
		body := getBodyBuf()
		defer func() {
			putBodyBuf(body)
			a.m.APIRequests.WithLabelValues(name, statusLabel(status)).Inc()
			if appID != "" {
				a.m.APIAppRequests.WithLabelValues(appID, metrics.StatusClass(status)).Inc()
			}
		}()
		if r.Method != method && !(method == http.MethodGet && r.Method == http.MethodHead) {
			status = http.StatusMethodNotAllowed
			w.Header().Set("Allow", method)
			writeError(w, status, "Method "+r.Method+" not allowed on this endpoint; use "+method)
			return
		}

		req, aerr := a.authenticate(w, r, by, body)
		if req != nil {
			appID = req.app.ID // known apps only: invented ids share one log budget and no series
		}
		if aerr == nil && isPublish && a.admit != nil {
			if ok, _ := a.admit.Publish(); !ok {
				aerr = errorf(http.StatusServiceUnavailable, "Server is low on memory; retry later")
			}
		}
		if aerr == nil {
			if wait, ok, err := a.allow(r.Context(), req.app); err != nil {
				aerr = unavailable(err)
			} else if !ok {
				secs := int(wait/time.Second) + 1
				w.Header().Set("Retry-After", strconv.Itoa(secs))
				a.m.AuthFailures.WithLabelValues(req.app.ID, metrics.AuthRateLimit).Inc()
				aerr = errorf(http.StatusTooManyRequests, "Rate limit exceeded for this app; retry after "+strconv.Itoa(secs)+"s")
				aerr.audit = auditRateLimited
			}
		}
		if aerr == nil {
			var out any
			out, aerr = h(req)
			if aerr == nil {
				writeJSON(w, http.StatusOK, out)
				return
			}
		}
		status = aerr.status
		appKey := ""
		if req != nil {
			appKey = req.app.Key
		}
		reason := aerr.msg
		if aerr.logMsg != "" {
			reason = aerr.logMsg
		}
		if aerr.status == http.StatusServiceUnavailable || aerr.status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", cmp.Or(w.Header().Get("Retry-After"), "1"))
		}
		a.throttle.Log(a.log, slog.LevelWarn, logthrottle.AddrKey(r.RemoteAddr), appID, "api request rejected",
			"endpoint", name, "status", aerr.status, "app_id", truncate(cmp.Or(r.PathValue("app_id"), appID), 64),
			"app_key", appKey, "reason", truncate(reason, 200), "remote", r.RemoteAddr)
		if aerr.audit != noAudit && (req != nil || aerr.audit == auditUnknownKey) {
			if aerr.audit == auditUnknownKey {
				appKey = r.URL.Query().Get("auth_key") // the key presented, not the app's
			}
			console.AuditAuthFailure(a.log, a.throttle, a.console, console.AuthFailure{AppID: appID, Key: appKey,
				Remote: r.RemoteAddr, Endpoint: name, Reason: auditReasons[aerr.audit], Detail: reason})
		}
		writeError(w, aerr.status, aerr.msg)
	})
}

// authenticate reads the body into buf and checks the request's signature.
func (a *API) authenticate(w http.ResponseWriter, r *http.Request, by appBy, buf *[]byte) (*request, *apiError) {
	app, aerr := a.lookupApp(r, by)
	if aerr != nil {
		return nil, aerr
	}
	body, aerr := readBody(w, r, a.cfg.MaxBodyBytes, buf)
	if aerr != nil {
		return nil, aerr
	}
	now := a.now()
	var credBuf [4]signing.Credential // the primary and a few previous secrets, off the heap
	creds := credBuf[:0]
	for _, s := range app.Secrets(now) {
		creds = append(creds, signing.Credential{Key: app.Key, Secret: s})
	}
	path := r.URL.EscapedPath()
	// The handlers read their parameters from the query exactly as it was
	// signed (url.ParseQuery would drop pairs containing ";").
	query, verr := signing.ParseQuery(r.URL.RawQuery)
	var used signing.Credential
	if verr == nil {
		used, verr = signing.VerifyQuery(r.Method, path, query, body, creds, now, a.cfg.TimestampWindow)
	}
	if verr != nil && query != nil && a.cfg.PathPrefix != "" {
		// The request arrives here without our mount prefix; an SDK told about
		// the prefix (PHP's path option) signed the full path.
		if c2, err2 := signing.VerifyQuery(r.Method, a.cfg.PathPrefix+path, query, body, creds, now, a.cfg.TimestampWindow); err2 == nil {
			used, verr = c2, nil
		}
	}
	if verr == nil {
		gen := 0
		if used.Secret != app.Secret {
			gen = 1
			a.throttle.Log(a.log, slog.LevelInfo, logthrottle.AddrKey(r.RemoteAddr), app.ID, "api request signed with a previous secret",
				"app_key", app.Key, "remote", r.RemoteAddr)
		}
		a.m.SecretUses.WithLabelValues(app.ID, "api", apps.SecretGeneration(gen)).Inc()
	}
	if verr != nil {
		kind := metrics.AuthAPISignature
		aerr := errorf(http.StatusUnauthorized, verr.Error())
		aerr.audit = auditBadSignature
		if ve, ok := errors.AsType[*signing.VerifyError](verr); ok {
			aerr.logMsg = ve.LogReason()
			switch ve.Kind {
			case signing.KindUnknownKey:
				kind, aerr.audit = metrics.AuthUnknownKey, auditUnknownKey
			case signing.KindTimestamp:
				kind, aerr.audit = metrics.AuthAPITimestamp, auditExpiredTimestamp
			}
		}
		a.m.AuthFailures.WithLabelValues(app.ID, kind).Inc()
		return &request{Request: r, app: app}, aerr
	}
	if !app.Enabled {
		return &request{Request: r, app: app}, errorf(http.StatusForbidden, "App is disabled")
	}
	return &request{Request: r, app: app, body: body, query: query}, nil
}

// lookupApp finds the app a request names: by the {app_id} segment (an
// unknown id is a 404), or by its auth_key (an unknown or missing key is
// the 401 the signature check gives a key that is not the app's).
func (a *API) lookupApp(r *http.Request, by appBy) (*apps.App, *apiError) {
	var (
		app *apps.App
		err error
	)
	if by == appByID {
		app, err = a.apps.ByID(r.Context(), r.PathValue("app_id"))
	} else {
		q, qerr := signing.ParseQuery(r.URL.RawQuery)
		if qerr != nil {
			return nil, errorf(http.StatusUnauthorized, qerr.Error())
		}
		key := signing.QueryKey(q)
		if key == "" {
			err = apps.ErrNotFound
		} else {
			app, err = a.apps.ByKey(r.Context(), key)
		}
		if errors.Is(err, apps.ErrNotFound) {
			// No app's credentials: the signature check (with no
			// credential, it always fails) names the first problem —
			// missing parameter, version, unknown key — in the order the
			// /apps/{app_id} routes report it.
			_, verr := signing.VerifyQuery(r.Method, r.URL.EscapedPath(), q, nil, nil, a.now(), a.cfg.TimestampWindow)
			aerr := errorf(http.StatusUnauthorized, verr.Error())
			if key != "" {
				// A key of no app: charged to no app, like an unknown key
				// on a WebSocket, and audited like one on /apps/{app_id}.
				a.m.AuthFailures.WithLabelValues("", metrics.AuthUnknownKey).Inc()
				aerr.audit = auditUnknownKey
			}
			return nil, aerr
		}
	}
	if err != nil {
		if errors.Is(err, apps.ErrNotFound) {
			return nil, errorf(http.StatusNotFound, "Unknown app id")
		}
		return nil, errorf(http.StatusServiceUnavailable, "App lookup failed")
	}
	return app, nil
}

// Request bodies are read into pooled buffers (the SDKs send one request
// after another, each a few hundred bytes). A buffer grown past
// maxPooledBody is left to the collector.
const maxPooledBody = 64 << 10

var bodyBufs = sync.Pool{New: func() any { return new([]byte) }}

func getBodyBuf() *[]byte { return bodyBufs.Get().(*[]byte) }

func putBodyBuf(b *[]byte) {
	if cap(*b) <= maxPooledBody {
		*b = (*b)[:0]
		bodyBufs.Put(b)
	}
}

// readBody reads the body, at most limit bytes, into buf (which it may
// grow) and returns it.
func readBody(w http.ResponseWriter, r *http.Request, limit int64, buf *[]byte) ([]byte, *apiError) {
	tooLarge := func() *apiError {
		return errorf(http.StatusRequestEntityTooLarge, "Request body is larger than "+strconv.FormatInt(limit, 10)+" bytes")
	}
	if r.ContentLength > limit {
		return nil, tooLarge()
	}
	b := (*buf)[:0]
	// Room for the announced length and the read that sees EOF, so one
	// allocation at most; a length announced but not (yet) sent reserves
	// no more than maxPooledBody.
	if want := max(min(r.ContentLength+1, maxPooledBody), 512); want > int64(cap(b)) {
		b = make([]byte, 0, want)
	}
	rd := http.MaxBytesReader(w, r.Body, limit)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := rd.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			*buf = b
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, tooLarge()
			}
			return nil, errorf(http.StatusBadRequest, "Could not read request body")
		}
	}
	*buf = b
	return b, nil
}

// emptyObject is json.Marshal(struct{}{}), the answer to most triggers.
var emptyObject = []byte("{}")

func writeJSON(w http.ResponseWriter, status int, v any) {
	b := emptyObject
	if _, empty := v.(struct{}); !empty {
		var err error
		if b, err = json.Marshal(v); err != nil {
			writeError(w, http.StatusInternalServerError, "Could not encode response")
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeError answers with the status and a JSON body; the SDKs surface the
// body text, so the message says what was wrong.
func writeError(w http.ResponseWriter, status int, msg string) {
	b, _ := json.Marshal(struct {
		Error string `json:"error"`
		Code  int    `json:"code"`
	}{msg, status})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// statusLabel is strconv.Itoa(status), without an allocation for 200.
func statusLabel(status int) string {
	if status == http.StatusOK {
		return "200"
	}
	return strconv.Itoa(status)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
