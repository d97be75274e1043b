package sqldevices

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/heraldhq/herald/internal/pgtest"
)

func TestInstanceKeySQLite(t *testing.T) { testInstanceKey(t, sqliteDSN(t)) }

func TestInstanceKeyPostgres(t *testing.T) { testInstanceKey(t, pgtest.Start(t).NewDB(t)) }

// The first caller's key is kept: later calls, other stores on the same
// database and callers racing on an empty table all read that one.
func testInstanceKey(t *testing.T, dsn string) {
	ctx := context.Background()
	a, b := openT(t, dsn), openT(t, dsn)
	var made atomic.Int32
	gen := func(v string) func() (string, error) {
		return func() (string, error) { made.Add(1); return v, nil }
	}
	var wg sync.WaitGroup
	got := make([]string, 8)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := a
			if i%2 == 1 {
				s = b
			}
			k, err := s.InstanceKey(ctx, "inst-1", "vapid", gen("key-"+itoa(i)))
			if err != nil {
				t.Error(err)
			}
			got[i] = k
		}()
	}
	wg.Wait()
	for _, k := range got {
		if k != got[0] || k == "" {
			t.Fatalf("racing callers read different keys: %q", got)
		}
	}
	before := made.Load()
	if k, err := b.InstanceKey(ctx, "inst-1", "vapid", gen("other")); err != nil || k != got[0] {
		t.Fatalf("stored key = %q, %v; want %q", k, err, got[0])
	}
	if made.Load() != before {
		t.Fatal("a stored key was generated again")
	}
	if k, err := a.InstanceKey(ctx, "inst-2", "vapid", gen("second")); err != nil || k != "second" {
		t.Fatalf("another instance's key = %q, %v", k, err)
	}
	boom := errors.New("no entropy")
	if _, err := a.InstanceKey(ctx, "inst-3", "vapid", func() (string, error) { return "", boom }); !errors.Is(err, boom) {
		t.Fatalf("generate error = %v", err)
	}
	if _, err := a.InstanceKey(ctx, "", "vapid", gen("x")); err == nil {
		t.Fatal("empty instance accepted")
	}
}
