package statsredis

import (
	"context"
	"time"
)

// Flush writes the pending samples now, as Run does when one is published.
func (a *Aggregator) Flush(ctx context.Context) { a.flush(ctx) }

// Aggregate records what Run's tick at now records.
func (a *Aggregator) Aggregate(ctx context.Context, rec Recorder, now time.Time) {
	a.aggregate(ctx, rec, now)
}

// Key is the hash of the interval holding t.
func (a *Aggregator) Key(t time.Time) string { return a.key(a.slot(t)) }
