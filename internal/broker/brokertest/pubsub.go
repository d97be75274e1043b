package brokertest

import (
	"fmt"
	"testing"

	"github.com/heraldhq/herald/internal/broker"
)

// testPublish: messages reach every listening node, the publisher's too, in
// publish order and intact; a node that does not listen gets none.
func testPublish(t *testing.T, s *suite) {
	ns := s.nodes(t, 3)
	a, b, c := ns[0], ns[1], ns[2]
	ctx := t.Context()
	tp := s.chTopic("news")
	noErr(t, "Listen", a.Listen(ctx, tp))
	noErr(t, "Listen", b.Listen(ctx, tp))

	var want []broker.Message
	for i := range 9 {
		m := broker.Message{Topic: tp, Kind: broker.Frame, Frame: fmt.Appendf(nil, "m%d", i), Except: fmt.Sprintf("1.%d", i), Version: uint64(i)}
		if i == 8 {
			m = broker.Message{Topic: tp, Kind: broker.Terminate}
		}
		noErr(t, "Publish", ns[i%3].Publish(ctx, m)) // c publishes without listening
		want = append(want, m)
	}
	s.wantMessages(t, tp, want, a, b)
	noErr(t, "Publish to a topic nobody listens to", a.Publish(ctx, broker.Message{Topic: s.chTopic("nobody"), Frame: []byte("x")}))

	if !s.multi(t) {
		return
	}
	// c did not listen: after it does, the next message is its first.
	noErr(t, "Listen", c.Listen(ctx, tp))
	noErr(t, "Publish", a.Publish(ctx, broker.Message{Topic: tp, Frame: []byte("after")}))
	got := s.settled(t, tp, c, b)
	if f := Frames(got[0]); len(f) != 1 || f[0] != "after" {
		t.Fatalf("non-listening node got %q, want only the message published after it listened", f)
	}
	if f := Frames(got[1]); f[len(f)-1] != "after" {
		t.Fatalf("listening node's last message %q, want after", f[len(f)-1])
	}
}

// testListenCounted: Listen is counted, and a topic is its app, kind and
// name together.
func testListenCounted(t *testing.T, s *suite) {
	ns := s.nodes(t, 2)
	a, b := ns[0], ns[1]
	ctx := t.Context()
	tp := s.chTopic("x")
	noErr(t, "Listen", a.Listen(ctx, tp))
	noErr(t, "Listen", a.Listen(ctx, tp))
	a.Unlisten(tp)

	// Topics that differ from tp in one part only; a never listened to them.
	others := []broker.Topic{
		s.topic(broker.UserTopic, "x"),
		s.topic(broker.WatchTopic, "x"),
		{App: s.app + "-other", Kind: broker.ChannelTopic, Name: "x"},
		s.chTopic("x2"),
	}
	for _, o := range others {
		noErr(t, "Publish", b.Publish(ctx, broker.Message{Topic: o, Frame: []byte("other")}))
	}
	noErr(t, "Publish", b.Publish(ctx, broker.Message{Topic: tp, Frame: []byte("one")}))
	noErr(t, "Publish", a.Publish(ctx, broker.Message{Topic: tp, Frame: []byte("two")}))
	// Once the marker is in, nothing (a second copy included) can follow.
	s.wantFrames(t, tp, []string{"one", "two"}, a)
	if got := a.rec.Messages(); len(got) != 3 {
		t.Fatalf("after two Listens and one Unlisten got %s, want one, two and the marker on %v only", fmtMessages(got), tp)
	}
}
