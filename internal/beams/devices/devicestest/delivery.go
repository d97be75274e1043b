package devicestest

import (
	"fmt"
	"sync"
	"testing"

	"github.com/heraldhq/herald/internal/beams/devices"
)

// populate registers n devices in instance, device i with token prefix-i,
// on the interests and with the user of(i) gives ("" none), four at a time.
// It returns the ids by i.
func populate(t *testing.T, s devices.Store, instance, prefix string, n int, of func(i int) ([]string, string)) []string {
	t.Helper()
	c := ctx(t)
	ids := make([]string, n)
	work := make(chan int)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			for i := range work {
				interests, user := of(i)
				p := []devices.Platform{devices.Web, devices.FCM, devices.APNS}[i%3]
				d, _, _, err := s.Register(c, device(instance, p, name(prefix, i)))
				if err == nil && len(interests) > 0 {
					err = s.SetInterests(c, instance, d.ID, interests)
				}
				if err == nil && user != "" {
					err = s.SetUser(c, instance, d.ID, user, 0)
				}
				if err != nil {
					errs <- fmt.Errorf("device %d: %w", i, err)
					return
				}
				ids[i] = d.ID
			}
		})
	}
	func() {
		for i := range n {
			select {
			case work <- i:
			case err := <-errs:
				close(work)
				wg.Wait()
				t.Fatal(err)
			}
		}
		close(work)
	}()
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	return ids
}

// testByInterestsOverlap: 1,050 devices on two overlapping interests, read
// 100 at a time, come each once.
func testByInterestsOverlap(t *testing.T, s devices.Store) {
	const n = 1050
	ids := populate(t, s, "inst", "tok", n, func(i int) ([]string, string) {
		switch {
		case i < 350:
			return []string{"a"}, ""
		case i < 700:
			return []string{"a", "b", "other"}, "" // on both
		default:
			return []string{"b"}, ""
		}
	})
	extra := populate(t, s, "inst", "extra", 20, func(int) ([]string, string) { return []string{"c"}, "" })
	populate(t, s, "elsewhere", "tok", 30, func(int) ([]string, string) { return []string{"a", "b"}, "" })

	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	q := func(interests ...string) pager {
		return func(cur string, limit int) ([]devices.Device, string, error) {
			return s.ByInterests(ctx(t), "inst", interests, cur, limit)
		}
	}
	got := drain(t, q("a", "b"), 100)
	sameSet(t, "ByInterests(a, b)", got, want)
	sameSet(t, "ByInterests(b, a, b, unknown)", drain(t, q("b", "a", "b", "unknown"), 100), want)
	sameSet(t, "ByInterests(a, b) in pages of 7", drain(t, q("a", "b"), 7), want)
	sameSet(t, "ByInterests(a, b) in one page", drain(t, q("a", "b"), 2000), want)

	wantA := map[string]bool{}
	for _, id := range ids[:700] {
		wantA[id] = true
	}
	sameSet(t, "ByInterests(a)", drain(t, q("a"), 100), wantA)
	wantC := map[string]bool{}
	for _, id := range extra {
		wantC[id] = true
	}
	sameSet(t, "ByInterests(c)", drain(t, q("c"), 100), wantC)
	sameSet(t, "ByInterests(unknown)", drain(t, q("unknown"), 100), map[string]bool{})
	sameSet(t, "ByInterests()", drain(t, q(), 100), map[string]bool{})

	// Pages hold whole devices.
	page, _, err := s.ByInterests(ctx(t), "inst", []string{"c"}, "", 1)
	if err != nil || len(page) != 1 {
		t.Fatalf("ByInterests(c): %v, %v", page, err)
	}
	full, err := s.Get(ctx(t), "inst", page[0].ID)
	if err != nil || !sameDevice(full, page[0]) {
		t.Fatalf("page device %+v, Get %+v, %v", page[0], full, err)
	}
}

// testByInterestsMany asks for more interests than one statement may
// cover (a store may split them) over devices on several interests each.
func testByInterestsMany(t *testing.T, s devices.Store) {
	const n, spread = 150, 260
	of := func(i int) ([]string, string) {
		return []string{name("i", i%spread), name("i", (i*7+3)%spread), name("i", (i*13)%spread)}, ""
	}
	ids := populate(t, s, "inst", "tok", n, of)
	// Ask for interests 0..239 and some unknown ones.
	var ask []string
	asked := map[string]bool{}
	for k := range 240 {
		ask = append(ask, name("i", k))
		asked[name("i", k)] = true
	}
	for k := range 30 {
		ask = append(ask, name("unknown", k))
	}
	want := map[string]bool{}
	for i, id := range ids {
		set, _ := of(i)
		for _, in := range set {
			if asked[in] {
				want[id] = true
			}
		}
	}
	for _, limit := range []int{7, 1000} {
		got := drain(t, func(cur string, l int) ([]devices.Device, string, error) {
			return s.ByInterests(ctx(t), "inst", ask, cur, l)
		}, limit)
		sameSet(t, fmt.Sprintf("ByInterests(240 interests) limit %d", limit), got, want)
	}
}

func testByUsers(t *testing.T, s devices.Store) {
	const n = 250
	user := func(i int) string { return name("user", i%10) }
	ids := populate(t, s, "inst", "tok", n, func(i int) ([]string, string) {
		if i%25 == 0 {
			return []string{"x"}, "" // no user
		}
		return nil, user(i)
	})
	populate(t, s, "elsewhere", "tok", 20, func(i int) ([]string, string) { return nil, user(i) })
	want := map[string]bool{}
	for i, id := range ids {
		if i%25 != 0 && (user(i) == name("user", 1) || user(i) == name("user", 3) || user(i) == name("user", 6)) {
			want[id] = true
		}
	}
	q := func(users ...string) pager {
		return func(cur string, limit int) ([]devices.Device, string, error) {
			return s.ByUsers(ctx(t), "inst", users, cur, limit)
		}
	}
	for _, limit := range []int{1, 4, 100} {
		got := drain(t, q(name("user", 6), name("user", 1), name("user", 3), name("user", 3), "nobody"), limit)
		sameSet(t, fmt.Sprintf("ByUsers limit %d", limit), got, want)
	}
	sameSet(t, "ByUsers(nobody)", drain(t, q("nobody"), 10), map[string]bool{})
	// Every device a page returns carries its user.
	page, _, err := s.ByUsers(ctx(t), "inst", []string{name("user", 1)}, "", 100)
	if err != nil || len(page) == 0 {
		t.Fatalf("ByUsers(user-1): %d, %v", len(page), err)
	}
	for _, d := range page {
		if d.UserID != name("user", 1) || d.Instance != "inst" {
			t.Fatalf("ByUsers(user-1) returned %+v", d)
		}
	}
}

// testByUsersMany asks for 1,000 users (a publish's most), more than one
// statement may cover.
func testByUsersMany(t *testing.T, s devices.Store) {
	const n = 300
	ids := populate(t, s, "inst", "tok", n, func(i int) ([]string, string) { return nil, name("user", i*3) })
	var ask []string
	for u := range 1000 {
		ask = append(ask, name("user", u))
	}
	want := map[string]bool{}
	for i, id := range ids {
		if i*3 < 1000 {
			want[id] = true
		}
	}
	for _, limit := range []int{7, 1000} {
		got := drain(t, func(cur string, l int) ([]devices.Device, string, error) {
			return s.ByUsers(ctx(t), "inst", ask, cur, l)
		}, limit)
		sameSet(t, fmt.Sprintf("ByUsers(1000 users) limit %d", limit), got, want)
	}
}
