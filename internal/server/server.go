// Package server is the composition root: it builds every component from the
// configuration, mounts the routes and runs until its context is cancelled,
// then shuts down in order.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/heraldhq/herald/internal/admin"
	"github.com/heraldhq/herald/internal/admission"
	"github.com/heraldhq/herald/internal/apps"
	"github.com/heraldhq/herald/internal/apps/sqlstore"
	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/console"
	"github.com/heraldhq/herald/internal/dashboard"
	"github.com/heraldhq/herald/internal/httpapi"
	"github.com/heraldhq/herald/internal/hub"
	"github.com/heraldhq/herald/internal/logthrottle"
	"github.com/heraldhq/herald/internal/metrics"
	"github.com/heraldhq/herald/internal/protocol"
	"github.com/heraldhq/herald/internal/stats"
	"github.com/heraldhq/herald/internal/stats/statsredis"
	"github.com/heraldhq/herald/internal/webhooks"
	"github.com/heraldhq/herald/internal/ws"
)

// Options are the process-level inputs that are not configuration.
type Options struct {
	Version string
	Stdout  io.Writer // start-up banner; nil discards it
	Stderr  io.Writer // logs; nil means os.Stderr
	// OnListen, when set, is called with the bound address once the server
	// accepts connections (tests listen on port 0).
	OnListen func(addr net.Addr)
	// OnAdminListen, when set, is called with the admin listener's bound
	// address (config admin_listen), before OnListen; never when it is off.
	OnAdminListen func(addr net.Addr)
	// Reload, when it delivers, makes the server re-read its apps with
	// LoadConfig (SIGHUP): added apps start working, removed or disabled
	// apps' connections are closed; other settings need a restart.
	Reload     <-chan struct{}
	LoadConfig func() (config.Config, error)
	// AdminTokenFile holds the admin token when none is in the environment
	// (the embedded default's, generated once); "": none.
	AdminTokenFile string
	// StatsInterval is how often the dashboard's charts are sampled
	// (stats.Config.Interval); 0: 10 s. Tests shorten it; the nodes of a
	// cluster must all use the same.
	StatsInterval time.Duration
}

// Run serves until ctx is cancelled, then shuts down gracefully: it stops
// accepting, closes clients with 4200 so they reconnect, lets in-flight API
// requests finish, and returns within cfg.ShutdownTimeout.
func Run(ctx context.Context, cfg config.Config, opts Options) error {
	if opts.Stderr == nil {
		opts.Stderr = os.Stderr
	}
	if opts.Stdout == nil {
		opts.Stdout = io.Discard
	}
	log := newLogger(cfg.Log, opts.Stderr)

	adminToken, err := admin.TokenFromEnv(os.LookupEnv)
	if err != nil {
		return fmt.Errorf("admin token: %w", err)
	}
	if adminToken == "" && opts.AdminTokenFile != "" {
		if adminToken, err = admin.TokenFromEnv(func(k string) (string, bool) {
			if k == admin.EnvTokenFile {
				return opts.AdminTokenFile, true
			}
			return "", false
		}); err != nil {
			return fmt.Errorf("admin token: %w", err)
		}
	}
	// The SQL store polls in its own goroutine from here on; the changes it
	// sees wait in appChanges until the run step below applies them to the
	// hub (closing the connections of apps disabled or deleted).
	appChanges := make(chan appChange, appChangeBacklog)
	stopChanges := make(chan struct{})      // closed before the store: a last change never waits for the gone hub
	beamsOn := len(cfg.Beams.Instances) > 0 // devices live in the app store's database
	sqlApps, err := openSQLStore(ctx, cfg, adminToken != "" || beamsOn, log, func(old, cur *apps.App) {
		if old != nil { // a created app has no connections yet
			select {
			case appChanges <- appChange{old, cur}:
			case <-stopChanges:
			}
		}
	})
	if err != nil {
		return err
	}
	if sqlApps != nil {
		defer sqlApps.Close()
	}
	defer close(stopChanges)
	staticApps := cfg.Apps
	noDefault := false // the app store's apps are served instead of the generated default app
	if sqlApps != nil && onlyGenerated(staticApps) {
		if list, _ := sqlApps.List(ctx); len(list) > 0 {
			staticApps, noDefault = nil, true // apps are managed with `herald apps`
		}
	}
	static, err := apps.NewStatic(apps.FromConfig(staticApps))
	if err != nil {
		return fmt.Errorf("apps: %w", err)
	}
	store := apps.NewReloadable(static)
	var lookup apps.Store = store
	if sqlApps != nil {
		lookup = apps.Layered{store, sqlApps}
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := metrics.New(reg)
	if sqlApps != nil {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "herald_app_store_up",
			Help: "1 while the SQL app store is reachable; 0 while apps are served from the cache only.",
		}, func() float64 {
			if sqlApps.Healthy() != nil {
				return 0
			}
			return 1
		}))
	}
	m.InitServer(protocol.CodeOverCapacity, protocol.CodePathNotFound, protocol.CodeAppNotFound, protocol.CodeAppDisabled, protocol.CodeOverQuota,
		protocol.CodeUnauthorized, protocol.CodeReconnect, protocol.CodeUnsupportedProtocol)
	var storedApps []*apps.App
	if sqlApps != nil {
		storedApps, _ = sqlApps.List(ctx)
	}
	startApps := slices.Concat(store.All(), storedApps) // never append to All: it is the store's own slice
	for _, a := range startApps {
		m.InitApp(a.ID) // series exist from the start, not from the first connection
	}

	cluster, err := openCluster(ctx, cfg, reg, log)
	if err != nil {
		return err
	}

	// Webhooks: the hub reports to an inbox built first; the dispatcher is
	// built after the hub (below), with the broker's shared queue in
	// cluster mode. Only when some app has endpoints: a server without
	// webhooks writes nothing.
	var inbox *webhooks.Inbox
	var observer hub.Observer
	var webhookMetrics *metrics.WebhookMetrics
	if anyWebhooks(store) || sqlApps != nil {
		webhookMetrics = metrics.NewWebhooks(reg)
		for _, a := range startApps {
			if len(a.Webhooks) > 0 {
				webhookMetrics.InitApp(a.ID)
			}
		}
		inbox = webhooks.NewInbox(webhookMetrics)
		observer = inbox
	}

	// Log lines that clients can cause are bounded per connection and per
	// app; the rest are counted in a summary line per window.
	throttle := logthrottle.New(logthrottle.Config{}, log)
	// The debug console's feed: what flows through each app, for viewers of
	// the dashboard; with none watching an app, its events cost one check.
	// In cluster mode a bridge through Redis shows every node's events to
	// the viewers of any node (every node runs it: a node without a
	// dashboard still forwards its events).
	feedCfg, feedDeps := console.Config{}, console.Deps{Metrics: metrics.NewConsole(reg)}
	var consoleBridge *clusterConsole
	if cluster.enabled() {
		if consoleBridge, err = openClusterConsole(cfg, cluster.nodeID, reg, log); err != nil {
			return err
		}
		defer consoleBridge.close()
		feedCfg.Node, feedDeps.Forward = cluster.nodeID, consoleBridge.bridge.Forward
	}
	feed := console.New(feedCfg, feedDeps)
	defer feed.Close()

	h := hub.New(hub.Config{
		ActivityTimeout:    time.Duration(cfg.ActivityTimeout) * time.Second,
		PongTimeout:        cfg.PongTimeout.D(),
		MaxChannelNameLen:  cfg.Limits.MaxChannelNameLen,
		MaxEventNameLen:    cfg.Limits.MaxEventNameLen,
		MaxUserInfoBytes:   cfg.Limits.MaxUserInfoKB << 10,
		MaxUserIDLen:       cfg.Limits.MaxUserIDLen,
		ClientEventsPerSec: cfg.Limits.ClientEventsPerSec,
		MaxWatchlistSize:   cfg.Limits.MaxWatchlistSize,
		CacheTTL:           cfg.CacheTTL.D(),
		SigninTimeout:      cfg.SigninTimeout.D(),
	}, hub.Deps{Logger: log, Metrics: m, Observer: observer, Throttle: throttle, Broker: cluster.factory, Apps: lookup, Console: feed})
	if err := cluster.built(); err != nil {
		return err
	}

	// Push notifications: after the hub, whose broker names this node in
	// the shared publish queue of cluster mode.
	nodeID := ""
	if cluster.enabled() {
		nodeID = h.Broker().NodeID()
	}
	push, err := openBeams(ctx, cfg, appStoreDSN(cfg), sqlApps != nil, nodeID, beamsMetrics(beamsOn || sqlApps != nil, reg), log)
	if err != nil {
		return err
	}
	defer push.close()
	var pushAPI http.Handler
	if push != nil {
		pushAPI = push.handler
	}

	// One node keeps a durable webhook queue in the data directory; a
	// cluster node shares the broker's queue in Redis.
	var dispatcher *webhooks.Dispatcher
	if inbox != nil {
		w := cfg.Webhooks
		wcfg := webhooks.Config{
			LeaveDelay:     w.LeaveDelay.D(),
			BatchWindow:    w.BatchWindow.D(),
			Timeout:        w.Timeout.D(),
			RetryWindow:    w.RetryWindow.D(),
			BatchMaxEvents: w.BatchMaxEvents,
			MaxQueue:       w.MaxQueue,
			Workers:        w.Workers,
		}
		wdeps := webhooks.Deps{Apps: lookup, Logger: log, Metrics: webhookMetrics, Inbox: inbox, Console: feed}
		if q, ok := h.Broker().(broker.HookQueue); ok {
			wdeps.Queue = q
			wdeps.Candidates = webhookApps(store, sqlApps)
		} else {
			wcfg.Path = webhooks.DBPath(cfg.DataDir)
		}
		dispatcher, err = webhooks.New(wcfg, wdeps)
		if err != nil {
			return fmt.Errorf("webhooks: %w", err)
		}
		defer dispatcher.Close() // only matters when Run never started
	}

	capacity, restoreMemLimit := planCapacity(cfg.Limits, log)
	defer restoreMemLimit()
	gate := admission.New(admission.Config{
		MaxConnections: capacity.maxConns,
		MaxMemoryBytes: capacity.memLimit,
	}, log, reg)

	edge := ws.New(ws.Config{
		MaxFrameBytes:    cfg.Limits.MaxFrameKB << 10,
		WriteBufferBytes: cfg.Limits.WriteBufferKB << 10,
		MaxConnections:   capacity.pollerLoad(),
		MaxRefusing:      capacity.maxRefusing(),
	}, ws.Deps{Hub: h, Apps: lookup, Logger: log, Metrics: m, Throttle: throttle, Gate: gate, Console: feed})

	prefix := strings.TrimRight(cfg.PathPrefix, "/")
	api := httpapi.New(httpapi.Config{
		MaxBodyBytes:      int64(cfg.Limits.MaxRequestBodyKB) << 10,
		MaxChannelNameLen: cfg.Limits.MaxChannelNameLen,
		MaxEventNameLen:   cfg.Limits.MaxEventNameLen,
		MaxUserIDLen:      cfg.Limits.MaxUserIDLen,
		PathPrefix:        prefix,
	}, httpapi.Deps{Backend: h, Apps: lookup, Logger: log, Metrics: m, Admit: gate, Throttle: throttle, Console: feed})

	var adminHandler http.Handler
	if adminToken != "" && sqlApps != nil {
		acfg, adeps := admin.Config{Token: adminToken}, admin.Deps{Apps: sqlApps, Logger: log}
		if push != nil { // a true nil otherwise: the Beams routes are then absent
			adeps.Beams = push.devices
			for _, in := range cfg.Beams.Instances {
				acfg.BeamsConfigIDs = append(acfg.BeamsConfigIDs, in.ID)
			}
		}
		adminHandler = admin.New(acfg, adeps)
	}

	var ready readiness
	if cluster.enabled() {
		ready.cluster = h.Ready
	}
	// /metrics shows every app's counters: always on the (private) admin
	// listener; on the public port only when enabled with a bearer token.
	metricsHandler := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	var publicMetrics http.Handler
	if cfg.Metrics.MetricsEnabled() && cfg.Metrics.PublicToken != "" {
		publicMetrics = bearerOnly(cfg.Metrics.PublicToken, metricsHandler)
	}
	handler := routes(prefix, edge, api, adminHandler, pushAPI, publicMetrics, &ready)

	httpConns := capacity.httpConns(gate)
	guard := func(name string, full func() bool) func(net.Listener) net.Listener {
		return func(ln net.Listener) net.Listener { return newAcceptGuard(ln, name, log, m, full) }
	}

	addr := net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	ln = guard("public", httpConns.full)(ln)
	// The dashboard lives on the admin listener only, with the admin API's
	// conditions (a token and an app store to manage).
	var board http.Handler
	// history is the dashboard's charts, sampled only while they exist;
	// and in cluster mode on every node, so that a node without a
	// dashboard still counts in the others' charts (a memory-only store
	// that publishes its samples and records nothing).
	var history *stats.Store
	var clusterCharts *clusterStats
	uses := newSecretUses(reg)
	dashboardOn := adminToken != "" && sqlApps != nil
	if dashboardOn || cluster.enabled() {
		var historyFile string
		if dashboardOn {
			if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
				return fmt.Errorf("data dir: %w", err)
			}
			historyFile = filepath.Join(cfg.DataDir, StatsFile)
		}
		sdeps := stats.Deps{Gatherer: stats.Gatherer(m, webhookMetrics), Metrics: metrics.NewStats(reg), Logger: log}
		if cluster.enabled() {
			// Each node publishes its samples and records the sums over
			// the nodes: any node's charts show the cluster.
			if clusterCharts, err = openClusterStats(cfg, h.Broker().NodeID(), opts.StatsInterval, reg, log); err != nil {
				return err
			}
			defer clusterCharts.close()
			sdeps.Publish = clusterCharts.agg.Publish
		}
		history, err = stats.Open(stats.Config{Path: historyFile, Interval: opts.StatsInterval}, sdeps)
		if err != nil {
			return fmt.Errorf("stats: %w", err)
		}
		defer history.Close()
	}
	if dashboardOn {
		dcfg := dashboard.Config{Token: adminToken, PublicHost: cfg.Host, PublicPort: cfg.Port, TLS: cfg.TLS.Enabled(), PathPrefix: prefix}
		ddeps := dashboard.Deps{Apps: sqlApps, ConfigApps: store.All, Conns: hubConns{h}, SecretUse: uses, Stats: history, Logger: log,
			Console: feed, Trigger: apiTrigger{api: api, apps: lookup}, WebhookTester: newWebhookTester(cfg.Webhooks.Timeout.D())}
		if push != nil {
			ddeps.Beams = push.devices
			for _, in := range cfg.Beams.Instances {
				dcfg.BeamsConfigIDs = append(dcfg.BeamsConfigIDs, in.ID)
			}
		}
		board = dashboard.New(dcfg, ddeps)
	}
	adminLn, err := listenAdmin(cfg.AdminListen, cfg.AdminListenDefaulted, adminRoutes(metricsHandler, &ready, board), log, guard("admin", nil))
	if err != nil {
		ln.Close()
		return err
	}
	defer adminLn.Close() // only matters when Run never started
	if cfg.TLS.Enabled() {
		certs, err := newCertReloader(cfg.TLS.CertFile, cfg.TLS.KeyFile, log)
		if err != nil {
			ln.Close()
			return err
		}
		ln = ws.TLSListener(ln, &tls.Config{
			MinVersion:     tls.VersionTLS12,
			GetCertificate: certs.GetCertificate,
			NextProtos:     []string{"http/1.1"},
		})
	}

	if err := edge.Start(); err != nil {
		ln.Close()
		return fmt.Errorf("websocket poller: %w", err)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		ConnState:         httpConns.track,
	}

	runCtx, stopRun := context.WithCancel(context.Background())
	defer stopRun()
	g, gctx := errgroup.WithContext(runCtx)
	// The hub (and its broker) stops only at the end of the shutdown, also
	// when another component failed: the leaves of closing clients and the
	// dispatcher's last acks still need it.
	g.Go(func() error { return h.Run(runCtx) })
	g.Go(func() error { return throttle.Run(runCtx) })
	g.Go(func() error { return gate.Run(gctx) })
	if consoleBridge != nil {
		g.Go(func() error { return consoleBridge.bridge.Run(gctx, feed) })
	}
	if history != nil {
		g.Go(func() error { return history.Run(gctx) })
	}
	if clusterCharts != nil {
		var rec statsredis.Recorder // nil without a dashboard: publish only
		if board != nil {
			rec = history
		}
		g.Go(func() error { return clusterCharts.agg.Run(gctx, rec) })
	}
	if board != nil {
		g.Go(func() error { return uses.run(gctx) })

	}
	g.Go(func() error {
		for {
			select {
			case <-gctx.Done():
				return nil
			case c := <-appChanges:
				applyAppChange(h, c.old, c.cur, "App was deleted")
			}
		}
	})
	if opts.Reload != nil && opts.LoadConfig != nil {
		g.Go(func() error {
			for {
				select {
				case <-gctx.Done():
					return nil
				case <-opts.Reload:
					reloadApps(opts.LoadConfig, store, h, dispatcher != nil, noDefault, log)
				}
			}
		})
	}
	// The dispatcher runs until every connection has been closed at
	// shutdown, so the leave events of closing clients are stored, not
	// lost; in cluster mode it stops before the broker, so its last acks
	// and its lease release still reach Redis.
	webhooksCtx, stopWebhooks := context.WithCancel(context.Background())
	defer stopWebhooks()
	webhooksDone := make(chan struct{})
	if dispatcher != nil {
		g.Go(func() error {
			defer close(webhooksDone)
			return dispatcher.Run(webhooksCtx)
		})
	} else {
		close(webhooksDone)
	}
	// Push delivery stops once the API stopped taking publishes; what it
	// did not deliver stays queued for the next start.
	pushCtx, stopPush := context.WithCancel(context.Background())
	defer stopPush()
	pushDone := make(chan struct{})
	if push != nil {
		g.Go(func() error {
			defer close(pushDone)
			return push.pipeline.Run(pushCtx)
		})
	} else {
		close(pushDone)
	}
	g.Go(func() error {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("http server: %w", err)
		}
		return nil
	})
	g.Go(adminLn.Serve)

	bannerCfg := withBoundPort(cfg, ln.Addr())
	bannerCfg.Apps = staticApps
	bannerCfg.AdminListen = ""
	if a := adminLn.Addr(); a != nil {
		bannerCfg.AdminListen = a.String()
	}
	var storeInfo BannerStore
	if sqlApps != nil {
		list, _ := sqlApps.List(ctx)
		storeInfo = BannerStore{Open: true, Apps: list, ListCommand: appsListCommand(cfg)}
	}
	WriteBanner(opts.Stdout, bannerCfg, storeInfo, opts.Version)
	if a := adminLn.Addr(); board != nil && a != nil {
		how := "the admin token (HERALD_ADMIN_TOKEN)"
		if opts.AdminTokenFile != "" {
			how = "the admin token: cat " + opts.AdminTokenFile
		}
		fmt.Fprintf(opts.Stdout, "\nDashboard: http://%s/  (private; log in with %s)\n", snippetAddr(a), how)
	}
	fmt.Fprint(opts.Stdout, capacity.banner())
	if cluster.enabled() {
		// This node counts once its first heartbeat is in: wait a moment.
		n := 0
		for deadline := time.Now().Add(2 * time.Second); n == 0 && time.Now().Before(deadline); {
			if n, _ = h.Nodes(ctx); n == 0 {
				time.Sleep(20 * time.Millisecond)
			}
		}
		fmt.Fprintf(opts.Stdout, "Cluster mode: node %s, %d node(s) alive, Redis %s (prefix %q)\n",
			h.Broker().NodeID(), n, cfg.Redis.Redacted(), cluster.prefix)
	}
	log.Info("herald started", "addr", ln.Addr().String(), "tls", cfg.TLS.Enabled(), "config_apps", len(store.All()),
		"sql_store", sqlApps != nil, "admin_api", adminHandler != nil, "version", opts.Version,
		"max_connections", capacity.maxConns, "open_files_limit", capacity.fds.limit, "memory_limit_mb", capacity.memLimit>>20)
	ready.serving.Store(true)
	if opts.OnAdminListen != nil && adminLn != nil {
		opts.OnAdminListen(adminLn.Addr())
	}
	if opts.OnListen != nil {
		opts.OnListen(ln.Addr())
	}

	select {
	case <-ctx.Done():
	case <-gctx.Done(): // the HTTP server failed
	}
	ready.serving.Store(false)
	log.Info("shutting down")

	timeout := cfg.ShutdownTimeout.D()
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	shCtx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	shutdownDone := make(chan error, 1)
	go func() { shutdownDone <- srv.Shutdown(shCtx) }() // stops accepting, waits for API requests
	adminDone := make(chan error, 1)
	feed.Close() // ends the console streams, which would hold the admin listener's shutdown
	go func() { adminDone <- adminLn.Shutdown(shCtx) }()
	h.CloseAll(protocol.CodeReconnect, "Server is restarting, reconnect")
	waitDrained(shCtx, h)
	if err := <-shutdownDone; err != nil {
		log.Warn("http shutdown incomplete", "err", err)
		_ = srv.Close()
	}
	if err := <-adminDone; err != nil {
		log.Warn("admin listener shutdown incomplete", "err", err)
	}
	_ = edge.Stop(shCtx)
	stopPush()
	<-pushDone
	stopWebhooks()
	<-webhooksDone
	stopRun()
	err = g.Wait()
	log.Info("stopped")
	return err
}

// waitDrained waits until every connection has gone (clients answer our close
// frame, or the close grace period drops them) or ctx ends.
func waitDrained(ctx context.Context, h *hub.Hub) {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if h.TotalConnections() == 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func withBoundPort(cfg config.Config, addr net.Addr) config.Config {
	if tcp, ok := addr.(*net.TCPAddr); ok {
		cfg.Port = tcp.Port
	}
	return cfg
}

func newLogger(c config.LogConfig, w io.Writer) *slog.Logger {
	level := slog.LevelInfo
	switch strings.ToLower(c.Level) {
	case "debug":
		level = slog.LevelDebug
	case "warn", "warning":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	}
	ho := &slog.HandlerOptions{Level: level}
	if strings.ToLower(c.Format) == "json" {
		return slog.New(slog.NewJSONHandler(w, ho))
	}
	return slog.New(slog.NewTextHandler(w, ho))
}

// webhookApps lists the apps with webhook endpoints, from the config and
// the SQL store: the apps whose shared webhook queue a cluster node may
// deliver.
func webhookApps(store *apps.Reloadable, sql *sqlstore.Store) func(context.Context) []string {
	return func(ctx context.Context) []string {
		var ids []string
		seen := map[string]bool{}
		add := func(list []*apps.App) {
			for _, a := range list {
				if len(a.Webhooks) > 0 && !seen[a.ID] {
					seen[a.ID] = true
					ids = append(ids, a.ID)
				}
			}
		}
		add(store.All())
		if sql != nil {
			if list, err := sql.List(ctx); err == nil { // from its cache: fails only when closed
				add(list)
			}
		}
		return ids
	}
}

func anyWebhooks(store *apps.Reloadable) bool {
	for _, a := range store.All() {
		if len(a.Webhooks) > 0 {
			return true
		}
	}
	return false
}

// openSQLStore opens the app store managed with `herald apps`: the
// configured database_url, or <data_dir>/apps.db when it exists or the
// admin API (or push notifications) need a store. It returns nil when there
// is none.
func openSQLStore(ctx context.Context, cfg config.Config, needed bool, log *slog.Logger, onChange func(old, cur *apps.App)) (*sqlstore.Store, error) {
	if cfg.DatabaseURL == "" {
		if _, err := os.Stat(filepath.Join(cfg.DataDir, config.AppsDBFile)); err != nil && !needed {
			return nil, nil
		}
	}
	s, err := sqlstore.Open(ctx, appStoreDSN(cfg), sqlstore.Options{Logger: log, OnChange: onChange})
	if err != nil {
		return nil, fmt.Errorf("app store: %w", err)
	}
	return s, nil
}

// appStoreDSN is the app store's database: database_url, else the SQLite
// file in the data dir.
func appStoreDSN(cfg config.Config) string {
	if cfg.DatabaseURL != "" {
		return cfg.DatabaseURL
	}
	return "sqlite:" + filepath.Join(cfg.DataDir, config.AppsDBFile)
}

// beamsMetrics registers the push collectors when push is on: a server
// without instances exports none of them.
func beamsMetrics(on bool, reg *prometheus.Registry) *metrics.BeamsMetrics {
	if !on {
		return nil
	}
	return metrics.NewBeams(reg)
}

// appChange is an app the SQL store saw change (cur nil: deleted).
type appChange struct{ old, cur *apps.App }

// appChangeBacklog bounds the changes waiting for the run step; the store's
// poll waits when it is full (only possible before the hub runs).
const appChangeBacklog = 1024

func onlyGenerated(list []config.App) bool {
	for _, a := range list {
		if !a.Generated {
			return false
		}
	}
	return true
}

// reloadApps re-reads the config file's apps and swaps them in. A config
// that does not load or validate changes nothing. Connections of apps that
// were removed, disabled or given a new key are closed.
// webhooksOn says whether the webhook dispatcher runs: it is started only
// when some app had endpoints at start-up, so endpoints added by a reload
// need a restart, which is logged rather than silently ignored. noDefault:
// the generated default app was left out at start, and stays out.
func reloadApps(load func() (config.Config, error), store *apps.Reloadable, h *hub.Hub, webhooksOn, noDefault bool, log *slog.Logger) {
	cfg, err := load()
	if err != nil {
		log.Error("config reload failed; keeping the running apps", "err", err)
		return
	}
	list := cfg.Apps
	if noDefault && onlyGenerated(list) {
		list = nil // as at start: the app store's apps are served, not the default app
	}
	next, err := apps.NewStatic(apps.FromConfig(list))
	if err != nil {
		log.Error("config reload failed; keeping the running apps", "err", err)
		return
	}
	prev := store.Replace(next)
	closed := 0
	for _, old := range prev.All() {
		cur, _ := next.ByID(context.Background(), old.ID) // nil when removed
		closed += applyAppChange(h, old, cur, "App was removed")
	}
	log.Info("apps reloaded", "apps", len(next.All()), "previous", len(prev.All()), "connections_closed", closed)
	if !webhooksOn && anyWebhooks(store) {
		log.Warn("webhook endpoints were added by this reload, but webhooks were off at start-up: restart herald to deliver them")
	}
}

// applyAppChange brings old's live connections in line with cur (nil: the
// app is gone, closed with goneReason): a new key or a disabled app closes
// them, anything else (secrets, limits) applies to them in place. It returns
// how many connections were closed.
func applyAppChange(h *hub.Hub, old, cur *apps.App, goneReason string) int {
	switch {
	case cur == nil:
		return h.CloseApp(old.ID, protocol.CodeAppNotFound, goneReason)
	case cur.Key != old.Key:
		return h.CloseApp(old.ID, protocol.CodeAppNotFound, "App key changed")
	case !cur.Enabled:
		return h.CloseApp(old.ID, protocol.CodeAppDisabled, "App is disabled")
	}
	h.UpdateApp(cur)
	return 0
}
