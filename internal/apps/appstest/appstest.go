// Package appstest is the conformance suite every apps.Manager passes: the
// same tests run against SQLite and PostgreSQL (and any future backend).
package appstest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/apps"
)

// Opener opens one more Manager (one more node) on a database. It arranges
// for the Manager to be closed when t ends (t.Cleanup).
type Opener func(t *testing.T) apps.Manager

// Run runs the suite. newDB is called once per subtest and makes a fresh,
// empty database; every call of the Opener it returns opens another handle
// on that same database, as another node would. propagation bounds how long
// a change made through one handle may take to show through another (the
// backend's poll interval plus slack); zero means 5s.
func Run(t *testing.T, newDB func(t *testing.T) Opener, propagation time.Duration) {
	if propagation <= 0 {
		propagation = 5 * time.Second
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, open Opener, propagation time.Duration)
	}{
		{"CRUD", testCRUD},
		{"Conflicts", testConflicts},
		{"NotFound", testNotFound},
		{"Invalid", testInvalid},
		{"RoundTrip", testRoundTrip},
		{"NoAliasing", testNoAliasing},
		{"Rotate", testRotate},
		{"Concurrent", testConcurrent},
		{"OtherNode", testOtherNode},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newDB(t), propagation)
		})
	}
}

// NewApp returns a valid app with the given id and key and a fixed secret.
func NewApp(id, key string) *apps.App {
	return &apps.App{ID: id, Key: key, Secret: "secret-" + strings.Repeat("0", 16) + "-" + id, Enabled: true}
}

// FullApp returns an app with every field set to a non-zero value.
func FullApp(id, key string) *apps.App {
	return &apps.App{
		ID:     id,
		Key:    key,
		Secret: "primary-secret-0123456789abcdef",
		PreviousSecrets: []apps.PreviousSecret{
			{Secret: "previous-secret-1-0123456789", ExpiresAt: time.Date(2031, 5, 6, 7, 8, 9, 123456789, time.UTC)},
			{Secret: "previous-secret-2-0123456789", ExpiresAt: time.Date(2030, 1, 2, 3, 4, 5, 0, time.FixedZone("X", 3600))},
		},
		Enabled:                 true,
		EnableClientMessages:    true,
		RequireSignin:           true,
		EnableSubscriptionCount: true,
		MaxConnections:          1000,
		MaxPresenceMembers:      50,
		MaxEventPayloadBytes:    20480,
		Webhooks: []apps.Webhook{
			{
				URL:                   "https://hooks.example.com/pusher?x=1",
				EventTypes:            []string{"channel_occupied", "channel_vacated", "client_event"},
				Headers:               map[string]string{"X-Token": "t0k3n", "Authorization": "Bearer abc"},
				ChannelNameStartsWith: "private-",
				ChannelNameEndsWith:   "-orders",
			},
			{URL: "http://127.0.0.1:9000/hook", EventTypes: []string{"member_added"}},
		},
		ClientEventsPerSec:    20,
		MaxUserInfoBytes:      2048,
		MaxChannelsPerTrigger: 50,
		MaxBatchSize:          5,
		APIRateLimit:          12.5,
		APIRateBurst:          30,
		AllowedOrigins:        []string{"https://app.example.com", "https://*.example.org", "http://localhost:3000"},
	}
}

// normal is how a stored app must come back: a Clone (UTC times, nil for
// empty) — the suite compares with it so time zones do not count.
func normal(a *apps.App) *apps.App { return a.Clone() }

func mustEqual(t *testing.T, what string, got, want *apps.App) {
	t.Helper()
	if !reflect.DeepEqual(normal(got), normal(want)) {
		t.Fatalf("%s:\n got  %+v\n want %+v", what, got, want)
	}
}

func ids(list []*apps.App) []string {
	out := make([]string, 0, len(list))
	for _, a := range list {
		out = append(out, a.ID)
	}
	slices.Sort(out)
	return out
}

// eventually polls cond until it holds or d passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func testCRUD(t *testing.T, open Opener, _ time.Duration) {
	ctx := context.Background()
	m := open(t)
	if list, err := m.List(ctx); err != nil || len(list) != 0 {
		t.Fatalf("empty store lists %d apps, err %v", len(list), err)
	}
	a, b := NewApp("100", "key-a"), NewApp("200", "key-b")
	for _, x := range []*apps.App{b, a} {
		if err := m.Create(ctx, x); err != nil {
			t.Fatalf("create %s: %v", x.ID, err)
		}
	}
	got, err := m.ByID(ctx, "100")
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "ByID", got, a)
	if got, err = m.ByKey(ctx, "key-b"); err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "ByKey", got, b)
	list, err := m.List(ctx)
	if err != nil || !slices.Equal(ids(list), []string{"100", "200"}) {
		t.Fatalf("List = %v, %v", ids(list), err)
	}

	// Update every mutable field, including the key.
	u := FullApp("100", "key-a2")
	if err := m.Update(ctx, u); err != nil {
		t.Fatal(err)
	}
	if got, err = m.ByKey(ctx, "key-a2"); err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "after update", got, u)
	if _, err := m.ByKey(ctx, "key-a"); !errors.Is(err, apps.ErrNotFound) {
		t.Fatalf("old key after update: %v", err)
	}
	// The old key is free again.
	if err := m.Create(ctx, NewApp("300", "key-a")); err != nil {
		t.Fatalf("reuse of a released key: %v", err)
	}

	if err := m.Delete(ctx, "100"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.ByID(ctx, "100"); !errors.Is(err, apps.ErrNotFound) {
		t.Fatalf("ByID after delete: %v", err)
	}
	if _, err := m.ByKey(ctx, "key-a2"); !errors.Is(err, apps.ErrNotFound) {
		t.Fatalf("ByKey after delete: %v", err)
	}
	if list, _ = m.List(ctx); !slices.Equal(ids(list), []string{"200", "300"}) {
		t.Fatalf("List after delete = %v", ids(list))
	}
	// A deleted id can be created again.
	if err := m.Create(ctx, NewApp("100", "key-c")); err != nil {
		t.Fatal(err)
	}

	// Another handle reads the same from the database.
	m2 := open(t)
	list2, err := m2.List(ctx)
	if err != nil || !slices.Equal(ids(list2), []string{"100", "200", "300"}) {
		t.Fatalf("second handle lists %v, %v", ids(list2), err)
	}
}

func testConflicts(t *testing.T, open Opener, _ time.Duration) {
	ctx := context.Background()
	m := open(t)
	a, b := NewApp("1", "key-1"), NewApp("2", "key-2")
	if err := m.Create(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := m.Create(ctx, b); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		err  error
	}{
		{"create duplicate id", m.Create(ctx, NewApp("1", "key-new"))},
		{"create duplicate key", m.Create(ctx, NewApp("9", "key-1"))},
		{"create duplicate both", m.Create(ctx, NewApp("2", "key-2"))},
		{"update to another app's key", m.Update(ctx, NewApp("2", "key-1"))},
	}
	for _, c := range cases {
		if !errors.Is(c.err, apps.ErrConflict) {
			t.Errorf("%s: got %v, want ErrConflict", c.name, c.err)
		}
	}
	// Nothing changed.
	list, _ := m.List(ctx)
	if !slices.Equal(ids(list), []string{"1", "2"}) {
		t.Fatalf("after conflicts: %v", ids(list))
	}
	got, _ := m.ByID(ctx, "2")
	mustEqual(t, "app 2 after conflicting update", got, b)
	if _, err := m.ByID(ctx, "9"); !errors.Is(err, apps.ErrNotFound) {
		t.Fatalf("conflicting create left app 9: %v", err)
	}
	// Updating an app with its own key is no conflict.
	same := NewApp("1", "key-1")
	same.MaxConnections = 7
	if err := m.Update(ctx, same); err != nil {
		t.Fatalf("update keeping the key: %v", err)
	}
	// The database agrees (a second handle).
	m2 := open(t)
	if got, err := m2.ByID(ctx, "1"); err != nil || got.MaxConnections != 7 {
		t.Fatalf("second handle: %+v, %v", got, err)
	}
}

func testNotFound(t *testing.T, open Opener, _ time.Duration) {
	ctx := context.Background()
	m := open(t)
	if _, err := m.ByID(ctx, "nope"); !errors.Is(err, apps.ErrNotFound) {
		t.Errorf("ByID: %v", err)
	}
	if _, err := m.ByKey(ctx, "nope"); !errors.Is(err, apps.ErrNotFound) {
		t.Errorf("ByKey: %v", err)
	}
	if err := m.Update(ctx, NewApp("nope", "nope")); !errors.Is(err, apps.ErrNotFound) {
		t.Errorf("Update: %v", err)
	}
	if err := m.Delete(ctx, "nope"); !errors.Is(err, apps.ErrNotFound) {
		t.Errorf("Delete: %v", err)
	}
	if list, _ := m.List(ctx); len(list) != 0 {
		t.Errorf("failed Update created %v", ids(list))
	}
}

func testInvalid(t *testing.T, open Opener, _ time.Duration) {
	ctx := context.Background()
	m := open(t)
	bad := NewApp("bad id", "k")
	if err := m.Create(ctx, bad); !errors.Is(err, apps.ErrInvalid) {
		t.Fatalf("Create invalid: %v", err)
	}
	ok := NewApp("1", "k")
	if err := m.Create(ctx, ok); err != nil {
		t.Fatal(err)
	}
	short := NewApp("1", "k")
	short.Secret = "short"
	if err := m.Update(ctx, short); !errors.Is(err, apps.ErrInvalid) {
		t.Fatalf("Update invalid: %v", err)
	}
	got, _ := m.ByID(ctx, "1")
	mustEqual(t, "after invalid update", got, ok)
}

func testRoundTrip(t *testing.T, open Opener, _ time.Duration) {
	ctx := context.Background()
	want := FullApp("42", "full-key")
	// Guard the fixture: a field added to App must be set here too.
	v := reflect.ValueOf(*want)
	for i := range v.NumField() {
		if v.Field(i).IsZero() {
			t.Fatalf("FullApp leaves App.%s zero; set it so the round trip covers it", v.Type().Field(i).Name)
		}
	}
	m := open(t)
	if err := m.Create(ctx, want); err != nil {
		t.Fatal(err)
	}
	got, err := m.ByID(ctx, "42")
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "cached", got, want)
	// Through the database: a fresh handle.
	got, err = open(t).ByKey(ctx, "full-key")
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "read back", got, want)
	for i, p := range got.PreviousSecrets {
		if !p.ExpiresAt.Equal(want.PreviousSecrets[i].ExpiresAt) {
			t.Fatalf("previous secret %d expires %v, want %v", i, p.ExpiresAt, want.PreviousSecrets[i].ExpiresAt)
		}
	}
	if s := got.Secrets(time.Date(2030, 6, 1, 0, 0, 0, 0, time.UTC)); len(s) != 2 {
		t.Fatalf("secrets valid mid-2030: %d, want primary + one previous", len(s))
	}
	// Zero values come back as zero (no defaults filled in by the store).
	bare := &apps.App{ID: "43", Key: "min-key", Secret: strings.Repeat("m", 16)}
	if err := m.Create(ctx, bare); err != nil {
		t.Fatal(err)
	}
	got, err = open(t).ByID(ctx, "43")
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "minimal app", got, bare)
}

func testNoAliasing(t *testing.T, open Opener, _ time.Duration) {
	ctx := context.Background()
	m := open(t)
	a := FullApp("1", "k1")
	if err := m.Create(ctx, a); err != nil {
		t.Fatal(err)
	}
	want := FullApp("1", "k1")
	// The caller goes on using its value.
	a.Key = "changed"
	a.Webhooks[0].Headers["X-Token"] = "changed"
	a.AllowedOrigins[0] = "changed"
	a.PreviousSecrets[0].Secret = "changed"
	got, err := m.ByID(ctx, "1")
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "after the caller changed its copy", got, want)
}

func testRotate(t *testing.T, open Opener, propagation time.Duration) {
	ctx := context.Background()
	m := open(t)
	a := NewApp("7", "rot-key")
	if err := m.Create(ctx, a); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	got, err := apps.Rotate(ctx, m, "7", time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	if got.Secret == a.Secret {
		t.Fatal("secret unchanged")
	}
	wantPrev := []apps.PreviousSecret{{Secret: a.Secret, ExpiresAt: now.Add(time.Hour)}}
	cached, _ := m.ByKey(ctx, "rot-key")
	if cached.Secret != got.Secret || !reflect.DeepEqual(normal(cached).PreviousSecrets, wantPrev) {
		t.Fatalf("cached after rotate: %+v", cached)
	}
	if s := cached.Secrets(now.Add(time.Minute)); !slices.Equal(s, []string{got.Secret, a.Secret}) {
		t.Fatal("old secret not valid during the grace period")
	}
	// The database has it too.
	stored, err := open(t).ByID(ctx, "7")
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "stored after rotate", stored, got)

	// Bounds leave the app untouched.
	for _, g := range []time.Duration{-time.Second, apps.MaxRotationGrace + time.Second} {
		if _, err := apps.Rotate(ctx, m, "7", g, now); !errors.Is(err, apps.ErrInvalid) {
			t.Fatalf("grace %v: %v", g, err)
		}
	}
	if after, _ := m.ByID(ctx, "7"); after.Secret != got.Secret {
		t.Fatal("out-of-bounds rotation changed the secret")
	}
	// Grace 0 drops the old primary at once; at most MaxPreviousSecrets stay.
	prev := got.Secret
	if got, err = apps.Rotate(ctx, m, "7", 0, now); err != nil {
		t.Fatal(err)
	}
	for _, p := range got.PreviousSecrets {
		if p.Secret == prev {
			t.Fatal("grace 0 kept the old secret")
		}
	}
	for range apps.MaxPreviousSecrets + 2 {
		if got, err = apps.Rotate(ctx, m, "7", time.Hour, now); err != nil {
			t.Fatal(err)
		}
	}
	if len(got.PreviousSecrets) != apps.MaxPreviousSecrets {
		t.Fatalf("%d previous secrets, want %d", len(got.PreviousSecrets), apps.MaxPreviousSecrets)
	}
	if _, err := apps.Rotate(ctx, m, "missing", time.Hour, now); !errors.Is(err, apps.ErrNotFound) {
		t.Fatalf("rotate missing app: %v", err)
	}
}

func testConcurrent(t *testing.T, open Opener, _ time.Duration) {
	ctx := context.Background()
	m := open(t)
	const workers, each = 8, 5
	var wg sync.WaitGroup
	errs := make(chan error, workers*each*2)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				id := fmt.Sprintf("w%d-%d", w, i)
				if err := m.Create(ctx, NewApp(id, "key-"+id)); err != nil {
					errs <- fmt.Errorf("create %s: %w", id, err)
					continue
				}
				if _, err := m.ByKey(ctx, "key-"+id); err != nil {
					errs <- fmt.Errorf("read own write %s: %w", id, err)
				}
				if _, err := m.List(ctx); err != nil {
					errs <- err
				}
			}
		})
	}
	// Racing creates of one key: exactly one wins.
	var wins sync.WaitGroup
	results := make(chan error, workers)
	for w := range workers {
		wins.Go(func() { results <- m.Create(ctx, NewApp(fmt.Sprintf("race-%d", w), "contested")) })
	}
	wg.Wait()
	wins.Wait()
	close(errs)
	close(results)
	for err := range errs {
		t.Error(err)
	}
	won := 0
	for err := range results {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, apps.ErrConflict):
			t.Errorf("contested create: %v", err)
		}
	}
	if won != 1 {
		t.Errorf("%d creates of one key succeeded, want 1", won)
	}
	list, _ := m.List(ctx)
	if len(list) != workers*each+1 {
		t.Fatalf("%d apps, want %d", len(list), workers*each+1)
	}
	if list2, _ := open(t).List(ctx); len(list2) != len(list) {
		t.Fatalf("database holds %d apps, cache %d", len(list2), len(list))
	}
}

func testOtherNode(t *testing.T, open Opener, propagation time.Duration) {
	ctx := context.Background()
	a, b := open(t), open(t)
	if err := a.Create(ctx, NewApp("1", "k1")); err != nil {
		t.Fatal(err)
	}
	eventually(t, propagation, "create seen by the other node", func() bool {
		_, err := b.ByKey(ctx, "k1")
		return err == nil
	})
	u := FullApp("1", "k1-new")
	if err := b.Update(ctx, u); err != nil {
		t.Fatal(err)
	}
	eventually(t, propagation, "update seen by the other node", func() bool {
		got, err := a.ByKey(ctx, "k1-new")
		return err == nil && reflect.DeepEqual(normal(got), normal(u))
	})
	if _, err := a.ByKey(ctx, "k1"); !errors.Is(err, apps.ErrNotFound) {
		t.Fatalf("old key still cached on the other node: %v", err)
	}
	// A rotation on one node is honoured by the other.
	rot, err := apps.Rotate(ctx, a, "1", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, propagation, "rotation seen by the other node", func() bool {
		got, err := b.ByID(ctx, "1")
		return err == nil && got.Secret == rot.Secret
	})
	if err := a.Delete(ctx, "1"); err != nil {
		t.Fatal(err)
	}
	eventually(t, propagation, "delete seen by the other node", func() bool {
		_, err := b.ByID(ctx, "1")
		return errors.Is(err, apps.ErrNotFound)
	})
	// Conflicts are decided by the database, not a stale cache.
	if err := a.Create(ctx, NewApp("2", "k2")); err != nil {
		t.Fatal(err)
	}
	if err := b.Create(ctx, NewApp("3", "k2")); !errors.Is(err, apps.ErrConflict) {
		t.Fatalf("duplicate key through the other node: %v", err)
	}
}
