package ws

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/lesismal/nbio/logging"
)

// nbio logs through a process-wide logger; route it into the most recently
// built server's slog logger so its lines share our format and level.
// Its start-up chatter is demoted to debug.
var (
	nbioLog     atomic.Pointer[slog.Logger]
	nbioLogOnce sync.Once
)

type nbioLogger struct{}

func (nbioLogger) SetLevel(int)                  {}
func (nbioLogger) Debug(format string, v ...any) { nbioEmit(slog.LevelDebug, format, v) }
func (nbioLogger) Info(format string, v ...any)  { nbioEmit(slog.LevelDebug, format, v) }
func (nbioLogger) Warn(format string, v ...any)  { nbioEmit(slog.LevelWarn, format, v) }
func (nbioLogger) Error(format string, v ...any) { nbioEmit(slog.LevelError, format, v) }

func nbioEmit(level slog.Level, format string, v []any) {
	l := nbioLog.Load()
	if l == nil || !l.Enabled(context.Background(), level) {
		return
	}
	l.Log(context.Background(), level, fmt.Sprintf(format, v...))
}

func routeNbioLogs(l *slog.Logger) {
	nbioLog.Store(l.With("component", "nbio"))
	nbioLogOnce.Do(func() { logging.SetLogger(nbioLogger{}) })
}
