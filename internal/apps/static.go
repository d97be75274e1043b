package apps

import (
	"context"
	"fmt"
)

// Static is a Store over a fixed list of apps, built from configuration.
type Static struct {
	byKey map[string]*App
	byID  map[string]*App
	all   []*App
}

var _ Store = (*Static)(nil)

// NewStatic indexes list; ids and keys must be unique.
func NewStatic(list []App) (*Static, error) {
	s := &Static{byKey: map[string]*App{}, byID: map[string]*App{}}
	for i := range list {
		a := list[i]
		if _, dup := s.byID[a.ID]; dup {
			return nil, fmt.Errorf("duplicate app id %q", a.ID)
		}
		if _, dup := s.byKey[a.Key]; dup {
			return nil, fmt.Errorf("duplicate app key %q", a.Key)
		}
		s.byID[a.ID] = &a
		s.byKey[a.Key] = &a
		s.all = append(s.all, &a)
	}
	return s, nil
}

func (s *Static) ByKey(_ context.Context, key string) (*App, error) {
	if a, ok := s.byKey[key]; ok {
		return a, nil
	}
	return nil, ErrNotFound
}

func (s *Static) ByID(_ context.Context, id string) (*App, error) {
	if a, ok := s.byID[id]; ok {
		return a, nil
	}
	return nil, ErrNotFound
}

// All returns every app, in configuration order.
func (s *Static) All() []*App { return s.all }
