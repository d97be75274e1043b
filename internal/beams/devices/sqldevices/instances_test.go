package sqldevices

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/beams/devices"
	"github.com/heraldhq/herald/internal/beams/instance/stored"
	"github.com/heraldhq/herald/internal/beams/instance/stored/storedtest"
	"github.com/heraldhq/herald/internal/pgtest"
)

const (
	instA = "0a1b2c3d-0000-4000-8000-00000000000a"
	instB = "0a1b2c3d-0000-4000-8000-00000000000b"
)

func TestStoredInstancesSQLite(t *testing.T) { testStoredInstances(t, sqliteDSN(t)) }

func TestStoredInstancesPostgres(t *testing.T) {
	testStoredInstances(t, pgtest.Start(t).NewDB(t))
}

func TestDeleteInstanceSQLite(t *testing.T) { testDeleteInstance(t, sqliteDSN(t)) }

func TestDeleteInstancePostgres(t *testing.T) { testDeleteInstance(t, pgtest.Start(t).NewDB(t)) }

var hex64 = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Create, read, list, update and rotate, seen by a second store on the
// same database (another node, or the CLI beside the server).
func testStoredInstances(t *testing.T, dsn string) {
	ctx := context.Background()
	a, b := openT(t, dsn), openT(t, dsn)

	if list, err := a.ListInstances(ctx); err != nil || len(list) != 0 {
		t.Fatalf("empty store lists %v, %v", list, err)
	}
	before := time.Now().Add(-time.Second)
	rec := storedtest.Record(instB)
	got, err := a.CreateInstance(ctx, rec)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != 1 || got.CreatedAt.Before(before) || !got.UpdatedAt.Equal(got.CreatedAt) || got.SecretKey != rec.SecretKey {
		t.Fatalf("created %+v", got)
	}
	minimal := stored.Record{ID: instA, SecretKey: "another-secret-0123456789"}
	if _, err := b.CreateInstance(ctx, minimal); err != nil {
		t.Fatal(err)
	}
	if _, err := b.CreateInstance(ctx, minimal); !errors.Is(err, stored.ErrConflict) || !strings.Contains(err.Error(), instA) {
		t.Fatalf("duplicate id: %v", err)
	}
	bad := minimal
	bad.ID = strings.ToUpper(instB)
	if _, err := a.CreateInstance(ctx, bad); !errors.Is(err, stored.ErrInvalid) {
		t.Fatalf("upper-case id: %v", err)
	}

	read, err := b.GetInstance(ctx, instB)
	if err != nil {
		t.Fatal(err)
	}
	if read.Version != 1 || !read.CreatedAt.Equal(got.CreatedAt) || read.SecretKey != rec.SecretKey ||
		read.VAPIDSubject != rec.VAPIDSubject || read.FCM == nil || read.FCM.ServiceAccount != rec.FCM.ServiceAccount ||
		read.APNs == nil || *read.APNs != *rec.APNs || len(read.PreviousKeys) != 0 {
		t.Fatalf("read back %+v", read)
	}
	if r, err := a.GetInstance(ctx, instA); err != nil || r.FCM != nil || r.APNs != nil || r.VAPIDSubject != "" {
		t.Fatalf("minimal read back %+v, %v", r, err)
	}
	for _, id := range []string{"0a1b2c3d-0000-4000-8000-0000000000ff", "", "\xff"} {
		if _, err := a.GetInstance(ctx, id); !errors.Is(err, stored.ErrNotFound) {
			t.Errorf("GetInstance(%q) = %v", id, err)
		}
	}
	list, err := a.ListInstances(ctx)
	if err != nil || len(list) != 2 || list[0].ID != instA || list[1].ID != instB {
		t.Fatalf("list %v, %v", list, err)
	}

	// Update: needs the version read; a stale one is a conflict.
	read.VAPIDSubject = "https://example.com/contact"
	read.APNs = nil
	upd, err := a.UpdateInstance(ctx, *read)
	if err != nil {
		t.Fatal(err)
	}
	if upd.Version != 2 || !upd.UpdatedAt.After(upd.CreatedAt) || upd.APNs != nil {
		t.Fatalf("updated %+v", upd)
	}
	if _, err := b.UpdateInstance(ctx, *read); !errors.Is(err, stored.ErrConflict) { // version 1 again
		t.Fatalf("stale update: %v", err)
	}
	gone := *read
	gone.ID = "0a1b2c3d-0000-4000-8000-0000000000ff"
	if _, err := b.UpdateInstance(ctx, gone); !errors.Is(err, stored.ErrNotFound) {
		t.Fatalf("update of a missing instance: %v", err)
	}
	upd.VAPIDSubject = "nope"
	if _, err := a.UpdateInstance(ctx, *upd); !errors.Is(err, stored.ErrInvalid) || !strings.Contains(err.Error(), "vapid_subject") {
		t.Fatalf("invalid update: %v", err)
	}
	if r, _ := b.GetInstance(ctx, instB); r.Version != 2 || r.VAPIDSubject != "https://example.com/contact" || r.APNs != nil {
		t.Fatalf("after update %+v", r)
	}

	// Rotate: the old key stays until now+grace; later rotations keep the
	// unexpired ones, newest first, and drop the expired.
	now := time.Now().UTC().Truncate(time.Second)
	r1, err := b.RotateInstanceKey(ctx, instB, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	if !hex64.MatchString(r1.SecretKey) || r1.SecretKey == rec.SecretKey || r1.Version != 3 ||
		len(r1.PreviousKeys) != 1 || r1.PreviousKeys[0].Key != rec.SecretKey || !r1.PreviousKeys[0].Until.Equal(now.Add(time.Hour)) {
		t.Fatalf("rotated %+v", r1)
	}
	if r, _ := a.GetInstance(ctx, instB); r.SecretKey != r1.SecretKey || len(r.PreviousKeys) != 1 ||
		!r.PreviousKeys[0].Until.Equal(now.Add(time.Hour)) || r.VAPIDSubject != "https://example.com/contact" {
		t.Fatalf("rotation read back %+v", r)
	}
	r2, err := a.RotateInstanceKey(ctx, instB, 3*time.Hour, now.Add(30*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(r2.PreviousKeys) != 2 || r2.PreviousKeys[0].Key != r1.SecretKey || r2.PreviousKeys[1].Key != rec.SecretKey {
		t.Fatalf("second rotation %+v", r2.PreviousKeys)
	}
	r3, err := a.RotateInstanceKey(ctx, instB, 0, now.Add(2*time.Hour)) // the first key expired meanwhile
	if err != nil {
		t.Fatal(err)
	}
	if len(r3.PreviousKeys) != 1 || r3.PreviousKeys[0].Key != r1.SecretKey {
		t.Fatalf("zero grace after expiry: previous %+v", r3.PreviousKeys)
	}
	for _, g := range []time.Duration{-time.Second, stored.MaxRotationGrace + time.Second} {
		if _, err := a.RotateInstanceKey(ctx, instB, g, now); !errors.Is(err, stored.ErrInvalid) {
			t.Errorf("grace %v: %v", g, err)
		}
	}
	if _, err := a.RotateInstanceKey(ctx, "0a1b2c3d-0000-4000-8000-0000000000ff", time.Hour, now); !errors.Is(err, stored.ErrNotFound) {
		t.Errorf("rotation of a missing instance: %v", err)
	}
	// Many rotations keep at most MaxPreviousKeys.
	for range stored.MaxPreviousKeys + 2 {
		if r3, err = a.RotateInstanceKey(ctx, instB, time.Hour, now.Add(2*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if len(r3.PreviousKeys) != stored.MaxPreviousKeys {
		t.Errorf("%d previous keys kept", len(r3.PreviousKeys))
	}

	// Racing rotations on two stores lose no key: each reads the one
	// before it (row lock in PostgreSQL, write lock in SQLite).
	if _, err := a.RotateInstanceKey(ctx, instA, 0, now); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	keys := make([]string, 4)
	for i := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := a
			if i%2 == 1 {
				s = b
			}
			r, err := s.RotateInstanceKey(ctx, instA, time.Hour, now)
			if err != nil {
				t.Error(err)
				return
			}
			keys[i] = r.SecretKey
		}()
	}
	wg.Wait()
	final, err := a.GetInstance(ctx, instA)
	if err != nil {
		t.Fatal(err)
	}
	valid := map[string]bool{final.SecretKey: true}
	for _, p := range final.PreviousKeys {
		valid[p.Key] = true
	}
	for _, k := range keys {
		if !valid[k] {
			t.Errorf("a racing rotation's key was lost: final version %d, %d previous", final.Version, len(final.PreviousKeys))
		}
	}
}

// Deleting an instance deletes its devices, their interests and its keys,
// and only its own; a new instance with the same id starts empty.
func testDeleteInstance(t *testing.T, dsn string) {
	ctx := context.Background()
	s := openT(t, dsn)
	for _, id := range []string{instA, instB} {
		if _, err := s.CreateInstance(ctx, stored.Record{ID: id, SecretKey: "secret-key-0123456789abcdef"}); err != nil {
			t.Fatal(err)
		}
		for _, tok := range []string{"t1", "t2"} {
			d, _, _, err := s.Register(ctx, devices.Device{Instance: id, Platform: devices.FCM, Token: tok})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.AddInterest(ctx, id, d.ID, "news"); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.InstanceKey(ctx, id, "vapid", func() (string, error) { return "key-" + id, nil }); err != nil {
			t.Fatal(err)
		}
	}
	count := func(table, id string) int {
		t.Helper()
		var n int
		if err := s.db.QueryRowContext(ctx, s.d.q(`SELECT COUNT(*) FROM `+table+` WHERE instance_id = ?`), id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	tables := []string{"beams_device", "beams_device_interest", "beams_instance_key"}

	if err := s.DeleteInstance(ctx, instA); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetInstance(ctx, instA); !errors.Is(err, stored.ErrNotFound) {
		t.Fatalf("deleted instance read: %v", err)
	}
	for _, tb := range tables {
		if n := count(tb, instA); n != 0 {
			t.Errorf("%d rows of the deleted instance left in %s", n, tb)
		}
		if n := count(tb, instB); n == 0 {
			t.Errorf("the other instance lost its rows in %s", tb)
		}
	}
	if err := s.DeleteInstance(ctx, instA); !errors.Is(err, stored.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	// An id without a record is not found and deletes nothing (a config
	// instance's devices are not the store's to delete).
	if _, _, _, err := s.Register(ctx, devices.Device{Instance: "config-instance", Platform: devices.FCM, Token: "t"}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteInstance(ctx, "config-instance"); !errors.Is(err, stored.ErrNotFound) || count("beams_device", "config-instance") != 1 {
		t.Fatalf("delete of an unstored id: %v", err)
	}

	// A device registered under the deleted id by a node that had not yet
	// seen the deletion does not survive into a new instance of that id.
	if _, _, _, err := s.Register(ctx, devices.Device{Instance: instA, Platform: devices.Web, Token: "late",
		Endpoint: "https://push.example.com/x", P256dh: "p", Auth: "a"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateInstance(ctx, stored.Record{ID: instA, SecretKey: "secret-key-0123456789abcdef"}); err != nil {
		t.Fatal(err)
	}
	for _, tb := range tables {
		if n := count(tb, instA); n != 0 {
			t.Errorf("re-created instance starts with %d rows in %s", n, tb)
		}
	}
	if k, err := s.InstanceKey(ctx, instA, "vapid", func() (string, error) { return "fresh", nil }); err != nil || k != "fresh" {
		t.Errorf("re-created instance has VAPID key %q, %v; want a new one", k, err)
	}
}

// TestInstanceErrorsHideSecrets: an unreadable data column is reported by
// id, never by content.
func TestInstanceErrorsHideSecrets(t *testing.T) {
	ctx := context.Background()
	s := openT(t, sqliteDSN(t))
	if _, err := s.w.ExecContext(ctx, `INSERT INTO beams_instance (id, data, version, created_at, updated_at)
		VALUES (?, ?, 1, 0, 0)`, instA, `{"secret_key": "hunter2-hunter2-hunter2`); err != nil {
		t.Fatal(err)
	}
	_, err := s.GetInstance(ctx, instA)
	if err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), instA) {
		t.Fatalf("error %v", err)
	}
	if _, err := s.ListInstances(ctx); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("list error %v", err)
	}
	rec, err := s.CreateInstance(ctx, stored.Record{ID: instB, SecretKey: "hunter2-hunter2-hunter2"})
	if err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{rec.String(), rec.GoString()} {
		if strings.Contains(out, "hunter2") {
			t.Errorf("record prints its key: %s", out)
		}
	}
}
