// Package testlog is a goroutine-safe, bounded log sink for tests: a server
// or component logs into it, and a failing test prints its tail.
package testlog

import "sync"

const (
	keepMax = 1 << 20   // past this the oldest bytes go...
	keepMin = 256 << 10 // ...down to this much
)

// Buffer keeps the last 256 KiB to 1 MiB written to it. The zero value is
// ready to use.
type Buffer struct {
	mu sync.Mutex
	b  []byte
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.b = append(b.b, p...)
	if len(b.b) > keepMax {
		b.b = append([]byte(nil), b.b[len(b.b)-keepMin:]...)
	}
	return len(p), nil
}

// String is everything kept.
func (b *Buffer) String() string { return b.Tail(keepMax) }

// Tail is the last n bytes kept, marked with "..." when cut.
func (b *Buffer) Tail(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.b) > n {
		return "..." + string(b.b[len(b.b)-n:])
	}
	return string(b.b)
}
