package queue

import (
	"encoding/json"
	"testing"
	"time"
)

func TestCodecRoundTrip(t *testing.T) {
	for _, j := range []Job{
		{PublishID: "pubid-1"},
		{PublishID: "pubid-2", Instance: "inst", ToUsers: true, Body: json.RawMessage(`{"users":["u"]}`),
			Accepted: time.Date(2025, 6, 7, 8, 9, 10, 123456789, time.UTC)},
		{PublishID: "pubid-3", Accepted: time.Unix(-5, 7)}, // before 1970
	} {
		got, err := decodeJob(encodeJob(j))
		if err != nil {
			t.Fatalf("%s: %v", j.PublishID, err)
		}
		if got.PublishID != j.PublishID || got.Instance != j.Instance || got.ToUsers != j.ToUsers ||
			string(got.Body) != string(j.Body) || !got.Accepted.Equal(j.Accepted) || got.Accepted.IsZero() != j.Accepted.IsZero() {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, j)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	good := encodeJob(Job{PublishID: "p", Instance: "i", Body: json.RawMessage(`{}`)})
	for name, b := range map[string][]byte{
		"empty":        nil,
		"version":      append([]byte{2}, good[1:]...),
		"no id":        encodeJob(Job{}),
		"long id":      {1, 0xff, 0xff, 0x03},
		"cut in flags": good[:5],
		"flags":        append(append([]byte{}, good[:5]...), 0x80, 0, 0),
	} {
		if _, err := decodeJob(b); err == nil {
			t.Errorf("%s: decoded %x", name, b)
		}
	}
}

// FuzzDecodeJob: any bytes decode to an error or to a valid job that
// survives another round trip; never a panic.
func FuzzDecodeJob(f *testing.F) {
	f.Add(encodeJob(Job{PublishID: "pubid-1", Instance: "i", ToUsers: true, Body: json.RawMessage(`{"a":1}`), Accepted: time.Unix(1700000000, 5)}))
	f.Add([]byte{1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		j, err := decodeJob(b)
		if err != nil {
			return
		}
		if j.PublishID == "" || len(j.Body) > MaxBody {
			t.Fatalf("accepted %+v", j)
		}
		if _, err := decodeJob(encodeJob(j)); err != nil {
			t.Fatalf("re-encoded job does not decode: %v", err)
		}
	})
}
