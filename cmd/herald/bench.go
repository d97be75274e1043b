package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/lesismal/nbio/logging"
	"github.com/spf13/cobra"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/loadgen"
)

// benchFlags are the options shared by every bench scenario.
type benchFlags struct {
	host, pathPrefix, appID, key, secret string
	dataDir                              string
	port                                 int
	duration, progress                   time.Duration
	serverPID                            int
	startServer                          bool
	jsonPath                             string
	pollers, dialConc                    int
	spreadSource                         bool
	wsAddrs                              string
	tls, insecure, tlsResume             bool
}

func newBenchCmd(d deps) *cobra.Command {
	f := &benchFlags{}
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Load-test a Pusher-protocol server (idle, fanout, presence, api, connect)",
		Long: `Load-test Herald or any Pusher Channels protocol 7 server.

The bench speaks the WebSocket protocol like pusher-js and signs HTTP API
calls like a server SDK. Connections are read by a few nbio poller goroutines,
not one goroutine per connection, with --tls too (wss:// and https://; nbio's
non-blocking TLS decrypts on the pollers). Each scenario prints a table and,
with --json FILE, writes a JSON result. Server CPU and memory come from
/proc/<pid> of --server-pid, or of the herald that --start-server launches.

Without --app-id, --key and --secret the bench uses the default app that
herald serve generated in <data-dir>/default-app.json (--data-dir,
HERALD_DATA_DIR or ./herald-data), so serve then bench in one directory just
work; without that file, app id 1, key app-key, secret app-secret.

Exit codes: 0 the run completed, 1 it failed (setup failed, or every
request or connection failed, or nothing was delivered; the table and JSON
are still written), 2 usage error, 141 the output was closed (SIGPIPE).
A server that --start-server launched is stopped when the bench ends,
is interrupted or its output closes, and on Linux also when it is killed.
See docs/performance.md.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return c.Help() },
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.host, "host", "127.0.0.1", "server host")
	pf.IntVar(&f.port, "port", 6001, "server port (WebSocket and HTTP API)")
	pf.StringVar(&f.pathPrefix, "path-prefix", "", "server path prefix (pusher-js wsPath)")
	pf.StringVar(&f.appID, "app-id", "1", "app id (HTTP API); without --app-id, --key and --secret: herald serve's default app from <data-dir>/default-app.json if present")
	pf.StringVar(&f.key, "key", "app-key", "app key")
	pf.StringVar(&f.secret, "secret", "app-secret", "app secret (signs API calls and private/presence subscriptions)")
	pf.StringVar(&f.dataDir, "data-dir", "", "herald serve's data directory, read for default-app.json when no credentials are given (env HERALD_DATA_DIR; default "+config.DefaultDataDir+")")
	pf.DurationVar(&f.duration, "duration", 10*time.Second, "measurement time (per rate step for fanout)")
	pf.IntVar(&f.serverPID, "server-pid", 0, "read CPU and RSS of this server process from /proc")
	pf.BoolVar(&f.startServer, "start-server", false, "start a herald (this binary) on a free port with a generated config and measure it")
	pf.StringVar(&f.jsonPath, "json", "", "also write the result as JSON to this file (- for stdout)")
	pf.DurationVar(&f.progress, "progress", 2*time.Second, "progress line interval on stderr (0 = off)")
	pf.IntVar(&f.pollers, "pollers", 0, "nbio poller goroutines reading the sockets (0 = NumCPU/4, at least 1)")
	pf.IntVar(&f.dialConc, "dial-concurrency", 64, "connections being opened at once")
	pf.StringVar(&f.wsAddrs, "ws-addrs", "", "comma-separated host:port list the WebSocket connections are spread over round-robin (the nodes of a cluster); the HTTP API still goes to --host/--port")
	pf.BoolVar(&f.spreadSource, "spread-source", true, "for a loopback server, bind each connection to its own 127.1.x.y source address (beats the ~28k ephemeral ports of one address)")
	pf.BoolVar(&f.tls, "tls", false, "connect with TLS: wss:// WebSocket connections (still read by the nbio pollers, through nbio's non-blocking TLS) and https:// API calls; with --start-server the herald serves TLS with a generated self-signed certificate, which the bench then trusts")
	pf.BoolVar(&f.insecure, "insecure", false, "with --tls: skip the verification of the server's certificate (a self-signed one)")
	pf.BoolVar(&f.tlsResume, "tls-resume", true, "with --tls: resume TLS sessions from a cache shared by the run's connections, as browsers do; false makes every connection a full handshake (server signature, certificate verification)")

	cmd.AddCommand(newBenchIdleCmd(d, f), newBenchFanoutCmd(d, f), newBenchPresenceCmd(d, f),
		newBenchAPICmd(d, f), newBenchConnectCmd(d, f))
	return cmd
}

// runBench prepares the target (starting a server if asked), runs fn and
// reports its result. changed reports whether a flag was given.
func runBench(ctx context.Context, d deps, f *benchFlags, changed func(string) bool, title string,
	fn func(context.Context, loadgen.Common) (loadgen.Result, error)) (err error) {
	logging.SetLevel(logging.LevelWarn) // no nbio start/stop banners in the output
	// Registered first so that it runs last, after the server is stopped.
	ctx, guard, brokenPipe, stopWatching := stopOnBrokenPipe(ctx)
	stdout, stderr := guard(d.stdout), guard(d.stderr)
	defer func() {
		if brokenPipe() || isBrokenPipe(err) {
			// Said while SIGPIPE is still watched (a closed stderr makes it
			// a failed write, not a kill); no message after the watch ends.
			fmt.Fprintf(stderr, "herald bench %s: output closed (SIGPIPE); stopped\n", title)
			err = &exitError{code: signalExitCode(syscall.SIGPIPE)}
		}
		stopWatching()
	}()
	credSource, err := benchCredentials(d, f, changed)
	if err != nil {
		return err
	}
	soft, hard, err := loadgen.RaiseFileLimit()
	if err != nil {
		fmt.Fprintf(stderr, "herald bench: raising the open-file limit: %v\n", err)
	}
	c := loadgen.Common{
		Target: loadgen.Target{Host: f.host, Port: f.port, PathPrefix: f.pathPrefix, AppID: f.appID,
			Key: f.key, Secret: f.secret, SpreadSource: f.spreadSource},
		Duration: f.duration, ServerPID: f.serverPID, Pollers: f.pollers, DialConcurrency: f.dialConc,
		ProgressEvery: f.progress,
		Logger:        slog.New(slog.NewTextHandler(stderr, nil)).With("component", "bench"),
	}
	if f.progress > 0 {
		c.Progress = stderr
	}
	if c.Target.WSAddrs, err = parseAddrs(f.wsAddrs); err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	if f.startServer && len(c.Target.WSAddrs) > 0 {
		return &exitError{code: exitUsage, err: fmt.Errorf("--ws-addrs and --start-server exclude each other")}
	}
	if !f.tls && (changed("insecure") || changed("tls-resume")) {
		return &exitError{code: exitUsage, err: fmt.Errorf("--insecure and --tls-resume apply to TLS: give --tls")}
	}
	tlsOpts := loadgen.TLSOptions{Insecure: f.insecure, NoResume: !f.tlsResume}
	if f.startServer {
		exe, err := os.Executable()
		if err != nil {
			return &exitError{code: exitFailure, err: err}
		}
		c.Target.Host = "127.0.0.1"
		srv, err := loadgen.StartServer(exe, c.Target, loadgen.ServerOptions{TLS: f.tls})
		if err != nil {
			return &exitError{code: exitFailure, err: fmt.Errorf("--start-server: %w", err)}
		}
		defer func() {
			if err := srv.Stop(); err != nil {
				fmt.Fprintf(stderr, "herald bench: %v\n", err)
			}
		}()
		c.Target.Port, c.ServerPID = srv.Port, srv.PID
		var certNote string
		if srv.Cert != nil {
			tlsOpts.RootCAs = srv.Cert.Roots // verified against the certificate it generated, unless --insecure
			certNote = ", self-signed TLS certificate " + srv.Cert.CertFile
		}
		fmt.Fprintf(stderr, "herald bench: started herald pid %d on 127.0.0.1:%d (config %s, log %s%s)\n",
			srv.PID, srv.Port, srv.ConfigPath, srv.LogPath, certNote)
	}
	target := c.Target.Addr()
	if f.tls {
		c.Target.TLS = loadgen.NewClientTLS(tlsOpts)
		target += " over " + c.Target.TLS.Describe()
	}
	fmt.Fprintf(stderr, "herald bench %s: target %s, open-file limit %d (hard %d)\n", title, target, soft, hard)
	res, err := fn(ctx, c)
	if res != nil {
		out := &errWriter{w: stdout}
		loadgen.WriteTable(out, "herald bench "+title, res)
		werr := out.err
		if f.jsonPath != "" { // a --json file is written even when stdout is closed
			if jerr := writeBenchJSON(d, f.jsonPath, res); werr == nil {
				werr = jerr
			}
		}
		if werr != nil {
			return &exitError{code: exitFailure, err: fmt.Errorf("writing the result: %w", werr)}
		}
	}
	if err != nil {
		if errors.Is(err, context.Canceled) && ctx.Err() != nil {
			err = errors.New("interrupted") // by SIGINT or SIGTERM (SIGPIPE: see above)
		}
		err = fmt.Errorf("bench %s: %w", title, err)
		if loadgen.CredentialsRefused(err.Error()) {
			err = fmt.Errorf("%w\nThe server refused app id %s, key %s (%s): check --app-id, --key and --secret",
				err, c.Target.AppID, c.Target.Key, credSource)
		}
		if hint := tlsHint(err.Error(), f); hint != "" {
			err = fmt.Errorf("%w\n%s", err, hint)
		}
		return &exitError{code: exitFailure, err: err}
	}
	return nil
}

// tlsHint explains a failure that TLS settings can cause ("" if none).
func tlsHint(msg string, f *benchFlags) string {
	switch {
	case f.tls && !f.insecure && loadgen.CertificateRefused(msg):
		return "The bench refused the server's TLS certificate: for a self-signed one give --insecure (no verification); otherwise check that --host is a name or address the certificate is for"
	case f.tls && loadgen.TLSToPlaintext(msg):
		return "The server does not speak TLS on this port: drop --tls"
	case !f.tls && loadgen.PlaintextToTLS(msg):
		return "The server speaks TLS on this port: give --tls (and --insecure for a self-signed certificate)"
	}
	return ""
}

func writeBenchJSON(d deps, path string, res any) error {
	if path == "-" {
		return loadgen.WriteJSON(d.stdout, res)
	}
	fh, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := loadgen.WriteJSON(fh, res); err != nil {
		fh.Close()
		return err
	}
	return fh.Close()
}

// resultOf adapts a typed scenario result (nil-safe) to loadgen.Result.
func resultOf[T loadgen.Result](r T, err error) (loadgen.Result, error) {
	var zero T
	if any(r) == any(zero) {
		return nil, err
	}
	return r, err
}

// benchCmd returns the subcommand of scenario name; it runs run through runBench.
func benchCmd(d deps, f *benchFlags, name, short string, run func(context.Context, loadgen.Common) (loadgen.Result, error)) *cobra.Command {
	return &cobra.Command{
		Use:   name,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBench(cmd.Context(), d, f, cmd.Flags().Changed, name, run)
		},
	}
}

func newBenchIdleCmd(d deps, f *benchFlags) *cobra.Command {
	var o loadgen.IdleOptions
	c := benchCmd(d, f, "idle", "Open N connections, subscribe each to a channel, hold; report server RSS and CPU per connection",
		func(ctx context.Context, c loadgen.Common) (loadgen.Result, error) {
			o.Common = c
			return resultOf(loadgen.Idle(ctx, o))
		})
	c.Flags().IntVar(&o.Connections, "connections", 1000, "connections to open and hold")
	c.Flags().IntVar(&o.Channels, "channels", 0, "public channels to spread the subscriptions over (0 = min(connections, 1000))")
	c.Flags().DurationVar(&o.Settle, "settle", 2*time.Second, "pause after the last subscription before measuring")
	return c
}

func newBenchFanoutCmd(d deps, f *benchFlags) *cobra.Command {
	var o loadgen.FanoutOptions
	var rates string
	var keepGoing bool
	c := benchCmd(d, f, "fanout", "S subscribers over C channels; publish R events/s through the HTTP API or client events; check every delivery",
		func(ctx context.Context, c loadgen.Common) (loadgen.Result, error) {
			o.Common = c
			return resultOf(loadgen.Fanout(ctx, o))
		})
	c.Long = `S subscribers over C channels (subscriber i on channel i mod C); events are
published round-robin over the channels through the signed HTTP API (or, with
--via client, as client events on private channels) at each rate of --rate in turn (a comma-separated ladder, --duration per step, same
connections). Every payload carries channel, sequence number and send time;
each subscriber checks order, loss and duplicates. The ladder stops at the
first step with loss, duplicates, publish errors or p99 over --max-p99
unless --keep-going.`
	c.PreRunE = func(*cobra.Command, []string) error { // a bad --rate is a usage error, found before any connection
		rs, err := parseRates(rates)
		if err != nil {
			return &exitError{code: exitUsage, err: err}
		}
		o.Rates, o.StopOnFail = rs, !keepGoing
		return nil
	}
	fl := c.Flags()
	fl.IntVar(&o.Subscribers, "subscribers", 1000, "subscriber connections")
	fl.IntVar(&o.Channels, "channels", 1, "channels the subscribers are spread over")
	fl.StringVar(&rates, "rate", "1", "events/s published in total; a comma-separated list runs a ladder, e.g. 1,5,10,20")
	fl.IntVar(&o.Size, "size", 100, "bytes of each event's data (min 48)")
	fl.IntVar(&o.Publishers, "publishers", 8, "concurrent HTTP publishers (with --via client: publishing connections)")
	fl.IntVar(&o.Batch, "batch", 1, "events per request; > 1 uses batch_events")
	fl.StringVar(&o.Via, "via", "api", `how events are published: "api" (signed HTTP API) or "client" (client events on private channels; the server's per-connection client-event limit must allow rate/publishers)`)
	fl.DurationVar(&o.MaxP99, "max-p99", 100*time.Millisecond, "a step fails when publish-to-receive p99 exceeds this")
	fl.BoolVar(&keepGoing, "keep-going", false, "run every rate step even after one fails")
	return c
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func parseRates(s string) ([]float64, error) {
	var out []float64
	for _, p := range splitList(s) {
		v, err := strconv.ParseFloat(p, 64)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("--rate: %q is not a positive number", p)
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--rate: empty")
	}
	return out, nil
}

// parseAddrs parses the --ws-addrs list ("" = none).
func parseAddrs(s string) ([]string, error) {
	out := splitList(s)
	for _, a := range out {
		host, port, err := net.SplitHostPort(a)
		if p, perr := strconv.ParseUint(port, 10, 16); err != nil || perr != nil || p == 0 || !config.ValidHost(host) {
			return nil, fmt.Errorf("--ws-addrs: %q is not host:port (a host name or IP address and a port in 1-65535)", a)
		}
	}
	return out, nil
}

func newBenchPresenceCmd(d deps, f *benchFlags) *cobra.Command {
	var o loadgen.PresenceOptions
	c := benchCmd(d, f, "presence", "Join/leave churn across presence channels; report member-event latency and server CPU",
		func(ctx context.Context, c loadgen.Common) (loadgen.Result, error) {
			o.Common = c
			return resultOf(loadgen.Presence(ctx, o))
		})
	fl := c.Flags()
	fl.IntVar(&o.Channels, "channels", 10, "presence channels")
	fl.IntVar(&o.Watchers, "watchers", 5, "members per channel that stay and measure member events")
	fl.IntVar(&o.Churners, "churners", 100, "connections that join and leave")
	fl.Float64Var(&o.Rate, "rate", 50, "join+leave operations per second")
	return c
}

func newBenchAPICmd(d deps, f *benchFlags) *cobra.Command {
	var o loadgen.APIOptions
	c := benchCmd(d, f, "api", "Signed trigger requests from K concurrent clients; requests/s and latency",
		func(ctx context.Context, c loadgen.Common) (loadgen.Result, error) {
			o.Common = c
			return resultOf(loadgen.API(ctx, o))
		})
	c.Flags().IntVar(&o.Concurrency, "concurrency", 32, "concurrent requests")
	c.Flags().IntVar(&o.Size, "size", 100, "bytes of each event's data")
	c.Flags().StringVar(&o.Channel, "channel", "bench-api", "channel triggered")
	return c
}

func newBenchConnectCmd(d deps, f *benchFlags) *cobra.Command {
	var o loadgen.ConnectOptions
	c := benchCmd(d, f, "connect", "New connections per second up to pusher:connection_established (with --tls: TLS handshakes/s)",
		func(ctx context.Context, c loadgen.Common) (loadgen.Result, error) {
			o.Common = c
			return resultOf(loadgen.Connect(ctx, o))
		})
	c.Flags().IntVar(&o.Concurrency, "concurrency", 32, "connections being opened at once")
	return c
}
