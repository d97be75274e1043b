package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/heraldhq/herald/internal/admin"
	"github.com/heraldhq/herald/internal/apps"
	"github.com/heraldhq/herald/internal/apps/sqlstore"
	"github.com/heraldhq/herald/internal/config"
)

// appsFlags are the flags every apps subcommand takes.
type appsFlags struct {
	configFile, dataDir, databaseURL string
	json                             bool
}

func newAppsCmd(d deps) *cobra.Command {
	f := &appsFlags{}
	cmd := &cobra.Command{
		Use:   "apps",
		Short: "Manage the apps in the SQL app store",
		Long: `Create, list, show, update, enable, disable and delete apps, and rotate
their secrets, in the SQL app store serve reads: --database-url,
HERALD_DATABASE_URL or database_url in the config file (--config or
HERALD_CONFIG), sqlite:<path> or postgres://...; by default
sqlite:<data-dir>/apps.db. The data directory is found as serve finds it:
--data-dir, HERALD_DATA_DIR, data_dir in the config file, or ` + config.DefaultDataDir + `.

With --json each command prints one JSON object. Secrets are printed only by
create, rotate-secret and show --show-secret.

Exit codes: 0 success, 1 the operation failed (no such app, id or key taken,
store error), 2 usage or validation error.`,
		Args: cobra.NoArgs, // an unknown subcommand is a usage error, not help
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.configFile, "config", "", "YAML config file, read for database_url and data_dir (env HERALD_CONFIG)")
	pf.StringVar(&f.dataDir, "data-dir", "", "data directory (env HERALD_DATA_DIR; default "+config.DefaultDataDir+")")
	pf.StringVar(&f.databaseURL, "database-url", "", "app store, sqlite:<path> or postgres://... (env "+config.EnvDatabaseURL+"; default sqlite:<data-dir>/"+config.AppsDBFile+")")
	pf.BoolVar(&f.json, "json", false, "print JSON")
	cmd.AddCommand(
		newAppsCreateCmd(d, f), newAppsListCmd(d, f), newAppsShowCmd(d, f), newAppsUpdateCmd(d, f),
		newAppsEnableCmd(d, f, true), newAppsEnableCmd(d, f, false), newAppsDeleteCmd(d, f), newAppsRotateCmd(d, f),
	)
	return cmd
}

// withStore opens the app store serve uses, runs fn and closes the store.
func (f *appsFlags) withStore(ctx context.Context, d deps, fn func(apps.Manager) error) error {
	dsn := f.databaseURL
	if dsn == "" {
		var over config.Overrides
		if f.dataDir != "" {
			over.DataDir = &f.dataDir
		}
		cfg, err := config.Load(f.configFile, d.env, over) // reads HERALD_DATABASE_URL too
		if err != nil {
			return invalidConfig(d.stderr, err)
		}
		cfg.ApplyDefaults()
		dsn = cfg.DatabaseURL
		if dsn == "" {
			if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
				return &exitError{code: exitFailure, err: fmt.Errorf("data directory: %w", err)}
			}
			dsn = "sqlite:" + filepath.Join(cfg.DataDir, config.AppsDBFile)
		}
	}
	m, err := sqlstore.Open(ctx, dsn, sqlstore.Options{})
	if err != nil {
		return &exitError{code: exitFailure, err: fmt.Errorf("open app store: %w", err)}
	}
	defer m.Close()
	return fn(m)
}

// opError gives err the exit code its kind calls for.
func opError(op string, err error) error {
	code := exitFailure
	if errors.Is(err, apps.ErrInvalid) {
		code = exitUsage
	}
	return &exitError{code: code, err: fmt.Errorf("apps %s: %w", op, err)}
}

// printApp prints a as one JSON object with --json, otherwise headline (when
// not "") and its settings.
func (f *appsFlags) printApp(w io.Writer, headline string, a *apps.App, withSecret bool) error {
	out := admin.FromApp(a, withSecret)
	if f.json {
		return printJSON(w, out)
	}
	if headline != "" {
		fmt.Fprintln(w, headline)
	}
	writeApp(w, out, withSecret)
	return nil
}

func usageError(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

func newAppsCreateCmd(d deps, f *appsFlags) *cobra.Command {
	var (
		id string
		s  settingsFlags
	)
	cmd := &cobra.Command{
		Use:   "create [--id ID] [--key KEY] [settings flags]",
		Short: "Create an app; the id, key and secret not given are generated",
		Long: `Create an app and print its id, key and secret (the only time the secret
is printed unasked). The id, key and secret not given are generated.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			set, err := s.settings(cmd.Flags())
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("id") {
				set.ID = &id
			}
			return f.withStore(cmd.Context(), d, func(m apps.Manager) error {
				a, err := admin.Create(cmd.Context(), m, set)
				if err != nil {
					return opError("create", err)
				}
				return f.printApp(d.stdout, "created app "+a.ID, a, true)
			})
		},
	}
	cmd.Flags().StringVar(&id, "id", "", "app id (default: generated, 7 digits)")
	s.register(cmd.Flags(), true)
	return cmd
}

func newAppsListCmd(d deps, f *appsFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the apps (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.withStore(cmd.Context(), d, func(m apps.Manager) error {
				list, err := m.List(cmd.Context())
				if err != nil {
					return opError("list", err)
				}
				out := admin.List(list)
				if f.json {
					return printJSON(d.stdout, out)
				}
				tw := tabwriter.NewWriter(d.stdout, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tKEY\tENABLED\tCLIENT MESSAGES\tMAX CONNECTIONS")
				for _, a := range out.Apps {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", a.ID, a.Key, yesNo(a.Enabled), yesNo(a.EnableClientMessages), limit(a.MaxConnections, "unlimited"))
				}
				return tw.Flush()
			})
		},
	}
}

func newAppsShowCmd(d deps, f *appsFlags) *cobra.Command {
	var showSecret bool
	cmd := &cobra.Command{
		Use:   "show ID [--show-secret]",
		Short: "Show an app's settings; its secret only with --show-secret",
		Args:  exactArgs(1, "apps show: takes the app ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.withStore(cmd.Context(), d, func(m apps.Manager) error {
				a, err := admin.Show(cmd.Context(), m, args[0])
				if err != nil {
					return opError("show", err)
				}
				return f.printApp(d.stdout, "", a, showSecret)
			})
		},
	}
	cmd.Flags().BoolVar(&showSecret, "show-secret", false, "also print the primary secret")
	return cmd
}

func newAppsUpdateCmd(d deps, f *appsFlags) *cobra.Command {
	var s settingsFlags
	cmd := &cobra.Command{
		Use:   "update ID [settings flags]",
		Short: "Change an app's settings (only the flags given)",
		Long: `Change the settings named by the flags given; the others stay. --allowed-origin
and --webhook-url replace the whole list (--clear-allowed-origins and
--clear-webhooks empty it). The secret changes only with rotate-secret.`,
		Args: exactArgs(1, "apps update: takes the app ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			set, err := s.settings(cmd.Flags())
			if err != nil {
				return err
			}
			if set == (admin.Settings{}) {
				return usageError("apps update: nothing to change; give at least one setting flag (see --help)")
			}
			return f.withStore(cmd.Context(), d, func(m apps.Manager) error {
				a, err := admin.Update(cmd.Context(), m, args[0], set)
				if err != nil {
					return opError("update", err)
				}
				return f.printApp(d.stdout, "updated app "+a.ID, a, false)
			})
		},
	}
	s.register(cmd.Flags(), false)
	return cmd
}

func newAppsEnableCmd(d deps, f *appsFlags, enable bool) *cobra.Command {
	verb, short := "enable", "Enable an app"
	if !enable {
		verb, short = "disable", "Disable an app: its connections and API requests are refused"
	}
	return &cobra.Command{
		Use:   verb + " ID",
		Short: short,
		Args:  exactArgs(1, "apps "+verb+": takes the app ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.withStore(cmd.Context(), d, func(m apps.Manager) error {
				a, err := admin.SetEnabled(cmd.Context(), m, args[0], enable)
				if err != nil {
					return opError(verb, err)
				}
				if f.json {
					return printJSON(d.stdout, admin.FromApp(a, false))
				}
				fmt.Fprintf(d.stdout, "app %s %sd\n", a.ID, verb)
				return nil
			})
		},
	}
}

func newAppsDeleteCmd(d deps, f *appsFlags) *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "delete ID --yes",
		Short: "Delete an app (needs --yes)",
		Args:  exactArgs(1, "apps delete: takes the app ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := args[0]
			if !yes {
				return usageError("apps delete: deleting app %q cannot be undone; pass --yes to confirm", id)
			}
			return f.withStore(cmd.Context(), d, func(m apps.Manager) error {
				if err := admin.Delete(cmd.Context(), m, id); err != nil {
					return opError("delete", err)
				}
				if f.json {
					return printJSON(d.stdout, struct {
						ID      string `json:"id"`
						Deleted bool   `json:"deleted"`
					}{id, true})
				}
				fmt.Fprintf(d.stdout, "app %s deleted\n", id)
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&yes, "yes", false, "confirm the deletion")
	return cmd
}

func newAppsRotateCmd(d deps, f *appsFlags) *cobra.Command {
	grace := config.Duration(admin.DefaultGrace)
	cmd := &cobra.Command{
		Use:   "rotate-secret ID [--grace 24h]",
		Short: "Give an app a new secret; the old one keeps working for --grace",
		Long: `Generate a new primary secret for the app and print it. The old secret stays
valid for signatures for --grace (default 24h; e.g. 90m, 7d or a number of
seconds), so backends can switch over
without downtime; webhooks are signed with the new secret at once.`,
		Args: exactArgs(1, "apps rotate-secret: takes the app ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.withStore(cmd.Context(), d, func(m apps.Manager) error {
				a, err := admin.RotateSecret(cmd.Context(), m, args[0], grace.D(), time.Now())
				if err != nil {
					return opError("rotate-secret", err)
				}
				out := admin.FromApp(a, true)
				if f.json {
					return printJSON(d.stdout, out)
				}
				fmt.Fprintf(d.stdout, "new secret of app %s: %s\n", a.ID, a.Secret)
				for _, p := range out.PreviousSecrets {
					fmt.Fprintf(d.stdout, "a previous secret stays valid until %s\n", p.ExpiresAt.Format(time.RFC3339))
				}
				return nil
			})
		},
	}
	cmd.Flags().Var(&grace, "grace", "how long the old secret keeps working: 24h, 7d, 90m or seconds")
	return cmd
}

// settingsFlags receives the app setting flags of create and update.
type settingsFlags struct {
	key                                               string
	enabled, clientMessages, requireSignin, subsCount bool
	maxConns, maxPresence, maxPayloadKB, clientEvents int
	maxUserInfoKB, maxChannels, maxBatch, rateBurst   int
	rateLimit                                         float64
	origins, hookURLs, hookEvents, hookHeaders        []string
	hookPrefix, hookSuffix                            string
	clearOrigins, clearHooks                          bool
}

func (s *settingsFlags) register(fs *pflag.FlagSet, create bool) {
	keyUsage := "new app key"
	if create {
		keyUsage = "app key (default: generated, 20 hex characters)"
	}
	fs.StringVar(&s.key, "key", "", keyUsage)
	fs.BoolVar(&s.enabled, "enabled", true, "accept connections and API requests")
	fs.BoolVar(&s.clientMessages, "enable-client-messages", false, "allow client events (client-*)")
	fs.BoolVar(&s.requireSignin, "require-signin", false, "close connections that do not sign in in time")
	fs.BoolVar(&s.subsCount, "enable-subscription-count", false, "send pusher_internal:subscription_count")
	fs.IntVar(&s.maxConns, "max-connections", 0, "connection limit (0 = unlimited)")
	fs.IntVar(&s.maxPresence, "max-presence-members", config.DefaultMaxPresenceMembers, "members per presence channel")
	fs.IntVar(&s.maxPayloadKB, "max-event-payload-kb", config.DefaultMaxEventPayloadKB, "largest event payload, KiB")
	fs.IntVar(&s.clientEvents, "client-events-per-sec", 0, "client events per connection per second (0 = server default)")
	fs.IntVar(&s.maxUserInfoKB, "max-user-info-kb", 0, "largest user_info, KiB (0 = server default)")
	fs.IntVar(&s.maxChannels, "max-channels-per-trigger", 0, "channels in one trigger (0 = default)")
	fs.IntVar(&s.maxBatch, "max-batch-size", 0, "events in one batch trigger (0 = default)")
	fs.Float64Var(&s.rateLimit, "api-rate-limit", 0, "HTTP API requests per second (0 = unlimited)")
	fs.IntVar(&s.rateBurst, "api-rate-burst", 0, "HTTP API burst (0 = max(1, rate))")
	fs.StringArrayVar(&s.origins, "allowed-origin", nil, "allowed WebSocket Origin, e.g. https://*.example.com (repeat; none = any)")
	fs.StringArrayVar(&s.hookURLs, "webhook-url", nil, "webhook endpoint URL (repeat for several endpoints)")
	fs.StringArrayVar(&s.hookEvents, "webhook-event", nil, "event type sent to the --webhook-url endpoints (repeat): "+strings.Join(config.WebhookEventTypes, ", "))
	fs.StringArrayVar(&s.hookHeaders, "webhook-header", nil, `extra header of webhook requests, "Name: value" (repeat)`)
	fs.StringVar(&s.hookPrefix, "webhook-channel-prefix", "", "send webhooks only for channels starting with this")
	fs.StringVar(&s.hookSuffix, "webhook-channel-suffix", "", "send webhooks only for channels ending with this")
	if !create {
		fs.BoolVar(&s.clearOrigins, "clear-allowed-origins", false, "allow any Origin")
		fs.BoolVar(&s.clearHooks, "clear-webhooks", false, "remove every webhook")
	}
}

// settings returns the settings whose flags were given.
func (s *settingsFlags) settings(fs *pflag.FlagSet) (admin.Settings, error) {
	var out admin.Settings
	changed := fs.Changed
	setIfChanged(fs, "key", &out.Key, &s.key)
	setIfChanged(fs, "enabled", &out.Enabled, &s.enabled)
	setIfChanged(fs, "enable-client-messages", &out.EnableClientMessages, &s.clientMessages)
	setIfChanged(fs, "require-signin", &out.RequireSignin, &s.requireSignin)
	setIfChanged(fs, "enable-subscription-count", &out.EnableSubscriptionCount, &s.subsCount)
	setIfChanged(fs, "max-connections", &out.MaxConnections, &s.maxConns)
	setIfChanged(fs, "max-presence-members", &out.MaxPresenceMembers, &s.maxPresence)
	setIfChanged(fs, "max-event-payload-kb", &out.MaxEventPayloadKB, &s.maxPayloadKB)
	setIfChanged(fs, "client-events-per-sec", &out.ClientEventsPerSec, &s.clientEvents)
	setIfChanged(fs, "max-user-info-kb", &out.MaxUserInfoKB, &s.maxUserInfoKB)
	setIfChanged(fs, "max-channels-per-trigger", &out.MaxChannelsPerTrigger, &s.maxChannels)
	setIfChanged(fs, "max-batch-size", &out.MaxBatchSize, &s.maxBatch)
	setIfChanged(fs, "api-rate-limit", &out.APIRateLimit, &s.rateLimit)
	setIfChanged(fs, "api-rate-burst", &out.APIRateBurst, &s.rateBurst)

	switch {
	case s.clearOrigins && changed("allowed-origin"):
		return out, usageError("--clear-allowed-origins and --allowed-origin exclude each other")
	case s.clearOrigins:
		out.AllowedOrigins = &[]string{}
	case changed("allowed-origin"):
		out.AllowedOrigins = &s.origins
	}

	hookDetail := changed("webhook-event") || changed("webhook-header") || changed("webhook-channel-prefix") || changed("webhook-channel-suffix")
	switch {
	case s.clearHooks && (changed("webhook-url") || hookDetail):
		return out, usageError("--clear-webhooks and the other --webhook-* flags exclude each other")
	case s.clearHooks:
		out.Webhooks = &[]admin.Webhook{}
	case hookDetail && !changed("webhook-url"):
		return out, usageError("--webhook-event, --webhook-header and --webhook-channel-* need --webhook-url")
	case changed("webhook-url"):
		headers := map[string]string{}
		for _, h := range s.hookHeaders {
			name, value, ok := strings.Cut(h, ":")
			if !ok || strings.TrimSpace(name) == "" {
				return out, usageError("--webhook-header %q is not \"Name: value\"", h)
			}
			headers[strings.TrimSpace(name)] = strings.TrimSpace(value)
		}
		if len(headers) == 0 {
			headers = nil
		}
		hooks := make([]admin.Webhook, 0, len(s.hookURLs))
		for _, u := range s.hookURLs {
			hooks = append(hooks, admin.Webhook{
				URL:        u,
				EventTypes: s.hookEvents,
				Headers:    headers,
				Filter:     admin.WebhookFilter{ChannelNameStartsWith: s.hookPrefix, ChannelNameEndsWith: s.hookSuffix},
			})
		}
		out.Webhooks = &hooks
	}
	return out, nil
}

// writeApp prints a in aligned "name: value" lines, named as in the JSON.
func writeApp(w io.Writer, a admin.App, withSecret bool) {
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	line := func(k string, v any) { fmt.Fprintf(tw, "%s:\t%v\n", k, v) }
	line("id", a.ID)
	line("key", a.Key)
	if withSecret {
		line("secret", a.Secret)
	} else {
		line("secret", "(hidden; --show-secret prints it)")
	}
	line("enabled", a.Enabled)
	line("enable_client_messages", a.EnableClientMessages)
	line("require_signin", a.RequireSignin)
	line("enable_subscription_count", a.EnableSubscriptionCount)
	line("max_connections", limit(a.MaxConnections, "unlimited"))
	line("max_presence_members", limit(a.MaxPresenceMembers, "unlimited"))
	line("max_event_payload_kb", limit(a.MaxEventPayloadKB, "unlimited"))
	line("client_events_per_sec", limit(a.ClientEventsPerSec, "server default"))
	line("max_user_info_kb", limit(a.MaxUserInfoKB, "server default"))
	line("max_channels_per_trigger", limit(a.MaxChannelsPerTrigger, "default"))
	line("max_batch_size", limit(a.MaxBatchSize, "default"))
	if a.APIRateLimit == 0 {
		line("api_rate_limit", "unlimited")
	} else {
		line("api_rate_limit", fmt.Sprintf("%g/s, burst %s", a.APIRateLimit, limit(a.APIRateBurst, "default")))
	}
	if len(a.AllowedOrigins) == 0 {
		line("allowed_origins", "any")
	} else {
		line("allowed_origins", strings.Join(a.AllowedOrigins, ", "))
	}
	if len(a.Webhooks) == 0 {
		line("webhooks", "none")
	}
	for _, h := range a.Webhooks {
		v := h.URL + " (" + strings.Join(h.EventTypes, ", ") + ")"
		if f := h.Filter; f.ChannelNameStartsWith != "" || f.ChannelNameEndsWith != "" {
			v += fmt.Sprintf(" channels %q...%q", f.ChannelNameStartsWith, f.ChannelNameEndsWith)
		}
		if len(h.Headers) > 0 {
			v += fmt.Sprintf(", %d extra %s", len(h.Headers), plural(len(h.Headers), "header"))
		}
		line("webhook", v)
	}
	for _, p := range a.PreviousSecrets {
		line("previous_secret", "valid until "+p.ExpiresAt.Format(time.RFC3339))
	}
	tw.Flush()
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func limit(n int, zero string) string {
	if n == 0 {
		return zero
	}
	return fmt.Sprint(n)
}

// exactArgs is cobra.ExactArgs with a usage exit code and a clear message.
func exactArgs(n int, msg string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != n {
			return usageError("%s", msg)
		}
		return nil
	}
}
