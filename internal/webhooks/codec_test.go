package webhooks

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/hub"
)

func TestRecordRoundTrip(t *testing.T) {
	ep := endpointID{App: "app-1", Index: 3, URL: "https://example.test/h?x=<y>"}
	ev := eventRecord{ep: ep, timeMS: t0, json: []byte(`{"name":"client_event","data":"\u003c"}`)}
	if got, err := decodeEvent(ev.encode()); err != nil || !reflect.DeepEqual(got, ev) {
		t.Fatalf("event: %+v %v", got, err)
	}
	b := &batch{seq: 9, ep: ep, body: []byte(`{"time_ms":1,"events":["<&>"]}`), count: 2, attempts: 4,
		first: time.UnixMilli(t0), next: time.UnixMilli(t0 + 1500), lastErr: "HTTP 500"}
	got, err := decodeBatch(9, b.encode())
	if err != nil || !reflect.DeepEqual(got, b) {
		t.Fatalf("batch: %+v %v", got, err)
	}
	lv := leaveRecord{due: time.UnixMilli(t0 + 3000), ev: hub.Event{Kind: hub.MemberRemoved, AppID: "a", Channel: "presence-x", UserID: "u", TimeMS: t0}}
	if got, err := decodeLeave(lv.encode()); err != nil || !reflect.DeepEqual(got, lv) {
		t.Fatalf("leave: %+v %v", got, err)
	}
	// Truncations and garbage are errors, never panics.
	enc := b.encode()
	for i := range enc {
		if _, err := decodeBatch(1, enc[:i]); err == nil {
			t.Fatalf("truncated at %d accepted", i)
		}
	}
	if _, err := decodeEvent(append(ev.encode(), 0)); err == nil {
		t.Fatal("trailing byte accepted")
	}
	if _, err := decodeLeave(bytes.Repeat([]byte{1, 0xff}, 20)); err == nil {
		t.Fatal("garbage accepted")
	}
}

func FuzzDecodeRecords(f *testing.F) {
	f.Add(eventRecord{ep: endpointID{"a", 1, "u"}, json: []byte("{}")}.encode())
	f.Add((&batch{body: []byte("{}")}).encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		decodeEvent(b)
		decodeBatch(1, b)
		decodeLeave(b)
	})
}

func TestBackoff(t *testing.T) {
	d := &Dispatcher{cfg: Config{}.withDefaults()}
	for attempts, base := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 7: 60 * time.Second, 100: 60 * time.Second} {
		for range 50 {
			if got := d.backoff(attempts); got < base*8/10 || got > base*12/10 {
				t.Fatalf("backoff(%d) = %v, want %v ±20%%", attempts, got, base)
			}
		}
	}
}
