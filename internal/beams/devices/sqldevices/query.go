package sqldevices

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/heraldhq/herald/internal/beams/devices"
)

// Delivery reads return pages in device id order; the next page starts
// after the last id of the one before (the cursor).
//
// By interest, a page costs what the page holds, never what the interests
// hold (an interest may have 100,000 devices): for each interest an index
// range scan reads at most n = limit+1 device ids after the cursor, already
// in order; the first n distinct ids of those lists are the page, then
// joined with their devices. That is exact: a device among the first n of
// the union is among the first n of each list that holds it. The same holds
// when more than interestsPerQuery interests are read in several
// statements merged here.
//
// By user, one statement reads the devices of every listed user after the
// cursor through the (instance_id, user_id, id) index, sorts and keeps the
// first n: a user has few devices (the Device API caps them per user), so
// that is cheaper than a statement of up to 1,000 per-user scans.

// interestsPerQuery is how many interests one ByInterests statement covers
// (each one a member of a compound SELECT; SQLite allows 500).
const interestsPerQuery = 100

// byInterest selects, for one interest, the first device ids after a cursor.
// Arguments: instance, interest, cursor, n.
const byInterest = `SELECT device_id AS id FROM beams_device_interest
	WHERE instance_id = ? AND interest = ? AND device_id > ? ORDER BY device_id LIMIT ?`

// sizeClasses are the interest counts ByInterests statements are prepared
// for; fewer interests are padded to the next class by repeating one.
// Compiling a statement of 100 members costs SQLite milliseconds, so a few
// prepared ones serve every count.
var sizeClasses = [...]int{1, 2, 4, 8, 16, 32, 64, interestsPerQuery}

func sizeClass(n int) int {
	for _, c := range sizeClasses {
		if n <= c {
			return c
		}
	}
	return interestsPerQuery
}

// byInterestsQuery is the statement reading a page of the devices of
// members interests. Arguments: (instance, interest, cursor, n) for each
// member, then n. Ordering by m.id, not d.id, lets SQLite use the order m
// already has instead of sorting the wide device rows again.
func byInterestsQuery(members int) string {
	var q strings.Builder
	q.WriteString(`SELECT ` + deviceColsOf + ` FROM beams_device d JOIN (SELECT DISTINCT id FROM (`)
	for i := range members {
		if i > 0 {
			q.WriteString(" UNION ALL ")
		}
		// Aliases are required by PostgreSQL before 16.
		q.WriteString("SELECT id FROM (" + byInterest + ") AS k")
		q.WriteString(strconv.Itoa(i))
	}
	q.WriteString(`) AS u ORDER BY id LIMIT ?) AS m ON d.id = m.id ORDER BY m.id`)
	return q.String()
}

// byUsersQuery reads a page of the devices of a set of users; keySet turns
// a JSON array parameter into rows. Arguments: instance, users (JSON),
// cursor, n.
func byUsersQuery(keySet string) string {
	return `SELECT ` + deviceCols + ` FROM beams_device
		WHERE instance_id = ? AND user_id IN (` + keySet + `) AND user_id IS NOT NULL AND id > ?
		ORDER BY id LIMIT ?`
}

// ByInterests pages through the devices subscribed to any of interests.
func (s *Store) ByInterests(ctx context.Context, instance string, interests []string, cursor string, limit int) ([]devices.Device, string, error) {
	after, keys, limit, err := pageArgs(instance, interests, cursor, limit)
	if err != nil {
		return nil, "", err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var list []devices.Device
	for chunk := range slices.Chunk(keys, interestsPerQuery) {
		members := sizeClass(len(chunk))
		stmt, err := s.stmt(ctx, members)
		if err != nil {
			return nil, "", s.wrap("list devices by interest", err)
		}
		args := make([]any, 0, 4*members+1)
		for i := range members {
			args = append(args, instance, chunk[min(i, len(chunk)-1)], after, limit+1)
		}
		args = append(args, limit+1)
		got, err := s.devices(stmt.QueryContext(ctx, args...))
		if err != nil {
			return nil, "", s.wrap("list devices by interest", err)
		}
		if list == nil {
			list = got
			continue
		}
		list = append(list, got...)
		slices.SortFunc(list, func(a, b devices.Device) int { return cmp.Compare(a.ID, b.ID) })
		list = slices.CompactFunc(list, func(a, b devices.Device) bool { return a.ID == b.ID })
		list = list[:min(len(list), limit+1)]
	}
	return pageOf(list, limit)
}

// ByUsers pages through the devices of any of users.
func (s *Store) ByUsers(ctx context.Context, instance string, users []string, cursor string, limit int) ([]devices.Device, string, error) {
	after, keys, limit, err := pageArgs(instance, users, cursor, limit)
	if err != nil || len(keys) == 0 {
		return nil, "", err
	}
	set, err := json.Marshal(keys)
	if err != nil {
		return nil, "", err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	list, err := s.devices(s.db.QueryContext(ctx, s.d.q(byUsersQuery(s.d.keySet)), instance, string(set), after, limit+1))
	if err != nil {
		return nil, "", s.wrap("list devices by user", err)
	}
	return pageOf(list, limit)
}

// pageArgs checks the arguments of a delivery read and returns the cursor
// decoded, the keys sorted without repeats and the page size.
func pageArgs(instance string, keys []string, cursor string, limit int) (string, []string, int, error) {
	if err := key("instance", instance); err != nil {
		return "", nil, 0, err
	}
	after, err := decodeCursor(cursor)
	if err != nil {
		return "", nil, 0, err
	}
	keys = slices.Clone(keys)
	slices.Sort(keys)
	keys = slices.Compact(keys)
	for _, k := range keys {
		if err := key("interest or user", k); err != nil {
			return "", nil, 0, err
		}
	}
	return after, keys, devices.PageSize(limit), nil
}

// pageOf cuts up to limit+1 devices into a page and its next cursor.
func pageOf(list []devices.Device, limit int) ([]devices.Device, string, error) {
	if len(list) <= limit {
		return list, "", nil
	}
	list = list[:limit:limit]
	return list, encodeCursor(list[limit-1].ID), nil
}

// devices reads every device of a query's rows.
func (s *Store) devices(rows *sql.Rows, err error) ([]devices.Device, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var list []devices.Device
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, err
		}
		list = append(list, d)
	}
	return list, rows.Err()
}

// stmt returns the prepared ByInterests statement of members members,
// preparing it on first use. Prepared statements live until Close.
func (s *Store) stmt(ctx context.Context, members int) (*sql.Stmt, error) {
	s.stmtMu.Lock()
	defer s.stmtMu.Unlock()
	if st, ok := s.stmts[members]; ok {
		return st, nil
	}
	if s.stmts == nil {
		return nil, errors.New("store closed")
	}
	st, err := s.db.PrepareContext(ctx, s.d.q(byInterestsQuery(members)))
	if err != nil {
		return nil, err
	}
	s.stmts[members] = st
	return st, nil
}
