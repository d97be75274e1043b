package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/heraldhq/herald/internal/apps"
	"github.com/heraldhq/herald/internal/sqldsn"
)

// pollLoop is the Store's one goroutine: owned by the Store, stopped by
// Close (stop, then cancel of s.ctx), waited for through done.
func (s *Store) pollLoop() {
	defer close(s.done)
	t := time.NewTicker(s.opts.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.poll()
		}
	}
}

// poll reads the change counter and reloads every app when it moved. The
// common case is one single-row query.
func (s *Store) poll() {
	ctx, cancel := context.WithTimeout(s.ctx, s.opts.QueryTimeout)
	defer cancel()
	var v int64
	err := s.db.QueryRowContext(ctx, `SELECT version FROM apps_version WHERE id = 1`).Scan(&v)
	if err == nil {
		s.mu.RLock()
		current := v == s.complete
		s.mu.RUnlock()
		if !current {
			var list []*apps.App
			if v, list, err = s.load(ctx); err == nil {
				s.applySnapshot(v, list)
			}
		}
	}
	if s.ctx.Err() != nil {
		return // closing: not a health problem
	}
	s.setHealth(err)
}

// load reads the version and every app in one consistent snapshot.
func (s *Store) load(ctx context.Context) (int64, []*apps.App, error) {
	opts := s.d.snapshot
	tx, err := s.db.BeginTx(ctx, &opts)
	if err != nil {
		return 0, nil, err
	}
	defer tx.Rollback()
	var v int64
	if err := tx.QueryRowContext(ctx, `SELECT version FROM apps_version WHERE id = 1`).Scan(&v); err != nil {
		return 0, nil, fmt.Errorf("read apps_version: %w", err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT id, app_key, secret, data FROM apps`)
	if err != nil {
		return 0, nil, err
	}
	defer rows.Close()
	var list []*apps.App
	for rows.Next() {
		var id, key, secret string
		var data []byte
		if err := rows.Scan(&id, &key, &secret, &data); err != nil {
			return 0, nil, err
		}
		a, err := decode(id, key, secret, data)
		if err != nil {
			return 0, nil, err
		}
		list = append(list, a)
	}
	if err := rows.Err(); err != nil {
		return 0, nil, err
	}
	return v, list, nil
}

func (s *Store) setHealth(err error) {
	if err != nil {
		err = fmt.Errorf("apps store %s: poll failed, serving cached apps: %w", s.d.shown, sqldsn.Scrub(err, s.dsn))
	}
	s.mu.Lock()
	was := s.health
	s.health = err
	n := len(s.byID)
	s.mu.Unlock()
	switch {
	case err != nil && was == nil:
		s.log.Warn("apps store poll failed; serving cached apps", "dsn", s.d.shown, "cached_apps", n, "err", err)
	case err == nil && was != nil:
		s.log.Info("apps store reachable again", "dsn", s.d.shown)
	}
}
