package hub

import "github.com/heraldhq/herald/internal/apps"

// EventKind names a state change the hub reports to its Observer (the
// webhook dispatcher). The names are Pusher's webhook event names.
type EventKind string

const (
	ChannelOccupied   EventKind = "channel_occupied"
	ChannelVacated    EventKind = "channel_vacated"
	MemberAdded       EventKind = "member_added"
	MemberRemoved     EventKind = "member_removed"
	ClientEvent       EventKind = "client_event"
	CacheMiss         EventKind = "cache_miss"
	SubscriptionCount EventKind = "subscription_count"
)

// Event is one state change, reported in the order it happened for its
// channel. Fields that do not apply to a Kind are zero.
type Event struct {
	Kind    EventKind
	AppID   string
	Channel string
	TimeMS  int64 // unix milliseconds when it happened

	UserID            string // member_added, member_removed; client_event on presence channels
	Event             string // client_event: the client event's name
	Data              string // client_event: data as a JSON string's content
	HasData           bool   // client_event: whether the client sent data
	SocketID          string // client_event: the sender
	SubscriptionCount int    // subscription_count
}

// Observer receives events. Observe may be called with a connection's lock
// held, so it must not block and must not call back into the hub: queue and
// return.
type Observer interface {
	Observe(Event)
}

// hasHooks says whether app wants webhooks: Join and Leave then ask the
// broker to queue their transitions' hooks (a broker with a shared queue
// does, and says HooksQueued; the hub then reports nothing itself).
func hasHooks(app *apps.App) bool { return len(app.Webhooks) > 0 }

// emit reports e when the app has webhooks configured; apps without
// any pay nothing.
func (h *Hub) emit(c *Client, e Event) { h.emitApp(c.curApp(), e) }

func (h *Hub) emitApp(app *apps.App, e Event) {
	if h.obs == nil || !hasHooks(app) {
		return
	}
	e.AppID = app.ID
	e.TimeMS = h.now().UnixMilli()
	h.obs.Observe(e)
}
