// Package server is the composition root: it builds every component from the
// configuration, mounts the routes and runs until its context is cancelled.
package server

import (
	"context"
	"errors"
	"io"

	"github.com/heraldhq/herald/internal/config"
)

// Options are the process-level inputs that are not configuration.
type Options struct {
	Version string
	Stdout  io.Writer // start-up banner
	Stderr  io.Writer // logs
}

// Run serves until ctx is cancelled, then shuts down gracefully.
func Run(ctx context.Context, cfg config.Config, opts Options) error {
	return errors.New("not implemented yet")
}
