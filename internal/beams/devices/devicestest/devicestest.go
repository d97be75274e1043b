// Package devicestest is the conformance suite every devices.Store passes:
// the same tests run against SQLite and PostgreSQL (and any future backend).
package devicestest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/beams/devices"
)

// Opener opens a Store on a fresh, empty database and arranges for it to
// be closed when t ends (t.Cleanup). It may be called from parallel tests.
type Opener func(t *testing.T) devices.Store

// Run runs the suite; every subtest opens its own store.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s devices.Store)
	}{
		{"Register", testRegister},
		{"ReRegister", testReRegister},
		{"IDs", testIDs},
		{"Invalid", testInvalid},
		{"NotFound", testNotFound},
		{"Delete", testDelete},
		{"Isolation", testIsolation},
		{"Metadata", testMetadata},
		{"SetToken", testSetToken},
		{"DeleteIfToken", testDeleteIfToken},
		{"DeleteIfTokenRace", testDeleteIfTokenRace},
		{"ConcurrentRegister", testConcurrentRegister},
		{"Interests", testInterests},
		{"InterestCap", testInterestCap},
		{"ConcurrentInterestCap", testConcurrentInterestCap},
		{"InterestPaging", testInterestPaging},
		{"SetInterests", testSetInterests},
		{"SetUser", testSetUser},
		{"UserCap", testUserCap},
		{"ConcurrentUserCap", testConcurrentUserCap},
		{"DeleteUser", testDeleteUser},
		{"ByInterestsOverlap", testByInterestsOverlap},
		{"ByInterestsMany", testByInterestsMany},
		{"ByUsers", testByUsers},
		{"ByUsersMany", testByUsersMany},
		{"Cancelled", testCancelled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

// ctx returns a context for one test, cancelled when it ends.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

// device returns a registration of token on platform p in instance.
func device(instance string, p devices.Platform, token string) devices.Device {
	d := devices.Device{Instance: instance, Platform: p, Token: token,
		Metadata: json.RawMessage(`{"sdkVersion":"1.0.0"}`)}
	switch p {
	case devices.Web:
		d.Endpoint = "https://push.example.com/send/" + token
		d.P256dh = "BPub-" + token
		d.Auth = "auth-" + token
	case devices.APNS:
		d.BundleID = "com.example.app"
	}
	return d
}

// register registers token and fails t on error.
func register(t *testing.T, s devices.Store, instance string, p devices.Platform, token string) devices.Device {
	t.Helper()
	d, _, _, err := s.Register(ctx(t), device(instance, p, token))
	if err != nil {
		t.Fatalf("Register(%s, %s, %s): %v", instance, p, token, err)
	}
	return d
}

// wantErr fails t unless err matches target (nil: no error).
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	switch {
	case target == nil && err != nil:
		t.Fatalf("%s: %v, want no error", what, err)
	case target != nil && !errors.Is(err, target):
		t.Fatalf("%s: %v, want %v", what, err, target)
	}
}

// interests reads every interest of a device, page by page.
func interests(t *testing.T, s devices.Store, instance, id string) []string {
	t.Helper()
	var all []string
	cursor := ""
	for range devices.MaxInterests + 1 {
		page, next, err := s.Interests(ctx(t), instance, id, cursor, devices.MaxPageSize)
		if err != nil {
			t.Fatalf("Interests(%s): %v", id, err)
		}
		all = append(all, page...)
		if next == "" {
			return all
		}
		cursor = next
	}
	t.Fatal("Interests never ended")
	return nil
}

// pager reads one page of a delivery query.
type pager func(cursor string, limit int) ([]devices.Device, string, error)

// drain reads every page of a delivery query with limit, checking that
// pages are full but the last, ordered by id within and across pages, and
// never repeat a device. It returns the ids in order.
func drain(t *testing.T, q pager, limit int) []string {
	t.Helper()
	var ids []string
	seen := map[string]bool{}
	cursor := ""
	for page := 0; ; page++ {
		if page > 100000 {
			t.Fatal("paging never ended")
		}
		list, next, err := q(cursor, limit)
		if err != nil {
			t.Fatalf("page %d: %v", page, err)
		}
		if len(list) > limit {
			t.Fatalf("page %d: %d devices, limit %d", page, len(list), limit)
		}
		if next != "" && len(list) < limit {
			t.Fatalf("page %d: %d devices and a next cursor, limit %d", page, len(list), limit)
		}
		if next == "" && len(list) == 0 && page > 0 {
			t.Fatalf("page %d: empty last page after a next cursor", page)
		}
		for _, d := range list {
			if seen[d.ID] {
				t.Fatalf("page %d: device %s repeated", page, d.ID)
			}
			if len(ids) > 0 && d.ID <= ids[len(ids)-1] {
				t.Fatalf("page %d: %s after %s: not in id order", page, d.ID, ids[len(ids)-1])
			}
			seen[d.ID] = true
			ids = append(ids, d.ID)
		}
		if next == "" {
			return ids
		}
		cursor = next
	}
}

// sameSet fails t unless got holds exactly the ids of want.
func sameSet(t *testing.T, what string, got []string, want map[string]bool) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d devices, want %d", what, len(got), len(want))
	}
	for _, id := range got {
		if !want[id] {
			t.Fatalf("%s: unexpected device %s", what, id)
		}
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}

func name(prefix string, i int) string { return fmt.Sprintf("%s-%05d", prefix, i) }
