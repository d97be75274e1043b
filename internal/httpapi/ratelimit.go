package httpapi

import (
	"context"
	"time"

	"github.com/heraldhq/herald/internal/apps"
)

// allow takes a token from app's API bucket, which the backend keeps for
// the whole cluster; when there is none it reports how long until the next.
func (a *API) allow(ctx context.Context, app *apps.App) (time.Duration, bool, error) {
	if app.APIRateLimit <= 0 {
		return 0, true, nil // no limit: no round trip to the shared state
	}
	// A burst of 0 is the broker's default, max(1, rate).
	return a.b.Allow(ctx, "api:"+app.ID, app.APIRateLimit, app.APIRateBurst)
}
