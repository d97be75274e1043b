package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/heraldhq/herald/internal/config"
)

func newCheckConfigCmd(d deps) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "check-config --config FILE",
		Short: "Check a config file and print every problem in it",
		Long: `Check a config file, together with the HERALD_* environment, and print every
problem found, one per line. When there are none, it says whether the server
runs as one node (in memory) or in cluster mode through Redis (the password is
shown as ***), prints "config OK" and exits 0; otherwise it exits 1. Nothing is
written: the default app is not generated.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path := config.ConfigFile(file, d.env)
			if path == "" {
				return &exitError{code: exitUsage, err: errors.New("check-config: --config FILE (or HERALD_CONFIG) is required")}
			}
			cfg, err := config.Load(path, d.env, config.Overrides{})
			cfg.ApplyDefaults()
			if err = errors.Join(err, cfg.Validate()); err != nil {
				problems := config.Problems(err)
				for _, p := range problems {
					fmt.Fprintln(d.stdout, p)
				}
				n := len(problems)
				return &exitError{code: exitFailure, err: fmt.Errorf("%s: %d %s", path, n, plural(n, "problem"))}
			}
			if len(cfg.Apps) == 0 {
				fmt.Fprintf(d.stdout, "note: no apps configured; herald serve will use a default app stored in %s\n", cfg.DataDir)
			}
			fmt.Fprintln(d.stdout, clusterMode(cfg))
			if n := len(cfg.Beams.Instances); n > 0 {
				fmt.Fprintf(d.stdout, "beams: %d instance(s); push notifications (Beams API) served on the main port\n", n)
			}
			fmt.Fprintln(d.stdout, "config OK")
			return nil
		},
	}
	cmd.Flags().StringVar(&file, "config", "", "YAML config file (env HERALD_CONFIG)")
	return cmd
}

// clusterMode describes how the configured server shares state, never with
// the Redis password.
func clusterMode(cfg config.Config) string {
	if !cfg.Redis.Enabled() {
		return "single node (in memory)"
	}
	s := "cluster mode: " + cfg.Redis.String() // redacted
	if cfg.NodeID != "" {
		s += " node " + cfg.NodeID
	}
	return s
}
