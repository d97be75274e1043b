package webhooks

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// Buckets, each keyed by an 8-byte big-endian sequence number that is global
// across them, so iteration order is acceptance order.
var (
	bucketEvents  = []byte("events")  // eventRecord: accepted, waiting for a batch
	bucketBatches = []byte("batches") // batch: exact body, attempts, retry times
	bucketLeaves  = []byte("leaves")  // leaveRecord: delayed vacated/member_removed
)

// op is one pending write of the current group commit; nil val deletes.
type op struct {
	bucket []byte
	key    uint64
	val    []byte
}

func openDB(path string) (*bolt.DB, error) {
	if path == "" {
		return nil, fmt.Errorf("webhooks: Config.Path is required")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("webhooks: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: openTimeout})
	if err != nil {
		return nil, fmt.Errorf("webhooks: open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketEvents, bucketBatches, bucketLeaves} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("webhooks: init %s: %w", path, err)
	}
	return db, nil
}

func key(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// record is what put stores; encoded only when there is a database.
type record interface{ encode() []byte }

// put and del queue writes for the next commit. In cluster mode there is
// no database (the shared queue holds the entries): they do nothing.
func (d *Dispatcher) put(bucket []byte, seq uint64, r record) {
	if d.db == nil {
		return
	}
	d.ops = append(d.ops, op{bucket, seq, r.encode()})
}

func (d *Dispatcher) del(bucket []byte, seq uint64) {
	if d.db == nil {
		return
	}
	d.ops = append(d.ops, op{bucket: bucket, key: seq})
}

// commit writes every queued op in one transaction: the group commit that
// makes the events of this loop iteration accepted, and the batch records
// that must exist before their requests are sent.
func (d *Dispatcher) commit() error {
	if len(d.ops) == 0 {
		if d.db == nil { // cluster mode: only the metrics
			d.countQueued()
		}
		return nil
	}
	err := d.db.Update(func(tx *bolt.Tx) error {
		for _, o := range d.ops {
			b := tx.Bucket(o.bucket)
			var err error
			if o.val == nil {
				err = b.Delete(key(o.key))
			} else {
				err = b.Put(key(o.key), o.val)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	clear(d.ops) // drop references to bodies
	d.ops = d.ops[:0]
	if err != nil {
		d.m.Queue.Set(float64(d.stored))
		return fmt.Errorf("webhooks: commit: %w", err)
	}
	d.countQueued()
	return nil
}

func (d *Dispatcher) countQueued() {
	d.m.Queue.Set(float64(d.stored))
	for app, n := range d.queued {
		d.m.Events.WithLabelValues(app, "queued").Add(float64(n))
	}
	clear(d.queued)
}

// load rebuilds the in-memory state from the database after a restart:
// events wait for a batch (due at once), batches keep their body and retry
// clock, delayed leaves keep their due time. Undecodable records are logged
// and deleted; they cannot be delivered.
func (d *Dispatcher) load() error {
	var bad []op
	err := d.db.View(func(tx *bolt.Tx) error {
		visit := func(bucket []byte, f func(seq uint64, v []byte) error) error {
			return tx.Bucket(bucket).ForEach(func(k, v []byte) error {
				if len(k) != 8 { // not ours; leave it alone
					d.log.Warn("webhooks: ignoring foreign key in database", "bucket", string(bucket))
					return nil
				}
				seq := binary.BigEndian.Uint64(k)
				d.seq = max(d.seq, seq)
				if err := f(seq, v); err != nil {
					d.log.Warn("webhooks: dropping unreadable stored record", "bucket", string(bucket), "seq", seq, "err", err)
					bad = append(bad, op{bucket: bucket, key: seq})
					return nil
				}
				d.stored++
				return nil
			})
		}
		if err := visit(bucketBatches, func(seq uint64, v []byte) error {
			b, err := decodeBatch(seq, v)
			if err == nil {
				ep := d.endpoint(b.ep)
				ep.batches = append(ep.batches, b)
			}
			return err
		}); err != nil {
			return err
		}
		if err := visit(bucketEvents, func(seq uint64, v []byte) error {
			r, err := decodeEvent(v)
			if err == nil {
				// The zero firstAt makes reloaded events due at once.
				d.endpoint(r.ep).pending = append(d.endpoint(r.ep).pending, pendingEvent{seq: seq, timeMS: r.timeMS, json: r.json, alone: jsonSentAlone(r.json)})
			}
			return err
		}); err != nil {
			return err
		}
		return visit(bucketLeaves, func(seq uint64, v []byte) error {
			r, err := decodeLeave(v)
			if err == nil {
				d.leaves.add(seq, r)
			}
			return err
		})
	})
	if err != nil {
		return fmt.Errorf("webhooks: load: %w", err)
	}
	d.ops = append(d.ops, bad...)
	return d.commit()
}
