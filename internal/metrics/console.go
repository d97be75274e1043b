package metrics

import "github.com/prometheus/client_golang/prometheus"

// ConsoleMetrics are the collectors of internal/console (the dashboard's
// debug console).
type ConsoleMetrics struct {
	// Dropped counts console events not shown to a viewer because its
	// buffer was full (the viewer reads slower than the app produces):
	// the feed drops rather than slow delivery down.
	Dropped *prometheus.CounterVec
}

// NewConsole creates the debug console's collectors and registers them on reg.
func NewConsole(reg prometheus.Registerer) *ConsoleMetrics {
	return &ConsoleMetrics{
		Dropped: counter(reg, "herald_console_events_dropped_total",
			"Debug console events dropped because a viewer fell behind.", "app_id"),
	}
}
