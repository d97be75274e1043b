package test

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// TestBurstFanout: bursts of events to many subscribers arrive complete and
// in publish order on every connection, while their frames are coalesced
// into shared writes (several frames per TCP segment, frames split across
// segments). Two publishers run at once on two channels; every subscriber
// holds both, so per-connection order must hold per publisher.
func TestBurstFanout(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	const subs, batches, perBatch = 40, 60, 10
	chans := []string{"burst-a", "burst-b"}

	clients := make([]*wsClient, subs)
	for i := range clients {
		c := connect(t, s)
		for _, ch := range chans {
			c.subscribe(ch)
		}
		clients[i] = c
	}

	var wg sync.WaitGroup
	errs := make(chan error, len(chans))
	for _, ch := range chans {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range batches {
				items := make([]map[string]any, perBatch)
				for i := range items {
					seq := b*perBatch + i
					// Sizes vary so frame boundaries fall anywhere in a write.
					items[i] = map[string]any{"name": "seq", "channel": ch,
						"data": strconv.Itoa(seq) + ":" + strings.Repeat("x", (seq*37)%700)}
				}
				if r := s.post("/apps/1/batch_events", map[string]any{"batch": items}); r.status != http.StatusOK {
					errs <- fmt.Errorf("batch_events on %s: %v", ch, r)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	const total = batches * perBatch
	for i, c := range clients {
		next := map[string]int{}
		for n := 0; n < total*len(chans); n++ {
			f := c.next()
			if f.Event != "seq" {
				t.Fatalf("client %d: unexpected frame %s", i, f.raw)
			}
			seq, pad, _ := strings.Cut(f.dataString(t), ":")
			want := next[f.Channel]
			if seq != strconv.Itoa(want) || len(pad) != (want*37)%700 {
				t.Fatalf("client %d, %s: got event %s (%d bytes of padding), want %d", i, f.Channel, seq, len(pad), want)
			}
			next[f.Channel]++
		}
	}
	clients[0].expectQuiet("after the burst")
}

// TestOrderAcrossWritePaths: a connection on a large channel (its events
// are queued for the flushers) and on a small one (written directly when
// nothing is pending) gets events of both in the order they were published.
func TestOrderAcrossWritePaths(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	const others = 70 // more than the hub's direct fan-out limit (64)
	watcher := connect(t, s)
	watcher.subscribe("order-big")
	watcher.subscribe("order-small")
	for range others {
		c := connect(t, s)
		c.subscribe("order-big")
	}
	const events = 300
	for i := range events / 10 {
		items := make([]map[string]any, 10)
		for j := range items {
			seq := i*10 + j
			ch := "order-big"
			if seq%3 == 1 {
				ch = "order-small"
			}
			items[j] = map[string]any{"name": "seq", "channel": ch, "data": strconv.Itoa(seq)}
		}
		if r := s.post("/apps/1/batch_events", map[string]any{"batch": items}); r.status != http.StatusOK {
			t.Fatalf("batch_events: %v", r)
		}
	}
	for want := range events {
		f := watcher.next()
		if f.Event != "seq" || f.dataString(t) != strconv.Itoa(want) {
			t.Fatalf("want event %d, got %s", want, f.raw)
		}
	}
}
