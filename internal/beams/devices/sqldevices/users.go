package sqldevices

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/heraldhq/herald/internal/beams/devices"
)

// SetUser associates the device with user in one transaction: the device
// row locked, the user's devices counted under the user's lock (PostgreSQL)
// or the write lock (SQLite), so concurrent associations respect the cap.
func (s *Store) SetUser(ctx context.Context, instance, id, user string, maxPerUser int) error {
	if err := target(instance, id); err != nil {
		return err
	}
	if err := key("user", user); err != nil {
		return err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		_, current, err := s.lockDevice(ctx, tx, instance, id)
		switch {
		case err != nil:
			return err
		case current == user:
			return nil
		case current != "":
			return fmt.Errorf("%w: device %q", devices.ErrOtherUser, id)
		}
		if maxPerUser > 0 {
			if s.d.lockUser != "" {
				// A newline cannot be told apart from one inside an id;
				// a collision only serialises two users.
				if _, err := tx.ExecContext(ctx, s.d.q(s.d.lockUser), instance+"\n"+user); err != nil {
					return err
				}
			}
			var n int
			if err := tx.QueryRowContext(ctx, s.d.q(`SELECT COUNT(*) FROM beams_device WHERE instance_id = ? AND user_id = ?`),
				instance, user).Scan(&n); err != nil {
				return err
			}
			if n >= maxPerUser {
				return fmt.Errorf("%w: %d devices is the most", devices.ErrUserFull, maxPerUser)
			}
		}
		_, err = tx.ExecContext(ctx, s.d.q(`UPDATE beams_device SET user_id = ? WHERE id = ?`), user, id)
		return err
	})
	return s.wrap("set device user", err)
}

// DeleteUser deletes the user's devices (and so their interests) in one
// statement.
func (s *Store) DeleteUser(ctx context.Context, instance, user string) (int, error) {
	if err := key("instance", instance); err != nil {
		return 0, err
	}
	if err := key("user", user); err != nil {
		return 0, err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	res, err := s.w.ExecContext(ctx, s.d.q(`DELETE FROM beams_device WHERE instance_id = ? AND user_id = ?`), instance, user)
	if err != nil {
		return 0, s.wrap("delete user", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, s.wrap("delete user", err)
	}
	return int(n), nil
}
