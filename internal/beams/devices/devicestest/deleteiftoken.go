package devicestest

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/heraldhq/herald/internal/beams/devices"
)

// DeleteIfToken deletes a device only while it has the token given, with
// its interests; a changed token, or no such device, is false and nil.
func testDeleteIfToken(t *testing.T, s devices.Store) {
	c := ctx(t)
	a := register(t, s, "inst", devices.FCM, "t1")
	keep := register(t, s, "inst", devices.FCM, "keep")
	for _, id := range []string{a.ID, keep.ID} {
		wantErr(t, "SetInterests", s.SetInterests(c, "inst", id, []string{"news"}), nil)
	}
	deleteIf := func(what, instance, id, token string, want bool) {
		t.Helper()
		got, err := s.DeleteIfToken(c, instance, id, token)
		if err != nil || got != want {
			t.Fatalf("DeleteIfToken %s = %v, %v; want %v, nil", what, got, err, want)
		}
	}
	deleteIf("another token", "inst", a.ID, "t0", false)
	deleteIf("another instance", "other", a.ID, "t1", false)
	// The token refreshed since the push: the old one deletes nothing.
	wantErr(t, "SetToken", s.SetToken(c, "inst", a.ID, "t2"), nil)
	deleteIf("the token before SetToken", "inst", a.ID, "t1", false)
	if got, err := s.Get(c, "inst", a.ID); err != nil || got.Token != "t2" {
		t.Fatalf("device after DeleteIfToken of its old token: %+v, %v", got, err)
	}
	if got := interests(t, s, "inst", a.ID); len(got) != 1 {
		t.Fatalf("interests after DeleteIfToken of the old token: %q", got)
	}
	deleteIf("the current token", "inst", a.ID, "t2", true)
	_, err := s.Get(c, "inst", a.ID)
	wantErr(t, "Get deleted", err, devices.ErrNotFound)
	deleteIf("again", "inst", a.ID, "t2", false)
	deleteIf("an unknown id", "inst", "fcm-00000000-0000-4000-8000-000000000000", "t2", false)
	deleteIf("an id that is not text", "inst", "bad\xff", "t2", false)
	// Its interests went with it, as with Delete.
	ids := drain(t, func(cur string, n int) ([]devices.Device, string, error) {
		return s.ByInterests(c, "inst", []string{"news"}, cur, n)
	}, 10)
	sameSet(t, "ByInterests after DeleteIfToken", ids, map[string]bool{keep.ID: true})
	nd, list, created, err := s.Register(c, device("inst", devices.FCM, "t2"))
	if err != nil || !created || nd.ID == a.ID || len(list) != 0 {
		t.Fatalf("Register after DeleteIfToken: %s created %v interests %q err %v", nd.ID, created, list, err)
	}
	// Every platform; a web device's token is its subscription.
	for _, p := range []devices.Platform{devices.Web, devices.APNS} {
		d := register(t, s, "inst", p, "p-tok")
		deleteIf(string(p)+" other token", "inst", d.ID, "p-tok2", false)
		deleteIf(string(p), "inst", d.ID, "p-tok", true)
	}
	_, err = s.DeleteIfToken(c, "inst", keep.ID, "")
	wantErr(t, "DeleteIfToken empty token", err, devices.ErrInvalid)
	_, err = s.DeleteIfToken(c, "", keep.ID, "keep")
	wantErr(t, "DeleteIfToken empty instance", err, devices.ErrInvalid)
	if _, err := s.Get(c, "inst", keep.ID); err != nil {
		t.Fatalf("the other device: %v", err)
	}
}

// A token change racing the delete of the old token: either the delete
// came first (the device is gone and SetToken finds none) or the change
// did (the device stays, with the new token). Never a device deleted
// after its token changed.
func testDeleteIfTokenRace(t *testing.T, s devices.Store) {
	c := ctx(t)
	deletedSeen, keptSeen := 0, 0
	for i := range 20 {
		old, renewed := fmt.Sprintf("old-%d", i), fmt.Sprintf("new-%d", i)
		d := register(t, s, "inst", devices.FCM, old)
		wantErr(t, "AddInterest", s.AddInterest(c, "inst", d.ID, "news"), nil)
		var (
			wg      sync.WaitGroup
			deleted bool
			delErr  error
			setErr  error
			start   = make(chan struct{})
		)
		wg.Go(func() { <-start; deleted, delErr = s.DeleteIfToken(c, "inst", d.ID, old) })
		wg.Go(func() { <-start; setErr = s.SetToken(c, "inst", d.ID, renewed) })
		close(start)
		wg.Wait()
		if delErr != nil {
			t.Fatalf("round %d: DeleteIfToken: %v", i, delErr)
		}
		got, getErr := s.Get(c, "inst", d.ID)
		switch {
		case deleted:
			deletedSeen++
			if !errors.Is(setErr, devices.ErrNotFound) || !errors.Is(getErr, devices.ErrNotFound) {
				t.Fatalf("round %d: deleted, yet SetToken = %v and Get = %+v, %v", i, setErr, got, getErr)
			}
		default:
			keptSeen++
			if setErr != nil || getErr != nil || got.Token != renewed {
				t.Fatalf("round %d: not deleted, yet SetToken = %v and Get = %+v, %v; want the new token", i, setErr, got, getErr)
			}
		}
	}
	t.Logf("%d rounds deleted first, %d changed the token first", deletedSeen, keptSeen)
}
