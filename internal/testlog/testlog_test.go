package testlog

import (
	"strings"
	"sync"
	"testing"
)

func TestBufferKeepsTheTail(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				b.Write([]byte(strings.Repeat("x", 199) + "\n"))
			}
		}()
	}
	wg.Wait()
	b.Write([]byte("last line\n"))
	if n := len(b.String()); n < keepMin || n > keepMax+3 {
		t.Fatalf("kept %d bytes, want %d to %d", n, keepMin, keepMax)
	}
	if got := b.Tail(10); got != "...last line\n" {
		t.Fatalf("tail %q", got)
	}
	if got := b.Tail(1 << 30); !strings.HasSuffix(got, "last line\n") || strings.HasPrefix(got, "...") {
		t.Fatalf("whole buffer %q...", got[:20])
	}
}
