package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/heraldhq/herald/internal/apps"
)

// Create stores a new app (validated with apps.Validate; ErrConflict when
// its id or key is taken) and caches it at once.
func (s *Store) Create(ctx context.Context, a *apps.App) error {
	next, data, err := prepare(a)
	if err != nil {
		return err
	}
	return s.write(ctx, "create app "+next.ID, next.ID, next, func(tx *sql.Tx) error {
		if err := s.checkTaken(ctx, tx, next, true); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.d.q(`INSERT INTO apps (id, app_key, secret, data) VALUES (?, ?, ?, ?)`),
			next.ID, next.Key, next.Secret, data)
		return err
	})
}

// Update replaces the app with a.ID (ErrNotFound if none; ErrConflict when
// the new key belongs to another app) and caches it at once.
func (s *Store) Update(ctx context.Context, a *apps.App) error {
	next, data, err := prepare(a)
	if err != nil {
		return err
	}
	return s.write(ctx, "update app "+next.ID, next.ID, next, func(tx *sql.Tx) error {
		if err := s.checkTaken(ctx, tx, next, false); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, s.d.q(`UPDATE apps SET app_key = ?, secret = ?, data = ? WHERE id = ?`),
			next.Key, next.Secret, data, next.ID)
		if err != nil {
			return err
		}
		return mustAffect(res, next.ID)
	})
}

// Delete removes the app with id (ErrNotFound if none) from the database
// and the cache.
func (s *Store) Delete(ctx context.Context, id string) error {
	return s.write(ctx, "delete app "+id, id, nil, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.d.q(`DELETE FROM apps WHERE id = ?`), id)
		if err != nil {
			return err
		}
		return mustAffect(res, id)
	})
}

// prepare validates a and returns the copy the cache will hold (sharing
// nothing with a) and its data column.
func prepare(a *apps.App) (*apps.App, string, error) {
	if err := apps.Validate(a); err != nil {
		return nil, "", err
	}
	next := a.Clone()
	data, err := encode(next)
	if err != nil {
		return nil, "", err
	}
	return next, data, nil
}

func mustAffect(res sql.Result, id string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%w: %q", apps.ErrNotFound, id)
	}
	return nil
}

// checkTaken names which of a's id or key another row already holds. The
// version bump before it serialises writers, so the answer holds until
// commit; a unique violation is still mapped to ErrConflict as a backstop.
func (s *Store) checkTaken(ctx context.Context, tx *sql.Tx, a *apps.App, create bool) error {
	rows, err := tx.QueryContext(ctx, s.d.q(`SELECT id, app_key FROM apps WHERE id = ? OR app_key = ?`), a.ID, a.Key)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id, key string
		if err := rows.Scan(&id, &key); err != nil {
			return err
		}
		switch {
		case create && id == a.ID:
			return fmt.Errorf("%w: app id %q already exists", apps.ErrConflict, a.ID)
		case id != a.ID && key == a.Key:
			return fmt.Errorf("%w: app key %q belongs to app %q", apps.ErrConflict, a.Key, id)
		}
	}
	return rows.Err()
}

// write runs fn in a transaction that also bumps apps_version, then puts
// next (nil: deleted) into the cache as the app id.
func (s *Store) write(ctx context.Context, op, id string, next *apps.App, fn func(*sql.Tx) error) error {
	ctx, cancel := context.WithTimeout(ctx, s.opts.QueryTimeout)
	defer cancel()
	s.writeMu.Lock()
	v, err := s.commit(ctx, fn)
	if err == nil {
		s.applyLocal(v, id, next)
	}
	s.writeMu.Unlock()
	if err != nil {
		if s.d.unique(err) {
			return fmt.Errorf("%w: app id %q or its key", apps.ErrConflict, id)
		}
		return s.wrap(op, err)
	}
	// Outside writeMu: OnChange may write through this Store.
	s.deliver()
	return nil
}

func (s *Store) commit(ctx context.Context, fn func(*sql.Tx) error) (int64, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	var v int64
	// First statement: takes the write lock (SQLite) or the counter's row
	// lock (PostgreSQL), serialising writers across nodes.
	if err := tx.QueryRowContext(ctx, `UPDATE apps_version SET version = version + 1 WHERE id = 1 RETURNING version`).Scan(&v); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return 0, errors.New("apps_version row missing")
		}
		return 0, err
	}
	if err := fn(tx); err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	return v, nil
}
