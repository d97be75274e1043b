package sqldevices

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// InstanceKey returns the instance's stored key of this kind (e.g.
// "vapid"), storing generate's result first when there is none. Nodes
// sharing the database that start at once agree: the first insert wins and
// every caller reads the winner back.
func (s *Store) InstanceKey(ctx context.Context, instance, kind string, generate func() (string, error)) (string, error) {
	if instance == "" || kind == "" {
		return "", invalid("empty instance or key kind")
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	read := func() (string, error) {
		var secret string
		err := s.db.QueryRowContext(ctx, s.d.q(`SELECT secret FROM beams_instance_key WHERE instance_id = ? AND kind = ?`),
			instance, kind).Scan(&secret)
		return secret, err
	}
	secret, err := read()
	if err == nil {
		return secret, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return "", s.wrap("read instance key", err)
	}
	fresh, err := generate()
	if err != nil {
		return "", fmt.Errorf("generate %s key for instance %s: %w", kind, instance, err)
	}
	if _, err := s.w.ExecContext(ctx, s.d.q(`INSERT INTO beams_instance_key (instance_id, kind, secret, created_at)
		VALUES (?, ?, ?, ?) ON CONFLICT (instance_id, kind) DO NOTHING`),
		instance, kind, fresh, time.Now().UnixMicro()); err != nil {
		return "", s.wrap("store instance key", err)
	}
	if secret, err = read(); err != nil {
		return "", s.wrap("read instance key", err)
	}
	return secret, nil
}
