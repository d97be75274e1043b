// Package queue is the durable publish queue of the Beams-compatible push
// service: a publish is answered only once its job is stored here, and the
// delivery pipeline takes jobs from it, records how far it got (so a
// restart resumes instead of starting over) and removes a job once every
// target was handled.
//
// The Queue seam has one implementation per mode: bbolt in the data
// directory on one node (Open); a shared queue through the cluster's Redis
// in cluster mode (package redisqueue). Both pass the conformance suite in
// package queuetest.
package queue

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Errors of Enqueue.
var (
	// ErrFull: the queue holds its maximum of jobs; the publish is refused
	// (the API answers 503) rather than queued without bound.
	ErrFull = errors.New("beams queue is full")
	// ErrClosed: the queue was closed.
	ErrClosed = errors.New("beams queue is closed")
)

// Job is one accepted publish.
type Job struct {
	PublishID string          // pubid-<uuid>; unique
	Instance  string          // the instance id
	ToUsers   bool            // the users route; false: interests
	Body      json.RawMessage // the publish body as accepted (validated, at most 10 KiB)
	Accepted  time.Time       // when the API accepted it
	// Cursor is how far delivery got: the device-page cursor after the
	// last page whose every device was handled ("" : from the start).
	// Set by Progress; returned by Next after a restart.
	Cursor string
}

// Queue stores jobs until they are delivered. Safe for concurrent use.
type Queue interface {
	// Enqueue stores j durably (on disk, or in Redis with its persistence)
	// before it returns nil. ErrFull over the size limit.
	Enqueue(ctx context.Context, j Job) error
	// Next returns the oldest job not yet handed out by this Queue value,
	// waiting until there is one or ctx ends (then ctx's error). Jobs
	// stored before a restart are handed out again, with their Cursor.
	Next(ctx context.Context) (Job, error)
	// Progress records the cursor of a job handed out by Next.
	Progress(ctx context.Context, publishID, cursor string) error
	// Done removes a job: every target was handled (or given up).
	Done(ctx context.Context, publishID string) error
	// Len is the number of jobs stored (handed out or not).
	Len() int
	// Close releases the queue; a Next waiting returns ErrClosed.
	Close() error
}
