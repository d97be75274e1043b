package apps

import (
	"context"
	"sync/atomic"
)

// Reloadable is a Store over a Static list that can be replaced while the
// server runs (the config file's apps, re-read on SIGHUP).
type Reloadable struct {
	cur atomic.Pointer[Static]
}

var _ Store = (*Reloadable)(nil)

// NewReloadable serves s until Replace.
func NewReloadable(s *Static) *Reloadable {
	r := &Reloadable{}
	r.cur.Store(s)
	return r
}

// Replace swaps in next and returns the list it replaced.
func (r *Reloadable) Replace(next *Static) *Static { return r.cur.Swap(next) }

func (r *Reloadable) ByKey(ctx context.Context, key string) (*App, error) {
	return r.cur.Load().ByKey(ctx, key)
}

func (r *Reloadable) ByID(ctx context.Context, id string) (*App, error) {
	return r.cur.Load().ByID(ctx, id)
}

// All returns the current apps.
func (r *Reloadable) All() []*App { return r.cur.Load().All() }
