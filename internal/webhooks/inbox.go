package webhooks

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/internal/hub"
	"github.com/heraldhq/herald/internal/metrics"
)

// Inbox is the bounded queue between the hub (it is the hub's Observer)
// and a Dispatcher. It exists on its own so that the server can build it,
// then the hub, then the Dispatcher with what the hub built (the broker's
// shared queue in cluster mode): Deps.Inbox.
type Inbox struct {
	in      chan hub.Event
	stopped atomic.Bool  // the Dispatcher's Run has finished (or Close ran): Observe drops
	out     atomic.Int64 // events dropped as inbox_full since the loop's last warning
	m       *metrics.WebhookMetrics
}

var _ hub.Observer = (*Inbox)(nil)

// NewInbox makes an inbox counting its drops in m (nil: a private registry).
func NewInbox(m *metrics.WebhookMetrics) *Inbox {
	if m == nil {
		m = metrics.NewWebhooks(prometheus.NewRegistry())
	}
	return &Inbox{in: make(chan hub.Event, inboxSize), m: m}
}

// Observe queues e for the Dispatcher's loop (in cluster mode, for the
// writer that appends it to the shared queue). It never blocks: the hub
// calls it with its locks held. When the inbox is full the event is
// dropped and counted; the loop logs the warning, so no I/O happens here.
func (b *Inbox) Observe(e hub.Event) {
	if b.stopped.Load() {
		b.m.Dropped.WithLabelValues(e.AppID, "stopped").Inc()
		return
	}
	select {
	case b.in <- e:
	default:
		b.m.Dropped.WithLabelValues(e.AppID, "inbox_full").Inc()
		b.out.Add(1)
	}
}
