package queue

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// A stored job (bucket jobs) is a small binary record, not JSON: the body
// is stored as it is instead of being escaped into a string.
//
//	version   1 byte (codecVersion)
//	publishID uvarint length, bytes
//	instance  uvarint length, bytes
//	flags     1 byte: bit 0 ToUsers
//	accepted  varint unix seconds, uvarint nanoseconds
//	body      the remaining bytes
//
// The cursor is kept apart (bucket cursors) so Progress does not rewrite
// the body.
const codecVersion = 1

const flagToUsers = 1 << 0

func encodeJob(j Job) []byte {
	b := make([]byte, 0, 1+2*binary.MaxVarintLen16+len(j.PublishID)+len(j.Instance)+1+2*binary.MaxVarintLen64+len(j.Body))
	b = append(b, codecVersion)
	b = binary.AppendUvarint(b, uint64(len(j.PublishID)))
	b = append(b, j.PublishID...)
	b = binary.AppendUvarint(b, uint64(len(j.Instance)))
	b = append(b, j.Instance...)
	var flags byte
	if j.ToUsers {
		flags |= flagToUsers
	}
	b = append(b, flags)
	b = binary.AppendVarint(b, j.Accepted.Unix())
	b = binary.AppendUvarint(b, uint64(j.Accepted.Nanosecond()))
	return append(b, j.Body...)
}

var errShort = errors.New("truncated record")

// decodeJob parses a record written by encodeJob. It copies what it
// keeps: b belongs to a bbolt transaction.
func decodeJob(b []byte) (Job, error) {
	if len(b) == 0 {
		return Job{}, errShort
	}
	if b[0] != codecVersion {
		return Job{}, fmt.Errorf("unknown record version %d", b[0])
	}
	b = b[1:]
	str := func(what string) (string, error) {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > MaxField || n > uint64(len(b)-k) {
			return "", fmt.Errorf("bad %s length", what)
		}
		s := string(b[k : k+int(n)])
		b = b[k+int(n):]
		return s, nil
	}
	var j Job
	var err error
	if j.PublishID, err = str("publish id"); err != nil {
		return Job{}, err
	}
	if j.PublishID == "" {
		return Job{}, errors.New("empty publish id")
	}
	if j.Instance, err = str("instance"); err != nil {
		return Job{}, err
	}
	if len(b) == 0 {
		return Job{}, errShort
	}
	flags := b[0]
	if flags&^flagToUsers != 0 {
		return Job{}, fmt.Errorf("unknown flags %#x", flags)
	}
	j.ToUsers = flags&flagToUsers != 0
	b = b[1:]
	sec, k := binary.Varint(b)
	if k <= 0 {
		return Job{}, errShort
	}
	b = b[k:]
	nsec, k := binary.Uvarint(b)
	if k <= 0 || nsec >= uint64(time.Second) {
		return Job{}, errors.New("bad accepted time")
	}
	b = b[k:]
	j.Accepted = time.Unix(sec, int64(nsec)).UTC()
	if len(b) > MaxBody {
		return Job{}, fmt.Errorf("body of %d bytes", len(b))
	}
	if len(b) > 0 {
		j.Body = append([]byte(nil), b...)
	}
	return j, nil
}
