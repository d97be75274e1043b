package main

import (
	"errors"
	"fmt"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/heraldhq/herald/internal/apps"
	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/webhooks"
)

func newWebhooksCmd(d deps) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "webhooks",
		Short: "Webhook tools",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newWebhooksTestCmd(d))
	return cmd
}

func newWebhooksTestCmd(d deps) *cobra.Command {
	var file, appID string
	cmd := &cobra.Command{
		Use:   "test --app ID [--config FILE]",
		Short: "Send a signed test webhook to every endpoint of an app",
		Long: `Send one signed channel_occupied event for the channel "` + webhooks.TestChannel + `"
to every webhook endpoint of the app (regardless of their event-type and
channel filters), one at a time, each bounded by webhooks.timeout. Prints each
endpoint's URL, HTTP status or error, and latency. The configuration is read
as serve reads it (--config or HERALD_CONFIG, then HERALD_* environment).

Exit codes: 0 every endpoint answered 2xx, 1 at least one did not,
2 usage or configuration error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if appID == "" {
				return &exitError{code: exitUsage, err: errors.New("webhooks test: --app ID is required")}
			}
			cfg, err := config.Load(file, d.env, config.Overrides{})
			cfg.ApplyDefaults()
			if err = errors.Join(err, cfg.Validate()); err != nil {
				return invalidConfig(d.stderr, err)
			}
			var app *apps.App
			list := apps.FromConfig(cfg.Apps)
			if i := slices.IndexFunc(list, func(a apps.App) bool { return a.ID == appID }); i >= 0 {
				app = &list[i]
			}
			switch {
			case app == nil:
				return &exitError{code: exitUsage, err: fmt.Errorf("webhooks test: no app with id %q in the configuration", appID)}
			case len(app.Webhooks) == 0:
				return &exitError{code: exitUsage, err: fmt.Errorf("webhooks test: app %q has no webhooks configured", appID)}
			}

			results := webhooks.SendTest(cmd.Context(), app, webhooks.NewClient(cfg.Webhooks.Timeout.D()), time.Now())
			tw := tabwriter.NewWriter(d.stdout, 0, 0, 2, ' ', 0)
			failed := 0
			for _, r := range results {
				status := fmt.Sprintf("OK %d", r.Status)
				if r.Err != nil {
					failed++
					status = "FAIL " + r.Err.Error()
				}
				fmt.Fprintf(tw, "%s\t%s\t%.1fms\n", r.URL, status, float64(r.Latency.Microseconds())/1000)
			}
			tw.Flush()
			if failed > 0 {
				return &exitError{code: exitFailure, err: fmt.Errorf("webhooks test: %d of %d %s failed", failed, len(results), plural(len(results), "endpoint"))}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&file, "config", "", "YAML config file (env HERALD_CONFIG)")
	cmd.Flags().StringVar(&appID, "app", "", "id of the app whose endpoints to test")
	return cmd
}
