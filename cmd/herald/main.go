// Command herald is a Pusher Channels compatible realtime server.
//
//	herald serve [--config FILE] [--host H] [--port N] [--data-dir DIR] ...
//	herald check-config --config FILE
//	herald version
//
// Exit codes: 0 success, 1 runtime failure (or check-config found problems),
// 2 usage or configuration error.
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
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := execute(ctx, os.Args[1:], deps{
		env:    os.LookupEnv,
		run:    server.Run,
		stdout: os.Stdout,
		stderr: os.Stderr,
	})
	stop()
	os.Exit(code)
}
