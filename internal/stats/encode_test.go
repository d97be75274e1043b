package stats

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// randomSample has up to maxApps apps with a few non-zero values each,
// some of them all zeros, integers and fractions, large and negative.
func randomSample(r *rand.Rand, maxApps int) *Sample {
	vals := func() *Values {
		v := new(Values)
		for range r.IntN(6) {
			var x float64
			switch r.IntN(4) {
			case 0:
				x = float64(r.IntN(100))
			case 1:
				x = float64(r.Uint64() >> r.IntN(64))
			case 2:
				x = r.NormFloat64() * 1e6
			default:
				x = -r.Float64()
			}
			v.v[r.IntN(numSeries)] = x
		}
		return v
	}
	s := &Sample{Time: time.Unix(r.Int64N(4e9), r.Int64N(1e9)), Apps: map[string]*Values{}, Server: *vals()}
	for range r.IntN(maxApps + 1) {
		s.Apps[fmt.Sprintf("app-%d", r.IntN(1e6))] = vals()
	}
	return s
}

func sameSample(a, b *Sample) error {
	if !a.Time.Equal(b.Time) {
		return fmt.Errorf("time %v, want %v", b.Time, a.Time)
	}
	if a.Server != b.Server {
		return fmt.Errorf("server %v, want %v", b.Server.v, a.Server.v)
	}
	if len(a.Apps) != len(b.Apps) {
		return fmt.Errorf("%d apps, want %d", len(b.Apps), len(a.Apps))
	}
	for id, v := range a.Apps {
		w := b.Apps[id]
		if w == nil {
			return fmt.Errorf("app %q missing", id)
		}
		if *v != *w {
			return fmt.Errorf("app %q: %v, want %v", id, w.v, v.v)
		}
	}
	return nil
}

func TestSampleWireRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 500 {
		s := randomSample(r, 20)
		b, err := s.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var got Sample
		if err := got.UnmarshalBinary(b); err != nil {
			t.Fatalf("sample %d: %v", i, err)
		}
		if err := sameSample(s, &got); err != nil {
			t.Fatalf("sample %d: %v", i, err)
		}
		b2, _ := got.MarshalBinary()
		if !bytes.Equal(b, b2) {
			t.Fatalf("sample %d: encoding is not canonical", i)
		}
	}
	// The empty sample, and an app listed with nothing but zeros (it was
	// sampled: it gets a point of zeros, not a gap).
	s := &Sample{Time: time.Unix(1_700_000_005, 0), Apps: map[string]*Values{"idle": {}}}
	b, _ := s.MarshalBinary()
	var got Sample
	if err := got.UnmarshalBinary(b); err != nil || sameSample(s, &got) != nil || got.Apps["idle"] == nil {
		t.Fatalf("idle app: %v %v", err, got.Apps)
	}
	if len(b) > 24 { // 1 version, 9 time, 1 series, 1 + 1 server, 1 + 5 + 1 app
		t.Errorf("an idle app's sample takes %d bytes", len(b))
	}
}

// TestSampleWireSize: the encoding stays small for a busy node.
func TestSampleWireSize(t *testing.T) {
	s := &Sample{Time: time.Now(), Apps: map[string]*Values{}}
	for i := range 1000 {
		v := new(Values)
		for j := range 9 {
			v.v[j] = float64(i + j*100)
		}
		s.Apps[fmt.Sprintf("%d", 100000+i)] = v
		s.Server.Add(v)
	}
	b, err := s.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	// 1,000 apps x (7 bytes of id + 1 count + 9 x (1 index + 2-4 value)).
	if len(b) > 55_000 {
		t.Errorf("1,000 busy apps encode to %d bytes", len(b))
	}
	t.Logf("1,000 busy apps: %d bytes", len(b))
}

// wire builds encodings by hand, valid or not.
type wire struct{ b []byte }

func (w *wire) byte(c byte) *wire              { w.b = append(w.b, c); return w }
func (w *wire) u(x uint64) *wire               { w.b = binary.AppendUvarint(w.b, x); return w }
func (w *wire) i(x int64) *wire                { w.b = binary.AppendVarint(w.b, x); return w }
func (w *wire) str(s string) *wire             { w.u(uint64(len(s))); w.b = append(w.b, s...); return w }
func (w *wire) f(x float64) *wire              { return w.u(bits.ReverseBytes64(math.Float64bits(x))) }
func (w *wire) pair(i uint64, x float64) *wire { return w.u(i).f(x) }

// head is a valid header for ns series at t=1e18 ns.
func head(ns uint64) *wire { return (&wire{}).byte(wireVersion).i(1e18).u(ns) }

func TestSampleWireRejectsGarbage(t *testing.T) {
	good := head(numSeries).u(1).pair(0, 5).u(1).str("a").u(1).pair(1, 2).b
	var s Sample
	if err := s.UnmarshalBinary(good); err != nil {
		t.Fatalf("the valid base case: %v", err)
	}
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"version 0", append([]byte{0}, good[1:]...)},
		{"version 2", append([]byte{2}, good[1:]...)},
		{"trailing byte", append(append([]byte(nil), good...), 0)},
		{"no series", head(0).u(0).u(0).b},
		{"too many series", head(maxWireSeries + 1).u(0).u(0).b},
		{"more values than series", head(2).u(3).pair(0, 1).pair(1, 1).pair(2, 1).u(0).b},
		{"index out of the writer's range", head(2).u(1).pair(2, 1).u(0).b},
		{"indexes out of order", head(numSeries).u(2).pair(3, 1).pair(1, 1).u(0).b},
		{"index twice", head(numSeries).u(2).pair(3, 1).pair(3, 1).u(0).b},
		{"NaN", head(numSeries).u(1).pair(0, math.NaN()).u(0).b},
		{"infinity", head(numSeries).u(0).u(1).str("a").u(1).pair(0, math.Inf(-1)).b},
		{"more apps than bytes", head(numSeries).u(0).u(1000).str("a").u(0).b},
		{"over MaxWireApps", head(numSeries).u(0).u(MaxWireApps + 1).b},
		{"empty app id", head(numSeries).u(0).u(1).str("").u(0).b},
		{"app id too long", head(numSeries).u(0).u(1).str(strings.Repeat("x", MaxWireAppIDLen+1)).u(0).b},
		{"app twice", head(numSeries).u(0).u(2).str("a").u(0).str("a").u(0).b},
		{"over-long varint", append(head(numSeries).b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := Sample{Time: time.Unix(7, 0)}
			err := s.UnmarshalBinary(tc.data)
			if !errors.Is(err, errWire) {
				t.Fatalf("err %v, want a wire error", err)
			}
			if !s.Time.Equal(time.Unix(7, 0)) || s.Apps != nil {
				t.Fatalf("the sample changed on error: %+v", s)
			}
		})
	}
	// Every strict prefix of a valid encoding is truncated.
	b, _ := randomSample(rand.New(rand.NewPCG(3, 4)), 5).MarshalBinary()
	for n := range len(b) {
		if err := s.UnmarshalBinary(b[:n]); err == nil {
			t.Fatalf("a prefix of %d of %d bytes decoded", n, len(b))
		}
	}
	// Any single byte changed: an error or a sample, never a panic.
	for i := range b {
		for _, x := range []byte{0, 1, 0x7f, 0x80, 0xff, b[i] ^ 0x40} {
			c := append([]byte(nil), b...)
			c[i] = x
			_ = s.UnmarshalBinary(c)
		}
	}
}

// TestSampleWireNewerNode: the values of series a newer node added to its
// catalog are skipped; the others are read.
func TestSampleWireNewerNode(t *testing.T) {
	data := head(numSeries+3).
		u(2).pair(sConnections, 4).pair(numSeries+2, 99). // server
		u(1).str("a").u(3).pair(sAPIMessages, 7).pair(numSeries, 1).pair(numSeries+1, 2).b
	var s Sample
	if err := s.UnmarshalBinary(data); err != nil {
		t.Fatal(err)
	}
	if s.Server.v[sConnections] != 4 || s.Apps["a"].v[sAPIMessages] != 7 {
		t.Fatalf("got server %v, app %v", s.Server.v, s.Apps["a"].v)
	}
	if !s.Time.Equal(time.Unix(0, 1e18)) {
		t.Fatalf("time %v", s.Time)
	}
}

func TestSampleMarshalRefuses(t *testing.T) {
	for name, s := range map[string]*Sample{
		"empty app id":    {Apps: map[string]*Values{"": {}}},
		"app id too long": {Apps: map[string]*Values{strings.Repeat("x", MaxWireAppIDLen+1): {}}},
	} {
		if _, err := s.MarshalBinary(); err == nil {
			t.Errorf("%s: encoded", name)
		}
	}
	many := &Sample{Apps: make(map[string]*Values, MaxWireApps+1)}
	for i := range MaxWireApps + 1 {
		many.Apps[fmt.Sprint(i)] = nil
	}
	if _, err := many.MarshalBinary(); err == nil {
		t.Error("over MaxWireApps: encoded")
	}
	// A nil app's values encode as zeros.
	b, err := (&Sample{Apps: map[string]*Values{"a": nil}}).MarshalBinary()
	var got Sample
	if err != nil || got.UnmarshalBinary(b) != nil || got.Apps["a"] == nil || !got.Apps["a"].isZero() {
		t.Fatalf("nil app: %v %+v", err, got.Apps)
	}
}

// FuzzSampleUnmarshal: any input decodes to a sample or an error, never a
// panic; what decodes encodes back to what decodes the same.
func FuzzSampleUnmarshal(f *testing.F) {
	r := rand.New(rand.NewPCG(5, 6))
	for range 8 {
		b, _ := randomSample(r, 4).MarshalBinary()
		f.Add(b)
	}
	f.Add(head(numSeries+2).u(1).pair(numSeries+1, 3).u(0).b)
	f.Fuzz(func(t *testing.T, data []byte) {
		var s Sample
		if err := s.UnmarshalBinary(data); err != nil {
			return
		}
		b, err := s.MarshalBinary()
		if err != nil {
			t.Fatalf("a decoded sample does not encode: %v", err)
		}
		var again Sample
		if err := again.UnmarshalBinary(b); err != nil {
			t.Fatalf("re-encoded sample does not decode: %v", err)
		}
		if err := sameSample(&s, &again); err != nil {
			t.Fatal(err)
		}
	})
}
