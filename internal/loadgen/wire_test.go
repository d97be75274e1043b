package loadgen

import (
	"testing"
	"time"
)

func TestObserve(t *testing.T) {
	s := &fanSub{}
	type step struct {
		seq              int64
		fresh, reordered bool
	}
	for i, st := range []step{{1, true, false}, {3, true, false}, {2, true, true}, {2, false, true}, {3, false, true},
		{4, true, false}, {100, true, false}, {99, true, true}, {99, false, true}, {1, true, true}, {0, false, false}} {
		f, r := s.observe(st.seq)
		if f != st.fresh || r != st.reordered {
			t.Fatalf("step %d seq %d: fresh=%v reordered=%v, want %v %v", i, st.seq, f, r, st.fresh, st.reordered)
		}
	}
	// A jump of exactly 64 keeps the old last in the window: its repeat is
	// a duplicate, and the numbers skipped in between are still fresh.
	s = &fanSub{}
	for i, st := range []step{{1, true, false}, {65, true, false}, {1, false, true}, {2, true, true}, {64, true, true}, {64, false, true}} {
		f, r := s.observe(st.seq)
		if f != st.fresh || r != st.reordered {
			t.Fatalf("window step %d seq %d: fresh=%v reordered=%v, want %v %v", i, st.seq, f, r, st.fresh, st.reordered)
		}
	}
}

func TestPayloadRoundTrip(t *testing.T) {
	p := makePayload(7, 12345, 1700000000123456789, 100)
	if len(p) != 100 {
		t.Fatalf("len %d", len(p))
	}
	ch, seq, ts, ok := parsePayload([]byte(p))
	if !ok || ch != 7 || seq != 12345 || ts != 1700000000123456789 {
		t.Fatalf("got %d %d %d %v", ch, seq, ts, ok)
	}
}

func TestParseEnvelope(t *testing.T) {
	var m Message
	in := `{"event":"pusher_internal:member_added","data":"{\"user_id\":\"12\"}","channel":"presence-x","extra":{"a":[1,"}"]}}`
	if !parseEnvelope([]byte(in), &m) {
		t.Fatal("not parsed")
	}
	if string(m.Event) != "pusher_internal:member_added" || string(m.Channel) != "presence-x" || m.DataString() != `{"user_id":"12"}` {
		t.Fatalf("%q %q %q", m.Event, m.Channel, m.DataString())
	}
	if !parseEnvelope([]byte(`{"event":"pusher:error","data":{"code":null,"message":"x"}}`), &m) || m.DataString() != `{"code":null,"message":"x"}` {
		t.Fatalf("object data: %q", m.Data)
	}
}

// BenchmarkParseEnvelope: a fan-out message as the bench server sends it,
// and a presence event with object data.
func BenchmarkParseEnvelope(b *testing.B) {
	for _, bc := range []struct{ name, msg string }{
		{"fanout", `{"event":"herald-bench","channel":"bench-fanout-3","data":"` + makePayload(3, 12, 1700000000123456789, 120) + `"}`},
		{"presence", `{"event":"pusher_internal:member_added","channel":"presence-x","data":"{\"user_id\":\"12\",\"user_info\":{\"name\":\"n\"}}","user_id":"12","extra":{"a":[1,"}"]}}`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			in := []byte(bc.msg)
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			var m Message
			for b.Loop() {
				if !parseEnvelope(in, &m) {
					b.Fatal("not parsed")
				}
			}
		})
	}
}

func TestFrames(t *testing.T) {
	for _, n := range []int{0, 10, 125, 126, 70000} {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(i)
		}
		f := appendMaskedFrame(nil, 1, p)
		fin, op, got, total, err := parseFrame(f, 1<<20)
		if err != nil || !fin || op != 1 || total != len(f) || len(got) != n {
			t.Fatalf("n=%d: %v %v %d %d %d", n, err, fin, op, total, len(got))
		}
		for i := range got {
			if got[i] != byte(i) {
				t.Fatalf("n=%d: byte %d", n, i)
			}
		}
		if _, _, _, total, _ := parseFrame(f[:len(f)-1], 1<<20); total != 0 {
			t.Fatalf("n=%d: partial frame parsed", n)
		}
	}
}

func TestHist(t *testing.T) {
	h := &Hist{}
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i) * time.Millisecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Millisecond}, {0.99, 990 * time.Millisecond}, {1, time.Second}} {
		got := h.Quantile(c.q)
		if d := got - c.want; d < -c.want/50 || d > c.want/50 {
			t.Errorf("q%.2f = %v, want about %v", c.q, got, c.want)
		}
	}
}

// TestHandleNoAllocs keeps the read path of a delivery free of heap
// allocations: envelope parsing, payload parsing, accounting, histogram.
func TestHandleNoAllocs(t *testing.T) {
	h := &fanoutHandler{}
	h.hist.Store(&Hist{})
	p := &Pool{h: h}
	c := &Conn{pool: p, Data: &fanSub{ch: 3}}
	var seq int64
	frames := make([][]byte, 200)
	for i := range frames {
		frames[i] = []byte(`{"event":"herald-bench","channel":"bench-fanout-3","data":"` + makePayload(3, int64(i+1), time.Now().UnixNano(), 200) + `"}`)
	}
	other := []byte(`{"event":"pusher_internal:subscription_succeeded","channel":"bench-fanout-3","data":"{}"}`)
	n := testing.AllocsPerRun(100, func() {
		p.handle(c, frames[seq%int64(len(frames))])
		p.handle(c, other)
		seq++
	})
	if n != 0 {
		t.Fatalf("%v allocations per delivery", n)
	}
	if h.unique.Load() != seq || h.misrouted.Load() != 0 || p.ProtoErrors.Load() != 0 {
		t.Fatalf("unique %d misrouted %d errors %d", h.unique.Load(), h.misrouted.Load(), p.ProtoErrors.Load())
	}
}
