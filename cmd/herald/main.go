// Command herald is a Pusher Channels compatible realtime server.
//
//	herald serve [--config FILE] [--host H] [--port N] [--data-dir DIR] ...
//	herald check-config --config FILE
//	herald version
//	herald health [--url URL]   (exit 0 when /ready answers 200: a container health check)
//
// Exit codes: 0 success, 1 runtime failure (or check-config found problems),
// 2 usage or configuration error. SIGINT or SIGTERM asks any command to stop
// gracefully; a second one ends it at once with 128 + the signal number (130
// for SIGINT, 143 for SIGTERM).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/heraldhq/herald/internal/server"
)

// version is set at build time: go build -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() {
	os.Exit(runMain(os.Args[1:], deps{
		env:    os.LookupEnv,
		run:    server.Run,
		stdout: os.Stdout,
		stderr: os.Stderr,
	}, os.Exit))
}

// runMain runs the CLI with SIGINT and SIGTERM watched (watchSignals): the
// first cancels the command's context, a second calls exit.
func runMain(args []string, d deps, exit func(int)) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	stopWatching := watchSignals(sigs, cancel, d.stderr, exit)
	code := execute(ctx, args, d)
	signal.Stop(sigs) // from here a signal has its default effect: it ends the process
	stopWatching()
	return code
}
