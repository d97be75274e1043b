package devicestest

import (
	"errors"
	"reflect"
	"slices"
	"sync"
	"testing"

	"github.com/heraldhq/herald/internal/beams/devices"
)

func testInterests(t *testing.T, s devices.Store) {
	c := ctx(t)
	d := register(t, s, "inst", devices.Web, "t")
	for _, i := range []string{"b", "a", "b", "c-d_e=f@g,h.i;j", "a"} {
		wantErr(t, "AddInterest "+i, s.AddInterest(c, "inst", d.ID, i), nil)
	}
	want := []string{"a", "b", "c-d_e=f@g,h.i;j"}
	if got := interests(t, s, "inst", d.ID); !reflect.DeepEqual(got, want) {
		t.Fatalf("interests %q, want %q", got, want)
	}
	wantErr(t, "RemoveInterest b", s.RemoveInterest(c, "inst", d.ID, "b"), nil)
	wantErr(t, "RemoveInterest b again", s.RemoveInterest(c, "inst", d.ID, "b"), nil)
	wantErr(t, "RemoveInterest never added", s.RemoveInterest(c, "inst", d.ID, "zzz"), nil)
	want = []string{"a", "c-d_e=f@g,h.i;j"}
	if got := interests(t, s, "inst", d.ID); !reflect.DeepEqual(got, want) {
		t.Fatalf("interests %q, want %q", got, want)
	}
	// Byte order, whatever the database's locale; pages agree with it.
	mixed := []string{"b", "B", "a", "_x", "-y", "Z9", "z-1", "z1", "a.b", "a,b", "ab", "A", "@", "=", ";"}
	wantErr(t, "SetInterests", s.SetInterests(c, "inst", d.ID, mixed), nil)
	want = sorted(mixed)
	if got := interests(t, s, "inst", d.ID); !reflect.DeepEqual(got, want) {
		t.Fatalf("interests %q, want byte order %q", got, want)
	}
	var paged []string
	for cursor := ""; ; {
		page, next, err := s.Interests(c, "inst", d.ID, cursor, 2)
		if err != nil {
			t.Fatal(err)
		}
		paged = append(paged, page...)
		if next == "" {
			break
		}
		cursor = next
	}
	if !reflect.DeepEqual(paged, want) {
		t.Fatalf("interests in pages of 2: %q, want %q", paged, want)
	}
	// An empty device answers an empty page, not "not found".
	e := register(t, s, "inst", devices.Web, "empty")
	list, next, err := s.Interests(c, "inst", e.ID, "", 10)
	if err != nil || len(list) != 0 || next != "" {
		t.Fatalf("Interests of a device without any: %q %q %v", list, next, err)
	}
}

func testInterestCap(t *testing.T, s devices.Store) {
	c := ctx(t)
	d := register(t, s, "inst", devices.FCM, "t")
	full := make([]string, devices.MaxInterests)
	for i := range full {
		full[i] = name("i", i)
	}
	// Duplicates do not count.
	wantErr(t, "SetInterests at the cap", s.SetInterests(c, "inst", d.ID, append(slices.Clone(full), full[:10]...)), nil)
	wantErr(t, "AddInterest over the cap", s.AddInterest(c, "inst", d.ID, "one-more"), devices.ErrTooManyInterests)
	wantErr(t, "AddInterest of a held one at the cap", s.AddInterest(c, "inst", d.ID, full[7]), nil)
	wantErr(t, "SetInterests over the cap", s.SetInterests(c, "inst", d.ID, append(slices.Clone(full), "one-more")), devices.ErrTooManyInterests)
	if got := interests(t, s, "inst", d.ID); !reflect.DeepEqual(got, full) {
		t.Fatalf("after refused changes: %d interests, want the %d set before", len(got), len(full))
	}
	wantErr(t, "RemoveInterest", s.RemoveInterest(c, "inst", d.ID, full[0]), nil)
	wantErr(t, "AddInterest below the cap", s.AddInterest(c, "inst", d.ID, "one-more"), nil)
	wantErr(t, "AddInterest over the cap again", s.AddInterest(c, "inst", d.ID, full[0]), devices.ErrTooManyInterests)
	if got := interests(t, s, "inst", d.ID); len(got) != devices.MaxInterests {
		t.Fatalf("%d interests, want %d", len(got), devices.MaxInterests)
	}
}

// testConcurrentInterestCap adds 20 interests at once to a device 10 below
// the cap: exactly 10 get in.
func testConcurrentInterestCap(t *testing.T, s devices.Store) {
	c := ctx(t)
	d := register(t, s, "inst", devices.FCM, "t")
	base := make([]string, devices.MaxInterests-10)
	for i := range base {
		base[i] = name("i", i)
	}
	wantErr(t, "SetInterests", s.SetInterests(c, "inst", d.ID, base), nil)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		ok, full int
	)
	for i := range 20 {
		wg.Go(func() {
			err := s.AddInterest(c, "inst", d.ID, name("new", i))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, devices.ErrTooManyInterests):
				full++
			default:
				t.Errorf("AddInterest: %v", err)
			}
		})
	}
	wg.Wait()
	if ok != 10 || full != 10 {
		t.Fatalf("%d added, %d refused; want 10 and 10", ok, full)
	}
	if got := interests(t, s, "inst", d.ID); len(got) != devices.MaxInterests {
		t.Fatalf("%d interests, want %d", len(got), devices.MaxInterests)
	}
}

func testInterestPaging(t *testing.T, s devices.Store) {
	c := ctx(t)
	d := register(t, s, "inst", devices.Web, "t")
	set := make([]string, 250)
	for i := range set {
		set[len(set)-1-i] = name("interest", i*7) // stored out of order
	}
	wantErr(t, "SetInterests", s.SetInterests(c, "inst", d.ID, set), nil)
	want := sorted(set)

	var got []string
	cursor, pages := "", 0
	for {
		page, next, err := s.Interests(c, "inst", d.ID, cursor, 100)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if wantLen := []int{100, 100, 50}[min(pages, 3)-1]; len(page) != wantLen {
			t.Fatalf("page %d: %d interests, want %d", pages, len(page), wantLen)
		}
		got = append(got, page...)
		if next == "" {
			break
		}
		if pages == 3 {
			t.Fatal("a next cursor after the last page")
		}
		cursor = next
	}
	if pages != 3 || !reflect.DeepEqual(got, want) {
		t.Fatalf("%d pages, %d interests; want 3 pages of the 250, sorted, none missed or repeated", pages, len(got))
	}
	// A page ending exactly at the end says so.
	page, next, err := s.Interests(c, "inst", d.ID, "", 250)
	if err != nil || len(page) != 250 || next != "" {
		t.Fatalf("limit 250: %d interests, next %q, %v; want 250 and no cursor", len(page), next, err)
	}
	// No limit is DefaultPageSize.
	page, next, err = s.Interests(c, "inst", d.ID, "", 0)
	if err != nil || len(page) != devices.DefaultPageSize || next == "" {
		t.Fatalf("limit 0: %d interests, next %q, %v; want %d and a cursor", len(page), next, err, devices.DefaultPageSize)
	}
}

func testSetInterests(t *testing.T, s devices.Store) {
	c := ctx(t)
	d := register(t, s, "inst", devices.APNS, "t")
	other := register(t, s, "inst", devices.APNS, "other")
	wantErr(t, "SetInterests other", s.SetInterests(c, "inst", other.ID, []string{"a", "x"}), nil)
	for _, tc := range []struct{ set, want []string }{
		{[]string{"a", "b", "c"}, []string{"a", "b", "c"}},
		{[]string{"d", "c", "d"}, []string{"c", "d"}},
		{[]string{}, nil},
		{nil, nil},
		{[]string{"z"}, []string{"z"}},
	} {
		wantErr(t, "SetInterests", s.SetInterests(c, "inst", d.ID, tc.set), nil)
		if got := interests(t, s, "inst", d.ID); !reflect.DeepEqual(got, tc.want) && (len(got) != 0 || len(tc.want) != 0) {
			t.Fatalf("after SetInterests(%q): %q, want %q", tc.set, got, tc.want)
		}
	}
	if _, list, _, err := s.Register(c, device("inst", devices.APNS, "t")); err != nil || !reflect.DeepEqual(list, []string{"z"}) {
		t.Fatalf("Register returned %q, %v; want [z]", list, err)
	}
	if got := interests(t, s, "inst", other.ID); !reflect.DeepEqual(got, []string{"a", "x"}) {
		t.Fatalf("the other device's interests changed: %q", got)
	}
}
