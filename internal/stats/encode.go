package stats

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/bits"
	"slices"
	"time"
)

// The wire encoding of a Sample, for the nodes of a cluster to exchange
// their samples (statsredis). Compact and versioned:
//
//	byte     version (1)
//	varint   Time, unix nanoseconds
//	uvarint  S, the number of series the writer knows (its Catalog's length)
//	values   the server-wide values
//	uvarint  the number of apps, then per app (ids sorted):
//	uvarint  the id's length, the id, values
//
// values is a count N (at most S), then N pairs: the series index as a
// uvarint (strictly increasing, below S) and the value's float64 bits with
// their bytes reversed, as a uvarint (as encoding/gob does: small integers
// take 2 or 3 bytes). Only non-zero values are written; an app whose values
// are all zero is still listed (it was sampled: its point is zeros, not a
// gap).
//
// A reader ignores the series it does not know (a newer node's, appended
// to the catalog) and refuses anything else it cannot read exactly.
const (
	wireVersion = 1
	// MaxWireApps bounds the apps of an encoded Sample.
	MaxWireApps = 100_000
	// MaxWireAppIDLen bounds an app id in an encoded Sample, in bytes.
	MaxWireAppIDLen = 1024
	// maxWireSeries bounds the series count a reader accepts: far above
	// any catalog, low enough that a garbage count is refused at once.
	maxWireSeries = 1024
)

// errWire is wrapped by every error of UnmarshalBinary.
var errWire = errors.New("stats: bad encoded sample")

// MarshalBinary encodes s (see the wire format above). It fails when s has
// more than MaxWireApps apps or an app id that is empty or longer than
// MaxWireAppIDLen bytes: UnmarshalBinary would refuse those.
func (s *Sample) MarshalBinary() ([]byte, error) {
	if len(s.Apps) > MaxWireApps {
		return nil, fmt.Errorf("stats: a sample of %d apps is over the limit of %d", len(s.Apps), MaxWireApps)
	}
	n := 16 + valuesSize(&s.Server)
	for id, v := range s.Apps {
		if id == "" || len(id) > MaxWireAppIDLen {
			return nil, fmt.Errorf("stats: app id of %d bytes cannot be encoded (1 to %d)", len(id), MaxWireAppIDLen)
		}
		n += 2 + len(id) + valuesSize(v)
	}
	b := make([]byte, 0, n)
	b = append(b, wireVersion)
	b = binary.AppendVarint(b, s.Time.UnixNano())
	b = binary.AppendUvarint(b, numSeries)
	b = appendValues(b, &s.Server)
	b = binary.AppendUvarint(b, uint64(len(s.Apps)))
	for _, id := range slices.Sorted(maps.Keys(s.Apps)) {
		b = binary.AppendUvarint(b, uint64(len(id)))
		b = append(b, id...)
		b = appendValues(b, s.Apps[id])
	}
	return b, nil
}

// valuesSize is an upper bound of appendValues' output.
func valuesSize(v *Values) int {
	if v == nil {
		return 1
	}
	n := 1
	for _, x := range v.v {
		if x != 0 {
			n += 1 + binary.MaxVarintLen64
		}
	}
	return n
}

func appendValues(b []byte, v *Values) []byte {
	if v == nil {
		return append(b, 0)
	}
	n := 0
	for _, x := range v.v {
		if x != 0 {
			n++
		}
	}
	b = binary.AppendUvarint(b, uint64(n))
	for i, x := range v.v {
		if x != 0 {
			b = binary.AppendUvarint(b, uint64(i))
			b = binary.AppendUvarint(b, bits.ReverseBytes64(math.Float64bits(x)))
		}
	}
	return b
}

// UnmarshalBinary decodes data written by MarshalBinary into s, replacing
// its contents. It refuses (an error, s unchanged) anything it cannot read
// exactly: an unknown version, a truncated or over-long input, more than
// MaxWireApps apps, an empty, over-long or repeated app id, series
// indexes out of order or out of the writer's range, a value that is NaN
// or infinite. The values of series it does not know are skipped.
func (s *Sample) UnmarshalBinary(data []byte) error {
	r := wireReader{b: data}
	if v := r.byte(); r.err == nil && v != wireVersion {
		return fmt.Errorf("%w: version %d, want %d", errWire, v, wireVersion)
	}
	t := r.varint()
	ns := r.uvarint()
	if r.err == nil && (ns == 0 || ns > maxWireSeries) {
		return fmt.Errorf("%w: %d series", errWire, ns)
	}
	var out Sample
	r.values(&out.Server, ns)
	napps := r.uvarint()
	if r.err != nil {
		return r.err
	}
	// Each app takes at least 3 bytes (length, one byte of id, count): a
	// garbage count cannot make us allocate more than the input allows.
	if napps > MaxWireApps || napps > uint64(len(r.b))/3 {
		return fmt.Errorf("%w: %d apps", errWire, napps)
	}
	out.Apps = make(map[string]*Values, napps)
	slab := make([]Values, napps)
	for i := range napps {
		l := r.uvarint()
		if r.err == nil && (l == 0 || l > MaxWireAppIDLen) {
			return fmt.Errorf("%w: app id of %d bytes", errWire, l)
		}
		id := string(r.bytes(l))
		if r.err != nil {
			return r.err
		}
		if _, dup := out.Apps[id]; dup {
			return fmt.Errorf("%w: app %q twice", errWire, id)
		}
		v := &slab[i]
		r.values(v, ns)
		out.Apps[id] = v
	}
	if r.err != nil {
		return r.err
	}
	if len(r.b) > 0 {
		return fmt.Errorf("%w: %d bytes after the end", errWire, len(r.b))
	}
	out.Time = time.Unix(0, t)
	*s = out
	return nil
}

// wireReader reads the encoding; after the first error every read returns
// zero and err keeps that error.
type wireReader struct {
	b   []byte
	err error
}

func (r *wireReader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", errWire, what)
	}
	r.b = nil
}

func (r *wireReader) byte() byte {
	if r.err != nil || len(r.b) == 0 {
		r.fail("truncated")
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *wireReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	x, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("truncated or over-long number")
		return 0
	}
	r.b = r.b[n:]
	return x
}

func (r *wireReader) varint() int64 {
	if r.err != nil {
		return 0
	}
	x, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail("truncated or over-long number")
		return 0
	}
	r.b = r.b[n:]
	return x
}

func (r *wireReader) bytes(n uint64) []byte {
	if r.err != nil || uint64(len(r.b)) < n {
		r.fail("truncated")
		return nil
	}
	p := r.b[:n]
	r.b = r.b[n:]
	return p
}

// values reads one scope's values into v, for a writer that knew ns
// series.
func (r *wireReader) values(v *Values, ns uint64) {
	n := r.uvarint()
	if r.err == nil && n > ns {
		r.fail(fmt.Sprintf("%d values of %d series", n, ns))
	}
	next := uint64(0) // the lowest index allowed next
	for range n {
		i := r.uvarint()
		x := math.Float64frombits(bits.ReverseBytes64(r.uvarint()))
		if r.err != nil {
			return
		}
		if i < next || i >= ns {
			r.fail(fmt.Sprintf("series index %d out of order or range", i))
			return
		}
		if math.IsNaN(x) || math.IsInf(x, 0) {
			r.fail(fmt.Sprintf("series %d: %v", i, x))
			return
		}
		next = i + 1
		if i < numSeries { // a newer node's series: skipped
			v.v[i] = x
		}
	}
}
