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
	lease, added := b.sh.join(k, joined{presence: r.Presence, user: r.Member.UserID, info: r.Member.Info})
	if added {
		if err := b.ensureApp(ctx, c, r.App); err != nil {
			b.sh.unjoin(k)
			return broker.JoinResult{}, err
		}
	}

	var head, tail string
	if r.Presence && len(r.MemberAdded) > 0 {
		head, tail = frameHead, messageTail(r.SocketID, r.MemberAdded)
	}
	args := []string{b.keys.app(r.App), lease, r.Channel, flag(added), flag(r.Presence),
		r.Member.UserID, string(r.Member.Info), strconv.Itoa(max(r.MaxMembers, 0)), head, tail,
		flag(r.Hooks), b.hookCap()}
	var msg rueidis.RedisMessage
	if added {
		msg, err = b.execShare(ctx, c, "join", joinScript, b.keys.chans(r.App), args...)
	} else { // only reads the state
		msg, err = b.exec(ctx, c, "join", joinScript, b.keys.chans(r.App), args...)
	}
	arr, err := b.replies(ctx, "join", msg, err, 6)
	if err != nil {
		if added {
			b.sh.unjoin(k)
		}
		return broker.JoinResult{}, err
	}
	res := broker.JoinResult{
		Full:          asInt(arr[0]) == 1,
		Occupied:      asInt(arr[1]) == 1,
		NewMember:     asInt(arr[2]) == 1,
		Subscriptions: int(asInt(arr[3])),
		HooksQueued:   r.Hooks,
	}
	if res.Full {
		if added {
			b.sh.unjoin(k)
		}
		return res, nil
	}
	if r.Presence {
		res.Version = uint64(asInt(arr[4]))
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
	lease, j, ok := b.sh.leave(sockKey{r.App, r.Channel, r.SocketID})
	if !ok {
		// Not this node's socket: nothing changes; say the current count.
		msg, err := b.call(ctx, c, "leave", c.B().Hget().Key(b.keys.chans(r.App)).Field(r.Channel).Build())
		return broker.LeaveResult{Subscriptions: int(asInt(msg)), HooksQueued: r.Hooks}, err
	}

	var head, tail string
	if j.presence && len(r.MemberRemoved) > 0 {
		head, tail = frameHead, messageTail("", r.MemberRemoved)
	}
	// On failure the socket is not put back: a retried Leave must not
	// uncount another socket. Registering the share again settles
	// Redis's counts.
	msg, err := b.execShare(ctx, c, "leave", leaveScript, b.keys.chans(r.App),
		b.keys.app(r.App), lease, r.Channel, flag(j.presence), j.user, head, tail, flag(r.Hooks), b.hookCap())
	arr, err := b.replies(ctx, "leave", msg, err, 4)
	if err != nil {
		return broker.LeaveResult{}, err
	}
	return broker.LeaveResult{
		MemberGone:    asInt(arr[0]) == 1,
		Vacated:       asInt(arr[1]) == 1,
		Subscriptions: int(asInt(arr[2])),
		Version:       uint64(asInt(arr[3])),
		HooksQueued:   r.Hooks,
	}, nil
}

// replies reads a script's array reply of n elements (want 0: any
// number); a reply of another shape is a bug (see check).
func (b *Broker) replies(ctx context.Context, op string, msg rueidis.RedisMessage, err error, want int) ([]rueidis.RedisMessage, error) {
	if err != nil {
		return nil, err
	}
	arr, err := msg.ToArray()
	if err == nil && want > 0 && len(arr) != want {
		err = fmt.Errorf("%s: %d replies, want %d: %w", op, len(arr), want, errReply)
	}
	if err != nil {
		return nil, b.check(ctx, op, err)
	}
	return arr, nil
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
	for _, r := range res {
		if err := b.check(ctx, "channel", r.Error()); err != nil {
			return broker.ChannelStats{}, err
		}
	}
	subs, _ := res[0].AsInt64() // nil: no subscription
	users, err := res[1].AsInt64()
	if err != nil {
		return broker.ChannelStats{}, b.check(ctx, "channel", err)
	}
	return broker.ChannelStats{Subscriptions: int(subs), Users: int(users)}, nil
}

// Channels lists app's occupied channels whose names start with prefix.
func (b *Broker) Channels(ctx context.Context, app, prefix string) (map[string]broker.ChannelStats, error) {
	c, err := b.client(ctx)
	if err != nil {
		return nil, err
	}
	msg, err := b.exec(ctx, c, "channels", channelsScript, b.keys.chans(app), b.keys.app(app), prefix)
	arr, err := b.replies(ctx, "channels", msg, err, 0)
	if err == nil && len(arr)%3 != 0 {
		err = b.check(ctx, "channels", fmt.Errorf("channels: %d replies, want triples: %w", len(arr), errReply))
	}
	if err != nil {
		return nil, err
	}
	out := make(map[string]broker.ChannelStats, len(arr)/3)
	for i := 0; i < len(arr); i += 3 {
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
	msg, err := b.call(ctx, c, "members", c.B().Hgetall().Key(b.keys.mem(app, channel)).Build())
	if err != nil {
		return nil, err
	}
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
