package devicestest

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/beams/devices"
)

func testRegister(t *testing.T, s devices.Store) {
	before := time.Now().Add(-time.Second)
	for _, p := range []devices.Platform{devices.Web, devices.FCM, devices.APNS} {
		in := device("inst", p, "token-1")
		d, list, created, err := s.Register(ctx(t), in)
		if err != nil {
			t.Fatalf("Register %s: %v", p, err)
		}
		if !created || list == nil || len(list) != 0 {
			t.Fatalf("Register %s: created %v, interests %#v; want true and an empty non-nil list", p, created, list)
		}
		if !strings.HasPrefix(d.ID, string(p)+"-") {
			t.Fatalf("id %q lacks the %s- prefix", d.ID, p)
		}
		if d.Instance != in.Instance || d.Platform != p || d.Token != in.Token || d.Endpoint != in.Endpoint ||
			d.P256dh != in.P256dh || d.Auth != in.Auth || d.BundleID != in.BundleID || d.UserID != "" {
			t.Fatalf("Register %s returned %+v for %+v", p, d, in)
		}
		if !jsonEqual(d.Metadata, in.Metadata) {
			t.Fatalf("metadata %s, want %s", d.Metadata, in.Metadata)
		}
		if d.CreatedAt.Before(before) || d.CreatedAt.After(time.Now().Add(time.Second)) || !d.LastSeenAt.Equal(d.CreatedAt) {
			t.Fatalf("created %v, last seen %v: want now, equal", d.CreatedAt, d.LastSeenAt)
		}
		got, err := s.Get(ctx(t), "inst", d.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !sameDevice(got, d) {
			t.Fatalf("Get = %+v, Register returned %+v", got, d)
		}
	}
	// No metadata is stored as none.
	in := device("inst", devices.FCM, "token-2")
	in.Metadata = nil
	d, _, _, err := s.Register(ctx(t), in)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get(ctx(t), "inst", d.ID); got.Metadata != nil {
		t.Fatalf("metadata %q, want nil", got.Metadata)
	}
}

func testReRegister(t *testing.T, s devices.Store) {
	first := register(t, s, "inst", devices.APNS, "tok")
	wantErr(t, "AddInterest", s.AddInterest(ctx(t), "inst", first.ID, "zeta"), nil)
	wantErr(t, "AddInterest", s.AddInterest(ctx(t), "inst", first.ID, "alpha"), nil)
	wantErr(t, "SetUser", s.SetUser(ctx(t), "inst", first.ID, "alice", 0), nil)
	time.Sleep(2 * time.Millisecond) // the clock must move for LastSeenAt to

	in := device("inst", devices.APNS, "tok")
	in.Metadata = json.RawMessage(`{"sdkVersion":"2.0.0","iosVersion":"17"}`)
	in.BundleID = "com.example.other"
	d, list, created, err := s.Register(ctx(t), in)
	if err != nil {
		t.Fatal(err)
	}
	if created || d.ID != first.ID {
		t.Fatalf("re-registration: id %s created %v, want %s and false", d.ID, created, first.ID)
	}
	if !reflect.DeepEqual(list, []string{"alpha", "zeta"}) {
		t.Fatalf("re-registration interests %q, want [alpha zeta]", list)
	}
	if !jsonEqual(d.Metadata, in.Metadata) || d.BundleID != "com.example.other" || d.UserID != "alice" {
		t.Fatalf("re-registration: %+v; want new metadata and bundle id, user kept", d)
	}
	if !d.CreatedAt.Equal(first.CreatedAt) || !d.LastSeenAt.After(first.LastSeenAt) {
		t.Fatalf("re-registration: created %v last seen %v; first %v %v", d.CreatedAt, d.LastSeenAt, first.CreatedAt, first.LastSeenAt)
	}
	got, err := s.Get(ctx(t), "inst", d.ID)
	if err != nil || !sameDevice(got, d) {
		t.Fatalf("Get = %+v, %v; want %+v", got, err, d)
	}
	// The same token on another platform is another device.
	other := register(t, s, "inst", devices.FCM, "tok")
	if other.ID == d.ID {
		t.Fatal("one device for two platforms")
	}
}

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func testIDs(t *testing.T, s devices.Store) {
	seen := map[string]bool{}
	for _, p := range []devices.Platform{devices.Web, devices.FCM, devices.APNS} {
		for i := range 30 {
			d := register(t, s, "inst", p, name("tok", i))
			rest, ok := strings.CutPrefix(d.ID, string(p)+"-")
			if !ok || !uuidV4.MatchString(rest) {
				t.Fatalf("id %q: want %s-<uuid v4>", d.ID, p)
			}
			if seen[rest] {
				t.Fatalf("uuid %s given twice", rest)
			}
			seen[rest] = true
		}
	}
}

func testInvalid(t *testing.T, s devices.Store) {
	c := ctx(t)
	for _, in := range []devices.Device{
		{Instance: "inst", Platform: "sms", Token: "t"},
		{Instance: "inst", Platform: "", Token: "t"},
		{Instance: "", Platform: devices.Web, Token: "t"},
		{Instance: "inst", Platform: devices.Web, Token: ""},
		{Instance: "inst", Platform: devices.Web, Token: "bad\xff"},
		{Instance: "inst", Platform: devices.Web, Token: "nul\x00"},
		{Instance: "inst", Platform: devices.FCM, Token: "t", Metadata: json.RawMessage(`{"a":`)},
	} {
		_, _, _, err := s.Register(c, in)
		wantErr(t, "Register "+strings.ToValidUTF8(in.Instance+"/"+string(in.Platform)+"/"+in.Token, "?"), err, devices.ErrInvalid)
	}
	d := register(t, s, "inst", devices.FCM, "t")
	wantErr(t, "AddInterest empty", s.AddInterest(c, "inst", d.ID, ""), devices.ErrInvalid)
	wantErr(t, "RemoveInterest empty", s.RemoveInterest(c, "inst", d.ID, ""), devices.ErrInvalid)
	wantErr(t, "SetInterests with empty", s.SetInterests(c, "inst", d.ID, []string{"a", ""}), devices.ErrInvalid)
	wantErr(t, "SetUser empty", s.SetUser(c, "inst", d.ID, "", 0), devices.ErrInvalid)
	wantErr(t, "SetMetadata not JSON", s.SetMetadata(c, "inst", d.ID, json.RawMessage("nope")), devices.ErrInvalid)
	wantErr(t, "SetToken empty", s.SetToken(c, "inst", d.ID, ""), devices.ErrInvalid)
	_, err := s.DeleteUser(c, "inst", "")
	wantErr(t, "DeleteUser empty", err, devices.ErrInvalid)
	for _, cur := range []string{"!!!", "a b", "===="} {
		_, _, err = s.Interests(c, "inst", d.ID, cur, 10)
		wantErr(t, "Interests cursor "+cur, err, devices.ErrInvalid)
		_, _, err = s.ByInterests(c, "inst", []string{"a"}, cur, 10)
		wantErr(t, "ByInterests cursor "+cur, err, devices.ErrInvalid)
		_, _, err = s.ByUsers(c, "inst", []string{"a"}, cur, 10)
		wantErr(t, "ByUsers cursor "+cur, err, devices.ErrInvalid)
	}
	_, _, err = s.ByInterests(c, "inst", []string{"a", ""}, "", 10)
	wantErr(t, "ByInterests empty interest", err, devices.ErrInvalid)
	// A rejected call changed nothing.
	got, err := s.Get(c, "inst", d.ID)
	if err != nil || got.UserID != "" || !jsonEqual(got.Metadata, d.Metadata) || got.Token != "t" {
		t.Fatalf("after rejected calls: %+v, %v", got, err)
	}
}

func testNotFound(t *testing.T, s devices.Store) {
	c := ctx(t)
	d := register(t, s, "inst", devices.FCM, "t")
	for _, tc := range []struct{ instance, id string }{
		{"inst", "fcm-00000000-0000-4000-8000-000000000000"},
		{"inst", ""},
		{"inst", "bad\xff"},
		{"other", d.ID}, // another instance's device
	} {
		what := func(op string) string { return op + " " + strings.ToValidUTF8(tc.instance+"/"+tc.id, "?") }
		_, err := s.Get(c, tc.instance, tc.id)
		wantErr(t, what("Get"), err, devices.ErrNotFound)
		wantErr(t, what("AddInterest"), s.AddInterest(c, tc.instance, tc.id, "a"), devices.ErrNotFound)
		wantErr(t, what("RemoveInterest"), s.RemoveInterest(c, tc.instance, tc.id, "a"), devices.ErrNotFound)
		wantErr(t, what("SetInterests"), s.SetInterests(c, tc.instance, tc.id, []string{"a"}), devices.ErrNotFound)
		_, _, err = s.Interests(c, tc.instance, tc.id, "", 10)
		wantErr(t, what("Interests"), err, devices.ErrNotFound)
		wantErr(t, what("SetUser"), s.SetUser(c, tc.instance, tc.id, "u", 0), devices.ErrNotFound)
		wantErr(t, what("SetMetadata"), s.SetMetadata(c, tc.instance, tc.id, json.RawMessage(`{}`)), devices.ErrNotFound)
		wantErr(t, what("SetToken"), s.SetToken(c, tc.instance, tc.id, "t2"), devices.ErrNotFound)
		wantErr(t, what("Delete"), s.Delete(c, tc.instance, tc.id), devices.ErrNotFound)
	}
	// None of that touched the real device.
	if got, err := s.Get(c, "inst", d.ID); err != nil || got.Token != "t" || got.UserID != "" {
		t.Fatalf("device after calls on others: %+v, %v", got, err)
	}
	if n, err := s.DeleteUser(c, "inst", "nobody"); n != 0 || err != nil {
		t.Fatalf("DeleteUser(unknown) = %d, %v; want 0, nil", n, err)
	}
}

func testDelete(t *testing.T, s devices.Store) {
	c := ctx(t)
	d := register(t, s, "inst", devices.Web, "t")
	keep := register(t, s, "inst", devices.Web, "keep")
	for _, id := range []string{d.ID, keep.ID} {
		wantErr(t, "SetInterests", s.SetInterests(c, "inst", id, []string{"news", "sport"}), nil)
	}
	wantErr(t, "Delete", s.Delete(c, "inst", d.ID), nil)
	wantErr(t, "Delete again", s.Delete(c, "inst", d.ID), devices.ErrNotFound)
	_, err := s.Get(c, "inst", d.ID)
	wantErr(t, "Get deleted", err, devices.ErrNotFound)
	// Its interests went with it: delivery no longer finds it.
	ids := drain(t, func(cur string, n int) ([]devices.Device, string, error) {
		return s.ByInterests(c, "inst", []string{"news", "sport"}, cur, n)
	}, 10)
	sameSet(t, "ByInterests after Delete", ids, map[string]bool{keep.ID: true})
	// The token registers anew, as a new device without interests.
	nd, list, created, err := s.Register(c, device("inst", devices.Web, "t"))
	if err != nil || !created || nd.ID == d.ID || len(list) != 0 {
		t.Fatalf("Register after Delete: %s created %v interests %q err %v", nd.ID, created, list, err)
	}
	if got := interests(t, s, "inst", nd.ID); len(got) != 0 {
		t.Fatalf("new device has interests %q", got)
	}
}

func testIsolation(t *testing.T, s devices.Store) {
	c := ctx(t)
	a := register(t, s, "inst-a", devices.FCM, "same-token")
	b := register(t, s, "inst-b", devices.FCM, "same-token")
	if a.ID == b.ID {
		t.Fatal("one device for the same token in two instances")
	}
	wantErr(t, "AddInterest a", s.AddInterest(c, "inst-a", a.ID, "news"), nil)
	wantErr(t, "AddInterest b", s.AddInterest(c, "inst-b", b.ID, "news"), nil)
	wantErr(t, "SetUser a", s.SetUser(c, "inst-a", a.ID, "alice", 1), nil)
	wantErr(t, "SetUser b", s.SetUser(c, "inst-b", b.ID, "alice", 1), nil) // the cap is per instance
	for _, inst := range []struct{ id, dev string }{{"inst-a", a.ID}, {"inst-b", b.ID}} {
		ids := drain(t, func(cur string, n int) ([]devices.Device, string, error) {
			return s.ByInterests(c, inst.id, []string{"news"}, cur, n)
		}, 10)
		sameSet(t, "ByInterests "+inst.id, ids, map[string]bool{inst.dev: true})
		ids = drain(t, func(cur string, n int) ([]devices.Device, string, error) {
			return s.ByUsers(c, inst.id, []string{"alice"}, cur, n)
		}, 10)
		sameSet(t, "ByUsers "+inst.id, ids, map[string]bool{inst.dev: true})
	}
	wantErr(t, "RemoveInterest via other instance", s.RemoveInterest(c, "inst-b", a.ID, "news"), devices.ErrNotFound)
	if n, err := s.DeleteUser(c, "inst-a", "alice"); n != 1 || err != nil {
		t.Fatalf("DeleteUser inst-a = %d, %v; want 1", n, err)
	}
	if got, err := s.Get(c, "inst-b", b.ID); err != nil || got.UserID != "alice" {
		t.Fatalf("inst-b device after inst-a DeleteUser: %+v, %v", got, err)
	}
	if got := interests(t, s, "inst-b", b.ID); len(got) != 1 {
		t.Fatalf("inst-b interests %q", got)
	}
}

func testMetadata(t *testing.T, s devices.Store) {
	c := ctx(t)
	d := register(t, s, "inst", devices.FCM, "t")
	md := json.RawMessage(`{"sdkVersion":"1.2.3","androidVersion":"14"}`)
	wantErr(t, "SetMetadata", s.SetMetadata(c, "inst", d.ID, md), nil)
	got, err := s.Get(c, "inst", d.ID)
	if err != nil || !jsonEqual(got.Metadata, md) {
		t.Fatalf("metadata %s, %v; want %s", got.Metadata, err, md)
	}
	wantErr(t, "SetMetadata same", s.SetMetadata(c, "inst", d.ID, md), nil)
	wantErr(t, "SetMetadata nil", s.SetMetadata(c, "inst", d.ID, nil), nil)
	if got, _ = s.Get(c, "inst", d.ID); got.Metadata != nil {
		t.Fatalf("metadata %s after clearing", got.Metadata)
	}
}

func testSetToken(t *testing.T, s devices.Store) {
	c := ctx(t)
	a := register(t, s, "inst", devices.FCM, "t1")
	b := register(t, s, "inst", devices.FCM, "t2")
	apns := register(t, s, "inst", devices.APNS, "t2")  // another platform
	other := register(t, s, "other", devices.FCM, "t2") // another instance
	wantErr(t, "AddInterest b", s.AddInterest(c, "inst", b.ID, "news"), nil)
	wantErr(t, "AddInterest a", s.AddInterest(c, "inst", a.ID, "sport"), nil)

	wantErr(t, "SetToken own token", s.SetToken(c, "inst", a.ID, "t1"), nil)
	wantErr(t, "SetToken new", s.SetToken(c, "inst", a.ID, "t3"), nil)
	if got, err := s.Get(c, "inst", a.ID); err != nil || got.Token != "t3" {
		t.Fatalf("after SetToken: %+v, %v", got, err)
	}
	// t2 moves from b to a: b goes, with its interests.
	wantErr(t, "SetToken moving", s.SetToken(c, "inst", a.ID, "t2"), nil)
	_, err := s.Get(c, "inst", b.ID)
	wantErr(t, "Get the device the token left", err, devices.ErrNotFound)
	ids := drain(t, func(cur string, n int) ([]devices.Device, string, error) {
		return s.ByInterests(c, "inst", []string{"news", "sport"}, cur, n)
	}, 10)
	sameSet(t, "ByInterests after the move", ids, map[string]bool{a.ID: true})
	for _, d := range []devices.Device{apns, other} {
		if _, err := s.Get(c, d.Instance, d.ID); err != nil {
			t.Fatalf("%s device of token t2 in %s: %v", d.Platform, d.Instance, err)
		}
	}
	// Registering t2 finds a; t1 and t3 are free.
	d, list, created, err := s.Register(c, device("inst", devices.FCM, "t2"))
	if err != nil || created || d.ID != a.ID || !reflect.DeepEqual(list, []string{"sport"}) {
		t.Fatalf("Register t2: %s created %v interests %q err %v; want %s", d.ID, created, list, err, a.ID)
	}
	if d, _, created, err = s.Register(c, device("inst", devices.FCM, "t1")); err != nil || !created {
		t.Fatalf("Register t1: %s created %v err %v", d.ID, created, err)
	}
	// A web token holds its endpoint and keys: no token change.
	web := register(t, s, "inst", devices.Web, "w")
	wantErr(t, "SetToken web", s.SetToken(c, "inst", web.ID, "w2"), devices.ErrInvalid)
}

func testConcurrentRegister(t *testing.T, s devices.Store) {
	const n = 16
	type result struct {
		id      string
		created bool
		err     error
	}
	results := make([]result, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			d, _, created, err := s.Register(ctx(t), device("inst", devices.Web, "shared"))
			results[i] = result{d.ID, created, err}
		})
	}
	close(start)
	wg.Wait()
	created := 0
	for i, r := range results {
		if r.err != nil {
			t.Fatalf("goroutine %d: %v", i, r.err)
		}
		if r.id != results[0].id {
			t.Fatalf("two devices for one token: %s and %s", r.id, results[0].id)
		}
		if r.created {
			created++
		}
	}
	if created != 1 {
		t.Fatalf("%d registrations said created, want 1", created)
	}
	wantErr(t, "AddInterest", s.AddInterest(ctx(t), "inst", results[0].id, "x"), nil)
	ids := drain(t, func(cur string, n int) ([]devices.Device, string, error) {
		return s.ByInterests(ctx(t), "inst", []string{"x"}, cur, n)
	}, 10)
	sameSet(t, "devices after concurrent registrations", ids, map[string]bool{results[0].id: true})
}

func testCancelled(t *testing.T, s devices.Store) {
	d := register(t, s, "inst", devices.FCM, "t")
	c, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.Get(c, "inst", d.ID); err == nil || errors.Is(err, devices.ErrNotFound) {
		t.Fatalf("Get with a cancelled context: %v, want a context error", err)
	}
	if _, _, _, err := s.Register(c, device("inst", devices.FCM, "t2")); err == nil {
		t.Fatal("Register with a cancelled context succeeded")
	}
}

// sameDevice compares devices, their metadata as JSON.
func sameDevice(a, b devices.Device) bool {
	if !jsonEqual(a.Metadata, b.Metadata) || !a.CreatedAt.Equal(b.CreatedAt) || !a.LastSeenAt.Equal(b.LastSeenAt) {
		return false
	}
	a.Metadata, b.Metadata = nil, nil
	a.CreatedAt, b.CreatedAt, a.LastSeenAt, b.LastSeenAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	return reflect.DeepEqual(a, b)
}

// jsonEqual compares JSON documents by value (a store may reformat them).
func jsonEqual(a, b json.RawMessage) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}
