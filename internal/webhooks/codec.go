package webhooks

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/heraldhq/herald/internal/hub"
)

// Records are stored in a small length-prefixed binary form rather than
// JSON: a batch body must come back byte for byte (encoding/json would
// re-escape an embedded RawMessage) and the writer encodes every event.

const recordVersion = 1

var errCorrupt = errors.New("corrupt webhook record")

type enc []byte

func (e enc) uint(v uint64) enc  { return binary.AppendUvarint(e, v) }
func (e enc) int(v int64) enc    { return binary.AppendVarint(e, v) }
func (e enc) str(s string) enc   { return append(e.uint(uint64(len(s))), s...) }
func (e enc) bytes(b []byte) enc { return append(e.uint(uint64(len(b))), b...) }

type dec struct {
	b   []byte
	bad bool
}

func (d *dec) uint() uint64 { return varint(d, binary.Uvarint) }
func (d *dec) int() int64   { return varint(d, binary.Varint) }

// varint reads one (u)varint with read, marking d bad when there is none.
func varint[T uint64 | int64](d *dec, read func([]byte) (T, int)) T {
	v, n := read(d.b)
	if n <= 0 {
		d.bad = true
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) bytes() []byte {
	n := d.uint()
	if d.bad || n > uint64(len(d.b)) {
		d.bad = true
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *dec) str() string { return string(d.bytes()) }

func (d *dec) err() error {
	if d.bad || len(d.b) != 0 {
		return errCorrupt
	}
	return nil
}

func (e enc) endpoint(id endpointID) enc {
	return e.str(id.App).uint(uint64(id.Index)).str(id.URL)
}

func (d *dec) endpoint() endpointID {
	return endpointID{App: d.str(), Index: int(d.uint()), URL: d.str()}
}

// eventRecord is one accepted event for one endpoint, not yet in a batch.
type eventRecord struct {
	ep     endpointID
	timeMS int64
	json   []byte
}

func (r eventRecord) encode() []byte {
	return enc{recordVersion}.endpoint(r.ep).int(r.timeMS).bytes(r.json)
}

func decodeEvent(b []byte) (eventRecord, error) {
	if len(b) == 0 || b[0] != recordVersion {
		return eventRecord{}, errCorrupt
	}
	d := &dec{b: b[1:]}
	r := eventRecord{ep: d.endpoint(), timeMS: d.int()}
	r.json = append([]byte(nil), d.bytes()...) // bbolt's memory is only valid inside the tx
	return r, d.err()
}

func (b *batch) encode() []byte {
	return enc{recordVersion}.endpoint(b.ep).uint(uint64(b.count)).uint(uint64(b.attempts)).
		int(b.first.UnixMilli()).int(b.next.UnixMilli()).str(b.lastErr).bytes(b.body)
}

func decodeBatch(seq uint64, v []byte) (*batch, error) {
	if len(v) == 0 || v[0] != recordVersion {
		return nil, errCorrupt
	}
	d := &dec{b: v[1:]}
	b := &batch{seq: seq, ep: d.endpoint(), count: int(d.uint()), attempts: int(d.uint())}
	b.first = time.UnixMilli(d.int())
	b.next = time.UnixMilli(d.int())
	b.lastErr = d.str()
	b.body = append([]byte(nil), d.bytes()...)
	return b, d.err()
}

// leaveRecord is a delayed channel_vacated or member_removed.
type leaveRecord struct {
	due time.Time
	ev  hub.Event
	en  *entry // cluster mode: the queue entry it came from (not stored)
}

func (r leaveRecord) encode() []byte {
	return enc{recordVersion}.int(r.due.UnixMilli()).str(string(r.ev.Kind)).str(r.ev.AppID).
		str(r.ev.Channel).str(r.ev.UserID).int(r.ev.TimeMS)
}

func decodeLeave(v []byte) (leaveRecord, error) {
	if len(v) == 0 || v[0] != recordVersion {
		return leaveRecord{}, errCorrupt
	}
	d := &dec{b: v[1:]}
	r := leaveRecord{due: time.UnixMilli(d.int())}
	r.ev = hub.Event{Kind: hub.EventKind(d.str()), AppID: d.str(), Channel: d.str(), UserID: d.str(), TimeMS: d.int()}
	if k := r.ev.Kind; k != hub.ChannelVacated && k != hub.MemberRemoved {
		return r, errCorrupt
	}
	return r, d.err()
}
