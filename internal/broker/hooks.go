package broker

import "context"

// Hook kinds: Pusher's webhook event names.
const (
	HookOccupied          = "channel_occupied"
	HookVacated           = "channel_vacated"
	HookMemberAdded       = "member_added"
	HookMemberRemoved     = "member_removed"
	HookClientEvent       = "client_event"
	HookCacheMiss         = "cache_miss"
	HookSubscriptionCount = "subscription_count"
)

// Hook is one webhook event in a shared queue.
type Hook struct {
	ID      string // the queue entry's id, set by ReadHooks; ids grow in queue order
	App     string
	Kind    string // one of the Hook* names
	Channel string
	TimeMS  int64 // unix ms when it happened (for transitions: the shared state's clock)

	UserID            string // member_added, member_removed; client_event on presence channels
	Event             string // client_event
	Data              string // client_event
	HasData           bool   // client_event
	SocketID          string // client_event
	SubscriptionCount int    // subscription_count
}

// HookQueue is the shared webhook queue of cluster mode: an adapter that
// has one implements it beside Broker (the memory broker has none; one node
// keeps its own durable queue).
//
// The transitions' hooks (channel_occupied, channel_vacated, member_added,
// member_removed) are appended by the broker itself, in the same atomic
// step that decides the transition, when the request asked for it
// (JoinRequest.Hooks, LeaveRequest.Hooks; reaped and re-synced changes
// follow what the app's last transition asked). The queue therefore holds
// them in the order the cluster state changed, whichever node decided them;
// results and changes then say HooksQueued and the caller reports nothing
// itself. Other hooks are appended with AddHook by the node that saw them.
//
// One node at a time delivers an app's queue: the one holding the app's
// hook lease (ClaimHooks). Entries stay queued until AckHooks, so the next
// holder of a dead node's leases delivers what it left (at least once).
type HookQueue interface {
	// ClaimHooks renews this node's hook leases of the apps in apps, takes
	// those no node holds, releases the ones it holds of apps not listed,
	// and returns the apps whose queues this node delivers now (held).
	//
	// fresh lists the apps of held whose lease this call took rather than
	// renewed, or that the node cannot be sure it held without a break
	// since its last successful call (an earlier call failed): another
	// node may have delivered and acked entries meanwhile, so whatever
	// the caller remembers of such an app is stale and it reads the queue
	// again from the oldest entry. On an error held and fresh are nil.
	ClaimHooks(ctx context.Context, apps []string) (held, fresh []string, err error)
	// ReadHooks returns up to n entries of app's queue that come after the
	// entry with id after ("" = from the oldest), oldest first.
	ReadHooks(ctx context.Context, app, after string, n int) ([]Hook, error)
	// AckHooks removes delivered (or given up) entries, only while this
	// node holds app's hook lease; otherwise it removes nothing and
	// succeeds: the entries are the holder's to deliver (again). An ack
	// racing the next holder's reads could hide a join from it, which
	// would then send the leave that join cancelled.
	AckHooks(ctx context.Context, app string, ids []string) error
	// AddHook appends h to its app's queue.
	AddHook(ctx context.Context, h Hook) error
}
