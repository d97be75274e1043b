package redis

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/heraldhq/herald/internal/broker"
)

// frameHead is the message head of a member event: its version follows.
var frameHead = string([]byte{byte(broker.Frame)})

// Join counts one subscription; see broker.Broker. Joining a socket that
// is already joined in the channel counts nothing and returns the state.
func (b *Broker) Join(ctx context.Context, r broker.JoinRequest) (broker.JoinResult, error) {
	c, err := b.client(ctx)
	if err != nil {
		return broker.JoinResult{}, err
	}
	b.gate.RLock()
	defer b.gate.RUnlock()

	k := sockKey{r.App, r.Channel, r.SocketID}
	b.sh.mu.Lock()
	_, dup := b.sh.subs[k]
	if !dup {
		b.sh.subs[k] = joined{presence: r.Presence, user: r.Member.UserID, info: r.Member.Info}
	}
	lease := b.sh.lease
	b.sh.mu.Unlock()
	undo := func() {
		if !dup {
			b.sh.mu.Lock()
			delete(b.sh.subs, k)
			b.sh.mu.Unlock()
		}
	}
	if !dup {
		if err := b.ensureApp(ctx, c, r.App); err != nil {
			undo()
			return broker.JoinResult{}, err
		}
	}

	var head, tail string
	if r.Presence && len(r.MemberAdded) > 0 {
		head, tail = frameHead, messageTail(r.SocketID, r.MemberAdded)
	}
	cctx, cancel := b.timeout(ctx)
	defer cancel()
	arr, err := joinScript.Exec(cctx, c.Client, []string{b.keys.chans(r.App)}, []string{
		b.keys.app(r.App), lease, r.Channel, flag(!dup), flag(r.Presence),
		r.Member.UserID, string(r.Member.Info), strconv.Itoa(max(r.MaxMembers, 0)), head, tail,
	}).ToArray()
	if err == nil && len(arr) != 6 {
		err = fmt.Errorf("join: %d replies, want 6", len(arr))
	}
	if err != nil {
		if !dup {
			undo()
			b.dirty.Store(true) // it may have been counted
		}
		return broker.JoinResult{}, b.check(ctx, "join", err)
	}
	b.markUp()
	var res broker.JoinResult
	res.Full = asInt(arr[0]) == 1
	res.Occupied = asInt(arr[1]) == 1
	res.NewMember = asInt(arr[2]) == 1
	res.Subscriptions = int(asInt(arr[3]))
	res.Version = uint64(asInt(arr[4]))
	if res.Full {
		undo()
		res.Version = 0
		return res, nil
	}
	if r.Presence {
		res.Members = members(arr[5])
	}
	return res, nil
}

// Leave removes one subscription made by Join; a socket this node did not
// join changes nothing (the result has only the current Subscriptions).
func (b *Broker) Leave(ctx context.Context, r broker.LeaveRequest) (broker.LeaveResult, error) {
	c, err := b.client(ctx)
	if err != nil {
		return broker.LeaveResult{}, err
	}
	b.gate.RLock()
	defer b.gate.RUnlock()

	k := sockKey{r.App, r.Channel, r.SocketID}
	b.sh.mu.Lock()
	j, ok := b.sh.subs[k]
	delete(b.sh.subs, k)
	lease := b.sh.lease
	b.sh.mu.Unlock()
	if !ok {
		// Not this node's socket: nothing changes; say the current count.
		cctx, cancel := b.timeout(ctx)
		defer cancel()
		n, err := c.Do(cctx, c.B().Hget().Key(b.keys.chans(r.App)).Field(r.Channel).Build()).AsInt64()
		if err != nil && !rueidis.IsRedisNil(err) {
			return broker.LeaveResult{}, b.check(ctx, "leave", err)
		}
		b.markUp()
		return broker.LeaveResult{Subscriptions: int(n)}, nil
	}

	var head, tail string
	if j.presence && len(r.MemberRemoved) > 0 {
		head, tail = frameHead, messageTail("", r.MemberRemoved)
	}
	cctx, cancel := b.timeout(ctx)
	defer cancel()
	arr, err := leaveScript.Exec(cctx, c.Client, []string{b.keys.chans(r.App)}, []string{
		b.keys.app(r.App), lease, r.Channel, flag(j.presence), j.user, head, tail,
	}).ToArray()
	if err == nil && len(arr) != 4 {
		err = fmt.Errorf("leave: %d replies, want 4", len(arr))
	}
	if err != nil {
		// Not put back: a retried Leave must not uncount another socket.
		// Registering the share again settles Redis's counts.
		b.dirty.Store(true)
		return broker.LeaveResult{}, b.check(ctx, "leave", err)
	}
	b.markUp()
	return broker.LeaveResult{
		MemberGone:    asInt(arr[0]) == 1,
		Vacated:       asInt(arr[1]) == 1,
		Subscriptions: int(asInt(arr[2])),
		Version:       uint64(asInt(arr[3])),
	}, nil
}

// Channel returns a channel's cluster-wide counts.
func (b *Broker) Channel(ctx context.Context, app, channel string) (broker.ChannelStats, error) {
	c, err := b.client(ctx)
	if err != nil {
		return broker.ChannelStats{}, err
	}
	cctx, cancel := b.timeout(ctx)
	defer cancel()
	res := c.DoMulti(cctx,
		c.B().Hget().Key(b.keys.chans(app)).Field(channel).Build(),
		c.B().Hlen().Key(b.keys.mem(app, channel)).Build())
	subs, err := res[0].AsInt64()
	if err != nil && !rueidis.IsRedisNil(err) {
		return broker.ChannelStats{}, b.check(ctx, "channel", err)
	}
	users, err := res[1].AsInt64()
	if err != nil {
		return broker.ChannelStats{}, b.check(ctx, "channel", err)
	}
	b.markUp()
	return broker.ChannelStats{Subscriptions: int(subs), Users: int(users)}, nil
}

// Channels lists app's occupied channels whose names start with prefix.
func (b *Broker) Channels(ctx context.Context, app, prefix string) (map[string]broker.ChannelStats, error) {
	c, err := b.client(ctx)
	if err != nil {
		return nil, err
	}
	cctx, cancel := b.timeout(ctx)
	defer cancel()
	arr, err := channelsScript.Exec(cctx, c.Client, []string{b.keys.chans(app)}, []string{b.keys.app(app), prefix}).ToArray()
	if err != nil {
		return nil, b.check(ctx, "channels", err)
	}
	b.markUp()
	out := make(map[string]broker.ChannelStats, len(arr)/3)
	for i := 0; i+2 < len(arr); i += 3 {
		name, _ := arr[i].ToString()
		out[name] = broker.ChannelStats{Subscriptions: int(asInt(arr[i+1])), Users: int(asInt(arr[i+2]))}
	}
	return out, nil
}

// Members lists a presence channel's members, sorted by user id.
func (b *Broker) Members(ctx context.Context, app, channel string) ([]broker.Member, error) {
	c, err := b.client(ctx)
	if err != nil {
		return nil, err
	}
	cctx, cancel := b.timeout(ctx)
	defer cancel()
	msg, err := c.Do(cctx, c.B().Hgetall().Key(b.keys.mem(app, channel)).Build()).ToMessage()
	if err != nil {
		return nil, b.check(ctx, "members", err)
	}
	b.markUp()
	return members(msg), nil
}

// members reads a HGETALL reply (a RESP3 map or a flat array) of user id
// -> info, sorted by user id.
func members(msg rueidis.RedisMessage) []broker.Member {
	var out []broker.Member
	if m, err := msg.AsStrMap(); err == nil {
		out = make([]broker.Member, 0, len(m))
		for u, info := range m {
			out = append(out, broker.Member{UserID: u, Info: rawJSON(info)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].UserID < out[j].UserID })
	return out
}

func rawJSON(s string) json.RawMessage {
	if s == "" {
		return nil
	}
	return json.RawMessage(s)
}

func asInt(m rueidis.RedisMessage) int64 {
	n, _ := m.AsInt64()
	return n
}

func flag(v bool) string {
	if v {
		return "1"
	}
	return "0"
}

func msString(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }
