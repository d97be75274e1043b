package stats

import (
	"encoding/binary"
	"math"
)

// column holds one number per slot of a ring in the narrowest width that
// holds every value written so far: 2 bytes while they are integers up to
// 65535 (most apps, most series), 4 bytes up to 2^32-1, else a float64.
// Widening copies the column once; values are never rounded. A column that
// was never written a non-zero value is not allocated (w == 0): all zeros.
type column struct {
	w uint8 // bytes per value: 0 (unallocated), 2, 4 or 8
	b []byte
}

func widthFor(x float64) uint8 {
	switch {
	case x >= 0 && x <= math.MaxUint16 && x == math.Trunc(x):
		return 2
	case x >= 0 && x <= math.MaxUint32 && x == math.Trunc(x):
		return 4
	}
	return 8
}

func (c *column) get(i int) float64 {
	switch c.w {
	case 2:
		return float64(binary.LittleEndian.Uint16(c.b[2*i:]))
	case 4:
		return float64(binary.LittleEndian.Uint32(c.b[4*i:]))
	case 8:
		return math.Float64frombits(binary.LittleEndian.Uint64(c.b[8*i:]))
	}
	return 0
}

// set stores x in slot i of a column of n slots.
func (c *column) set(i, n int, x float64) {
	if w := widthFor(x); w > c.w {
		if x == 0 && c.w == 0 {
			return
		}
		c.widen(w, n)
	}
	switch c.w {
	case 2:
		binary.LittleEndian.PutUint16(c.b[2*i:], uint16(x))
	case 4:
		binary.LittleEndian.PutUint32(c.b[4*i:], uint32(x))
	case 8:
		binary.LittleEndian.PutUint64(c.b[8*i:], math.Float64bits(x))
	}
}

func (c *column) widen(w uint8, n int) {
	nb := make([]byte, int(w)*n)
	if c.w != 0 {
		old := *c
		c.w, c.b = w, nb
		for i := range n {
			c.set(i, n, old.get(i))
		}
	}
	c.w, c.b = w, nb
}

// clear zeroes slot i.
func (c *column) clear(i int) {
	if c.w != 0 {
		clear(c.b[int(c.w)*i : int(c.w)*(i+1)])
	}
}

// bytes is the memory the column holds.
func (c *column) bytes() int { return cap(c.b) }
