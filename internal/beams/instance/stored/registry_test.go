package stored

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/beams/instance"
)

const (
	sid1 = "aaaaaaaa-1111-4111-8111-11111111111f"
	sid2 = "22222222-2222-4222-8222-222222222222"
)

// fakeSource is an in-memory Source counting its reads; fail, when set,
// is returned by every call.
type fakeSource struct {
	mu    sync.Mutex
	recs  map[string]*Record
	fail  error
	reads atomic.Int64
	delay time.Duration
}

func newFakeSource() *fakeSource { return &fakeSource{recs: map[string]*Record{}} }

func (f *fakeSource) GetInstance(ctx context.Context, id string) (*Record, error) {
	f.reads.Add(1)
	if f.delay > 0 {
		time.Sleep(f.delay)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	if r, ok := f.recs[id]; ok {
		return r.Clone(), nil
	}
	return nil, fmt.Errorf("%w: %q", ErrNotFound, id)
}

func (f *fakeSource) ListInstances(context.Context) ([]*Record, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	var out []*Record
	for _, r := range f.recs {
		out = append(out, r.Clone())
	}
	return out, nil
}

// put stores rec as the next version of its id (version 1 when new).
func (f *fakeSource) put(rec Record) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if cur, ok := f.recs[rec.ID]; ok {
		rec.Version, rec.CreatedAt = cur.Version+1, cur.CreatedAt
	} else {
		rec.Version, rec.CreatedAt = 1, time.Now()
	}
	f.recs[rec.ID] = &rec
}

func (f *fakeSource) rotate(id string, grace time.Duration, now time.Time, key string) {
	f.mu.Lock()
	cur := f.recs[id].Clone()
	f.mu.Unlock()
	next, err := Rotate(cur, grace, now, key)
	if err != nil {
		panic(err)
	}
	f.put(*next)
}

func (f *fakeSource) remove(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.recs, id)
}

// clock is a settable clock safe for concurrent use.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

type harness struct {
	reg    *Registry
	src    *fakeSource
	clk    *clock
	builds atomic.Int64
	fail   atomic.Pointer[error]
	logs   *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func newHarness(t *testing.T, cfg Config, static ...*instance.Instance) *harness {
	t.Helper()
	h := &harness{src: newFakeSource(), clk: newClock(), logs: &syncBuffer{}}
	h.reg = NewRegistry(cfg, Deps{
		Config: static,
		Store:  h.src,
		Build: func(_ context.Context, rec *Record) (*instance.Instance, error) {
			h.builds.Add(1)
			if err := h.fail.Load(); err != nil {
				return nil, *err
			}
			return &instance.Instance{ID: rec.ID, Secrets: rec.Secrets()}, nil
		},
		Logger: slog.New(slog.NewTextHandler(h.logs, nil)),
		Now:    h.clk.now,
	})
	return h
}

func (h *harness) get(t *testing.T, id string) *instance.Instance {
	t.Helper()
	in, err := h.reg.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	return in
}

func (h *harness) wantNotFound(t *testing.T, id string) {
	t.Helper()
	if in, err := h.reg.Get(context.Background(), id); !errors.Is(err, instance.ErrNotFound) {
		t.Fatalf("Get(%s) = %v, %v; want ErrNotFound", id, in, err)
	}
}

func rec(id, key string) Record { return Record{ID: id, SecretKey: key} }

// A rotation made elsewhere is served within one Refresh, the old key
// still accepted for its grace; until then the store is not read again,
// and a record unchanged since keeps its built instance.
func TestRegistryRotationWithinRefresh(t *testing.T) {
	h := newHarness(t, Config{Refresh: 2 * time.Second})
	h.src.put(rec(sid1, "first-key-0123456789"))
	in1 := h.get(t, sid1)
	if _, ok := in1.CheckSecret("first-key-0123456789", h.clk.now()); !ok || h.builds.Load() != 1 {
		t.Fatalf("first build: %+v, %d builds", in1, h.builds.Load())
	}

	h.src.rotate(sid1, time.Hour, h.clk.now(), "second-key-0123456789")
	h.clk.advance(1900 * time.Millisecond)
	reads := h.src.reads.Load()
	if in := h.get(t, sid1); in != in1 || h.src.reads.Load() != reads {
		t.Fatal("within the refresh interval the store was read again, or another instance served")
	}
	h.clk.advance(100 * time.Millisecond) // 2s since the read: stale
	in2 := h.get(t, sid1)
	if in2 == in1 || h.builds.Load() != 2 {
		t.Fatalf("rotation not seen after the refresh interval (%d builds)", h.builds.Load())
	}
	now := h.clk.now()
	if g, ok := in2.CheckSecret("second-key-0123456789", now); !ok || g != 0 {
		t.Error("the new key is not current")
	}
	if g, ok := in2.CheckSecret("first-key-0123456789", now); !ok || g != 1 {
		t.Error("the old key is not accepted during its grace")
	}
	if _, ok := in2.CheckSecret("first-key-0123456789", now.Add(time.Hour)); ok {
		t.Error("the old key is accepted after its grace")
	}

	// Unchanged: read again, not rebuilt, same instance (its senders keep
	// their token caches).
	h.clk.advance(5 * time.Second)
	reads = h.src.reads.Load()
	if in := h.get(t, sid1); in != in2 || h.builds.Load() != 2 || h.src.reads.Load() != reads+1 {
		t.Fatalf("unchanged record: rebuilt or not read (%d builds, %d reads)", h.builds.Load(), h.src.reads.Load()-reads)
	}
	if !strings.Contains(h.logs.String(), "stored beams instance changed") {
		t.Errorf("no log of the change:\n%s", h.logs.String())
	}
}

// A deletion is seen within one Refresh; the absence is remembered for one
// Refresh; an instance created again with the id is a new build.
func TestRegistryDeletion(t *testing.T) {
	h := newHarness(t, Config{Refresh: time.Second})
	h.src.put(rec(sid1, "first-key-0123456789"))
	h.src.put(rec(sid2, "other-key-0123456789"))
	in1 := h.get(t, sid1)
	h.get(t, sid2)

	h.src.remove(sid1)
	if h.get(t, sid1) != in1 {
		t.Fatal("not served from memory within the refresh interval")
	}
	h.clk.advance(time.Second)
	h.wantNotFound(t, sid1)
	if !strings.Contains(h.logs.String(), "stored beams instance deleted") {
		t.Errorf("no log of the deletion:\n%s", h.logs.String())
	}
	reads := h.src.reads.Load()
	h.wantNotFound(t, sid1)
	if h.src.reads.Load() != reads {
		t.Error("an absent id was read again within the refresh interval")
	}
	h.src.put(rec(sid1, "recreated-key-0123456"))
	h.clk.advance(time.Second)
	in := h.get(t, sid1)
	if in == in1 || in.Secrets[0].Key != "recreated-key-0123456" {
		t.Fatalf("re-created instance: %+v", in)
	}
	if in := h.get(t, sid2); in.Secrets[0].Key != "other-key-0123456789" {
		t.Error("another instance was affected")
	}
	h.wantNotFound(t, "33333333-3333-4333-8333-333333333333")
}

// Config instances are served first; a stored record with a config id (in
// any case) is never served, and Shadowed reports and logs it.
func TestRegistryConfigWins(t *testing.T) {
	cfgIn := &instance.Instance{ID: sid1, Secrets: []instance.Secret{{Key: "config-key-0123456789"}}}
	h := newHarness(t, Config{}, cfgIn)
	h.src.put(rec(sid1, "stored-key-0123456789"))
	upper := strings.ToUpper(sid1)
	h.src.put(rec(upper, "stored-key-0123456789"))
	h.src.put(rec(sid2, "stored-key-0123456789"))
	if h.get(t, sid1) != cfgIn {
		t.Fatal("the config instance is not served")
	}
	h.wantNotFound(t, upper)
	if h.get(t, sid2).Secrets[0].Key != "stored-key-0123456789" {
		t.Fatal("a stored instance is not served")
	}
	if h.builds.Load() != 1 {
		t.Errorf("%d builds; only the unshadowed stored instance should build", h.builds.Load())
	}
	ids, err := h.reg.Shadowed(context.Background())
	if err != nil || len(ids) != 2 {
		t.Fatalf("Shadowed = %v, %v", ids, err)
	}
	if n := strings.Count(h.logs.String(), "stored beams instance ignored"); n != 2 {
		t.Errorf("%d warnings:\n%s", n, h.logs.String())
	}

	// Without a store, only the config.
	r := NewRegistry(Config{}, Deps{Config: []*instance.Instance{cfgIn}})
	if in, err := r.Get(context.Background(), sid1); in != cfgIn || err != nil {
		t.Fatal("config-only registry")
	}
	if _, err := r.Get(context.Background(), sid2); !errors.Is(err, instance.ErrNotFound) {
		t.Fatal("config-only registry found a stored id")
	}
	if ids, err := r.Shadowed(context.Background()); ids != nil || err != nil {
		t.Fatal("config-only Shadowed")
	}
}

// A store that cannot be read: an instance built before keeps being served
// (read again after each Refresh); one never built is an error, not "not
// found".
func TestRegistryStoreDown(t *testing.T) {
	h := newHarness(t, Config{Refresh: time.Second})
	h.src.put(rec(sid1, "first-key-0123456789"))
	in1 := h.get(t, sid1)
	h.src.mu.Lock()
	h.src.fail = errors.New("database is down")
	h.src.mu.Unlock()
	h.clk.advance(time.Second)
	if h.get(t, sid1) != in1 {
		t.Fatal("the instance built before is not served while the store is down")
	}
	reads := h.src.reads.Load()
	h.get(t, sid1)
	if h.src.reads.Load() != reads {
		t.Error("a failed read is retried before the refresh interval")
	}
	_, err := h.reg.Get(context.Background(), sid2)
	if err == nil || errors.Is(err, instance.ErrNotFound) || !strings.Contains(err.Error(), "database is down") {
		t.Fatalf("unbuilt id with the store down: %v", err)
	}
	h.reg.mu.Lock()
	_, kept := h.reg.entries[sid2]
	h.reg.mu.Unlock()
	if kept {
		t.Error("a failed first read left an entry behind (unbounded with caller-chosen ids)")
	}
	if !strings.Contains(h.logs.String(), "cannot read stored beams instance") {
		t.Errorf("no warning:\n%s", h.logs.String())
	}
}

// A record that does not build is an error (not an older version), logged
// once per version and retried after Refresh.
func TestRegistryBuildFailure(t *testing.T) {
	h := newHarness(t, Config{Refresh: time.Second})
	h.src.put(rec(sid1, "first-key-0123456789"))
	h.get(t, sid1)
	h.src.rotate(sid1, 0, h.clk.now(), "second-key-0123456789")
	boom := errors.New("no VAPID key")
	h.fail.Store(&boom)
	for range 3 {
		h.clk.advance(time.Second)
		if _, err := h.reg.Get(context.Background(), sid1); !errors.Is(err, boom) {
			t.Fatalf("build failure: %v", err)
		}
	}
	if h.builds.Load() != 4 {
		t.Errorf("%d builds, want one per refresh", h.builds.Load())
	}
	if n := strings.Count(h.logs.String(), "does not build"); n != 1 {
		t.Errorf("logged %d times:\n%s", n, h.logs.String())
	}
	h.fail.Store(nil)
	h.clk.advance(time.Second)
	if in := h.get(t, sid1); in.Secrets[0].Key != "second-key-0123456789" {
		t.Fatal("not built once the cause went away")
	}
}

// Unknown ids are remembered up to MaxAbsent; beyond, they are read each
// time rather than grow memory.
func TestRegistryAbsentBounded(t *testing.T) {
	h := newHarness(t, Config{Refresh: time.Second, MaxAbsent: 3})
	for i := range 10 {
		h.wantNotFound(t, fmt.Sprintf("00000000-0000-4000-8000-%012d", i))
	}
	h.reg.mu.Lock()
	absent, entries := len(h.reg.absent), len(h.reg.entries)
	h.reg.mu.Unlock()
	if absent != 3 || entries != 0 {
		t.Fatalf("%d absent ids remembered, %d entries", absent, entries)
	}
	// Once they expire, a sweep makes room.
	h.clk.advance(time.Second)
	h.wantNotFound(t, "00000000-0000-4000-8000-999999999999")
	h.reg.mu.Lock()
	absent = len(h.reg.absent)
	h.reg.mu.Unlock()
	if absent != 1 {
		t.Fatalf("%d absent ids after the sweep", absent)
	}
}

// Ids longer than a UUID are not found without reading the store or being
// remembered: whoever calls Get, caller-chosen ids cannot fill the absent
// set with large keys.
func TestRegistryLongIDsNotRemembered(t *testing.T) {
	h := newHarness(t, Config{Refresh: time.Minute})
	h.src.put(rec(sid1, "key-0000-0123456789"))
	for i := range 1000 {
		h.wantNotFound(t, fmt.Sprintf("%s-%d", strings.Repeat("x", 30<<10), i))
		h.wantNotFound(t, sid1+"0") // a stored id with one byte more
	}
	h.wantNotFound(t, strings.Repeat("a", MaxIDLen+1))
	if n := h.src.reads.Load(); n != 0 {
		t.Fatalf("%d store reads for ids longer than %d bytes", n, MaxIDLen)
	}
	h.reg.mu.Lock()
	absent, entries := len(h.reg.absent), len(h.reg.entries)
	h.reg.mu.Unlock()
	if absent != 0 || entries != 0 {
		t.Fatalf("%d absent ids and %d entries remembered", absent, entries)
	}
	// An id of exactly MaxIDLen bytes is still looked up.
	if in := h.get(t, sid1); in.ID != sid1 {
		t.Fatalf("got %s", in.ID)
	}
	if n := h.src.reads.Load(); n != 1 {
		t.Fatalf("%d store reads, want 1", n)
	}
}

// Many callers at once, while the record rotates and time passes: every
// answer is a built instance, the store is read about once per id per
// Refresh rather than once per call, and -race finds nothing.
func TestRegistryConcurrent(t *testing.T) {
	h := newHarness(t, Config{Refresh: time.Second})
	h.src.delay = time.Millisecond
	h.src.put(rec(sid1, "key-0000-0123456789"))
	h.src.put(rec(sid2, "key-0000-9876543210"))
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var calls atomic.Int64
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := sid1
			if i%2 == 1 {
				id = sid2
			}
			for {
				select {
				case <-stop:
					return
				default:
				}
				in, err := h.reg.Get(context.Background(), id)
				if err != nil || in.ID != id || len(in.Secrets) == 0 {
					t.Errorf("Get: %v, %v", in, err)
					return
				}
				calls.Add(1)
			}
		}()
	}
	const ticks = 20
	for i := range ticks {
		h.src.rotate(sid1, time.Minute, h.clk.now(), fmt.Sprintf("key-%04d-0123456789", i+1))
		h.clk.advance(time.Second)
		time.Sleep(5 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if reads := h.src.reads.Load(); reads > 2*(ticks+2) {
		t.Errorf("%d store reads for %d calls over %d refresh intervals", reads, calls.Load(), ticks)
	}
	h.clk.advance(time.Second)
	if in := h.get(t, sid1); in.Secrets[0].Key != fmt.Sprintf("key-%04d-0123456789", ticks) {
		t.Errorf("last rotation not served: %s", in.Secrets[0].Key[:8])
	}
}
