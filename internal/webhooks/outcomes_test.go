package webhooks

import (
	"slices"
	"testing"

	"github.com/heraldhq/herald/internal/metrics"
)

// metrics.WebhookOutcomes (the series initialised at zero) lists exactly
// the outcomes deliver reports.
func TestOutcomesMatchMetrics(t *testing.T) {
	ours := []string{outcomeSuccess, outcomeHTTPStatus, outcomeTimeout, outcomeNetwork, outcomeInvalidURL,
		outcomeEndpointRemoved, outcomeAppNotFound, outcomeAppLookup}
	if !slices.Equal(ours, metrics.WebhookOutcomes) {
		t.Fatalf("outcomes %q, metrics.WebhookOutcomes %q", ours, metrics.WebhookOutcomes)
	}
}
