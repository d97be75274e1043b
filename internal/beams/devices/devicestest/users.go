package devicestest

import (
	"errors"
	"sync"
	"testing"

	"github.com/heraldhq/herald/internal/beams/devices"
)

func testSetUser(t *testing.T, s devices.Store) {
	c := ctx(t)
	d := register(t, s, "inst", devices.Web, "t")
	wantErr(t, "SetUser", s.SetUser(c, "inst", d.ID, "alice", 0), nil)
	wantErr(t, "SetUser same user", s.SetUser(c, "inst", d.ID, "alice", 0), nil)
	wantErr(t, "SetUser other user", s.SetUser(c, "inst", d.ID, "bob", 0), devices.ErrOtherUser)
	got, err := s.Get(c, "inst", d.ID)
	if err != nil || got.UserID != "alice" {
		t.Fatalf("Get: user %q, %v; want alice", got.UserID, err)
	}
	// Any UTF-8 user id.
	e := register(t, s, "inst", devices.Web, "t2")
	const odd = "alice bob/ü@x+y"
	wantErr(t, "SetUser odd id", s.SetUser(c, "inst", e.ID, odd, 0), nil)
	if got, _ = s.Get(c, "inst", e.ID); got.UserID != odd {
		t.Fatalf("user %q, want %q", got.UserID, odd)
	}
}

func testUserCap(t *testing.T, s devices.Store) {
	c := ctx(t)
	var ds []devices.Device
	for i := range 4 {
		ds = append(ds, register(t, s, "inst", devices.FCM, name("t", i)))
	}
	wantErr(t, "SetUser 1", s.SetUser(c, "inst", ds[0].ID, "u", 2), nil)
	wantErr(t, "SetUser 2", s.SetUser(c, "inst", ds[1].ID, "u", 2), nil)
	wantErr(t, "SetUser 3", s.SetUser(c, "inst", ds[2].ID, "u", 2), devices.ErrUserFull)
	wantErr(t, "SetUser again at the cap", s.SetUser(c, "inst", ds[1].ID, "u", 2), nil)
	wantErr(t, "SetUser other user", s.SetUser(c, "inst", ds[2].ID, "v", 2), nil)
	// Zero means no cap; a deleted device frees its place.
	wantErr(t, "SetUser no cap", s.SetUser(c, "inst", ds[3].ID, "u", 0), nil)
	wantErr(t, "Delete", s.Delete(c, "inst", ds[0].ID), nil)
	wantErr(t, "Delete", s.Delete(c, "inst", ds[1].ID), nil)
	e := register(t, s, "inst", devices.FCM, "t-new")
	wantErr(t, "SetUser after deletes", s.SetUser(c, "inst", e.ID, "u", 2), nil)
	if got, _ := s.Get(c, "inst", ds[2].ID); got.UserID != "v" {
		t.Fatalf("refused device has user %q, want v", got.UserID)
	}
}

// testConcurrentUserCap associates 10 devices with one user at once under a
// cap of 3: exactly 3 join.
func testConcurrentUserCap(t *testing.T, s devices.Store) {
	c := ctx(t)
	var ds []devices.Device
	for i := range 10 {
		ds = append(ds, register(t, s, "inst", devices.FCM, name("t", i)))
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		ok, full int
	)
	for _, d := range ds {
		wg.Go(func() {
			err := s.SetUser(c, "inst", d.ID, "u", 3)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, devices.ErrUserFull):
				full++
			default:
				t.Errorf("SetUser: %v", err)
			}
		})
	}
	wg.Wait()
	if ok != 3 || full != 7 {
		t.Fatalf("%d joined, %d refused; want 3 and 7", ok, full)
	}
	ids := drain(t, func(cur string, n int) ([]devices.Device, string, error) {
		return s.ByUsers(c, "inst", []string{"u"}, cur, n)
	}, 2)
	if len(ids) != 3 {
		t.Fatalf("user has %d devices, want 3", len(ids))
	}
}

func testDeleteUser(t *testing.T, s devices.Store) {
	c := ctx(t)
	var alice []devices.Device
	for i := range 3 {
		d := register(t, s, "inst", devices.Platform([]string{"web", "fcm", "apns"}[i]), name("a", i))
		wantErr(t, "SetUser", s.SetUser(c, "inst", d.ID, "alice", 0), nil)
		wantErr(t, "AddInterest", s.AddInterest(c, "inst", d.ID, "news"), nil)
		alice = append(alice, d)
	}
	bob := register(t, s, "inst", devices.Web, "b")
	wantErr(t, "SetUser bob", s.SetUser(c, "inst", bob.ID, "bob", 0), nil)
	anon := register(t, s, "inst", devices.Web, "anon")
	for _, d := range []devices.Device{bob, anon} {
		wantErr(t, "AddInterest", s.AddInterest(c, "inst", d.ID, "news"), nil)
	}

	if n, err := s.DeleteUser(c, "inst", "alice"); n != 3 || err != nil {
		t.Fatalf("DeleteUser = %d, %v; want 3", n, err)
	}
	for _, d := range alice {
		_, err := s.Get(c, "inst", d.ID)
		wantErr(t, "Get a deleted user's device", err, devices.ErrNotFound)
	}
	ids := drain(t, func(cur string, n int) ([]devices.Device, string, error) {
		return s.ByInterests(c, "inst", []string{"news"}, cur, n)
	}, 10)
	sameSet(t, "ByInterests after DeleteUser", ids, map[string]bool{bob.ID: true, anon.ID: true})
	ids = drain(t, func(cur string, n int) ([]devices.Device, string, error) {
		return s.ByUsers(c, "inst", []string{"alice", "bob"}, cur, n)
	}, 10)
	sameSet(t, "ByUsers after DeleteUser", ids, map[string]bool{bob.ID: true})
	if n, err := s.DeleteUser(c, "inst", "alice"); n != 0 || err != nil {
		t.Fatalf("DeleteUser again = %d, %v; want 0, nil", n, err)
	}
	// The user may come back with a device registered anew.
	d, _, created, err := s.Register(c, device("inst", devices.Web, name("a", 0)))
	if err != nil || !created {
		t.Fatalf("Register a deleted device's token: created %v, %v", created, err)
	}
	wantErr(t, "SetUser after DeleteUser", s.SetUser(c, "inst", d.ID, "alice", 1), nil)
}
