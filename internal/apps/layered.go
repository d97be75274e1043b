package apps

import (
	"context"
	"errors"
)

// Layered looks an app up in each store in turn: apps from the config file
// first, then the SQL store managed with `herald apps`.
type Layered []Store

var _ Store = Layered(nil)

func (l Layered) ByKey(ctx context.Context, key string) (*App, error) {
	return l.find(func(s Store) (*App, error) { return s.ByKey(ctx, key) })
}

func (l Layered) ByID(ctx context.Context, id string) (*App, error) {
	return l.find(func(s Store) (*App, error) { return s.ByID(ctx, id) })
}

func (l Layered) find(get func(Store) (*App, error)) (*App, error) {
	for _, s := range l {
		a, err := get(s)
		if err == nil {
			return a, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return nil, err
		}
	}
	return nil, ErrNotFound
}
