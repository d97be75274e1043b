package sqldevices

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/heraldhq/herald/internal/beams/devices"
)

// insertBatch is how many interest rows one INSERT of SetInterests carries
// (three parameters each, far below either database's limit).
const insertBatch = 300

// AddInterest inserts the interest, then counts the device's interests and
// rolls back over the cap; the device row lock (PostgreSQL) or the write
// lock (SQLite) keeps concurrent additions from both passing it.
func (s *Store) AddInterest(ctx context.Context, instance, id, interest string) error {
	if err := target(instance, id); err != nil {
		return err
	}
	if err := key("interest", interest); err != nil {
		return err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, _, err := s.lockDevice(ctx, tx, instance, id); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, s.d.q(`INSERT INTO beams_device_interest (device_id, instance_id, interest)
			VALUES (?, ?, ?) ON CONFLICT (device_id, interest) DO NOTHING`), id, instance, interest)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err // already there: idempotent, even at the cap
		}
		var count int
		if err := tx.QueryRowContext(ctx, s.d.q(`SELECT COUNT(*) FROM beams_device_interest WHERE device_id = ?`), id).Scan(&count); err != nil {
			return err
		}
		if count > devices.MaxInterests {
			return fmt.Errorf("%w: %d is the most", devices.ErrTooManyInterests, devices.MaxInterests)
		}
		return nil
	})
	return s.wrap("add device interest", err)
}

// RemoveInterest deletes the interest; only when nothing was deleted does
// it look whether the device exists.
func (s *Store) RemoveInterest(ctx context.Context, instance, id, interest string) error {
	if err := target(instance, id); err != nil {
		return err
	}
	if err := key("interest", interest); err != nil {
		return err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	res, err := s.w.ExecContext(ctx, s.d.q(`DELETE FROM beams_device_interest WHERE device_id = ? AND interest = ? AND instance_id = ?`),
		id, interest, instance)
	if err != nil {
		return s.wrap("remove device interest", err)
	}
	if n, err := res.RowsAffected(); err != nil || n > 0 {
		return s.wrap("remove device interest", err)
	}
	return s.wrap("remove device interest", s.exists(ctx, instance, id))
}

// SetInterests deletes the device's interests and inserts the new set, in
// one transaction.
func (s *Store) SetInterests(ctx context.Context, instance, id string, interests []string) error {
	if err := target(instance, id); err != nil {
		return err
	}
	set := slices.Clone(interests)
	slices.Sort(set)
	set = slices.Compact(set)
	for _, i := range set {
		if err := key("interest", i); err != nil {
			return err
		}
	}
	if len(set) > devices.MaxInterests {
		return fmt.Errorf("%w: %d is the most, got %d", devices.ErrTooManyInterests, devices.MaxInterests, len(set))
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, _, err := s.lockDevice(ctx, tx, instance, id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.d.q(`DELETE FROM beams_device_interest WHERE device_id = ?`), id); err != nil {
			return err
		}
		for batch := range slices.Chunk(set, insertBatch) {
			var q strings.Builder
			q.WriteString(`INSERT INTO beams_device_interest (device_id, instance_id, interest) VALUES `)
			args := make([]any, 0, 3*len(batch))
			for n, i := range batch {
				if n > 0 {
					q.WriteString(", ")
				}
				q.WriteString("(?, ?, ?)")
				args = append(args, id, instance, i)
			}
			if _, err := tx.ExecContext(ctx, s.d.q(q.String()), args...); err != nil {
				return err
			}
		}
		return nil
	})
	return s.wrap("set device interests", err)
}

// Interests reads one page of the device's interests in one statement: the
// device row joined with its interests after the cursor, so no row means no
// device and one NULL interest an empty page.
func (s *Store) Interests(ctx context.Context, instance, id, cursor string, limit int) ([]string, string, error) {
	if err := target(instance, id); err != nil {
		return nil, "", err
	}
	after, err := decodeCursor(cursor)
	if err != nil {
		return nil, "", err
	}
	limit = devices.PageSize(limit)
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.db.QueryContext(ctx, s.d.q(`SELECT i.interest FROM beams_device d
		LEFT JOIN beams_device_interest i ON i.device_id = d.id AND i.interest > ?
		WHERE d.id = ? AND d.instance_id = ?
		ORDER BY i.interest LIMIT ?`), after, id, instance, limit+1)
	if err != nil {
		return nil, "", s.wrap("list device interests", err)
	}
	defer rows.Close()
	found := false
	list := []string{}
	for rows.Next() {
		found = true
		var i sql.NullString
		if err := rows.Scan(&i); err != nil {
			return nil, "", s.wrap("list device interests", err)
		}
		if i.Valid {
			list = append(list, i.String)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, "", s.wrap("list device interests", err)
	}
	if !found {
		return nil, "", notFound(id)
	}
	if len(list) <= limit {
		return list, "", nil
	}
	list = list[:limit]
	return list, encodeCursor(list[limit-1]), nil
}
