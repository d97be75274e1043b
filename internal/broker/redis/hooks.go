package redis

import (
	"context"
	"errors"
	"strconv"

	"github.com/redis/rueidis"

	"github.com/heraldhq/herald/internal/broker"
)

var _ broker.HookQueue = (*Broker)(nil)

// The webhook queue of cluster mode. Each app has one Redis stream,
// P:{A}:wh, in its hash tag: join.lua, leave.lua and share.lua append the
// transitions' hooks in the step that decides them, so the stream holds
// them in the order the cluster state changed; AddHook appends the others.
// An entry's fields:
//
//	k  kind (broker.Hook* name)   c  channel      t  unix ms
//	u  user id                    e  event name   d  data
//	h  "1": the client event had data             s  socket id
//	n  subscription count
//
// Absent fields are zero. One node delivers an app's queue at a time: the
// holder of P:{A}:whlease, renewed by ClaimHooks; only the holder's acks
// remove entries.

// hookCap is the MAXLEN ~ of the queues, as a script argument.
func (b *Broker) hookCap() string { return strconv.Itoa(b.cfg.HookQueueMax) }

// AddHook appends h to its app's queue.
func (b *Broker) AddHook(ctx context.Context, h broker.Hook) error {
	if h.App == "" {
		return errors.New("redis add hook: no app")
	}
	c, err := b.client(ctx)
	if err != nil {
		return err
	}
	cmd := c.B().Xadd().Key(b.keys.hooks(h.App)).Maxlen().Almost().Threshold(b.hookCap()).Id("*").FieldValue().
		FieldValue("k", h.Kind).FieldValue("c", h.Channel).FieldValue("t", strconv.FormatInt(h.TimeMS, 10))
	if h.UserID != "" {
		cmd = cmd.FieldValue("u", h.UserID)
	}
	if h.Event != "" {
		cmd = cmd.FieldValue("e", h.Event)
	}
	if h.HasData {
		cmd = cmd.FieldValue("h", "1").FieldValue("d", h.Data)
	}
	if h.SocketID != "" {
		cmd = cmd.FieldValue("s", h.SocketID)
	}
	if h.SubscriptionCount != 0 || h.Kind == broker.HookSubscriptionCount {
		cmd = cmd.FieldValue("n", strconv.Itoa(h.SubscriptionCount))
	}
	_, err = b.call(ctx, c, "addhook", cmd.Build())
	return err
}

// ReadHooks returns up to n entries of app's queue after the entry with
// id after ("" = from the oldest), oldest first. An entry it cannot make
// sense of comes back as it is (unknown kind, zero fields): the consumer
// drops it and acks it like the others.
func (b *Broker) ReadHooks(ctx context.Context, app, after string, n int) ([]broker.Hook, error) {
	if n <= 0 {
		return nil, nil
	}
	c, err := b.client(ctx)
	if err != nil {
		return nil, err
	}
	start := "-"
	if after != "" {
		start = "(" + after
	}
	msg, err := b.call(ctx, c, "readhooks", c.B().Xrange().Key(b.keys.hooks(app)).Start(start).End("+").Count(int64(n)).Build())
	if err != nil {
		return nil, err
	}
	entries, err := msg.ToArray()
	if err != nil {
		return nil, b.check(ctx, "readhooks", err)
	}
	out := make([]broker.Hook, 0, len(entries))
	for _, e := range entries {
		x, err := e.AsXRangeEntry()
		if err != nil || x.ID == "" {
			continue // no id: nothing the consumer could ack (Redis never sends one)
		}
		out = append(out, decodeHook(app, x))
	}
	return out, nil
}

func decodeHook(app string, x rueidis.XRangeEntry) broker.Hook {
	f := x.FieldValues
	h := broker.Hook{
		ID: x.ID, App: app, Kind: f["k"], Channel: f["c"],
		UserID: f["u"], Event: f["e"], Data: f["d"], HasData: f["h"] == "1", SocketID: f["s"],
	}
	h.TimeMS, _ = strconv.ParseInt(f["t"], 10, 64)
	h.SubscriptionCount, _ = strconv.Atoi(f["n"])
	return h
}

// hookAckScript is AckHooks' script (declared here, beside its only user).
var hookAckScript = script("hookack.lua", false)

// AckHooks removes entries of app's queue by id, in one round trip, only
// while this node holds the app's hook lease (hookack.lua): otherwise it
// removes nothing and returns nil, the entries being the holder's.
func (b *Broker) AckHooks(ctx context.Context, app string, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	c, err := b.client(ctx)
	if err != nil {
		return err
	}
	args := make([]string, 0, 2+len(ids))
	args = append(append(args, b.keys.hookLease(app), b.cfg.NodeID), ids...)
	_, err = b.exec(ctx, c, "ackhooks", hookAckScript, b.keys.hooks(app), args...)
	return err
}

// ClaimHooks renews this node's hook leases of apps, takes the free ones
// and releases those it held of apps not listed, in one round trip. Call
// it well within Config.HookLease (a third of it, say): a lease not renewed
// in time goes to another node. It returns the apps held now and, among
// them, the fresh ones: taken by this call, or renewed although the call
// before failed for them (that call may have taken the lease after it
// lapsed, so it may not have been held without a break). On an error it
// returns none (the caller delivers nothing until a call succeeds), and
// the leases whose outcome is unknown are renewed or released by the next
// call, which reports them fresh.
func (b *Broker) ClaimHooks(ctx context.Context, apps []string) (held, fresh []string, err error) {
	c, err := b.client(ctx)
	if err != nil {
		return nil, nil, err
	}
	b.hookMu.Lock()
	defer b.hookMu.Unlock()
	want := make(map[string]bool, len(apps))
	var list []string
	for _, app := range apps {
		if !want[app] {
			want[app] = true
			list = append(list, app)
		}
	}
	modes := make([]string, len(list))
	for i := range list {
		modes[i] = "claim"
	}
	for app := range b.hookHeld {
		if !want[app] {
			list = append(list, app)
			modes = append(modes, "release")
		}
	}
	res, errs := b.runHookLeases(ctx, c, list, modes)
	var first error
	for i, app := range list {
		// hookHeld: true when the last call said held; false when the node
		// may hold it but the last call's outcome is unknown.
		confirmed := b.hookHeld[app]
		switch {
		case errs[i] != nil:
			first = firstErr(first, errs[i])
			b.hookHeld[app] = false // renewed or released next time
		case res[i] == leaseTaken || res[i] == leaseRenewed:
			b.hookHeld[app] = true
			held = append(held, app)
			if res[i] == leaseTaken || !confirmed {
				fresh = append(fresh, app)
			}
		default:
			delete(b.hookHeld, app)
		}
	}
	if first != nil {
		return nil, nil, first
	}
	return held, fresh, nil
}

// hooklease.lua's answers.
const (
	leaseNotHeld = 0
	leaseRenewed = 1
	leaseTaken   = 2
)

// releaseHooks gives up every hook lease this node holds (clean shutdown:
// another node takes them at its next ClaimHooks, not after HookLease).
func (b *Broker) releaseHooks(ctx context.Context, c *client) error {
	b.hookMu.Lock()
	defer b.hookMu.Unlock()
	if len(b.hookHeld) == 0 {
		return nil
	}
	list := sortedKeys(b.hookHeld)
	modes := make([]string, len(list))
	for i := range modes {
		modes[i] = "release"
	}
	_, errs := b.runHookLeases(ctx, c, list, modes)
	var first error
	for i, app := range list {
		if errs[i] == nil {
			delete(b.hookHeld, app)
		}
		first = firstErr(first, errs[i])
	}
	return first
}

// runHookLeases runs hooklease.lua for each app (mode claim or release)
// pipelined with EVALSHA; the runs Redis refuses with NOSCRIPT (it lost
// its script cache) are run again one by one, which loads the script. It
// returns, per app, the script's answer (leaseNotHeld, leaseRenewed or
// leaseTaken) and the run's error. Called under hookMu.
func (b *Broker) runHookLeases(ctx context.Context, c *client, apps, modes []string) ([]int64, []error) {
	res, errs := make([]int64, len(apps)), make([]error, len(apps))
	if len(apps) == 0 {
		return res, errs
	}
	node, ttl := b.cfg.NodeID, strconv.FormatInt(max(b.cfg.HookLease.Milliseconds(), 1), 10)
	cmds := make(rueidis.Commands, len(apps))
	for i, app := range apps {
		cmds[i] = c.B().Evalsha().Sha1(hookLeaseSHA).Numkeys(1).Key(b.keys.hookLease(app)).Arg(node, ttl, modes[i]).Build()
	}
	cctx, cancel := b.timeout(ctx)
	out := c.DoMulti(cctx, cmds...)
	cancel()
	for i, r := range out {
		msg, err := r.ToMessage()
		if re, ok := rueidis.IsRedisErr(err); ok && re.IsNoScript() {
			msg, err = b.exec(ctx, c, "claimhooks", hookLeaseScript, b.keys.hookLease(apps[i]), node, ttl, modes[i])
		} else {
			err = b.check(ctx, "claimhooks", err)
		}
		res[i], errs[i] = asInt(msg), err
	}
	return res, errs
}

func firstErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}
