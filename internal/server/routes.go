package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"path"
	"strings"
	"sync/atomic"

	"github.com/heraldhq/herald/internal/ws"
)

// routes mounts everything under prefix: the WebSocket edge at /app/, the
// REST API at /apps/ (and /users/), health at / and /ready, and /metrics when
// metricsHandler is set (it checks its own bearer token). A path with "."
// or ".." segments (or "//") is a 404, never a redirect: a redirect would
// repeat a signed query string in its Location header.
func routes(prefix string, edge *ws.Server, api, adminAPI, beamsAPI http.Handler, metricsHandler http.Handler, ready *readiness) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The Beams SDKs cannot add a path prefix: their paths are served
		// at the root too. Before the clean-path check: a user id such as
		// "." is valid there, and the Beams handler answers odd paths
		// itself, with its JSON errors and CORS.
		if beamsAPI != nil && isBeamsPath(r.URL.Path) && (prefix != "" || !cleanPath(r.URL.Path)) {
			beamsAPI.ServeHTTP(w, r)
			return
		}
		if !cleanPath(r.URL.Path) {
			notFound(w, r, edge, r.URL.Path)
			return
		}
		path, ok := strings.CutPrefix(r.URL.Path, prefix)
		if !ok {
			notFound(w, r, edge, r.URL.Path)
			return
		}
		if path == "" {
			path = "/"
		}
		switch {
		case strings.HasPrefix(path, "/app/"):
			edge.ServeHTTP(w, r, path)
		case strings.HasPrefix(path, "/apps/"), strings.HasPrefix(path, "/users/"):
			// /users/{id}/terminate_connections without /apps/{id}: the Python SDK's path.
			api.ServeHTTP(w, stripPrefix(r, prefix, path))
		case beamsAPI != nil && isBeamsPath(path):
			beamsAPI.ServeHTTP(w, stripPrefix(r, prefix, path))
		case strings.HasPrefix(path, "/admin/") && adminAPI != nil:
			adminAPI.ServeHTTP(w, stripPrefix(r, prefix, path))
		case path == "/" && (r.Method == http.MethodGet || r.Method == http.MethodHead) && !isUpgrade(r):
			writeText(w, http.StatusOK, "OK")
		case path == "/ready" && !isUpgrade(r):
			writeReady(w, ready)
		case path == "/metrics" && metricsHandler != nil && !isUpgrade(r):
			metricsHandler.ServeHTTP(w, r)
		default:
			notFound(w, r, edge, path)
		}
	})
}

// isBeamsPath reports whether path belongs to the Beams-compatible API
// (its prefixes collide with nothing of Channels').
func isBeamsPath(path string) bool {
	for _, p := range []string{"/publish_api/", "/customer_api/", "/user_api/", "/device_api/", "/reporting_api/"} {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

// cleanPath reports whether p has no ".", ".." or empty segments (a
// trailing slash is fine), as http.ServeMux would leave it unredirected.
func cleanPath(p string) bool {
	if p == "" || p == "/" {
		return true
	}
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") {
		c += "/"
	}
	return c == p
}

// bearerOnly serves h only to requests carrying "Authorization: Bearer
// token" (compared in constant time); others get 401 with a JSON body.
func bearerOnly(token string, h http.Handler) http.Handler {
	want := sha256.Sum256([]byte("Bearer " + token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := sha256.Sum256([]byte(r.Header.Get("Authorization"))) // equal lengths: nothing leaks through timing
		if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="herald metrics"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"Metrics need a bearer token","code":401}`))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// notFound answers a WebSocket handshake on a wrong path the Pusher way
// (upgrade, then close 4005) and anything else with a plain 404.
func notFound(w http.ResponseWriter, r *http.Request, edge *ws.Server, path string) {
	if isUpgrade(r) {
		edge.ServeHTTP(w, r, path)
		return
	}
	writeNotFound(w)
}

func writeNotFound(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusNotFound)
	_, _ = w.Write([]byte(`{"error":"Not found","code":404}`))
}

// readiness is what /ready reports: serving (false before start and during
// shutdown) and, in cluster mode, whether the shared state is reachable.
type readiness struct {
	serving atomic.Bool
	cluster func() error // nil: one node
}

// writeReady answers /ready: 200 while serving, 503 before and during
// shutdown and while the cluster's shared state is unreachable.
func writeReady(w http.ResponseWriter, rd *readiness) {
	switch {
	case !rd.serving.Load():
		writeText(w, http.StatusServiceUnavailable, "NOT READY")
	case rd.cluster != nil && rd.cluster() != nil:
		writeText(w, http.StatusServiceUnavailable, "NOT READY: cluster state (Redis) unreachable")
	default:
		writeText(w, http.StatusOK, "READY")
	}
}

func isUpgrade(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

func writeText(w http.ResponseWriter, status int, s string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(s + "\n"))
}

// stripPrefix hands a handler the request as if it were mounted at the root.
func stripPrefix(r *http.Request, prefix, path string) *http.Request {
	if prefix == "" {
		return r
	}
	r2 := new(http.Request)
	*r2 = *r
	u := *r.URL
	u.Path = path
	// Keep the escaped form too: Beams paths carry ids whose escaped
	// slashes must stay one segment.
	rp, ok := strings.CutPrefix(r.URL.RawPath, prefix)
	if !ok {
		rp = ""
	}
	u.RawPath = rp
	r2.URL = &u
	return r2
}
