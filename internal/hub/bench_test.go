package hub

import (
	"strconv"
	"testing"

	"github.com/heraldhq/herald/internal/protocol"
)

// BenchmarkBroadcast10k measures the hub's own cost of one event to 10,000
// local subscribers (the transport is a no-op sink here).
func BenchmarkBroadcast10k(b *testing.B) {
	h := newHub(b, nil)
	for range 10_000 {
		c, _ := connect(b, h, testApp)
		c.sink = nopSink{}
		_ = h.Subscribe(c, protocol.SubscribeData{Channel: "bench"})
	}
	b.ReportAllocs()
	for b.Loop() {
		h.Publish("1", "bench", "ev", `{"price":123.45}`, "")
	}
}

// BenchmarkPresenceJoin measures a presence subscribe (signature check,
// channel_data parse, member bookkeeping, member_added to 100 members) and
// the matching leave.
func BenchmarkPresenceJoin(b *testing.B) {
	h := newHub(b, nil)
	app := *testApp
	app.MaxPresenceMembers = 0
	for i := range 100 {
		c, _ := connect(b, h, &app)
		c.sink = nopSink{}
		if err := h.Subscribe(c, presence(c, "presence-bench", `{"user_id":"`+strconv.Itoa(i)+`"}`)); err != nil {
			b.Fatal(err)
		}
	}
	c, _ := connect(b, h, &app)
	c.sink = nopSink{}
	d := presence(c, "presence-bench", `{"user_id":"joiner","user_info":{"name":"J"}}`)
	b.ReportAllocs()
	for b.Loop() {
		if err := h.Subscribe(c, d); err != nil {
			b.Fatal(err)
		}
		h.Unsubscribe(c, "presence-bench")
	}
}
