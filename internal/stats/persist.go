package stats

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"math/bits"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// The history file. Top-level buckets:
//
//	meta  "version" -> 1
//	apps  app id -> uvarint(unix seconds of the app's latest activity)
//	10s, 1m, 1h  one record per chunk of points of one app:
//	      key = 8-byte big-endian chunk number (slot / chunk length) + app id
//	      ("" for the server-wide history), value = encodeChunk
//
// A chunk is six 10-second points (a minute), sixty minute points (an hour)
// or 24 hour points (a day). Keys sort by time first, so each save
// rewrites a contiguous run of records (the chunks that changed since the
// previous save, the same few for every app) and drops the chunks that left
// their ring from the start of each bucket: few pages written per save.
var (
	bucketMeta = []byte("meta")
	bucketApps = []byte("apps")
	bucketRes  = [numRes][]byte{Res10s: []byte("10s"), Res1m: []byte("1m"), Res1h: []byte("1h")}
	keyVersion = []byte("version")
)

const (
	fileVersion = 1
	openTimeout = 2 * time.Second // a file locked by another process fails instead of hanging
)

// errDamaged marks a history file that cannot be read.
var errDamaged = errors.New("stats: damaged history file")

// openFile opens (or creates) cfg.Path and loads it. A damaged file is moved
// aside and replaced by an empty one.
func (s *Store) openFile() error {
	path := s.cfg.Path
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("stats: %w", err)
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		s.log.Info("no dashboard history yet: starting empty", "path", path)
	}
	db, err := s.openAndLoad(path)
	if errors.Is(err, errDamaged) {
		aside := path + ".damaged"
		s.log.Warn("dashboard history unreadable: moved aside, starting empty", "path", path, "moved_to", aside, "err", err)
		if rerr := os.Rename(path, aside); rerr != nil {
			return fmt.Errorf("stats: move damaged %s aside: %w", path, rerr)
		}
		s.server, s.apps = newAppData(), map[string]*appData{}
		db, err = s.openAndLoad(path)
	}
	if err != nil {
		return err
	}
	s.db = db
	return nil
}

func (s *Store) openAndLoad(path string) (*bolt.DB, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: openTimeout})
	if err != nil {
		if errors.Is(err, berrors.ErrInvalid) || errors.Is(err, berrors.ErrChecksum) ||
			errors.Is(err, berrors.ErrVersionMismatch) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: %w", errDamaged, err)
		}
		return nil, fmt.Errorf("stats: open %s: %w", path, err)
	}
	if err := s.load(db); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// load reads the history into s (any points that left their ring are
// skipped) and creates the buckets. A file bbolt cannot walk is damaged;
// a record that cannot be decoded is skipped and logged.
func (s *Store) load(db *bolt.DB) (err error) {
	defer func() {
		// bbolt panics on some corrupt pages rather than returning an error.
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", errDamaged, r)
		}
	}()
	now := s.now()
	bad := 0
	err = db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		if v := meta.Get(keyVersion); v != nil && !bytes.Equal(v, []byte{fileVersion}) {
			return fmt.Errorf("%w: version %v", errDamaged, v)
		}
		if err := meta.Put(keyVersion, []byte{fileVersion}); err != nil {
			return err
		}
		ab, err := tx.CreateBucketIfNotExists(bucketApps)
		if err != nil {
			return err
		}
		if err := ab.ForEach(func(k, v []byte) error {
			a := newAppData()
			if t, n := binary.Uvarint(v); n > 0 {
				a.active = int64(t)
			}
			s.apps[string(k)] = a
			return nil
		}); err != nil {
			return err
		}
		for res := range numRes {
			b, err := tx.CreateBucketIfNotExists(bucketRes[res])
			if err != nil {
				return err
			}
			first, last := window(res, now)
			c := b.Cursor()
			// Chunks that left the ring come first: skip them.
			for k, v := c.Seek(binary.BigEndian.AppendUint64(nil, uint64(max(0, floorDiv(first, int64(resolutions[res].chunk)))))); k != nil; k, v = c.Next() {
				if len(k) < 8 || v == nil {
					continue // not ours
				}
				a := s.server
				if id := k[8:]; len(id) > 0 {
					if a = s.apps[string(id)]; a == nil {
						continue // an app that was dropped
					}
				}
				if decodeChunk(&a.rings[res], res, binary.BigEndian.Uint64(k), v, first, last) != nil {
					bad++
				}
			}
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, errDamaged) {
			return err
		}
		return fmt.Errorf("%w: %w", errDamaged, err)
	}
	if bad > 0 {
		s.log.Warn("skipped unreadable records of the dashboard history", "records", bad)
	}
	for _, a := range append(slices.Collect(maps.Values(s.apps)), s.server) {
		for res := range numRes {
			a.saved[res], a.stored[res] = a.rings[res].head, a.rings[res].has
		}
	}
	// A smaller MaxApps than before: keep the most recently active.
	if len(s.apps) > s.cfg.MaxApps {
		ids := slices.SortedFunc(maps.Keys(s.apps), func(a, b string) int {
			if c := s.apps[b].active - s.apps[a].active; c != 0 {
				return int(c)
			}
			return strings.Compare(a, b)
		})
		for _, id := range ids[s.cfg.MaxApps:] {
			s.dropLocked(id)
			s.m.AppsEvicted.Inc()
		}
	}
	s.pruneLocked(now.Unix())
	return nil
}

// appWrite is what a save writes for one app ("" is the server).
type appWrite struct {
	id     string
	a      *appData
	active int64
	keys   [numRes][][]byte // the chunks to put, per resolution
	vals   [numRes][][]byte
	heads  [numRes]int64 // ring heads as encoded: a.saved once committed
	has    [numRes]bool
}

// save writes, in one transaction, what changed since the previous save:
// the chunks holding points at or after each ring's last saved head (the
// newest of them was still filling), and deletes the records of dropped
// apps and the chunks that left their ring.
func (s *Store) save() error {
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	if s.db == nil {
		return nil
	}
	now := s.now()

	s.mu.RLock()
	gone := maps.Clone(s.gone)
	writes := make([]appWrite, 0, len(s.apps)+1)
	writes = append(writes, collect("", s.server, now))
	for id, a := range s.apps {
		writes = append(writes, collect(id, a, now))
	}
	s.mu.RUnlock()

	err := s.db.Update(func(tx *bolt.Tx) error {
		apps := tx.Bucket(bucketApps)
		for id := range gone {
			if err := apps.Delete([]byte(id)); err != nil {
				return err
			}
		}
		for res := range numRes {
			b := tx.Bucket(bucketRes[res])
			if err := deleteChunks(b, res, now, gone); err != nil {
				return err
			}
			for i := range writes {
				w := &writes[i]
				for j, k := range w.keys[res] {
					if err := b.Put(k, w.vals[res][j]); err != nil {
						return err
					}
				}
			}
		}
		for i := range writes {
			if w := &writes[i]; w.id != "" {
				if err := apps.Put([]byte(w.id), binary.AppendUvarint(nil, uint64(max(0, w.active)))); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		s.m.SaveErrors.Inc()
		return fmt.Errorf("stats: save %s: %w", s.cfg.Path, err)
	}

	s.mu.Lock()
	for id := range gone {
		delete(s.gone, id) // if it came back meanwhile, its new records were written after the deletion
	}
	for i := range writes {
		w := &writes[i]
		for res := range numRes {
			if w.has[res] {
				w.a.saved[res], w.a.stored[res] = w.heads[res], true
			}
		}
	}
	s.mu.Unlock()
	return nil
}

// deleteChunks deletes the chunks of b that left their ring (the first
// keys) and, when some apps were dropped, every chunk of theirs.
func deleteChunks(b *bolt.Bucket, res Resolution, now time.Time, gone map[string]struct{}) error {
	first, _ := window(res, now)
	cutoff := uint64(max(0, floorDiv(first, int64(resolutions[res].chunk))))
	var del [][]byte
	c := b.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		if len(k) >= 8 && binary.BigEndian.Uint64(k) >= cutoff {
			if len(gone) == 0 {
				break
			}
			if _, ok := gone[string(k[8:])]; !ok || len(k) == 8 {
				continue
			}
		}
		del = append(del, bytes.Clone(k))
	}
	for _, k := range del {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// collect encodes the chunks of a that changed since its last save.
func collect(id string, a *appData, now time.Time) appWrite {
	w := appWrite{id: id, a: a, active: a.active}
	for res := range numRes {
		ri := resolutions[res]
		first, _ := window(res, now)
		r := &a.rings[res]
		if !r.has {
			continue
		}
		w.heads[res], w.has[res] = r.head, true
		inRing := max(first, r.head-int64(ri.n)+1)
		from := inRing
		if a.stored[res] {
			from = max(from, a.saved[res]) // its chunk was written while still filling
		}
		for c := floorDiv(from, int64(ri.chunk)); c <= floorDiv(r.head, int64(ri.chunk)); c++ {
			if c < 0 {
				continue
			}
			val := encodeChunk(r, res, c, inRing, r.head)
			if val == nil {
				continue
			}
			key := append(binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(id)), uint64(c)), id...)
			w.keys[res] = append(w.keys[res], key)
			w.vals[res] = append(w.vals[res], val)
		}
	}
	return w
}

// Chunk encoding:
//
//	uvarint  presence mask: bit j set when slot c*len+j has a point
//	uvarint  number of columns that follow (columns with only zeros are left out)
//	per column:
//	  uvarint  series id << 1 | 1 for a gauge's "last" column
//	  byte     0: zigzag varints, 1: float64 bits (8 bytes, little-endian)
//	  one value per point, in slot order
//
// Values are exact either way: integers (|x| <= 2^53) as varints, other
// numbers as their bits.
const (
	modeVarint = 0
	modeFloat  = 1
)

// encodeChunk encodes chunk c of r, limited to slots lo..hi; nil when none
// of them has a point.
func encodeChunk(r *ring, res Resolution, c int64, lo, hi int64) []byte {
	ri := resolutions[res]
	start := c * int64(ri.chunk)
	var mask uint64
	var slots []int // ring positions of the points
	for j := range ri.chunk {
		k := start + int64(j)
		if k < lo || k > hi {
			continue
		}
		p := pos(k, ri.n)
		if r.isPresent(p) {
			mask |= 1 << j
			slots = append(slots, p)
		}
	}
	if mask == 0 {
		return nil
	}
	buf := binary.AppendUvarint(nil, mask)
	ncolsAt := len(buf)
	buf = append(buf, 0) // number of columns (at most numCols, one byte): patched below
	ncols := 0
	for i, info := range catalog {
		for sub := range 1 + int(info.Kind) {
			col := &r.cols[colBase[i]+sub]
			if col.w == 0 {
				continue
			}
			mode, nonzero := modeVarint, false
			for _, p := range slots {
				x := col.get(p)
				nonzero = nonzero || x != 0
				if x != math.Trunc(x) || math.Abs(x) > 1<<53 {
					mode = modeFloat
				}
			}
			if !nonzero {
				continue
			}
			ncols++
			buf = binary.AppendUvarint(buf, uint64(i<<1|sub))
			buf = append(buf, byte(mode))
			for _, p := range slots {
				x := col.get(p)
				if mode == modeFloat {
					buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(x))
				} else {
					buf = binary.AppendVarint(buf, int64(x))
				}
			}
		}
	}
	buf[ncolsAt] = byte(ncols)
	return buf
}

var errChunk = errors.New("stats: malformed chunk")

// decodeChunk loads chunk c into r, keeping the slots within first..last.
func decodeChunk(r *ring, res Resolution, c uint64, v []byte, first, last int64) error {
	ri := resolutions[res]
	if c > math.MaxInt64/uint64(ri.chunk) {
		return errChunk
	}
	start := int64(c) * int64(ri.chunk)
	mask, n := binary.Uvarint(v)
	if n <= 0 || (ri.chunk < 64 && mask>>ri.chunk != 0) {
		return errChunk
	}
	v = v[n:]
	npts := bits.OnesCount64(mask)
	var slots []int64
	for j := range ri.chunk {
		if mask&(1<<j) != 0 {
			slots = append(slots, start+int64(j))
		}
	}
	if len(v) < 1 {
		return errChunk
	}
	ncols := int(v[0])
	v = v[1:]
	type colVals struct {
		col  int // -1: a series this version does not know
		vals []float64
	}
	cols := make([]colVals, 0, ncols)
	for range ncols {
		tag, n := binary.Uvarint(v)
		if n <= 0 || len(v) < n+1 {
			return errChunk
		}
		mode := v[n]
		v = v[n+1:]
		cv := colVals{col: -1, vals: make([]float64, npts)}
		if series, sub := int(tag>>1), int(tag&1); tag>>1 < numSeries {
			if sub == 1 && catalog[series].Kind != Gauge {
				return errChunk
			}
			cv.col = colBase[series] + sub
		}
		for j := range npts {
			switch mode {
			case modeVarint:
				x, n := binary.Varint(v)
				if n <= 0 {
					return errChunk
				}
				cv.vals[j], v = float64(x), v[n:]
			case modeFloat:
				if len(v) < 8 {
					return errChunk
				}
				cv.vals[j], v = math.Float64frombits(binary.LittleEndian.Uint64(v)), v[8:]
			default:
				return errChunk
			}
		}
		cols = append(cols, cv)
	}
	if len(v) != 0 {
		return errChunk
	}
	// Valid: apply.
	for j, k := range slots {
		if k < first || k > last {
			continue
		}
		p := pos(k, ri.n)
		r.present[p/64] |= 1 << (p % 64)
		if !r.has || k > r.head {
			r.head, r.has = k, true
		}
		for _, cv := range cols {
			if cv.col >= 0 {
				r.cols[cv.col].set(p, ri.n, cv.vals[j])
			}
		}
	}
	return nil
}
