package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/server"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // the server failed, or check-config found problems
	exitUsage   = 2 // bad flags or arguments, or a configuration that does not load or validate
)

// deps are the process inputs, injected so tests run the CLI in-process.
type deps struct {
	env    func(string) (string, bool)
	run    func(context.Context, config.Config, server.Options) error
	stdout io.Writer
	stderr io.Writer
}

// exitError carries an exit code; message "" means already reported.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return ""
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// execute runs the CLI with args and returns the process exit code.
func execute(ctx context.Context, args []string, d deps) int {
	root := newRootCmd(d)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	code := exitUsage // errors cobra raises itself: unknown command, bad args
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
	}
	if msg := err.Error(); msg != "" {
		fmt.Fprintf(d.stderr, "herald: %s\n", msg)
	}
	if code == exitUsage && ee == nil {
		fmt.Fprintln(d.stderr, "Run 'herald --help' for usage.")
	}
	return code
}

func newRootCmd(d deps) *cobra.Command {
	root := &cobra.Command{
		Use:   "herald",
		Short: "Herald is a Pusher Channels compatible realtime server",
		Long: `Herald is a Pusher Channels compatible realtime server.

Configuration comes from a YAML file (--config or HERALD_CONFIG), then HERALD_*
environment variables, then flags; each overrides the one before.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(d.stdout)
	root.SetErr(d.stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &exitError{code: exitUsage, err: fmt.Errorf("%w\nRun '%s --help' for usage.", err, c.CommandPath())}
	})
	root.AddCommand(newServeCmd(d), newCheckConfigCmd(d), newVersionCmd(d), newWebhooksCmd(d), newAppsCmd(d), newBeamsCmd(d), newBenchCmd(d), newHealthCmd(d))
	return root
}

// invalidConfig prints every problem in err to w, one per line, and returns
// the usage exit code.
func invalidConfig(w io.Writer, err error) error {
	problems := config.Problems(err)
	n := len(problems)
	fmt.Fprintf(w, "herald: invalid configuration (%d %s):\n", n, plural(n, "problem"))
	for _, p := range problems {
		fmt.Fprintf(w, "  %s\n", p)
	}
	return &exitError{code: exitUsage}
}

// setIfChanged points *dst at v when the flag name was given, so that only
// the flags the user set override the layers below.
func setIfChanged[T any](fs *pflag.FlagSet, name string, dst **T, v *T) {
	if fs.Changed(name) {
		*dst = v
	}
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
