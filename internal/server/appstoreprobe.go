package server

import (
	"context"
	"log/slog"

	"github.com/heraldhq/herald/internal/config"
)

// AppStoreHasApps reports whether the app store Run opens for cfg
// (database_url, else <data_dir>/apps.db when that file exists) holds apps.
// Those are then served instead of the embedded default app, so `herald
// serve` asks before EnsureDefaultApp: no default-app.json is created, and
// no credentials printed, for an app that would not be served. cfg is read
// as before ApplyDefaults (an empty DataDir is DefaultDataDir); a missing
// apps.db is not created.
func AppStoreHasApps(ctx context.Context, cfg config.Config) (bool, error) {
	if cfg.DataDir == "" {
		cfg.DataDir = config.DefaultDataDir
	}
	s, err := openSQLStore(ctx, cfg, false, slog.New(slog.DiscardHandler), nil)
	if err != nil || s == nil {
		return false, err
	}
	defer s.Close()
	list, err := s.List(ctx)
	return len(list) > 0, err
}
