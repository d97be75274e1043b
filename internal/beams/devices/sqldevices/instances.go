package sqldevices

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/heraldhq/herald/internal/beams/instance/stored"
	"github.com/heraldhq/herald/internal/sqldsn"
)

// The Beams instances managed with `herald beams` and the admin API live
// in beams_instance, one row per instance: the record as JSON in data
// (keys included: every node needs them), a version that grows with every
// change, and the times. Each method is one statement or one transaction;
// nothing is cached here (stored.Registry caches the built instances).

var _ stored.Source = (*Store)(nil)

// instanceDeleteTimeout bounds DeleteInstance when it exceeds the query
// timeout: an instance's devices are deleted in the same transaction, and
// an instance may have very many.
const instanceDeleteTimeout = 2 * time.Minute

// instanceData is the JSON of the data column. Field names are part of the
// stored format: add, never rename.
type instanceData struct {
	SecretKey    string            `json:"secret_key"`
	PreviousKeys []previousKeyData `json:"previous_keys,omitempty"`
	VAPIDSubject string            `json:"vapid_subject,omitempty"`
	FCM          *fcmData          `json:"fcm,omitempty"`
	APNs         *apnsData         `json:"apns,omitempty"`
}

type previousKeyData struct {
	Key   string    `json:"key"`
	Until time.Time `json:"until"`
}

type fcmData struct {
	ServiceAccount string `json:"service_account"`
}

type apnsData struct {
	Key        string `json:"key"`
	KeyID      string `json:"key_id"`
	TeamID     string `json:"team_id"`
	Topic      string `json:"topic"`
	Production bool   `json:"production"`
}

func encodeInstance(r *stored.Record) (string, error) {
	d := instanceData{SecretKey: r.SecretKey, VAPIDSubject: r.VAPIDSubject}
	for _, p := range r.PreviousKeys {
		d.PreviousKeys = append(d.PreviousKeys, previousKeyData{Key: p.Key, Until: p.Until.UTC()})
	}
	if f := r.FCM; f != nil {
		d.FCM = &fcmData{ServiceAccount: f.ServiceAccount}
	}
	if a := r.APNs; a != nil {
		d.APNs = &apnsData{Key: a.Key, KeyID: a.KeyID, TeamID: a.TeamID, Topic: a.Topic, Production: a.Production}
	}
	b, err := json.Marshal(d)
	return string(b), err
}

// instanceCols are the columns scanInstance reads, in its order.
const instanceCols = `id, data, version, created_at, updated_at`

func scanInstance(sc scanner) (*stored.Record, error) {
	var (
		r                stored.Record
		data             string
		created, updated int64
	)
	if err := sc.Scan(&r.ID, &data, &r.Version, &created, &updated); err != nil {
		return nil, err
	}
	var d instanceData
	if err := json.Unmarshal([]byte(data), &d); err != nil {
		// The message names the row, never the data: it holds keys.
		return nil, fmt.Errorf("beams instance %s: stored data is not readable JSON", r.ID)
	}
	r.SecretKey, r.VAPIDSubject = d.SecretKey, d.VAPIDSubject
	for _, p := range d.PreviousKeys {
		r.PreviousKeys = append(r.PreviousKeys, stored.PreviousKey{Key: p.Key, Until: p.Until.UTC()})
	}
	if f := d.FCM; f != nil {
		r.FCM = &stored.FCM{ServiceAccount: f.ServiceAccount}
	}
	if a := d.APNs; a != nil {
		r.APNs = &stored.APNs{Key: a.Key, KeyID: a.KeyID, TeamID: a.TeamID, Topic: a.Topic, Production: a.Production}
	}
	r.CreatedAt, r.UpdatedAt = time.UnixMicro(created).UTC(), time.UnixMicro(updated).UTC()
	return &r, nil
}

// CreateInstance stores a new instance (rec validated first; its Version
// and times are set here) and returns it as stored. An id already stored
// is an error matching stored.ErrConflict; a store holding
// stored.MaxInstances already, stored.ErrInvalid. Devices, interests and
// keys left under this id (registered by a node that had not yet seen an
// earlier deletion of it) are deleted in the same transaction: a new
// instance starts empty.
func (s *Store) CreateInstance(ctx context.Context, rec stored.Record) (*stored.Record, error) {
	if err := rec.Validate(); err != nil {
		return nil, err
	}
	data, err := encodeInstance(&rec)
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	ctx, cancel := s.bound(ctx)
	defer cancel()
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM beams_instance`).Scan(&n); err != nil {
			return err
		}
		if n >= stored.MaxInstances {
			return fmt.Errorf("%w: the store holds %d beams instances, the most it keeps", stored.ErrInvalid, n)
		}
		res, err := tx.ExecContext(ctx, s.d.q(`INSERT INTO beams_instance (`+instanceCols+`) VALUES (?, ?, 1, ?, ?)
			ON CONFLICT (id) DO NOTHING`), rec.ID, data, now.UnixMicro(), now.UnixMicro())
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("%w: beams instance %s already exists", stored.ErrConflict, rec.ID)
		}
		return deleteInstanceData(ctx, tx, s.d, rec.ID)
	})
	if err != nil {
		return nil, s.instanceErr("create beams instance", err)
	}
	out := rec.Clone()
	out.Version, out.CreatedAt, out.UpdatedAt = 1, now, now
	return out, nil
}

// GetInstance returns the stored instance id, or an error matching
// stored.ErrNotFound.
func (s *Store) GetInstance(ctx context.Context, id string) (*stored.Record, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if !text(id) {
		return nil, instanceNotFound(id)
	}
	r, err := scanInstance(s.db.QueryRowContext(ctx, s.d.q(`SELECT `+instanceCols+` FROM beams_instance WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, instanceNotFound(id)
	}
	if err != nil {
		return nil, s.instanceErr("read beams instance", err)
	}
	return r, nil
}

// ListInstances returns every stored instance (at most
// stored.MaxInstances), ordered by id.
func (s *Store) ListInstances(ctx context.Context) ([]*stored.Record, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.db.QueryContext(ctx, s.d.q(`SELECT `+instanceCols+` FROM beams_instance ORDER BY id LIMIT ?`), stored.MaxInstances)
	if err != nil {
		return nil, s.instanceErr("list beams instances", err)
	}
	defer rows.Close()
	var out []*stored.Record
	for rows.Next() {
		r, err := scanInstance(rows)
		if err != nil {
			return nil, s.instanceErr("list beams instances", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, s.instanceErr("list beams instances", err)
	}
	return out, nil
}

// UpdateInstance replaces the stored instance rec.ID with rec (validated
// first) and returns it as stored, its Version one more. rec.Version must
// be the stored version (the one read before changing it): otherwise the
// record changed meanwhile and the error matches stored.ErrConflict.
func (s *Store) UpdateInstance(ctx context.Context, rec stored.Record) (*stored.Record, error) {
	if err := rec.Validate(); err != nil {
		return nil, err
	}
	return s.modifyInstance(ctx, "update beams instance", rec.ID, func(cur *stored.Record) (*stored.Record, error) {
		if cur.Version != rec.Version {
			return nil, fmt.Errorf("%w: beams instance %s changed since it was read (version %d, now %d)",
				stored.ErrConflict, rec.ID, rec.Version, cur.Version)
		}
		return rec.Clone(), nil
	})
}

// RotateInstanceKey gives the instance id a new random secret key (32
// bytes, hexadecimal) and returns the stored result: the old key stays
// accepted until now+grace (0: not at all), expired previous keys are
// pruned (stored.Rotate). A grace outside 0..stored.MaxRotationGrace
// matches stored.ErrInvalid.
func (s *Store) RotateInstanceKey(ctx context.Context, id string, grace time.Duration, now time.Time) (*stored.Record, error) {
	if err := stored.CheckGrace(grace); err != nil {
		return nil, err
	}
	key, err := stored.NewSecretKey()
	if err != nil {
		return nil, err
	}
	return s.modifyInstance(ctx, "rotate beams instance key", id, func(cur *stored.Record) (*stored.Record, error) {
		return stored.Rotate(cur, grace, now, key)
	})
}

// modifyInstance reads the instance id (locking its row in PostgreSQL;
// SQLite's write transaction already excludes other writers), lets change
// compute the next record and stores it as the next version.
func (s *Store) modifyInstance(ctx context.Context, op, id string, change func(cur *stored.Record) (*stored.Record, error)) (*stored.Record, error) {
	if !text(id) {
		return nil, instanceNotFound(id)
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var out *stored.Record
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		cur, err := scanInstance(tx.QueryRowContext(ctx, s.d.q(`SELECT `+instanceCols+` FROM beams_instance WHERE id = ?`+s.d.forUpdate), id))
		if errors.Is(err, sql.ErrNoRows) {
			return instanceNotFound(id)
		}
		if err != nil {
			return err
		}
		next, err := change(cur)
		if err != nil {
			return err
		}
		data, err := encodeInstance(next)
		if err != nil {
			return err
		}
		// Never earlier than the last change, whatever the clocks of the
		// nodes writing.
		now := time.Now().UTC().Truncate(time.Microsecond)
		if !now.After(cur.UpdatedAt) {
			now = cur.UpdatedAt.Add(time.Microsecond)
		}
		if _, err := tx.ExecContext(ctx, s.d.q(`UPDATE beams_instance SET data = ?, version = ?, updated_at = ? WHERE id = ?`),
			data, cur.Version+1, now.UnixMicro(), id); err != nil {
			return err
		}
		out = next.Clone()
		out.ID, out.Version, out.CreatedAt, out.UpdatedAt = cur.ID, cur.Version+1, cur.CreatedAt, now
		return nil
	})
	if err != nil {
		return nil, s.instanceErr(op, err)
	}
	return out, nil
}

// DeleteInstance deletes the instance id with its devices, their interests
// and its keys (the VAPID key), in one transaction: nothing of it remains,
// and an instance created again with this id starts empty. No such
// instance matches stored.ErrNotFound (and nothing is deleted).
func (s *Store) DeleteInstance(ctx context.Context, id string) error {
	if !text(id) {
		return instanceNotFound(id)
	}
	ctx, cancel := context.WithTimeout(ctx, max(s.timeout, instanceDeleteTimeout))
	defer cancel()
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.d.q(`DELETE FROM beams_instance WHERE id = ?`), id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return instanceNotFound(id)
		}
		return deleteInstanceData(ctx, tx, s.d, id)
	})
	return s.instanceErr("delete beams instance", err)
}

// deleteInstanceData deletes the devices, interests and keys of instance
// id. Interests go first, by their instance index, rather than one cascade
// per device.
func deleteInstanceData(ctx context.Context, tx *sql.Tx, d *dialect, id string) error {
	for _, stmt := range []string{
		`DELETE FROM beams_device_interest WHERE instance_id = ?`,
		`DELETE FROM beams_device WHERE instance_id = ?`,
		`DELETE FROM beams_instance_key WHERE instance_id = ?`,
	} {
		if _, err := tx.ExecContext(ctx, d.q(stmt), id); err != nil {
			return err
		}
	}
	return nil
}

func instanceNotFound(id string) error {
	return fmt.Errorf("%w: %q", stored.ErrNotFound, clipID(id))
}

// clipID keeps an id quoted in an error short.
func clipID(id string) string {
	if len(id) > 64 {
		return id[:64] + "…"
	}
	return id
}

// instanceErr returns the stored package's errors as they are and wraps
// database errors with the operation and the DSN, password scrubbed.
func (s *Store) instanceErr(op string, err error) error {
	if err == nil || errors.Is(err, stored.ErrNotFound) || errors.Is(err, stored.ErrConflict) || errors.Is(err, stored.ErrInvalid) {
		return err
	}
	return fmt.Errorf("beams devices %s: %s: %w", s.d.shown, op, sqldsn.Scrub(err, s.dsn))
}
