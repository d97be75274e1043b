package logthrottle

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

func newLogger(buf *bytes.Buffer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: level}))
}

// TestPerKeyBudgetAndSummary: one key floods; it gets PerKey lines per
// window and the rest is one summary line with the exact count.
func TestPerKeyBudgetAndSummary(t *testing.T) {
	var buf bytes.Buffer
	l := newLogger(&buf, slog.LevelInfo)
	th := New(Config{PerKey: 5, PerApp: 100}, l)
	for range 10_000 {
		th.Log(l, slog.LevelInfo, "socket-1", "app-1", "subscription refused", "channel", "x")
	}
	if n := strings.Count(buf.String(), "subscription refused"); n != 5 {
		t.Fatalf("%d lines written in the window, want 5", n)
	}
	th.Flush()
	out := buf.String()
	if !strings.Contains(out, "similar log lines suppressed") || !strings.Contains(out, "suppressed=9995") ||
		!strings.Contains(out, `lines="subscription refused: 9995"`) || !strings.Contains(out, "app_id=app-1") {
		t.Fatalf("summary missing or wrong:\n%s", out)
	}
	if lines := strings.Count(out, "\n"); lines != 6 {
		t.Fatalf("%d lines for 10,000 attempts, want 5 + 1 summary:\n%s", lines, out)
	}
	// A new window: the budget is back.
	buf.Reset()
	th.Log(l, slog.LevelInfo, "socket-1", "app-1", "subscription refused")
	if !strings.Contains(buf.String(), "subscription refused") {
		t.Fatal("budget not refilled after the window")
	}
	th.Flush()
}

// TestPerAppBudget: many keys of one app share the app's budget; another
// app is not affected.
func TestPerAppBudget(t *testing.T) {
	var buf bytes.Buffer
	l := newLogger(&buf, slog.LevelInfo)
	th := New(Config{PerKey: 5, PerApp: 20}, l)
	for i := range 1000 {
		th.Log(l, slog.LevelWarn, "socket-"+string(rune('a'+i%26))+string(rune('a'+i/26)), "busy", "auth failed")
	}
	th.Log(l, slog.LevelWarn, "socket-z", "quiet", "auth failed")
	if n := strings.Count(buf.String(), "msg=\"auth failed\""); n != 21 {
		t.Fatalf("%d lines, want 20 for the busy app + 1 for the quiet one", n)
	}
	th.Flush()
	if !strings.Contains(buf.String(), "level=WARN msg=\"similar log lines suppressed\" component=logthrottle app_id=busy suppressed=980") {
		t.Fatalf("summary at the suppressed lines' level with the count:\n%s", buf.String())
	}
}

// TestKeysAreBounded: past MaxKeys, new keys share one budget, so a flood
// from many addresses cannot grow the state or the log.
func TestKeysAreBounded(t *testing.T) {
	var buf bytes.Buffer
	l := newLogger(&buf, slog.LevelInfo)
	th := New(Config{PerKey: 1, PerApp: 1_000_000, MaxKeys: 10}, l)
	for i := range 1000 {
		th.Log(l, slog.LevelInfo, strings.Repeat("k", i+1), "", "connection refused")
	}
	if n := strings.Count(buf.String(), "connection refused"); n != 11 {
		t.Fatalf("%d lines, want 10 keys + 1 for the shared overflow budget", n)
	}
	th.mu.Lock()
	keys := len(th.keys)
	th.mu.Unlock()
	if keys > 11 {
		t.Fatalf("%d keys tracked, want at most 11", keys)
	}
	th.Flush()
	if !strings.Contains(buf.String(), "app_id=(unknown) suppressed=989") {
		t.Fatalf("summary:\n%s", buf.String())
	}
}

// TestDisabledLevelCostsNothing: lines below the logger's level are neither
// written nor counted.
func TestDisabledLevelCostsNothing(t *testing.T) {
	var buf bytes.Buffer
	l := newLogger(&buf, slog.LevelInfo)
	th := New(Config{PerKey: 1}, l)
	for range 100 {
		th.Log(l, slog.LevelDebug, "k", "a", "protocol error")
	}
	th.Flush()
	if buf.Len() != 0 {
		t.Fatalf("debug lines produced output: %s", buf.String())
	}
}

// TestNilThrottleWritesAll and concurrent use (run with -race).
func TestNilThrottleAndConcurrency(t *testing.T) {
	var buf bytes.Buffer
	l := newLogger(&buf, slog.LevelInfo)
	var nilT *Throttle
	nilT.Log(l, slog.LevelInfo, "k", "a", "written")
	if !strings.Contains(buf.String(), "written") {
		t.Fatal("a nil throttle must write every line")
	}
	var mu sync.Mutex
	var out bytes.Buffer
	sl := slog.New(slog.NewTextHandler(lockedWriter{&mu, &out}, nil))
	th := New(Config{PerKey: 3, PerApp: 50}, sl)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				th.Log(sl, slog.LevelInfo, string(rune('a'+g)), "app", "line", "i", i)
				if i%250 == 0 {
					th.Flush()
				}
			}
		}()
	}
	wg.Wait()
	th.Flush()
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
