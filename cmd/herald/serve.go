package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/server"
)

func newServeCmd(d deps) *cobra.Command {
	var (
		file string
		over config.Overrides
		f    serveFlags
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the server",
		Long: `Run the server until SIGINT or SIGTERM. SIGHUP re-reads the apps of the
config file without dropping connections.

With no apps configured, a default app is created: its credentials are
generated on first start, stored in <data-dir>/default-app.json and printed;
HERALD_APP_ID, HERALD_APP_KEY and HERALD_APP_SECRET override them. When the
app store (<data-dir>/apps.db, or database_url; see herald apps) already
holds apps, those are served instead and no default app is created. A default
push-notification (Beams) instance is created the same way, kept in
<data-dir>/default-beams.json.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f.overrides(cmd.Flags(), &over)
			// load reads the configuration at start and again on SIGHUP (see
			// server.Options.Reload). Failing to store a generated default app
			// is a runtime failure, not a configuration problem.
			var tokenFile string // the embedded default's generated admin token
			// storeApps says, once at start, whether the app store already
			// holds apps: then they are served instead of a default app,
			// which is neither stored nor printed (nor served after SIGHUP).
			var storeApps *bool
			load := func() (config.Config, error) {
				c, err := config.Load(file, d.env, over)
				if err == nil {
					if storeApps == nil && len(c.Apps) == 0 {
						has, err := server.AppStoreHasApps(cmd.Context(), c)
						if err != nil {
							return c, &exitError{code: exitFailure, err: err}
						}
						storeApps = &has
					}
					if storeApps != nil && *storeApps {
						err = config.EnsureUnservedDefaultApp(&c, d.env)
					} else {
						_, err = config.EnsureDefaultApp(&c, d.env)
					}
					if err != nil {
						return c, &exitError{code: exitFailure, err: err}
					}
					if _, err := config.EnsureDefaultBeams(&c); err != nil {
						return c, &exitError{code: exitFailure, err: err}
					}
					if tokenFile, err = config.EnsureEmbeddedAdmin(&c, d.env); err != nil {
						return c, &exitError{code: exitFailure, err: err}
					}
				}
				c.ApplyDefaults()
				return c, errors.Join(err, c.Validate())
			}
			cfg, err := load()
			var ee *exitError
			switch {
			case errors.As(err, &ee):
				return ee
			case err != nil:
				return invalidConfig(d.stderr, err)
			}

			ctx, cancel := context.WithCancel(cmd.Context())
			var wg sync.WaitGroup
			defer wg.Wait() // after cancel: the forwarder below has returned
			defer cancel()
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			reloads := make(chan struct{}, 1)
			wg.Go(func() {
				for {
					select {
					case <-ctx.Done():
						return
					case <-hup:
						select {
						case reloads <- struct{}{}:
						default:
						}
					}
				}
			})
			err = d.run(ctx, cfg, server.Options{Version: fullVersion(), Stdout: d.stdout, Stderr: d.stderr, AdminTokenFile: tokenFile,
				Reload: reloads, LoadConfig: load})
			if err != nil {
				return &exitError{code: exitFailure, err: err}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&file, "config", "", "YAML config file (env HERALD_CONFIG)")
	fl.StringVar(&f.host, "host", "", "listen address (env HERALD_HOST; default "+config.DefaultHost+")")
	fl.IntVar(&f.port, "port", 0, fmt.Sprintf("listen port (env HERALD_PORT; default %d)", config.DefaultPort))
	fl.StringVar(&f.dataDir, "data-dir", "", "data directory (env HERALD_DATA_DIR; default "+config.DefaultDataDir+")")
	fl.StringVar(&f.pathPrefix, "path-prefix", "", "prefix for every route (env HERALD_PATH_PREFIX)")
	fl.StringVar(&f.adminListen, "admin-listen", "", "host:port of the operators' listener serving /metrics, /ready and pprof; keep it private, \"off\" turns it off (env HERALD_ADMIN_LISTEN; default 127.0.0.1:9601)")
	fl.StringVar(&f.logFormat, "log-format", "", "text or json (env HERALD_LOG_FORMAT; default text)")
	fl.StringVar(&f.logLevel, "log-level", "", "debug, info, warn or error (env HERALD_LOG_LEVEL; default info)")
	fl.StringVar(&f.tlsCert, "tls-cert-file", "", "TLS certificate, PEM (env HERALD_TLS_CERT_FILE)")
	fl.StringVar(&f.tlsKey, "tls-key-file", "", "TLS private key, PEM (env HERALD_TLS_KEY_FILE)")
	fl.Var(&f.activityTimeout, "activity-timeout", fmt.Sprintf("activity_timeout announced to clients, whole seconds: 120 or 2m (env HERALD_ACTIVITY_TIMEOUT; default %d)", config.DefaultActivityTimeout))
	return cmd
}

// serveFlags receives flag values; only flags the user set become overrides.
type serveFlags struct {
	host, dataDir, pathPrefix, adminListen, logFormat, logLevel, tlsCert, tlsKey string
	port                                                                         int
	activityTimeout                                                              config.Seconds
}

func (f *serveFlags) overrides(fs *pflag.FlagSet, o *config.Overrides) {
	setIfChanged(fs, "host", &o.Host, &f.host)
	setIfChanged(fs, "port", &o.Port, &f.port)
	setIfChanged(fs, "data-dir", &o.DataDir, &f.dataDir)
	setIfChanged(fs, "path-prefix", &o.PathPrefix, &f.pathPrefix)
	setIfChanged(fs, "admin-listen", &o.AdminListen, &f.adminListen)
	setIfChanged(fs, "log-format", &o.LogFormat, &f.logFormat)
	setIfChanged(fs, "log-level", &o.LogLevel, &f.logLevel)
	setIfChanged(fs, "tls-cert-file", &o.TLSCertFile, &f.tlsCert)
	setIfChanged(fs, "tls-key-file", &o.TLSKeyFile, &f.tlsKey)
	setIfChanged(fs, "activity-timeout", &o.ActivityTimeout, &f.activityTimeout)
}
