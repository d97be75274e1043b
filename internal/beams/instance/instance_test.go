package instance

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

func TestSecrets(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	in := &Instance{ID: "i", Secrets: []Secret{{Key: "current"}, {Key: "old", Until: now.Add(time.Hour)}, {Key: "older", Until: now.Add(-time.Second)}}}
	for _, c := range []struct {
		key  string
		gen  int
		ok   bool
		when time.Time
	}{
		{"current", 0, true, now}, {"old", 1, true, now}, {"older", -1, false, now},
		{"old", -1, false, now.Add(time.Hour)}, {"", -1, false, now}, {"curren", -1, false, now},
	} {
		if gen, ok := in.CheckSecret(c.key, c.when); gen != c.gen || ok != c.ok {
			t.Errorf("CheckSecret(%q) = %d, %v; want %d, %v", c.key, gen, ok, c.gen, c.ok)
		}
	}
	if got := in.Accepted(now); !slices.Equal(got, []string{"current", "old"}) {
		t.Errorf("Accepted = %v", got)
	}
	// Two equal keys (a rotation that kept the key): the first generation.
	dup := &Instance{Secrets: []Secret{{Key: "k"}, {Key: "k", Until: now.Add(time.Hour)}}}
	if gen, ok := dup.CheckSecret("k", now); gen != 0 || !ok {
		t.Errorf("duplicate key: %d %v", gen, ok)
	}
}

func TestStatic(t *testing.T) {
	s := NewStatic(&Instance{ID: "a"})
	if in, err := s.Get(context.Background(), "a"); err != nil || in.ID != "a" {
		t.Fatalf("Get(a) = %v, %v", in, err)
	}
	if _, err := s.Get(context.Background(), "b"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get(b) error = %v", err)
	}
}
