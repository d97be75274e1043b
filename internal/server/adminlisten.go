package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof" // its init also registers on http.DefaultServeMux, which Herald never serves
	"time"

	"github.com/heraldhq/herald/internal/config"
)

// adminListener is the optional operators' listener (config admin_listen):
// pprof profiles, /metrics and /ready over plain HTTP, on an address the
// public port never exposes. A nil *adminListener means "off": its methods
// do nothing, so Run needs no branches for it.
type adminListener struct {
	ln  net.Listener
	srv *http.Server
	// stop cancels the context of in-flight requests at shutdown, so a
	// running CPU profile or trace ends early instead of holding shutdown
	// until its deadline.
	stop context.CancelFunc
}

// listenAdmin binds addr and prepares the server; it returns nil, nil when
// addr is empty or "off". When the address is the default one (optional)
// and cannot be bound, the server starts without it and a warning says
// why; a configured address that cannot be bound is an error. Serving
// starts with Serve.
func listenAdmin(addr string, optional bool, handler http.Handler, log *slog.Logger, wrap func(net.Listener) net.Listener) (*adminListener, error) {
	if addr == "" || addr == config.AdminListenOff {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		if optional {
			log.Warn("admin listener (metrics, pprof) not started: its default address is taken; set admin_listen to another address, or \"off\"",
				"addr", addr, "err", err)
			return nil, nil
		}
		return nil, fmt.Errorf("admin listener on %s: %w", addr, err)
	}
	if wrap != nil {
		ln = wrap(ln)
	}
	base, stop := context.WithCancel(context.Background())
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
		// No WriteTimeout: pprof refuses a profile longer than it.
		BaseContext: func(net.Listener) context.Context { return base },
		ErrorLog:    slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	log.Info("admin listener", "addr", ln.Addr().String())
	return &adminListener{ln: ln, srv: srv, stop: stop}, nil
}

// Addr is the bound address (nil when off).
func (a *adminListener) Addr() net.Addr {
	if a == nil {
		return nil
	}
	return a.ln.Addr()
}

// Serve serves until Shutdown or Close; it returns nil once stopped by them.
func (a *adminListener) Serve() error {
	if a == nil {
		return nil
	}
	if err := a.srv.Serve(a.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("admin listener: %w", err)
	}
	return nil
}

// Shutdown stops accepting, ends in-flight profiles and waits for their
// responses until ctx ends; then it closes what is left and returns ctx's error.
func (a *adminListener) Shutdown(ctx context.Context) error {
	if a == nil {
		return nil
	}
	a.stop()
	err := a.srv.Shutdown(ctx)
	if err != nil {
		_ = a.srv.Close()
	}
	return err
}

// Close releases the listener at once; after Shutdown it does nothing. Run
// defers it for start-up failures, when Serve never ran.
func (a *adminListener) Close() {
	if a == nil {
		return
	}
	a.stop()
	_ = a.srv.Close()
	_ = a.ln.Close()
}

// adminRoutes serves the admin listener: the pprof pages, metricsHandler at
// /metrics (whatever metrics.enabled says about the public port), /ready as on the public port, and a JSON
// 404 for anything else, paths with "." or ".." segments included (no
// redirect).
func adminRoutes(metricsHandler http.Handler, ready *readiness, board http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index) // the index, and any named profile not listed below
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	for _, name := range []string{"heap", "goroutine", "allocs", "block", "mutex", "threadcreate"} {
		mux.Handle("/debug/pprof/"+name, pprof.Handler(name))
	}
	mux.Handle("/metrics", metricsHandler)
	mux.HandleFunc("/ready", func(w http.ResponseWriter, _ *http.Request) { writeReady(w, ready) })
	if board != nil {
		mux.Handle("/", board) // the dashboard: its pages at / and /dashboard/
	} else {
		mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { writeNotFound(w) })
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !cleanPath(r.URL.Path) {
			writeNotFound(w)
			return
		}
		mux.ServeHTTP(w, r)
	})
}
