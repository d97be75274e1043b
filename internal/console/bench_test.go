package console

import "testing"

var benchEvent = Event{Type: ClientEvent, Channel: "private-room", Event: "client-typing", SocketID: "123.456",
	Bytes: 42, Data: `{"user":"alice","typing":true,"at":1764340000}`}

// BenchmarkEmitUnwatched is the cost the hot paths pay while no console is
// open: one atomic load (the call sites' Watching guard is the same check).
func BenchmarkEmitUnwatched(b *testing.B) {
	f := New(Config{}, Deps{})
	b.ReportAllocs()
	for b.Loop() {
		f.Emit("1", benchEvent)
	}
}

// BenchmarkEmitOtherAppWatched: a console is open on another app: one
// atomic load and a lock-free map read.
func BenchmarkEmitOtherAppWatched(b *testing.B) {
	f := New(Config{}, Deps{})
	_, cancel, _ := f.Watch("2", Filter{})
	defer cancel()
	b.ReportAllocs()
	for b.Loop() {
		f.Emit("1", benchEvent)
	}
}

// BenchmarkWatchingUnwatched is the call sites' guard.
func BenchmarkWatchingUnwatched(b *testing.B) {
	f := New(Config{}, Deps{})
	n := 0
	for b.Loop() {
		if f.Watching("1") {
			n++
		}
	}
	_ = n
}

// BenchmarkEmitWatched: one viewer of the app, reading as fast as it can.
func BenchmarkEmitWatched(b *testing.B) {
	f := New(Config{}, Deps{})
	v, cancel, _ := f.Watch("1", Filter{})
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-v.Events():
			case <-v.Done():
				close(done)
				return
			}
		}
	}()
	b.ReportAllocs()
	for b.Loop() {
		f.Emit("1", benchEvent)
	}
	b.StopTimer()
	cancel()
	<-done
}

// BenchmarkEmitOtherAppWatchedRemotely: another node watches another app:
// one atomic load and two lock-free map reads.
func BenchmarkEmitOtherAppWatchedRemotely(b *testing.B) {
	f := New(Config{}, Deps{Forward: func(string, Event) {}})
	f.SetRemote(map[string]bool{"2": true})
	b.ReportAllocs()
	for b.Loop() {
		f.Emit("1", benchEvent)
	}
}
