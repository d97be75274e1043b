package redis

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/heraldhq/herald/internal/broker"
)

const (
	// chunkUnits bounds the records (channels, members, users) one share
	// script call carries, so no call blocks Redis for long.
	chunkUnits = 1000
	// leftoverBudget bounds the leftovers of an old lease one call removes.
	leftoverBudget = 500
)

// moveShare moves app's share from lease old to lease nw (rec: nw's
// absolute values; nil or nw "" for none) with as many share script calls
// as the size needs. With final, old's other leftovers in app go too. It
// returns the transitions, also those of the calls made before an error.
func (b *Broker) moveShare(ctx context.Context, c *client, app, old, nw string, rec *appShare, final bool) ([]broker.Change, error) {
	if rec == nil || nw == "" {
		rec = &appShare{}
	}
	pa := b.keys.app(app)
	var changes []broker.Change
	ci, ui := 0, 0
	first := true
	for {
		args := []string{pa, old, nw, strconv.Itoa(leftoverBudget), "0", "", b.hookCap(), "0"}
		if first && nw != "" {
			args[5] = strconv.Itoa(rec.conns)
		}
		units, n := 0, 0
		for ; ci < len(rec.channels) && units < chunkUnits; ci++ {
			ch := rec.channels[ci]
			args = append(args, ch.name, strconv.Itoa(ch.subs), strconv.Itoa(len(ch.members)))
			for _, m := range ch.members {
				args = append(args, m.user, strconv.Itoa(m.conns), string(m.info))
			}
			units += 1 + len(ch.members)
			n++
		}
		args[7] = strconv.Itoa(n)
		nu := 0
		at := len(args)
		args = append(args, "0")
		for ; ui < len(rec.users) && units < chunkUnits; ui++ {
			args = append(args, rec.users[ui].user, strconv.Itoa(rec.users[ui].conns))
			units++
			nu++
		}
		args[at] = strconv.Itoa(nu)
		last := ci == len(rec.channels) && ui == len(rec.users)
		if last && final {
			args[4] = "1"
		}

		msg, err := b.exec(ctx, c, "share", shareScript, b.keys.chans(app), args...)
		arr, err := b.replies(ctx, "share", msg, err, 0)
		if err == nil && (len(arr) == 0 || (len(arr)-1)%7 != 0) {
			err = b.check(ctx, "share", fmt.Errorf("share: %d replies: %w", len(arr), errReply))
		}
		if err != nil {
			return changes, err
		}
		first = false
		for i := 1; i+6 < len(arr); i += 7 {
			ch := broker.Change{Kind: broker.ChangeKind(asInt(arr[i])), App: app}
			ch.Channel, _ = arr[i+1].ToString()
			ch.UserID, _ = arr[i+2].ToString()
			info, _ := arr[i+3].ToString()
			ch.Info = rawJSON(info)
			ch.Count = int(asInt(arr[i+4]))
			ch.Version = uint64(asInt(arr[i+5]))
			ch.HooksQueued = asInt(arr[i+6]) == 1
			changes = append(changes, ch)
		}
		if last && (!final || asInt(arr[0]) == 0) {
			return changes, nil
		}
	}
}

// leaseApps lists the apps where lease has state, per P:node:lease:apps.
func (b *Broker) leaseApps(ctx context.Context, c *client, lease string) ([]string, error) {
	msg, err := b.call(ctx, c, "reap", c.B().Smembers().Key(b.keys.nodeApps(lease)).Build())
	if err != nil {
		return nil, err
	}
	apps, err := msg.AsStrSlice()
	if err != nil {
		return nil, b.check(ctx, "reap", err)
	}
	return apps, nil
}

// dropLease removes a lease's bookkeeping once its share is gone.
func (b *Broker) dropLease(ctx context.Context, c *client, lease string) error {
	cctx, cancel := b.timeout(ctx)
	defer cancel()
	for _, r := range c.DoMulti(cctx,
		c.B().Del().Key(b.keys.nodeApps(lease)).Build(),
		c.B().Zrem().Key(b.keys.nodes()).Member(lease).Build(),
		c.B().Del().Key(b.keys.reapClaim(lease)).Build(),
	) {
		if err := r.Error(); err != nil {
			return b.check(ctx, "reap", err)
		}
	}
	return nil
}

// reregister registers this node's share again under a new lease id and
// removes what its previous ids left, reporting the net transitions to
// Handler.Reaped when report is set. Called by the heartbeat when the lease
// was lost (Redis restarted or flushed, or the lease expired) or a call's
// outcome was unknown. After a data loss nothing is reported: to everyone
// else the node's members never left.
func (b *Broker) reregister(ctx context.Context, c *client, reason string, report bool) error {
	b.gate.Lock()
	changes, err := b.reregisterLocked(ctx, c)
	b.gate.Unlock()
	if len(changes) > 0 && report {
		b.h.Reaped(ctx, changes)
	}
	if err != nil {
		b.dirty.Store(true) // try again at the next heartbeat
		b.log.Warn("registering the node's share again failed", "reason", reason, "err", err)
		return err
	}
	b.m.Resyncs.Inc()
	b.log.Info("registered the node's share again", "reason", reason, "changes", len(changes))
	return nil
}

func (b *Broker) reregisterLocked(ctx context.Context, c *client) ([]broker.Change, error) {
	b.dirty.Store(false)
	local := b.h.Local()
	b.sh.mu.Lock()
	b.sh.mergeLocked(local)
	olds := append(slices.Clone(b.sh.retired), b.sh.lease)
	recs := b.sh.byAppLocked()
	b.sh.mu.Unlock()

	lease := b.newLeaseID()
	if _, err := b.beat(ctx, c, lease, "new"); err != nil {
		return nil, err
	}
	b.sh.mu.Lock()
	b.sh.lease, b.sh.leased, b.sh.apps, b.sh.retired = lease, true, map[string]bool{}, olds
	b.sh.mu.Unlock()

	apps := map[string]bool{}
	for app := range recs {
		apps[app] = true
	}
	for _, o := range olds {
		list, err := b.leaseApps(ctx, c, o)
		if err != nil {
			return nil, err
		}
		for _, app := range list {
			apps[app] = true
		}
	}
	var changes []broker.Change
	for _, app := range sortedKeys(apps) {
		rec := recs[app]
		if !rec.empty() {
			if err := b.ensureApp(ctx, c, app); err != nil {
				return changes, err
			}
		}
		for i, o := range olds {
			nw := lease
			if i > 0 {
				nw, rec = "", nil // NEW's values go in once, with the first old lease
			}
			ch, err := b.moveShare(ctx, c, app, o, nw, rec, true)
			changes = append(changes, ch...)
			if err != nil {
				return changes, err
			}
		}
	}
	for _, o := range olds {
		if err := b.dropLease(ctx, c, o); err != nil {
			return changes, err
		}
	}
	b.sh.mu.Lock()
	b.sh.retired = nil
	b.sh.mu.Unlock()
	return changes, nil
}

// retire removes this node's whole share and lease (clean shutdown) and
// reports the transitions; the node starts afresh if used again.
func (b *Broker) retire(ctx context.Context, c *client) error {
	b.gate.Lock()
	b.sh.mu.Lock()
	olds := append(slices.Clone(b.sh.retired), b.sh.lease)
	local := map[string]bool{}
	for app := range b.sh.apps {
		local[app] = true
	}
	b.sh.mu.Unlock()
	var changes []broker.Change
	err := func() error {
		for _, o := range olds {
			list, err := b.leaseApps(ctx, c, o)
			if err != nil {
				return err
			}
			apps := map[string]bool{}
			for _, app := range list {
				apps[app] = true
			}
			if o == olds[len(olds)-1] {
				for app := range local {
					apps[app] = true
				}
			}
			for _, app := range sortedKeys(apps) {
				ch, err := b.moveShare(ctx, c, app, o, "", nil, true)
				changes = append(changes, ch...)
				if err != nil {
					return err
				}
			}
			if err := b.dropLease(ctx, c, o); err != nil {
				return err
			}
		}
		return nil
	}()
	b.sh.mu.Lock()
	if err == nil {
		b.sh.init(b.newLeaseID())
	}
	b.sh.mu.Unlock()
	b.gate.Unlock()
	if len(changes) > 0 {
		b.h.Reaped(ctx, changes)
	}
	return err
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
