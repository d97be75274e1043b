package httpapi

import (
	"context"
	"math"
	"time"

	"github.com/heraldhq/herald/internal/apps"
)

// allow takes a token from app's API bucket, which the backend keeps for
// the whole cluster; when there is none it reports how long until the next.
func (a *API) allow(ctx context.Context, app *apps.App) (time.Duration, bool, error) {
	rate := app.APIRateLimit
	if rate <= 0 {
		return 0, true, nil
	}
	burst := app.APIRateBurst
	if burst <= 0 {
		burst = int(math.Max(1, rate))
	}
	return a.b.Allow(ctx, "api:"+app.ID, rate, burst)
}
