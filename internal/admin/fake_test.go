package admin

import (
	"context"
	"errors"
	"sync"

	"github.com/heraldhq/herald/internal/apps"
)

// fakeManager is an in-memory apps.Manager; fail, when set, is returned by
// every call.
type fakeManager struct {
	mu   sync.Mutex
	apps map[string]*apps.App
	fail error
}

var _ apps.Manager = (*fakeManager)(nil)

func newFake() *fakeManager { return &fakeManager{apps: map[string]*apps.App{}} }

func (f *fakeManager) ByID(_ context.Context, id string) (*apps.App, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	if a, ok := f.apps[id]; ok {
		return a.Clone(), nil
	}
	return nil, apps.ErrNotFound
}

func (f *fakeManager) ByKey(_ context.Context, key string) (*apps.App, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	for _, a := range f.apps {
		if a.Key == key {
			return a.Clone(), nil
		}
	}
	return nil, apps.ErrNotFound
}

func (f *fakeManager) List(context.Context) ([]*apps.App, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	var out []*apps.App
	for _, a := range f.apps {
		out = append(out, a.Clone())
	}
	return out, nil
}

func (f *fakeManager) Create(_ context.Context, a *apps.App) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	for _, b := range f.apps {
		if b.ID == a.ID || b.Key == a.Key {
			return apps.ErrConflict
		}
	}
	f.apps[a.ID] = a.Clone()
	return nil
}

func (f *fakeManager) Update(_ context.Context, a *apps.App) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	if _, ok := f.apps[a.ID]; !ok {
		return apps.ErrNotFound
	}
	for _, b := range f.apps {
		if b.ID != a.ID && b.Key == a.Key {
			return apps.ErrConflict
		}
	}
	f.apps[a.ID] = a.Clone()
	return nil
}

func (f *fakeManager) Delete(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	if _, ok := f.apps[id]; !ok {
		return apps.ErrNotFound
	}
	delete(f.apps, id)
	return nil
}

func (f *fakeManager) Close() error { return nil }

var errDown = errors.New("database is down: secret-ish detail")
