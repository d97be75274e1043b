package main

import (
	"errors"
	"fmt"
	"regexp"

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
			if problems := checkProblems(err, cfg.Validate()); len(problems) > 0 {
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

// problemKey matches the key a problem names: "file:line: key: …" (the
// loader's) or "key: …" (Validate's).
var problemKey = regexp.MustCompile(`^(?:.*?:\d+: )?([A-Za-z0-9_.\[\]]+): `)

// checkProblems lists the loader's problems, then Validate's, leaving out a
// Validate problem about a key the loader already refused (a bad
// "expires_at" would otherwise also be reported as missing).
func checkProblems(loadErr, validateErr error) []error {
	out := config.Problems(loadErr)
	refused := map[string]bool{}
	for _, p := range out {
		if m := problemKey.FindStringSubmatch(p.Error()); m != nil {
			refused[m[1]] = true
		}
	}
	for _, p := range config.Problems(validateErr) {
		if m := problemKey.FindStringSubmatch(p.Error()); m != nil && refused[m[1]] {
			continue
		}
		out = append(out, p)
	}
	return out
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
