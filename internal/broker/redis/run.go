package redis

import (
	"context"
	"slices"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/heraldhq/herald/internal/broker"
)

// Run keeps the node's lease and reaps dead nodes until ctx ends. It
// renews the lease every Heartbeat (registering the share again when the
// lease was lost) and looks for expired leases every ReapEvery. When ctx
// ends it removes this node's lease and whatever share is left (the hub
// has closed its connections by then, so normally nothing), reporting the
// transitions to Handler.Reaped, and releases its hook leases (another node
// takes over those webhook queues at once): a clean shutdown leaves no
// trace. Close (or a crash) makes it return at once without that cleanup.
func (b *Broker) Run(ctx context.Context) error {
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-b.stopRun:
			cancel()
		case <-runCtx.Done():
		}
	}()
	g, gctx := errgroup.WithContext(runCtx)
	g.Go(func() error { b.loop(gctx, b.cfg.Heartbeat, b.heartbeat); return nil })
	g.Go(func() error { b.loop(gctx, b.cfg.ReapEvery, b.reap); return nil })
	_ = g.Wait()
	b.regWG.Wait()

	select {
	case <-b.stopRun:
		return nil
	default:
	}
	cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), 2*b.cfg.CommandTimeout+time.Second)
	defer ccancel()
	c, err := b.client(cctx)
	if err != nil {
		return err
	}
	if err := b.releaseHooks(cctx, c); err != nil {
		b.log.Warn("releasing the hook leases at shutdown failed; they expire after the hook lease", "err", err)
	}
	if err := b.retire(cctx, c); err != nil {
		b.log.Warn("removing the node's share at shutdown failed", "err", err)
		return err
	}
	return nil
}

// loop calls fn at once and then every d until ctx ends.
func (b *Broker) loop(ctx context.Context, d time.Duration, fn func(context.Context)) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		fn(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// heartbeat renews the lease (creating it the first time) and registers
// the share again when the lease was lost or a call's outcome unknown.
func (b *Broker) heartbeat(ctx context.Context) {
	if b.noBeat.Load() {
		return
	}
	c, err := b.client(ctx)
	if err != nil {
		return
	}
	b.sh.mu.Lock()
	lease, leased := b.sh.lease, b.sh.leased
	b.sh.mu.Unlock()
	mode := "renew"
	if !leased {
		mode = "new"
	}
	ok, err := b.beat(ctx, c, lease, mode)
	if err != nil {
		return
	}
	switch {
	case !ok:
		// Reaped by a survivor: the others were told our members left, so
		// registering them again is news (member_added...). Otherwise Redis
		// lost its data (a restart without persistence): nobody was told
		// anything, and registering again must be silent.
		msg, err := b.call(ctx, c, "heartbeat", c.B().Exists().Key(b.keys.reaped(lease)).Build())
		if err != nil {
			return
		}
		if asInt(msg) > 0 {
			b.log.Warn("lease expired and this node was reaped: registering the node's share again")
			b.startReregister(ctx, c, "reaped", true)
		} else {
			b.log.Warn("lease lost (Redis lost its data): registering the node's share again")
			b.startReregister(ctx, c, "lease lost", false)
		}
	case b.dirty.Load():
		b.startReregister(ctx, c, "unknown outcome of a call", true)
	case !leased:
		b.sh.mu.Lock()
		if b.sh.lease == lease {
			b.sh.leased = true
		}
		b.sh.mu.Unlock()
	}
}

// beat runs the heartbeat script on lease: mode "new" creates it, "renew"
// extends it only while it is live (ok false: gone or expired).
func (b *Broker) beat(ctx context.Context, c *client, lease, mode string) (ok bool, err error) {
	msg, err := b.exec(ctx, c, "heartbeat", heartbeatScript, b.keys.nodes(), lease, msString(b.cfg.LeaseTTL), mode)
	return asInt(msg) == 1, err
}

// startReregister registers the share again in the background, so the
// heartbeat goes on renewing the new lease however long that takes; one
// at a time.
func (b *Broker) startReregister(ctx context.Context, c *client, reason string, report bool) {
	if !b.registering.CompareAndSwap(false, true) {
		return
	}
	b.regWG.Add(1)
	go func() {
		defer b.regWG.Done()
		defer b.registering.Store(false)
		_ = b.reregister(ctx, c, reason, report)
	}()
}

// reap removes the share of every node whose lease expired, claiming each
// with SET NX PX so one survivor does it, and reports the transitions.
// A claim outlives a reaper that dies midway by at most claimTTL, after
// which another survivor finishes (each script removes its part once, so
// no transition is reported twice).
func (b *Broker) reap(ctx context.Context) {
	c, err := b.client(ctx)
	if err != nil {
		return
	}
	msg, err := b.exec(ctx, c, "reap", expiredScript, b.keys.nodes(), "32")
	if err != nil {
		return
	}
	dead, err := msg.AsStrSlice()
	if b.check(ctx, "reap", err) != nil {
		return
	}
	b.sh.mu.Lock()
	own := append([]string{b.sh.lease}, b.sh.retired...) // re-registration removes the retired ones
	b.sh.mu.Unlock()
	for _, lease := range dead {
		if slices.Contains(own, lease) || ctx.Err() != nil {
			continue
		}
		msg, err := b.call(ctx, c, "reap", c.B().Set().Key(b.keys.reapClaim(lease)).Value(b.cfg.NodeID).Nx().
			Px(b.claimTTL()).Build())
		if err != nil || msg.IsNil() { // nil reply: claimed by another survivor
			continue
		}
		// Another survivor may have reaped it since the list was read (its
		// claim goes with the lease): then there is nothing left to do.
		if score, err := b.call(ctx, c, "reap", c.B().Zscore().Key(b.keys.nodes()).Member(lease).Build()); err != nil || score.IsNil() {
			_, _ = b.call(ctx, c, "reap", c.B().Del().Key(b.keys.reapClaim(lease)).Build())
			continue
		}
		changes, err := b.reapLease(ctx, c, lease)
		if len(changes) > 0 {
			b.h.Reaped(ctx, changes)
		}
		if err != nil {
			b.log.Warn("reaping a dead node failed; retried after its claim expires", "lease", lease, "err", err)
			continue
		}
		b.m.ReapedNodes.Inc()
		b.log.Info("reaped a dead node", "lease", lease, "changes", len(changes))
	}
}

// reapLease removes a dead lease's share in every app it lists, then its
// bookkeeping.
func (b *Broker) reapLease(ctx context.Context, c *client, lease string) ([]broker.Change, error) {
	// Marked first: the reaped node, if it comes back, must announce its
	// members again (see heartbeat).
	if _, err := b.call(ctx, c, "reap", c.B().Set().Key(b.keys.reaped(lease)).Value("1").Ex(time.Hour).Build()); err != nil {
		return nil, err
	}
	apps, err := b.leaseApps(ctx, c, lease)
	if err != nil {
		return nil, err
	}
	var changes []broker.Change
	for _, app := range apps {
		ch, err := b.moveShare(ctx, c, app, lease, "", nil, true)
		changes = append(changes, ch...)
		if err != nil {
			return changes, err
		}
	}
	return changes, b.dropLease(ctx, c, lease)
}

// claimTTL is how long a reaper's claim on a dead lease holds.
func (b *Broker) claimTTL() time.Duration { return max(3*b.cfg.LeaseTTL, 10*time.Second) }

// Nodes counts the live leases (one per running node; briefly two while a
// node registers its share again).
func (b *Broker) Nodes(ctx context.Context) (int, error) {
	c, err := b.client(ctx)
	if err != nil {
		return 0, err
	}
	msg, err := b.exec(ctx, c, "nodes", nodesScript, b.keys.nodes())
	return int(asInt(msg)), err
}
