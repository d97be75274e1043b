package server

import (
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/heraldhq/herald/internal/ws"
)

// routes mounts everything under prefix: the WebSocket edge at /app/, the
// REST API at /apps/, health at / and /ready, metrics at /metrics.
func routes(prefix string, edge *ws.Server, api, adminAPI http.Handler, metricsHandler http.Handler, metricsOn bool, ready *atomic.Bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
		case strings.HasPrefix(path, "/apps/"):
			api.ServeHTTP(w, stripPrefix(r, prefix, path))
		case strings.HasPrefix(path, "/admin/") && adminAPI != nil:
			adminAPI.ServeHTTP(w, stripPrefix(r, prefix, path))
		case path == "/" && (r.Method == http.MethodGet || r.Method == http.MethodHead) && !isUpgrade(r):
			writeText(w, http.StatusOK, "OK")
		case path == "/ready" && !isUpgrade(r):
			writeReady(w, ready)
		case path == "/metrics" && metricsOn && !isUpgrade(r):
			metricsHandler.ServeHTTP(w, r)
		default:
			notFound(w, r, edge, path)
		}
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

// writeReady answers /ready: 200 while serving, 503 before and during shutdown.
func writeReady(w http.ResponseWriter, ready *atomic.Bool) {
	if ready.Load() {
		writeText(w, http.StatusOK, "READY")
	} else {
		writeText(w, http.StatusServiceUnavailable, "NOT READY")
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
	u.RawPath = ""
	r2.URL = &u
	return r2
}
