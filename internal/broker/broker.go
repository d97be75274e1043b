// Package broker is the scaling seam: everything that must be right for the
// whole cluster, not one node, goes through a Broker. The hub keeps only its
// node's connections and fans messages out to them; the broker carries
// messages between nodes (topics) and owns the shared state that decides
// cluster-wide transitions: the first subscription of a channel anywhere
// (occupied), the first connection of a presence user anywhere (member
// added), the last ones (member removed, vacated), the users' sign-ins,
// cache channels' last events, connection quotas and API rate limits.
//
// Two adapters implement it: memory (one node, the default) and redis
// (many nodes sharing one Redis). brokertest holds the conformance suite
// both pass.
//
// # Rules every adapter keeps
//
//   - A transition (occupied, new member, member gone, vacated, online,
//     offline) is reported to exactly one caller in the cluster, and the
//     frame the caller passed for it is published on the topic atomically
//     with the state change, so every node sees a channel's member events in
//     the order the state changed.
//   - Messages published on one topic reach every listening node in publish
//     order, the publishing node included (it gets its own messages back
//     through Handler.Deliver: one delivery path for local and remote).
//   - Presence member events carry a per-channel version that strictly
//     increases with each member change; a JoinResult carries the version of
//     its member snapshot, so a joining connection gets exactly the events
//     after its snapshot.
//   - Calls take a context and fail with an error wrapping ErrUnavailable
//     when the shared state cannot be reached; nothing is then half-done
//     from the caller's point of view except where a method says so.
package broker

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// ErrUnavailable is wrapped by every error caused by the shared backend
// being unreachable (Redis down, timeouts).
var ErrUnavailable = errors.New("broker unavailable")

// TopicKind says what a topic carries.
type TopicKind uint8

const (
	// ChannelTopic carries the events of channel Name: API events, client
	// events, member events, subscription counts.
	ChannelTopic TopicKind = iota + 1
	// UserTopic carries what goes to the connections signed in as user Name:
	// #server-to-user-<id> events and terminate requests.
	UserTopic
	// WatchTopic carries user Name's online / offline watchlist events to
	// the connections watching it.
	WatchTopic
)

// Topic is what a node listens to while it has local interest in it.
type Topic struct {
	App  string
	Kind TopicKind
	Name string // channel name or user id
}

// MessageKind says what a Message asks the receiving node to do.
type MessageKind uint8

const (
	// Deliver Frame to the local connections of the topic, but Except.
	Frame MessageKind = iota
	// Terminate closes the local connections of a UserTopic's user.
	Terminate
)

// Message travels on a topic. Frame is a complete, encoded Pusher frame:
// encoded once by the publisher, delivered as is by every node.
type Message struct {
	Topic   Topic
	Kind    MessageKind
	Frame   []byte
	Except  string // socket id that must not receive it; "" for none
	Version uint64 // presence member events: the channel's member version; 0 otherwise
}

// Handler is the node-local side (the hub).
//
// Deliver is called for every message on a topic this node listens to, in
// topic order, possibly on the caller's goroutine with broker locks held
// (memory): it must not block and must not call back into the broker, and
// the handler must not hold a lock Deliver takes while it calls the
// broker. Messages may still arrive shortly after Unlisten.
//
// Reaped reports the transitions the broker decided on its own (a dead
// node's connections removed, a share registered again): the handler
// publishes their frames and emits their webhooks. It may be called from
// two goroutines at once.
//
// Local lists the node's own share of the shared state; the broker merges
// it with what its own calls registered when the backend lost the share (a
// Redis restart) or dropped it (this node was reaped). The broker may call
// it while other calls wait, so it must not wait for a lock held across a
// broker call; and the handler removes a connection from what Local lists
// before it calls Leave, SignOut or RemoveConnection for it.
type Handler interface {
	Deliver(Message)
	Reaped(ctx context.Context, changes []Change)
	Local() LocalState
}

// LocalState is one node's share of the shared state.
type LocalState struct {
	Subscriptions []JoinRequest  // without frames
	SignIns       []SignIn       // signed-in connections
	Connections   map[string]int // per app, connections counted with AddConnection
}

// SignIn is one signed-in connection.
type SignIn struct {
	App, UserID, SocketID string
}

// ChangeKind is a cluster-wide transition the broker found without a
// caller: a dead node's share removed (reaping), or this node's share
// registered again after the backend lost it (re-sync).
type ChangeKind uint8

const (
	MemberGone   ChangeKind = iota + 1 // last connection of UserID left Channel
	Vacated                            // Channel has no subscription left
	Offline                            // UserID has no signed-in connection left
	CountChanged                       // Channel's subscription count changed to Count
	MemberBack                         // re-sync: UserID (Info) is a member of Channel again
	Occupied                           // re-sync: Channel has subscriptions again
	Online                             // re-sync: UserID is signed in again
)

// Change is one such transition. The broker reports it to Handler.Reaped
// once for the cluster; the handler publishes the matching frame (with
// Version for member changes) and emits the webhook.
type Change struct {
	Kind    ChangeKind
	App     string
	Channel string
	UserID  string
	Info    json.RawMessage // MemberBack
	Count   int             // CountChanged
	Version uint64          // MemberGone, MemberBack: the member version the change got
	// HooksQueued: the broker queued this change's webhook itself.
	HooksQueued bool
}

// Member is one presence member: a user id and the user_info the first of
// its connections brought (later connections never change it).
type Member struct {
	UserID string
	Info   json.RawMessage
}

// JoinRequest adds one subscription (one connection in one channel).
type JoinRequest struct {
	App, Channel string
	SocketID     string
	// Presence channels only: the member this connection joins as, the
	// cluster-wide member limit (0 = none) and the member_added frame to
	// publish (Except SocketID) when UserID is new to the channel.
	Presence    bool
	Member      Member
	MaxMembers  int
	MemberAdded []byte
	// Hooks asks a broker with a HookQueue to queue the webhooks of the
	// transitions this join causes (the app has webhooks).
	Hooks bool
}

// JoinResult says what the join changed.
type JoinResult struct {
	Full          bool     // refused: MaxMembers reached; nothing changed
	Occupied      bool     // the first subscription in the cluster
	NewMember     bool     // presence: UserID's first connection (member_added was published)
	Members       []Member // presence: every member after the join, sorted by UserID
	Version       uint64   // presence: the member version of Members
	Subscriptions int      // subscriptions of the channel in the cluster after the join
	HooksQueued   bool     // the broker queued the webhooks of Occupied and NewMember itself
}

// LeaveRequest removes one subscription made by Join.
type LeaveRequest struct {
	App, Channel string
	SocketID     string
	Presence     bool
	UserID       string
	// MemberRemoved is published when UserID's last connection left.
	MemberRemoved []byte
	Hooks         bool // as in JoinRequest
}

// LeaveResult says what the leave changed.
type LeaveResult struct {
	MemberGone    bool // presence: the user's last connection (member_removed was published)
	Vacated       bool // no subscription left in the cluster
	Subscriptions int
	Version       uint64 // MemberGone: the version of the removal
	HooksQueued   bool   // the broker queued the webhooks of MemberGone and Vacated itself
}

// ChannelStats is a channel's cluster-wide state.
type ChannelStats struct {
	Subscriptions int
	Users         int // distinct presence members
}

// CacheEntry is a cache channel's last event.
type CacheEntry struct {
	Event, Data string
	TTL         time.Duration // remaining
}

// Broker is the cluster-wide seam. See the package comment for the rules.
type Broker interface {
	// NodeID names this node in the cluster.
	NodeID() string
	// Run keeps the node's lease, listens for messages and reaps dead
	// nodes until ctx ends. Other methods may be called before Run starts
	// (they then wait for a connection or fail) and after it returns.
	Run(ctx context.Context) error
	// Ready reports whether the shared state is reachable now.
	Ready() error
	// Nodes counts the live nodes (1 for memory).
	Nodes(ctx context.Context) (int, error)

	// Listen makes this node receive topic's messages until a matching
	// Unlisten; calls are counted, and the first one returns once messages
	// published after it are sure to arrive.
	Listen(ctx context.Context, t Topic) error
	Unlisten(t Topic)
	// Publish sends m to every node listening to m.Topic (this one too).
	Publish(ctx context.Context, m Message) error
	// PublishCached stores event/data as the cache channel's last event for
	// ttl and publishes m, in one step.
	PublishCached(ctx context.Context, m Message, event, data string, ttl time.Duration) error
	// Cached returns a cache channel's last event, if it has not expired.
	Cached(ctx context.Context, app, channel string) (CacheEntry, bool, error)

	Join(ctx context.Context, r JoinRequest) (JoinResult, error)
	Leave(ctx context.Context, r LeaveRequest) (LeaveResult, error)
	Channel(ctx context.Context, app, channel string) (ChannelStats, error)
	// Channels lists the occupied channels of app whose names start with
	// prefix.
	Channels(ctx context.Context, app, prefix string) (map[string]ChannelStats, error)
	// Members lists a presence channel's members, sorted by UserID.
	Members(ctx context.Context, app, channel string) ([]Member, error)

	// SignIn records a signed-in connection of userID; when it is the
	// user's first in the cluster, online (a watchlist frame) is published
	// on WatchTopic{app, userID} and first is true.
	SignIn(ctx context.Context, app, userID, socketID string, online []byte) (first bool, err error)
	// SignOut undoes SignIn; offline is published when it was the last.
	SignOut(ctx context.Context, app, userID, socketID string, offline []byte) (last bool, err error)
	// Online says, for each id, whether that user has a signed-in
	// connection anywhere.
	Online(ctx context.Context, app string, ids []string) ([]bool, error)
	// UserConnections counts userID's signed-in connections in the cluster.
	UserConnections(ctx context.Context, app, userID string) (int, error)

	// AddConnection counts a new connection of app unless the cluster holds
	// max already (max 0 = no limit, always counted).
	AddConnection(ctx context.Context, app string, max int) (ok bool, err error)
	RemoveConnection(ctx context.Context, app string) error
	// Connections counts app's connections in the cluster.
	Connections(ctx context.Context, app string) (int, error)
	// Allow takes one token from the cluster-wide bucket named key (rate
	// per second; burst, <= 0 meaning max(1, rate)); when empty it says how
	// long until the next.
	Allow(ctx context.Context, key string, rate float64, burst int) (wait time.Duration, ok bool, err error)
}

// An adapter that holds connections (redis) also has Close, which its
// owner calls once Run has returned.

// Factory builds a broker for its node-local handler (the hub builds its
// broker with itself as the handler).
type Factory func(Handler) Broker
