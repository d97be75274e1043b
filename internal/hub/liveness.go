package hub

import (
	"hash/maphash"
	"log/slog"
	"sync"

	"github.com/heraldhq/herald/internal/console"
	"github.com/heraldhq/herald/internal/protocol"
)

var pingFrame = protocol.Ping()

// Liveness runs on a timing wheel: every connection sits in the slot of the
// tick at which it must next be looked at (its activity timeout, the end of
// its pong wait, its sign-in deadline) and a tick looks only at the
// connections of its own slot. A connection is so looked at about once per
// activity timeout instead of once per tick, the idle cost per second grows
// with connections / activity timeout, and Connect never waits for a sweep
// over every connection. A frame from the client only stores its time
// (Touch); the connection finds its new deadline when its slot comes.

const (
	// wheelSlots is the horizon of the wheel in ticks; a deadline further
	// out is parked in the last slot and looked at again then.
	wheelSlots = 512
	// wheelShards spreads connections over locks so that Connect and
	// Disconnect on many cores do not meet on one mutex.
	wheelShards = 16
)

// wheel holds every live connection in the slot of its next check.
type wheel struct {
	tick   int64 // nanoseconds per slot (Config.SweepInterval)
	seed   maphash.Seed
	shards [wheelShards]wheelShard
}

type wheelShard struct {
	mu    sync.Mutex
	cur   int64 // the last tick this shard has looked at
	slots [wheelSlots][]*Client
	spare []*Client // a drained slot's array, reused for the next one
}

// wheelPos is where a client sits; guarded by its shard's mutex.
type wheelPos struct {
	tick int64 // 0 when not on the wheel
	idx  int   // index in its slot
}

func (w *wheel) init(tick, now int64) {
	w.tick = tick
	w.seed = maphash.MakeSeed()
	for i := range w.shards {
		w.shards[i].cur = now / tick
	}
}

func (w *wheel) shard(c *Client) *wheelShard {
	return &w.shards[maphash.String(w.seed, c.socketID)%wheelShards]
}

// schedule makes sure c is looked at no later than the tick holding at
// (unix nanoseconds): it is put on the wheel, or moved to an earlier slot.
// A client that left the hub is not put back.
func (w *wheel) schedule(c *Client, at int64) {
	s := w.shard(c)
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.gone.Load() {
		return
	}
	t := (at + w.tick - 1) / w.tick // the first tick at or after at
	t = max(t, s.cur+1)
	t = min(t, s.cur+wheelSlots)
	if c.wpos.tick != 0 {
		if c.wpos.tick <= t {
			return
		}
		s.unlink(c)
	}
	slot := &s.slots[t%wheelSlots]
	c.wpos = wheelPos{tick: t, idx: len(*slot)}
	*slot = append(*slot, c)
}

// remove takes c off the wheel (it disconnected).
func (w *wheel) remove(c *Client) {
	s := w.shard(c)
	s.mu.Lock()
	if c.wpos.tick != 0 {
		s.unlink(c)
	}
	s.mu.Unlock()
}

// unlink swaps c out of its slot; s.mu is held and c is on the wheel.
func (s *wheelShard) unlink(c *Client) {
	slot := &s.slots[c.wpos.tick%wheelSlots]
	last := len(*slot) - 1
	if c.wpos.idx != last {
		moved := (*slot)[last]
		(*slot)[c.wpos.idx] = moved
		moved.wpos.idx = c.wpos.idx
	}
	(*slot)[last] = nil
	*slot = (*slot)[:last]
	c.wpos = wheelPos{}
}

// due takes the clients of every tick of s up to nowTick off the wheel and
// passes them to check, one slot at a time and outside the lock (check
// reschedules them). After a stall longer than the horizon, or a step
// back of the clock, every slot is drained once.
func (s *wheelShard) due(nowTick int64, check func([]*Client)) {
	s.mu.Lock()
	if nowTick-s.cur > wheelSlots || nowTick < s.cur {
		// A stall past the horizon, or the wall clock stepped back (the
		// ticks would otherwise stop until it caught up): every slot once,
		// from the current time on.
		s.cur = nowTick - wheelSlots
	}
	s.mu.Unlock()
	for {
		s.mu.Lock()
		if s.cur >= nowTick {
			s.mu.Unlock()
			return
		}
		s.cur++
		i := s.cur % wheelSlots
		batch := s.slots[i]
		s.slots[i], s.spare = s.spare[:0], nil
		for _, c := range batch {
			c.wpos = wheelPos{}
		}
		s.mu.Unlock()
		if len(batch) > 0 {
			check(batch)
		}
		clear(batch)
		s.mu.Lock()
		if s.spare == nil && cap(batch) <= 4096 {
			s.spare = batch[:0]
		}
		s.mu.Unlock()
	}
}

// sweep looks at the connections whose check is due: it pings those silent
// for the activity timeout, closes with 4201 those still silent a pong
// timeout after our ping, and closes those of a require_signin app that
// did not sign in within the sign-in timeout.
func (h *Hub) sweep() {
	nowTick := h.now().UnixNano() / h.live.tick
	for i := range h.live.shards {
		h.live.shards[i].due(nowTick, h.checkLiveness)
	}
}

// checkLiveness decides for each client what is due and when to look again.
func (h *Hub) checkLiveness(batch []*Client) {
	now := h.now().UnixNano()
	idle := h.cfg.ActivityTimeout.Nanoseconds()
	pongWait := h.cfg.PongTimeout.Nanoseconds()
	signinWait := h.cfg.SigninTimeout.Nanoseconds()
	for _, c := range batch {
		if c.gone.Load() || c.closed.Load() {
			continue
		}
		var next int64
		mustSignIn := c.curApp().RequireSignin && !c.authorized.Load()
		if mustSignIn && now-c.connectedAt >= signinWait {
			h.closeUnauthorized(c)
			continue
		}
		if sent := c.pingSentAt.Load(); sent != 0 {
			if now-sent >= pongWait {
				h.m.PongTimeouts.WithLabelValues(c.curApp().ID).Inc()
				c.Close(protocol.CodePongTimeout, "Pong reply not received")
				continue
			}
			next = sent + pongWait
		} else if seen := c.lastSeen.Load(); now-seen >= idle {
			c.pingSentAt.Store(now)
			c.Send(pingFrame)
			next = now + pongWait
		} else {
			next = seen + idle
		}
		if mustSignIn {
			next = min(next, c.connectedAt+signinWait)
		}
		h.live.schedule(c, next)
	}
}

// scheduleLiveness puts a new or changed connection on the wheel: its
// activity timeout and, in a require_signin app, its sign-in deadline.
func (h *Hub) scheduleLiveness(c *Client) {
	next := c.lastSeen.Load() + h.cfg.ActivityTimeout.Nanoseconds()
	if c.curApp().RequireSignin && !c.authorized.Load() {
		next = min(next, c.connectedAt+h.cfg.SigninTimeout.Nanoseconds())
	}
	h.live.schedule(c, next)
}

func (h *Hub) closeUnauthorized(c *Client) {
	h.m.AuthFailures.WithLabelValues(c.curApp().ID, "signin_timeout").Inc()
	h.throttle.Log(h.log, slog.LevelWarn, c.socketID, c.curApp().ID, "closing connection that did not sign in",
		"app_key", c.curApp().Key, "socket_id", c.socketID, "reason", "require_signin timeout", "remote", c.remote)
	msg := "Connection not authorized within " + h.cfg.SigninTimeout.String() + ": sign in first"
	h.authFailed(c, "", signinEndpoint, console.ReasonSigninTimeout, msg)
	c.Send(protocol.ErrorFrame(protocol.CodeUnauthorized, msg))
	c.Close(protocol.CodeUnauthorized, msg)
}
