package sqldevices

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/heraldhq/herald/internal/beams/devices"
)

// Register upserts the device by (instance, platform, token) in one
// statement, then reads a known device's interests in the same transaction.
func (s *Store) Register(ctx context.Context, in devices.Device) (devices.Device, []string, bool, error) {
	if !in.Platform.Valid() {
		return devices.Device{}, nil, false, invalid("unknown platform " + string(in.Platform))
	}
	if err := key("instance", in.Instance); err != nil {
		return devices.Device{}, nil, false, err
	}
	if err := key("token", in.Token); err != nil {
		return devices.Device{}, nil, false, err
	}
	if !text(in.Endpoint) || !text(in.P256dh) || !text(in.Auth) || !text(in.BundleID) {
		return devices.Device{}, nil, false, invalid("endpoint, keys or bundle id not UTF-8 text")
	}
	md, err := metadata(in.Metadata)
	if err != nil {
		return devices.Device{}, nil, false, err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	id := devices.NewID(in.Platform)
	now := time.Now().UnixMicro()
	var (
		dev       devices.Device
		interests []string
	)
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		row := tx.QueryRowContext(ctx, s.d.q(`INSERT INTO beams_device (`+deviceCols+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?)
			ON CONFLICT (instance_id, platform, token) DO UPDATE SET
				endpoint = excluded.endpoint, p256dh = excluded.p256dh, auth = excluded.auth,
				bundle_id = excluded.bundle_id, metadata = excluded.metadata,
				last_seen_at = excluded.last_seen_at
			RETURNING `+deviceCols),
			id, in.Instance, string(in.Platform), in.Token, in.Endpoint, in.P256dh, in.Auth, in.BundleID, md, now, now)
		var err error
		if dev, err = scanDevice(row); err != nil || dev.ID == id {
			return err
		}
		rows, err := tx.QueryContext(ctx, s.d.q(`SELECT interest FROM beams_device_interest WHERE device_id = ? ORDER BY interest`), dev.ID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var i string
			if err := rows.Scan(&i); err != nil {
				return err
			}
			interests = append(interests, i)
		}
		return rows.Err()
	})
	if err != nil {
		return devices.Device{}, nil, false, s.wrap("register device", err)
	}
	if interests == nil {
		interests = []string{}
	}
	return dev, interests, dev.ID == id, nil
}

// Get reads one device.
func (s *Store) Get(ctx context.Context, instance, id string) (devices.Device, error) {
	if err := target(instance, id); err != nil {
		return devices.Device{}, err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	d, err := scanDevice(s.db.QueryRowContext(ctx, s.d.q(`SELECT `+deviceCols+` FROM beams_device WHERE id = ? AND instance_id = ?`), id, instance))
	if errors.Is(err, sql.ErrNoRows) {
		return devices.Device{}, notFound(id)
	}
	if err != nil {
		return devices.Device{}, s.wrap("get device", err)
	}
	return d, nil
}

// Delete removes the device; its interests go with it (ON DELETE CASCADE).
func (s *Store) Delete(ctx context.Context, instance, id string) error {
	if err := target(instance, id); err != nil {
		return err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	res, err := s.w.ExecContext(ctx, s.d.q(`DELETE FROM beams_device WHERE id = ? AND instance_id = ?`), id, instance)
	if err != nil {
		return s.wrap("delete device", err)
	}
	return s.wrap("delete device", affected(res, id))
}

// DeleteIfToken removes the device while it still has token, in one
// statement, so a token change committed before it keeps the device and
// one committed after it finds no device; its interests go with it (ON
// DELETE CASCADE).
func (s *Store) DeleteIfToken(ctx context.Context, instance, id, token string) (bool, error) {
	if err := key("instance", instance); err != nil {
		return false, err
	}
	if err := key("token", token); err != nil {
		return false, err
	}
	if !text(id) {
		return false, nil // no device has such an id
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	res, err := s.w.ExecContext(ctx, s.d.q(`DELETE FROM beams_device WHERE id = ? AND instance_id = ? AND token = ?`), id, instance, token)
	if err != nil {
		return false, s.wrap("delete device if token", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, s.wrap("delete device if token", err)
	}
	return n > 0, nil
}

// SetMetadata replaces the device's metadata.
func (s *Store) SetMetadata(ctx context.Context, instance, id string, md json.RawMessage) error {
	if err := target(instance, id); err != nil {
		return err
	}
	v, err := metadata(md)
	if err != nil {
		return err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	res, err := s.w.ExecContext(ctx, s.d.q(`UPDATE beams_device SET metadata = ? WHERE id = ? AND instance_id = ?`), v, id, instance)
	if err != nil {
		return s.wrap("set device metadata", err)
	}
	return s.wrap("set device metadata", affected(res, id))
}

// SetToken moves the device to a new token, deleting the device of the
// same instance and platform that had it, in one transaction.
func (s *Store) SetToken(ctx context.Context, instance, id, token string) error {
	if err := target(instance, id); err != nil {
		return err
	}
	if err := key("token", token); err != nil {
		return err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		p, _, err := s.lockDevice(ctx, tx, instance, id)
		if err != nil {
			return err
		}
		if p == devices.Web {
			return invalid("a web device's token holds its endpoint and keys: register it anew")
		}
		if _, err := tx.ExecContext(ctx, s.d.q(`DELETE FROM beams_device WHERE instance_id = ? AND platform = ? AND token = ? AND id <> ?`),
			instance, string(p), token, id); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, s.d.q(`UPDATE beams_device SET token = ?, last_seen_at = ? WHERE id = ?`),
			token, time.Now().UnixMicro(), id)
		return err
	})
	return s.wrap("set device token", err)
}

// affected turns an update or delete of one device that matched no row
// into ErrNotFound.
func affected(res sql.Result, id string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return notFound(id)
	}
	return nil
}
