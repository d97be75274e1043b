package stats

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// snapshot is every point of every series of every app, at every resolution.
func snapshot(s *Store) map[string][]Point {
	out := map[string][]Point{}
	for _, app := range append(s.Apps(), "") {
		for _, info := range catalog {
			for res := range numRes {
				out[app+"|"+info.Name+"|"+info.Label+"|"+res.String()] = s.Series(app, info.Name, info.Label, res)
			}
		}
	}
	return out
}

func sameSnapshot(t *testing.T, what string, got, want map[string][]Point) {
	t.Helper()
	for k, w := range want {
		g := got[k]
		if len(g) != len(w) {
			t.Fatalf("%s: %s has %d points, want %d", what, k, len(g), len(w))
		}
		for j := range g {
			if !g[j].Time.Equal(w[j].Time) || g[j].Sum != w[j].Sum || g[j].Max != w[j].Max || g[j].Last != w[j].Last {
				t.Fatalf("%s: %s point %d = %+v, want %+v", what, k, j, g[j], w[j])
			}
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%s: %d series, want %d", what, len(got), len(want))
	}
}

// fill records three days of samples every 10 minutes, then 90 minutes of
// 10-second samples, saving as Run would (every minute of the dense part,
// and sometimes mid-minute), with random values for three apps.
func fill(t *testing.T, s *testStore, start time.Time) time.Time {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, 4))
	rec := func(at time.Time) {
		apps := map[string]map[[2]string]float64{}
		for _, app := range []string{"", "a", "b", "c"} {
			v := map[[2]string]float64{}
			for _, info := range catalog {
				if rng.IntN(3) == 0 {
					v[[2]string{info.Name, info.Label}] = float64(rng.IntN(100_000)) / 8
				}
			}
			apps[app] = v
		}
		s.clock.Set(at)
		s.Record(sample(at, apps))
	}
	at := start
	for range 3 * 24 * 6 {
		rec(at.Add(5 * time.Second))
		at = at.Add(10 * time.Minute)
		if at.Minute() == 0 {
			if err := s.save(); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := range 9 * 60 {
		if rng.IntN(20) != 0 { // and a few gaps
			rec(at.Add(5 * time.Second))
		}
		if i%6 == 5 || rng.IntN(15) == 0 {
			if err := s.save(); err != nil {
				t.Fatal(err)
			}
		}
		at = at.Add(10 * time.Second)
	}
	// Mid-interval, with the last minute not saved yet: Close saves it.
	s.clock.Set(at.Add(2 * time.Second))
	return at.Add(2 * time.Second)
}

// TestPersistence: after Close and Open every ring is as before; reopened
// later, the points that left their ring are gone, the hour of downtime is
// a gap and new samples go on from there.
func TestPersistence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "stats.db")
	s := open(t, Config{Path: path}, hour0)
	if !strings.Contains(s.log.String(), "no dashboard history yet") {
		t.Errorf("no log line for the missing file: %q", s.log.String())
	}
	now := fill(t, s, hour0)
	want := snapshot(s.Store)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2 := open(t, Config{Path: path}, now)
	if s2.log.String() != "" {
		t.Errorf("log on a good file: %q", s2.log.String())
	}
	if got := s2.Apps(); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("apps %v", got)
	}
	sameSnapshot(t, "reopened", snapshot(s2.Store), want)
	checkChunks(t, s2.db, now)

	// Down for 20 minutes: the 10-second ring keeps the 40 minutes before,
	// then a gap, then the new samples.
	later := now.Add(20 * time.Minute)
	s2.clock.Set(later)
	before := s2.Series("a", "connections", "", Res10s)
	s2.Record(sample(later, map[string]map[[2]string]float64{"a": conns(1234)}))
	pts := s2.Series("a", "connections", "", Res10s)
	if len(pts) != len(before)+1 || pts[len(pts)-1].Last != 1234 {
		t.Fatalf("after the restart: %d points (was %d), last %+v", len(pts), len(before), pts[len(pts)-1])
	}
	if gap := pts[len(pts)-1].Time.Sub(pts[len(pts)-2].Time); gap < 20*time.Minute {
		t.Errorf("gap of %v, want the 20 minutes of downtime", gap)
	}
	for _, p := range before {
		if p.Time.Before(later.Add(-time.Hour)) {
			t.Errorf("point %v older than the 10 s ring", p.Time)
		}
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}

	// Two days later: the 10-second and minute rings are empty, the hour
	// ring keeps what is within 30 days.
	s3 := open(t, Config{Path: path}, later.Add(48*time.Hour))
	defer s3.Close()
	for res, n := range map[Resolution]int{Res10s: 0, Res1m: 0, Res1h: 3*24 + 2} {
		if got := len(s3.Series("a", "deliveries", "", res)); got != n {
			t.Errorf("two days later, %v: %d points, want %d", res, got, n)
		}
	}
	if err := s3.save(); err != nil {
		t.Fatal(err)
	}
	checkChunks(t, s3.db, later.Add(48*time.Hour))
}

// checkChunks: the file holds no chunk that left its ring, and no more
// chunks than the rings span.
func checkChunks(t *testing.T, db *bolt.DB, now time.Time) {
	t.Helper()
	err := db.View(func(tx *bolt.Tx) error {
		for res := range numRes {
			ri := resolutions[res]
			first, _ := window(res, now)
			count := map[string]int{}
			_ = tx.Bucket(bucketRes[res]).ForEach(func(k, _ []byte) error {
				c := int64(binary.BigEndian.Uint64(k))
				app := string(k[8:])
				if (c+1)*int64(ri.chunk) <= first {
					t.Errorf("%q: %v chunk %d left its ring and is still stored", app, res, c)
				}
				count[app]++
				return nil
			})
			for app, n := range count {
				if most := ri.n/ri.chunk + 1; n > most {
					t.Errorf("%q: %d %v chunks, at most %d", app, n, res, most)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// storedApps lists the apps of the file, and those that have chunks.
func storedApps(t *testing.T, path string) (apps, withChunks []string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_ = db.View(func(tx *bolt.Tx) error {
		_ = tx.Bucket(bucketApps).ForEach(func(k, _ []byte) error { apps = append(apps, string(k)); return nil })
		seen := map[string]bool{}
		for res := range numRes {
			_ = tx.Bucket(bucketRes[res]).ForEach(func(k, _ []byte) error {
				if id := string(k[8:]); id != "" && !seen[id] {
					seen[id] = true
					withChunks = append(withChunks, id)
				}
				return nil
			})
		}
		slices.Sort(withChunks)
		return nil
	})
	return apps, withChunks
}

// TestEvictedAppDeleted: an evicted app's records leave the file.
func TestEvictedAppDeleted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stats.db")
	s := open(t, Config{Path: path, MaxApps: 2}, hour0)
	s.Record(sample(hour0.Add(5*time.Second), map[string]map[[2]string]float64{"a": conns(1), "b": conns(1)}))
	if err := s.save(); err != nil {
		t.Fatal(err)
	}
	s.Record(sample(hour0.Add(15*time.Second), map[string]map[[2]string]float64{"b": conns(1), "c": conns(1)}))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := open(t, Config{Path: path, MaxApps: 1}, hour0.Add(20*time.Second))
	// MaxApps lowered: only the most recently active app is loaded (b and
	// c tie; the id decides).
	if got := s2.Apps(); !slices.Equal(got, []string{"b"}) {
		t.Errorf("apps %v, want [b]", got)
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	apps, withChunks := storedApps(t, path)
	if !slices.Equal(apps, s2.Apps()) || !slices.Equal(withChunks, s2.Apps()) {
		t.Errorf("stored apps %v, with chunks %v, want %v", apps, withChunks, s2.Apps())
	}
}

// TestDamagedFile: garbage instead of a database starts empty, with a log
// line and the file moved aside; the new file works.
func TestDamagedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stats.db")
	junk := make([]byte, 64<<10)
	for i := range junk {
		junk[i] = byte(i * 7)
	}
	if err := os.WriteFile(path, junk, 0o600); err != nil {
		t.Fatal(err)
	}
	s := open(t, Config{Path: path}, hour0)
	if !strings.Contains(s.log.String(), "moved aside") {
		t.Errorf("log %q", s.log.String())
	}
	if _, err := os.Stat(path + ".damaged"); err != nil {
		t.Error(err)
	}
	if len(s.Apps()) != 0 {
		t.Error("apps from a damaged file")
	}
	s.Record(sample(hour0.Add(5*time.Second), map[string]map[[2]string]float64{"a": conns(1)}))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := open(t, Config{Path: path}, hour0.Add(10*time.Second))
	defer s2.Close()
	if got := s2.Apps(); !slices.Equal(got, []string{"a"}) {
		t.Errorf("apps %v after reopening the new file", got)
	}
}

// TestDamagedRecord: a record that does not decode is skipped and logged;
// the rest loads.
func TestDamagedRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stats.db")
	s := open(t, Config{Path: path}, hour0)
	s.Record(sample(hour0.Add(5*time.Second), map[string]map[[2]string]float64{"a": conns(1), "b": conns(2)}))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRes[Res1m])
		var key []byte
		_ = b.ForEach(func(k, _ []byte) error {
			if string(k[8:]) == "a" {
				key = bytes.Clone(k)
			}
			return nil
		})
		return b.Put(key, []byte{1, 1, 2, 0}) // one point, one column, truncated
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	s2 := open(t, Config{Path: path}, hour0.Add(10*time.Second))
	defer s2.Close()
	if !strings.Contains(s2.log.String(), "skipped unreadable records") {
		t.Errorf("log %q", s2.log.String())
	}
	if n := len(s2.Series("a", "connections", "", Res1m)); n != 0 {
		t.Errorf("a: %d minute points from a damaged record", n)
	}
	if n := len(s2.Series("a", "connections", "", Res10s)); n != 1 {
		t.Errorf("a: %d 10 s points, want 1", n)
	}
	if p := s2.Series("b", "connections", "", Res1m); len(p) != 1 || p[0].Last != 2 {
		t.Errorf("b: %+v", p)
	}
}

// TestChunkRoundTrip: encoding and decoding keep every value exact.
func TestChunkRoundTrip(t *testing.T) {
	src := newRing(Res1m)
	k := int64(1_000_000) * 60 // a chunk boundary
	vals := []float64{0, 1, 65535, 1 << 40, 0.1, -7, 1e300}
	for j, x := range vals {
		var v Values
		for i := range v.v {
			v.v[i] = x * float64(i+1)
		}
		src.add(Res1m, k+int64(2*j), &v)
	}
	enc := encodeChunk(&src, Res1m, k/60, k, src.head)
	dst := newRing(Res1m)
	if err := decodeChunk(&dst, Res1m, uint64(k/60), enc, k, k+59); err != nil {
		t.Fatal(err)
	}
	for j := range vals {
		p := pos(k+int64(2*j), Res1m.Len())
		if src.isPresent(p) != dst.isPresent(p) {
			t.Fatalf("slot %d presence differs", j)
		}
		for i := range catalog {
			a1, b1, c1 := src.point(i, p)
			a2, b2, c2 := dst.point(i, p)
			if a1 != a2 || b1 != b2 || c1 != c2 {
				t.Fatalf("slot %d series %d: %v %v %v, decoded %v %v %v", j, i, a1, b1, c1, a2, b2, c2)
			}
		}
	}
	// Every truncation of a valid record is refused, never a panic.
	for n := range len(enc) {
		if decodeChunk(&dst, Res1m, uint64(k/60), enc[:n], k, k+59) == nil {
			t.Errorf("truncated to %d bytes: accepted", n)
		}
	}
}
