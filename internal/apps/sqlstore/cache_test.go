package sqlstore

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/apps"
	"github.com/heraldhq/herald/internal/apps/appstest"
)

// TestCacheOrdering drives applyLocal and applySnapshot directly through the
// interleavings a poll racing local writes can produce.
func TestCacheOrdering(t *testing.T) {
	ctx := context.Background()
	var ev events
	s := &Store{byID: map[string]*apps.App{}, byKey: map[string]*apps.App{}, onChange: ev.record}
	a1 := appstest.NewApp("1", "k1")
	b1 := appstest.NewApp("2", "k2")
	step := func(f func()) { f(); s.deliver() }
	state := func() (int64, int64) { s.mu.RLock(); defer s.mu.RUnlock(); return s.complete, s.seen }

	// In-order local change: the cache is complete at v1.
	step(func() { s.applyLocal(1, "1", a1) })
	if c, n := state(); c != 1 || n != 1 {
		t.Fatalf("complete %d seen %d", c, n)
	}
	// Another node wrote v2; our write is v3: the cache holds v3's change
	// but is only complete at v1, so the next poll reloads.
	step(func() { s.applyLocal(3, "1", nil) })
	if c, n := state(); c != 1 || n != 3 {
		t.Fatalf("gap: complete %d seen %d", c, n)
	}
	// A snapshot read before our commit (v2) must not undo the delete.
	step(func() { s.applySnapshot(2, []*apps.App{a1, b1}) })
	if _, err := s.ByID(ctx, "1"); !errors.Is(err, apps.ErrNotFound) {
		t.Fatal("stale snapshot resurrected a deleted app")
	}
	// The snapshot at v3 fills the gap: app 2 from the other node appears.
	step(func() { s.applySnapshot(3, []*apps.App{b1}) })
	if _, err := s.ByKey(ctx, "k2"); err != nil {
		t.Fatal(err)
	}
	if c, n := state(); c != 3 || n != 3 {
		t.Fatalf("after reload: complete %d seen %d", c, n)
	}
	// A local change a newer snapshot already holds is skipped, so it
	// cannot overwrite a later change from another node.
	b2 := appstest.NewApp("2", "k2-new")
	step(func() { s.applySnapshot(5, []*apps.App{b2}) })
	step(func() { s.applyLocal(4, "2", appstest.NewApp("2", "k2-old")) })
	if got, _ := s.ByID(ctx, "2"); got.Key != "k2-new" {
		t.Fatalf("older local change won: %q", got.Key)
	}
	// An identical snapshot keeps pointers and calls nothing.
	before, _ := s.ByID(ctx, "2")
	n := len(ev.list())
	step(func() { s.applySnapshot(6, []*apps.App{appstest.NewApp("2", "k2-new").Clone()}) })
	if after, _ := s.ByID(ctx, "2"); after != before || len(ev.list()) != n {
		t.Fatal("unchanged app replaced or reported")
	}
	want := "create 1,delete 1,create 2,update 2 k2->k2-new"
	if got := strings.Join(ev.list(), ","); got != want {
		t.Fatalf("calls %q, want %q", got, want)
	}
}
