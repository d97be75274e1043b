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

	"github.com/heraldhq/herald/internal/admin"
	"github.com/heraldhq/herald/internal/beams/devices/sqldevices"
	"github.com/heraldhq/herald/internal/beams/instance/stored"
	"github.com/heraldhq/herald/internal/config"
)

// beamsFlags are the flags every beams subcommand takes.
type beamsFlags struct {
	configFile, dataDir, databaseURL string
	json                             bool
}

func newBeamsCmd(d deps) *cobra.Command {
	f := &beamsFlags{}
	cmd := &cobra.Command{
		Use:   "beams",
		Short: "Manage the Beams (push notification) instances in the app store",
		Long: `Create, list, show and delete Beams instances, and rotate their secret keys,
in the app store serve reads (beside the apps of 'herald apps'): --database-url,
HERALD_DATABASE_URL or database_url in the config file (--config or
HERALD_CONFIG), sqlite:<path> or postgres://...; by default
sqlite:<data-dir>/apps.db. The data directory is found as serve finds it:
--data-dir, HERALD_DATA_DIR, data_dir in the config file, or ` + config.DefaultDataDir + `.
The config file is always read: its own beams.instances win over stored ones
with the same id, so create and delete refuse those ids.

A running server picks up a change within seconds, on every node.

With --json each command prints one JSON object. Secret keys are printed only
by create, rotate-key and show --show-secret.

Exit codes: 0 success, 1 the operation failed (no such instance, id taken,
store error), 2 usage or validation error.`,
		Args: cobra.NoArgs, // an unknown subcommand is a usage error, not help
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.configFile, "config", "", "YAML config file, read for database_url, data_dir and beams.instances (env HERALD_CONFIG)")
	pf.StringVar(&f.dataDir, "data-dir", "", "data directory (env HERALD_DATA_DIR; default "+config.DefaultDataDir+")")
	pf.StringVar(&f.databaseURL, "database-url", "", "app store, sqlite:<path> or postgres://... (env "+config.EnvDatabaseURL+"; default sqlite:<data-dir>/"+config.AppsDBFile+")")
	pf.BoolVar(&f.json, "json", false, "print JSON")
	cmd.AddCommand(newBeamsCreateCmd(d, f), newBeamsListCmd(d, f), newBeamsShowCmd(d, f), newBeamsDeleteCmd(d, f), newBeamsRotateCmd(d, f))
	return cmd
}

// withStore opens the store serve uses for Beams instances (the app
// store's database), runs fn with it and the loaded config, and closes it.
func (f *beamsFlags) withStore(ctx context.Context, d deps, fn func(admin.BeamsStore, config.Config) error) error {
	var over config.Overrides
	if f.dataDir != "" {
		over.DataDir = &f.dataDir
	}
	cfg, err := config.Load(f.configFile, d.env, over) // reads HERALD_DATABASE_URL too
	if err != nil {
		return invalidConfig(d.stderr, err)
	}
	cfg.ApplyDefaults()
	dsn := f.databaseURL
	if dsn == "" {
		dsn = cfg.DatabaseURL
	}
	if dsn == "" {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return &exitError{code: exitFailure, err: fmt.Errorf("data directory: %w", err)}
		}
		dsn = "sqlite:" + filepath.Join(cfg.DataDir, config.AppsDBFile)
	}
	st, err := sqldevices.Open(ctx, dsn, sqldevices.Options{})
	if err != nil {
		return &exitError{code: exitFailure, err: fmt.Errorf("open the beams store: %w", err)}
	}
	defer st.Close()
	return fn(st, cfg)
}

// configBeamsIDs are the ids of the config file's instances.
func configBeamsIDs(cfg config.Config) []string {
	ids := make([]string, 0, len(cfg.Beams.Instances)+1)
	for _, in := range cfg.Beams.Instances {
		ids = append(ids, in.ID)
	}
	// The embedded default instance is served like a configured one: a
	// stored instance with its id would take (and delete) its devices.
	if id := config.StoredDefaultBeamsID(cfg.DataDir); id != "" {
		ids = append(ids, id)
	}
	return ids
}

// beamsOpError gives err the exit code its kind calls for; the fields of a
// validation error are named as the flags that set them (labels).
func beamsOpError(op string, err error, labels map[string]string) error {
	code := exitFailure
	var inv *stored.InvalidError
	if errors.As(err, &inv) {
		code = exitUsage
		parts := make([]string, len(inv.Problems))
		for i, p := range inv.Problems {
			name := p.Field
			if l, ok := labels[p.Field]; ok {
				name = l
			}
			parts[i] = name + ": " + p.Message
		}
		err = errors.New(strings.Join(parts, "; "))
	} else if errors.Is(err, stored.ErrInvalid) {
		code = exitUsage
	}
	return &exitError{code: code, err: fmt.Errorf("beams %s: %w", op, err)}
}

// readCredential reads a credential file of at most limit bytes.
func readCredential(flag, path string, limit int64) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, usageError("%s: %v", flag, err)
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, limit+1))
	switch {
	case err != nil:
		return nil, usageError("%s: %v", flag, err)
	case int64(len(data)) > limit:
		return nil, usageError("%s %s: larger than %d bytes; is it the right file?", flag, path, limit)
	}
	return data, nil
}

// beamsCreateFlags receives the flags of create.
type beamsCreateFlags struct {
	id, subject, fcmFile          string
	apnsKey, keyID, teamID, topic string
	production                    bool
}

// settings reads the files named by the flags given and returns the
// settings, with the labels naming each field's flag.
func (c *beamsCreateFlags) settings(cmd *cobra.Command) (admin.BeamsSettings, map[string]string, error) {
	fs := cmd.Flags()
	s := admin.BeamsSettings{VAPIDSubject: c.subject}
	labels := map[string]string{"id": "--id", "vapid_subject": "--vapid-subject", "apns.key_id": "--apns-key-id",
		"apns.team_id": "--apns-team-id", "apns.topic": "--apns-topic"}
	if fs.Changed("id") {
		s.ID = &c.id
	}
	if fs.Changed("fcm-service-account") {
		data, err := readCredential("--fcm-service-account", c.fcmFile, stored.MaxServiceAccountBytes)
		if err != nil {
			return s, nil, err
		}
		s.FCM = &admin.BeamsFCMSettings{ServiceAccount: data}
		labels["fcm.service_account"] = "--fcm-service-account " + c.fcmFile
	}
	apnsDetail := fs.Changed("apns-key-id") || fs.Changed("apns-team-id") || fs.Changed("apns-topic") || fs.Changed("apns-production")
	switch {
	case fs.Changed("apns-key"):
		data, err := readCredential("--apns-key", c.apnsKey, stored.MaxAPNsKeyBytes)
		if err != nil {
			return s, nil, err
		}
		s.APNs = &admin.BeamsAPNsSettings{Key: string(data), KeyID: c.keyID, TeamID: c.teamID, Topic: c.topic, Production: c.production}
		labels["apns.key"] = "--apns-key " + c.apnsKey
	case apnsDetail:
		return s, nil, usageError("--apns-key-id, --apns-team-id, --apns-topic and --apns-production need --apns-key")
	}
	return s, labels, nil
}

func newBeamsCreateCmd(d deps, f *beamsFlags) *cobra.Command {
	var c beamsCreateFlags
	cmd := &cobra.Command{
		Use:   "create [--id UUID] [--vapid-subject S] [--fcm-service-account FILE] [--apns-key FILE --apns-key-id ID --apns-team-id ID --apns-topic T [--apns-production]]",
		Short: "Create a Beams instance; its id and secret key are generated",
		Long: `Create a Beams instance and print its id and secret key (the only time the
key is printed unasked), with the settings of the Node.js server SDK. The id
is generated unless --id gives one (a UUID, e.g. of an instance moved from
hosted Beams). The credential files are read now and kept in the app store,
so every node has them: --fcm-service-account is the Google service-account
JSON key, --apns-key the .p8 key from Apple.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			set, labels, err := c.settings(cmd)
			if err != nil {
				return err
			}
			return f.withStore(cmd.Context(), d, func(st admin.BeamsStore, cfg config.Config) error {
				rec, err := admin.CreateBeamsInstance(cmd.Context(), st, set, configBeamsIDs(cfg))
				if err != nil {
					return beamsOpError("create", err, labels)
				}
				out := admin.FromBeamsRecord(rec, true)
				if f.json {
					return printJSON(d.stdout, out)
				}
				fmt.Fprintln(d.stdout, "created beams instance "+rec.ID)
				writeBeams(d.stdout, out, true)
				fmt.Fprintln(d.stdout)
				writeNodeSnippet(d.stdout, out, cfg)
				return nil
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&c.id, "id", "", "instance id, a UUID (default: generated)")
	fl.StringVar(&c.subject, "vapid-subject", "", "contact in Web Push requests, mailto:... or https://... (default "+config.DefaultVAPIDSubject+")")
	fl.StringVar(&c.fcmFile, "fcm-service-account", "", "Google service-account JSON key file: deliver to Android (FCM)")
	fl.StringVar(&c.apnsKey, "apns-key", "", "APNs .p8 signing key file: deliver to Apple devices")
	fl.StringVar(&c.keyID, "apns-key-id", "", "the .p8 key's 10-character key id")
	fl.StringVar(&c.teamID, "apns-team-id", "", "the 10-character Apple team id")
	fl.StringVar(&c.topic, "apns-topic", "", "the app's bundle id")
	fl.BoolVar(&c.production, "apns-production", false, "use APNs production (default: the sandbox)")
	return cmd
}

func newBeamsListCmd(d deps, f *beamsFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the stored Beams instances (never their keys)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.withStore(cmd.Context(), d, func(st admin.BeamsStore, cfg config.Config) error {
				list, err := st.ListInstances(cmd.Context())
				if err != nil {
					return beamsOpError("list", err, nil)
				}
				out := admin.BeamsList(list)
				ids := configBeamsIDs(cfg)
				for _, in := range out.Instances {
					for _, c := range ids {
						if strings.EqualFold(c, in.ID) {
							fmt.Fprintf(d.stderr, "herald: note: beams instance %s is also in the config file, whose settings win: the stored one is ignored\n", in.ID)
						}
					}
				}
				if f.json {
					return printJSON(d.stdout, out)
				}
				tw := tabwriter.NewWriter(d.stdout, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tFCM\tAPNS\tCREATED")
				for _, in := range out.Instances {
					fcm, apns := "-", "-"
					if in.FCM != nil {
						fcm = in.FCM.ProjectID
					}
					if in.APNs != nil {
						apns = in.APNs.Topic + " (" + apnsEnv(in.APNs.Production) + ")"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", in.ID, fcm, apns, in.CreatedAt.Format(time.RFC3339))
				}
				return tw.Flush()
			})
		},
	}
}

func newBeamsShowCmd(d deps, f *beamsFlags) *cobra.Command {
	var showSecret bool
	cmd := &cobra.Command{
		Use:   "show ID [--show-secret]",
		Short: "Show a Beams instance; its secret key only with --show-secret",
		Args:  exactArgs(1, "beams show: takes the instance ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.withStore(cmd.Context(), d, func(st admin.BeamsStore, _ config.Config) error {
				rec, err := admin.ShowBeamsInstance(cmd.Context(), st, args[0])
				if err != nil {
					return beamsOpError("show", err, nil)
				}
				out := admin.FromBeamsRecord(rec, showSecret)
				if f.json {
					return printJSON(d.stdout, out)
				}
				writeBeams(d.stdout, out, showSecret)
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&showSecret, "show-secret", false, "also print the secret key")
	return cmd
}

func newBeamsDeleteCmd(d deps, f *beamsFlags) *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "delete ID --yes",
		Short: "Delete a Beams instance and its devices (needs --yes)",
		Long: `Delete a Beams instance with its devices, their interests and its VAPID key.
Browsers subscribed to it must subscribe again, even to an instance created
later with the same id.`,
		Args: exactArgs(1, "beams delete: takes the instance ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := args[0]
			if !yes {
				return usageError("beams delete: deleting beams instance %q and its devices cannot be undone; pass --yes to confirm", id)
			}
			return f.withStore(cmd.Context(), d, func(st admin.BeamsStore, cfg config.Config) error {
				if err := admin.DeleteBeamsInstance(cmd.Context(), st, id, configBeamsIDs(cfg)); err != nil {
					return beamsOpError("delete", err, nil)
				}
				if f.json {
					return printJSON(d.stdout, struct {
						ID      string `json:"id"`
						Deleted bool   `json:"deleted"`
					}{id, true})
				}
				fmt.Fprintf(d.stdout, "beams instance %s deleted, with its devices\n", id)
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&yes, "yes", false, "confirm the deletion")
	return cmd
}

func newBeamsRotateCmd(d deps, f *beamsFlags) *cobra.Command {
	grace := config.Duration(admin.DefaultGrace)
	cmd := &cobra.Command{
		Use:   "rotate-key ID [--grace 24h]",
		Short: "Give a Beams instance a new secret key; the old one keeps working for --grace",
		Long: `Generate a new secret key for the instance and print it. The old key stays
valid for publishes and Beams tokens for --grace (default 24h, at most 30d;
e.g. 90m, 7d or a number of seconds),
so servers can switch over without downtime; running servers pick up the new
key within seconds.`,
		Args: exactArgs(1, "beams rotate-key: takes the instance ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.withStore(cmd.Context(), d, func(st admin.BeamsStore, _ config.Config) error {
				rec, err := admin.RotateBeamsKey(cmd.Context(), st, args[0], grace.D(), time.Now())
				if err != nil {
					return beamsOpError("rotate-key", err, map[string]string{"grace": "--grace"})
				}
				out := admin.FromBeamsRecord(rec, true)
				if f.json {
					return printJSON(d.stdout, out)
				}
				fmt.Fprintf(d.stdout, "new secret key of beams instance %s: %s\n", rec.ID, rec.SecretKey)
				for _, p := range out.PreviousKeys {
					fmt.Fprintf(d.stdout, "a previous key stays valid until %s\n", p.ExpiresAt.Format(time.RFC3339))
				}
				return nil
			})
		},
	}
	cmd.Flags().Var(&grace, "grace", "how long the old key keeps working: 24h, 7d, 90m or seconds")
	return cmd
}

// writeBeams prints an instance in aligned "name: value" lines, named as
// in the JSON.
func writeBeams(w io.Writer, in admin.BeamsInstance, withSecret bool) {
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	line := func(k string, v any) { fmt.Fprintf(tw, "%s:\t%v\n", k, v) }
	line("id", in.ID)
	if withSecret {
		line("secret_key", in.SecretKey)
	} else {
		line("secret_key", "(hidden; --show-secret prints it)")
	}
	if in.VAPIDSubject == "" {
		line("vapid_subject", config.DefaultVAPIDSubject+" (default)")
	} else {
		line("vapid_subject", in.VAPIDSubject)
	}
	if in.FCM == nil {
		line("fcm", "none (FCM devices get nothing)")
	} else {
		line("fcm", fmt.Sprintf("project %s (%s)", in.FCM.ProjectID, in.FCM.ClientEmail))
	}
	if a := in.APNs; a == nil {
		line("apns", "none (APNs devices get nothing)")
	} else {
		line("apns", fmt.Sprintf("topic %s, key %s, team %s, %s", a.Topic, a.KeyID, a.TeamID, apnsEnv(a.Production)))
	}
	line("created_at", in.CreatedAt.Format(time.RFC3339))
	line("updated_at", in.UpdatedAt.Format(time.RFC3339))
	for _, p := range in.PreviousKeys {
		line("previous_key", "valid until "+p.ExpiresAt.Format(time.RFC3339))
	}
	tw.Flush()
}

func apnsEnv(production bool) string {
	if production {
		return "production"
	}
	return "sandbox"
}

// writeNodeSnippet prints the settings of @pusher/push-notifications-server
// for this server: with endpoint set, that SDK speaks plain HTTP to a bare
// host name and a separate port (docs/beams.md).
func writeNodeSnippet(w io.Writer, in admin.BeamsInstance, cfg config.Config) {
	host, hostNote := cfg.Host, "this server's host name: no scheme, no port"
	switch host {
	case "", "0.0.0.0", "::", "[::]":
		host, hostNote = "localhost", "the host name your servers reach Herald at: no scheme, no port"
	}
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	fmt.Fprintf(w, `Publish from Node.js with @pusher/push-notifications-server:

  const PushNotifications = require("@pusher/push-notifications-server");
  const beamsClient = new PushNotifications({
    instanceId: %s,
    secretKey: %s,
    endpoint: %s, // %s
    port: %d,
  });

With endpoint set, the SDK speaks plain HTTP to endpoint:port.
`, q(in.ID), q(in.SecretKey), q(host), hostNote, cfg.Port)
	if cfg.TLS.Enabled() {
		fmt.Fprintf(w, "This server serves TLS on port %d: put a plain-HTTP listener or proxy in front of it for the SDK.\n", cfg.Port)
	}
}
