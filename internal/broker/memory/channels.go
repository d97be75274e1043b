package memory

import (
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/heraldhq/herald/internal/broker"
)

type chanShard struct {
	mu       sync.Mutex
	channels map[chanKey]*channel
	cache    map[chanKey]cacheEntry // cache channels' last events; kept while unoccupied
	version  uint64                 // last member version handed out in this shard
	_        [64]byte
}

// channel is an occupied channel; it is deleted when vacated.
type channel struct {
	subs    map[string]sub // by socket id
	members []member       // presence: sorted by user id
	version uint64         // presence: the version of members
}

type sub struct {
	node *Broker
	user string // presence: the member it joined as; "" otherwise
}

type member struct {
	broker.Member
	conns int // subscriptions of this user in the channel, all nodes
}

func (ch *channel) findMember(user string) (int, bool) {
	return slices.BinarySearchFunc(ch.members, user, func(m member, u string) int { return strings.Compare(m.UserID, u) })
}

func (ch *channel) snapshot() []broker.Member {
	if len(ch.members) == 0 {
		return nil
	}
	ms := make([]broker.Member, len(ch.members))
	for i := range ch.members {
		ms[i] = ch.members[i].Member
	}
	return ms
}

// nextVersionLocked gives ch a new member version, greater than any it had.
func (sh *chanShard) nextVersionLocked(ch *channel) uint64 {
	sh.version++
	ch.version = sh.version
	return ch.version
}

func channelTopic(app, name string) broker.Topic {
	return broker.Topic{App: app, Kind: broker.ChannelTopic, Name: name}
}

// Join adds r.SocketID's subscription; see the package comment for a
// duplicate join.
func (b *Broker) Join(_ context.Context, r broker.JoinRequest) (broker.JoinResult, error) {
	if err := b.check(); err != nil {
		return broker.JoinResult{}, err
	}
	if r.Presence && r.Member.UserID == "" {
		return broker.JoinResult{}, errNoUser
	}
	sh := b.st.chanShard(r.Channel)
	sh.mu.Lock()
	res := b.joinLocked(sh, r)
	sh.mu.Unlock()
	return res, nil
}

func (b *Broker) joinLocked(sh *chanShard, r broker.JoinRequest) broker.JoinResult {
	k := chanKey{r.App, r.Channel}
	ch := sh.channels[k]
	var res broker.JoinResult
	if ch != nil {
		if _, dup := ch.subs[r.SocketID]; dup {
			res.Subscriptions = len(ch.subs)
			if r.Presence {
				res.Members, res.Version = ch.snapshot(), ch.version
			}
			return res
		}
	}
	mi, known := 0, false
	if r.Presence && ch != nil {
		mi, known = ch.findMember(r.Member.UserID)
		if !known && r.MaxMembers > 0 && len(ch.members) >= r.MaxMembers {
			return broker.JoinResult{Full: true, Subscriptions: len(ch.subs), Version: ch.version}
		}
	}
	if ch == nil {
		ch = &channel{subs: make(map[string]sub, 1)}
		sh.channels[k] = ch
		res.Occupied = true
	}
	s := sub{node: b}
	if r.Presence {
		s.user = r.Member.UserID
		if known {
			ch.members[mi].conns++
		} else {
			ch.members = slices.Insert(ch.members, mi, member{Member: r.Member, conns: 1})
			v := sh.nextVersionLocked(ch)
			res.NewMember = true
			b.st.publishFrame(channelTopic(r.App, r.Channel), r.MemberAdded, r.SocketID, v)
		}
		res.Members, res.Version = ch.snapshot(), ch.version
	}
	ch.subs[r.SocketID] = s
	res.Subscriptions = len(ch.subs)
	return res
}

// Leave removes what Join recorded for r.SocketID; see the package comment
// for an unknown socket id.
func (b *Broker) Leave(_ context.Context, r broker.LeaveRequest) (broker.LeaveResult, error) {
	if err := b.check(); err != nil {
		return broker.LeaveResult{}, err
	}
	sh := b.st.chanShard(r.Channel)
	sh.mu.Lock()
	res := b.leaveLocked(sh, r)
	sh.mu.Unlock()
	return res, nil
}

func (b *Broker) leaveLocked(sh *chanShard, r broker.LeaveRequest) broker.LeaveResult {
	k := chanKey{r.App, r.Channel}
	ch := sh.channels[k]
	if ch == nil {
		return broker.LeaveResult{}
	}
	s, ok := ch.subs[r.SocketID]
	if !ok {
		return broker.LeaveResult{Subscriptions: len(ch.subs)}
	}
	delete(ch.subs, r.SocketID)
	var res broker.LeaveResult
	if s.user != "" && ch.dropMember(s.user) {
		res.MemberGone, res.Version = true, sh.nextVersionLocked(ch)
		b.st.publishFrame(channelTopic(r.App, r.Channel), r.MemberRemoved, "", res.Version)
	}
	res.Subscriptions = len(ch.subs)
	if len(ch.subs) == 0 {
		delete(sh.channels, k)
		res.Vacated = true
	}
	return res
}

// dropMember removes one of user's subscriptions; true when it was the
// last, and the member is gone (the caller gives the removal its version).
func (ch *channel) dropMember(user string) bool {
	i, ok := ch.findMember(user)
	if !ok {
		return false
	}
	if ch.members[i].conns--; ch.members[i].conns > 0 {
		return false
	}
	ch.members = slices.Delete(ch.members, i, i+1)
	return true
}

// Channel returns the channel's cluster-wide counts (zero when unoccupied).
func (b *Broker) Channel(_ context.Context, app, name string) (broker.ChannelStats, error) {
	if err := b.check(); err != nil {
		return broker.ChannelStats{}, err
	}
	sh := b.st.chanShard(name)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	ch := sh.channels[chanKey{app, name}]
	if ch == nil {
		return broker.ChannelStats{}, nil
	}
	return broker.ChannelStats{Subscriptions: len(ch.subs), Users: len(ch.members)}, nil
}

// Channels lists app's occupied channels whose names start with prefix. It
// visits every shard: it is for the REST API, not the hot path.
func (b *Broker) Channels(_ context.Context, app, prefix string) (map[string]broker.ChannelStats, error) {
	if err := b.check(); err != nil {
		return nil, err
	}
	out := make(map[string]broker.ChannelStats)
	for i := range b.st.chans {
		sh := &b.st.chans[i]
		sh.mu.Lock()
		for k, ch := range sh.channels {
			if k.app == app && strings.HasPrefix(k.name, prefix) {
				out[k.name] = broker.ChannelStats{Subscriptions: len(ch.subs), Users: len(ch.members)}
			}
		}
		sh.mu.Unlock()
	}
	return out, nil
}

// Members lists a presence channel's members sorted by user id (nil when
// it has none).
func (b *Broker) Members(_ context.Context, app, name string) ([]broker.Member, error) {
	if err := b.check(); err != nil {
		return nil, err
	}
	sh := b.st.chanShard(name)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if ch := sh.channels[chanKey{app, name}]; ch != nil {
		return ch.snapshot(), nil
	}
	return nil, nil
}
