package admin

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/heraldhq/herald/internal/beams/instance/stored"
)

// fakeBeams is an in-memory BeamsStore; fail, when set, is returned by
// every call.
type fakeBeams struct {
	mu   sync.Mutex
	recs map[string]*stored.Record
	fail error
}

var _ BeamsStore = (*fakeBeams)(nil)

func newFakeBeams() *fakeBeams { return &fakeBeams{recs: map[string]*stored.Record{}} }

func (f *fakeBeams) CreateInstance(_ context.Context, rec stored.Record) (*stored.Record, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	if err := rec.Validate(); err != nil {
		return nil, err
	}
	if _, ok := f.recs[rec.ID]; ok {
		return nil, fmt.Errorf("%w: %s", stored.ErrConflict, rec.ID)
	}
	rec.Version, rec.CreatedAt, rec.UpdatedAt = 1, time.Now().UTC(), time.Now().UTC()
	f.recs[rec.ID] = rec.Clone()
	return rec.Clone(), nil
}

func (f *fakeBeams) GetInstance(_ context.Context, id string) (*stored.Record, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	if r, ok := f.recs[id]; ok {
		return r.Clone(), nil
	}
	return nil, stored.ErrNotFound
}

func (f *fakeBeams) ListInstances(context.Context) ([]*stored.Record, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	var out []*stored.Record
	for _, r := range f.recs {
		out = append(out, r.Clone())
	}
	return out, nil
}

func (f *fakeBeams) DeleteInstance(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	if _, ok := f.recs[id]; !ok {
		return stored.ErrNotFound
	}
	delete(f.recs, id)
	return nil
}

func (f *fakeBeams) RotateInstanceKey(_ context.Context, id string, grace time.Duration, now time.Time) (*stored.Record, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	if err := stored.CheckGrace(grace); err != nil {
		return nil, err
	}
	cur, ok := f.recs[id]
	if !ok {
		return nil, stored.ErrNotFound
	}
	key, err := stored.NewSecretKey()
	if err != nil {
		return nil, err
	}
	next, err := stored.Rotate(cur, grace, now, key)
	if err != nil {
		return nil, err
	}
	next.Version++
	f.recs[id] = next
	return next.Clone(), nil
}
