package hub

import (
	"strconv"
	"testing"

	"github.com/heraldhq/herald/internal/protocol"
)

type nopSink struct{}

func (nopSink) Send([]byte) error  { return nil }
func (nopSink) Queue([]byte) error { return nil }
func (nopSink) Close(int, string)  {}

// BenchmarkBroadcast1000 and BenchmarkBroadcast10k measure the hub's own
// cost of one event to that many local subscribers (the transport is a
// no-op sink here).
func BenchmarkBroadcast1000(b *testing.B) { benchBroadcast(b, 1000) }
func BenchmarkBroadcast10k(b *testing.B)  { benchBroadcast(b, 10_000) }

func benchBroadcast(b *testing.B, n int) {
	h := newHub(b, nil)
	for range n {
		c, _ := connect(b, h, testApp)
		c.sink = nopSink{}
		if err := h.Subscribe(ctx, c, protocol.SubscribeData{Channel: "bench"}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		h.Publish(ctx, "1", "bench", "ev", `{"price":123.45}`, "")
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
		if err := h.Subscribe(ctx, c, presence(c, "presence-bench", `{"user_id":"`+strconv.Itoa(i)+`"}`)); err != nil {
			b.Fatal(err)
		}
	}
	c, _ := connect(b, h, &app)
	c.sink = nopSink{}
	d := presence(c, "presence-bench", `{"user_id":"joiner","user_info":{"name":"J"}}`)
	b.ReportAllocs()
	for b.Loop() {
		if err := h.Subscribe(ctx, c, d); err != nil {
			b.Fatal(err)
		}
		h.Unsubscribe(ctx, c, "presence-bench")
	}
}
