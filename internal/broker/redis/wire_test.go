package redis

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/heraldhq/herald/internal/broker"
)

func TestMessageRoundTrip(t *testing.T) {
	topic := broker.Topic{App: "1", Kind: broker.ChannelTopic, Name: "c"}
	for _, m := range []broker.Message{
		{Topic: topic, Kind: broker.Frame, Frame: []byte(`{"event":"e"}`)},
		{Topic: topic, Kind: broker.Frame, Frame: []byte("x"), Except: "123.456", Version: 1<<53 - 1},
		{Topic: topic, Kind: broker.Terminate},
		{Topic: topic, Kind: broker.Frame, Version: 1781234567890123},
	} {
		got, err := decodeMessage(topic, string(encodeMessage(m)))
		if err != nil {
			t.Fatalf("%+v: %v", m, err)
		}
		if got.Topic != m.Topic || got.Kind != m.Kind || got.Version != m.Version || got.Except != m.Except || !bytes.Equal(got.Frame, m.Frame) {
			t.Fatalf("round trip %+v -> %+v", m, got)
		}
	}
	// The tail a script splices a version before gives the same bytes.
	m := broker.Message{Kind: broker.Frame, Frame: []byte("f"), Except: "1.2", Version: 300}
	spliced := frameHead + string(binary.AppendUvarint(nil, 300)) + messageTail("1.2", []byte("f"))
	if spliced != string(encodeMessage(m)) {
		t.Fatalf("spliced %q != encoded %q", spliced, encodeMessage(m))
	}
}

func TestDecodeMalformed(t *testing.T) {
	for name, p := range map[string]string{
		"empty":          "",
		"short":          "\x00\x00",
		"unknown kind":   "\x07\x00\x00",
		"bad version":    "\x00\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x00",
		"except too big": "\x00\x00\x05ab",
		"except > 255":   "\x00\x00\x80\x02" + string(make([]byte, 300)),
		"cut varint":     "\x00\x80",
	} {
		if _, err := decodeMessage(broker.Topic{}, p); !errors.Is(err, errMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestCacheEncoding(t *testing.T) {
	for _, c := range [][2]string{{"ev", `{"a":1}`}, {"", ""}, {"e", ""}} {
		ev, data, ok := decodeCache(encodeCache(c[0], c[1]))
		if !ok || ev != c[0] || data != c[1] {
			t.Fatalf("%q: %q %q %v", c, ev, data, ok)
		}
	}
	if _, _, ok := decodeCache("\x09ab"); ok {
		t.Fatal("length past the end accepted")
	}
}

func FuzzDecodeMessage(f *testing.F) {
	f.Add(string(encodeMessage(broker.Message{Kind: broker.Frame, Frame: []byte("{}"), Except: "1.1", Version: 7})))
	f.Add(string(encodeMessage(broker.Message{Kind: broker.Terminate})))
	f.Add("\x00\x80")
	f.Fuzz(func(t *testing.T, p string) {
		topic := broker.Topic{App: "a", Kind: broker.UserTopic, Name: "u"}
		m, err := decodeMessage(topic, p)
		if err != nil {
			return
		}
		// What decodes re-encodes to a payload that decodes the same.
		again, err := decodeMessage(topic, string(encodeMessage(m)))
		if err != nil || again.Kind != m.Kind || again.Version != m.Version || again.Except != m.Except || !bytes.Equal(again.Frame, m.Frame) {
			t.Fatalf("%q: %+v then %+v (%v)", p, m, again, err)
		}
		_, _, _ = decodeCache(p)
	})
}
