package redis

import (
	"github.com/heraldhq/herald/internal/broker"
)

// Key layout. P is Config.Prefix, A an app id, C a channel, U a user id, M a
// lease id (NodeID + "~" + a random tag, new each time the node registers
// its share: see share.go). Every key and topic of one app carries the hash
// tag {A}, so one script can change an app's state and publish the
// transition atomically, also on Redis Cluster.
//
//	P:{A}:chans        hash  C -> subscriptions in the cluster (the channel index)
//	P:{A}:subs:C       hash  M -> subscriptions of lease M
//	P:{A}:mem:C        hash  U -> user_info of presence member U
//	P:{A}:mc:C         hash  U -> U's connections in C, cluster-wide
//	P:{A}:mn:M:C       hash  U -> U's connections in C on lease M
//	P:{A}:mv:C         string   last member version of C
//	P:{A}:nc:M         set   channels where M has subscriptions
//	P:{A}:users        hash  U -> signed-in connections, cluster-wide
//	P:{A}:un:M         hash  U -> signed-in connections on lease M
//	P:{A}:conns        hash  M -> connections counted by AddConnection
//	P:{A}:cache:C      string   cache channel's last event (PX = its TTL)
//	P:{A}:wh           stream   the app's webhook queue (hooks.go), MAXLEN ~ Config.HookQueueMax
//	P:{A}:hk           string   "1" while the app's last join or leave transition asked
//	                            for hooks: reaped and re-synced transitions are queued then
//	P:{A}:whlease      string   hook lease: NodeID of the node delivering the queue (PX = HookLease);
//	                            only that node's acks remove entries of P:{A}:wh
//	P:{A}:c:C          topic of channel C   (sharded pub/sub)
//	P:{A}:u:U          topic of user U
//	P:{A}:w:U          topic of U's watchers
//
// Global keys (no app):
//
//	P:nodes            zset  M -> lease deadline (ms, Redis clock)
//	P:node:M:apps      set   apps where M has state (what reaping visits)
//	P:reap:M           string   claim of the survivor reaping M (PX)
//	P:reaped:M         string   M was reaped and its removals announced (EX 1h)
//	P:rl:{K}           hash  token bucket K of Allow (own hash tag: spread over slots)
//
// Lease ids never contain ':' so P:{A}:mn:M:C cannot be read two ways.

type keys struct{ prefix string }

// app is the prefix of app's keys and topics: "P:{A}:".
func (k keys) app(app string) string { return k.prefix + ":{" + app + "}:" }

func (k keys) chans(app string) string       { return k.app(app) + "chans" }
func (k keys) mem(app, ch string) string     { return k.app(app) + "mem:" + ch }
func (k keys) users(app string) string       { return k.app(app) + "users" }
func (k keys) conns(app string) string       { return k.app(app) + "conns" }
func (k keys) cache(app, ch string) string   { return k.app(app) + "cache:" + ch }
func (k keys) hooks(app string) string       { return k.app(app) + "wh" }
func (k keys) hookFlag(app string) string    { return k.app(app) + "hk" }
func (k keys) hookLease(app string) string   { return k.app(app) + "whlease" }
func (k keys) nodes() string                 { return k.prefix + ":nodes" }
func (k keys) nodeApps(lease string) string  { return k.prefix + ":node:" + lease + ":apps" }
func (k keys) reapClaim(lease string) string { return k.prefix + ":reap:" + lease }
func (k keys) bucket(key string) string      { return k.prefix + ":rl:{" + key + "}" }
func (k keys) reaped(lease string) string    { return k.prefix + ":reaped:" + lease }

// topic is the pub/sub channel of t.
func (k keys) topic(t broker.Topic) string {
	switch t.Kind {
	case broker.UserTopic:
		return k.app(t.App) + "u:" + t.Name
	case broker.WatchTopic:
		return k.app(t.App) + "w:" + t.Name
	default:
		return k.app(t.App) + "c:" + t.Name
	}
}
