package redis

import (
	"context"
	"encoding/json"
	"sort"
	"sync"

	"github.com/redis/rueidis"

	"github.com/heraldhq/herald/internal/broker"
)

// share is what this node registered in Redis, per socket: the truth the
// node registers again (with Handler.Local) when Redis lost it or when a
// call's outcome was unknown. It also makes Join of a socket already joined
// and Leave of an unknown socket no-ops, so Redis counts stay exact.
//
// Calls that change the share hold Broker.gate for reading during their
// Redis call; registering again holds it for writing, so it never races
// with them.
type share struct {
	mu      sync.Mutex
	lease   string          // lease id the share is registered under
	leased  bool            // the lease exists in Redis (created by the first heartbeat or registration)
	apps    map[string]bool // apps in P:node:lease:apps
	retired []string        // previous lease ids of this node whose leftovers are still to remove

	subs   map[sockKey]joined
	signed map[signKey]string // socket -> user id
	conns  map[string]int     // per app, connections counted with AddConnection
}

type sockKey struct{ app, channel, socket string }

type signKey struct{ app, socket string }

type joined struct {
	presence bool
	user     string
	info     json.RawMessage
}

func (s *share) init(lease string) {
	s.lease = lease
	s.leased = false
	s.apps = map[string]bool{}
	s.retired = nil
	s.subs = map[sockKey]joined{}
	s.signed = map[signKey]string{}
	s.conns = map[string]int{}
}

// The calls below record one socket's change before its Redis call and
// return the lease to make that call under.

// join records socket k's subscription unless it is recorded already.
func (s *share) join(k sockKey, j joined) (lease string, added bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.subs[k]; !dup {
		s.subs[k] = j
		added = true
	}
	return s.lease, added
}

// leave forgets socket k's subscription; ok is false when it was unknown.
func (s *share) leave(k sockKey) (lease string, j joined, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok = s.subs[k]
	delete(s.subs, k)
	return s.lease, j, ok
}

// signIn records socket k signed in as user unless it is recorded already.
func (s *share) signIn(k signKey, user string) (lease string, added bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.signed[k]; !dup {
		s.signed[k] = user
		added = true
	}
	return s.lease, added
}

// signOut forgets socket k's sign-in; ok is false when it was unknown.
func (s *share) signOut(k signKey) (lease, user string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	user, ok = s.signed[k]
	delete(s.signed, k)
	return s.lease, user, ok
}

// addConn counts one of app's connections (after Redis counted it).
func (s *share) addConn(app string) {
	s.mu.Lock()
	s.conns[app]++
	s.mu.Unlock()
}

// removeConn uncounts one of app's connections; ok is false when none
// was counted.
func (s *share) removeConn(app string) (lease string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conns[app] <= 0 {
		return s.lease, false
	}
	if s.conns[app]--; s.conns[app] == 0 {
		delete(s.conns, app)
	}
	return s.lease, true
}

// currentLease is the lease share changes are made under.
func (s *share) currentLease() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lease
}

// unjoin and unsignIn undo join and signIn after a failed call.
func (s *share) unjoin(k sockKey) {
	s.mu.Lock()
	delete(s.subs, k)
	s.mu.Unlock()
}

func (s *share) unsignIn(k signKey) {
	s.mu.Lock()
	delete(s.signed, k)
	s.mu.Unlock()
}

// mergeLocked adds what the handler holds and the share does not: a
// socket the hub counts while its Join has not run yet. The hub must drop
// a socket from its local state before (or while) calling Leave, SignOut
// or RemoveConnection, so nothing it lists is already gone.
func (s *share) mergeLocked(l broker.LocalState) {
	for _, r := range l.Subscriptions {
		k := sockKey{r.App, r.Channel, r.SocketID}
		if _, ok := s.subs[k]; !ok {
			s.subs[k] = joined{presence: r.Presence, user: r.Member.UserID, info: r.Member.Info}
		}
	}
	for _, si := range l.SignIns {
		k := signKey{si.App, si.SocketID}
		if _, ok := s.signed[k]; !ok {
			s.signed[k] = si.UserID
		}
	}
	for app, n := range l.Connections {
		if n > s.conns[app] {
			s.conns[app] = n
		}
	}
}

// appShare is one app's part of the share, as absolute values.
type appShare struct {
	channels []chanShare // sorted by name
	users    []userShare // sorted by id
	conns    int
}

type chanShare struct {
	name    string
	subs    int
	members []memberShare // sorted by user
}

type memberShare struct {
	user  string
	conns int
	info  json.RawMessage
}

type userShare struct {
	user  string
	conns int
}

func (a *appShare) empty() bool {
	return a == nil || len(a.channels) == 0 && len(a.users) == 0 && a.conns == 0
}

// byAppLocked sums the share per app.
func (s *share) byAppLocked() map[string]*appShare {
	type chanSum struct {
		subs    int
		members map[string]*memberShare
	}
	chans := map[string]map[string]*chanSum{}
	users := map[string]map[string]int{}
	for k, j := range s.subs {
		cs := chans[k.app]
		if cs == nil {
			cs = map[string]*chanSum{}
			chans[k.app] = cs
		}
		c := cs[k.channel]
		if c == nil {
			c = &chanSum{members: map[string]*memberShare{}}
			cs[k.channel] = c
		}
		c.subs++
		if j.presence {
			m := c.members[j.user]
			if m == nil {
				m = &memberShare{user: j.user, info: j.info}
				c.members[j.user] = m
			}
			m.conns++
		}
	}
	for k, u := range s.signed {
		if users[k.app] == nil {
			users[k.app] = map[string]int{}
		}
		users[k.app][u]++
	}
	out := map[string]*appShare{}
	get := func(app string) *appShare {
		if out[app] == nil {
			out[app] = &appShare{}
		}
		return out[app]
	}
	for app, cs := range chans {
		a := get(app)
		for name, c := range cs {
			ch := chanShare{name: name, subs: c.subs}
			for _, m := range c.members {
				ch.members = append(ch.members, *m)
			}
			sort.Slice(ch.members, func(i, j int) bool { return ch.members[i].user < ch.members[j].user })
			a.channels = append(a.channels, ch)
		}
		sort.Slice(a.channels, func(i, j int) bool { return a.channels[i].name < a.channels[j].name })
	}
	for app, us := range users {
		a := get(app)
		for u, n := range us {
			a.users = append(a.users, userShare{u, n})
		}
		sort.Slice(a.users, func(i, j int) bool { return a.users[i].user < a.users[j].user })
	}
	for app, n := range s.conns {
		if n > 0 {
			get(app).conns = n
		}
	}
	return out
}

// execShare runs a script that changes the share. When it fails its
// outcome is unknown (it may have run, and a Lua script that fails midway
// keeps its writes), so the next heartbeat registers the share again.
// Called under gate (read).
func (b *Broker) execShare(ctx context.Context, c *client, op string, s *rueidis.Lua, key string, args ...string) (rueidis.RedisMessage, error) {
	msg, err := b.exec(ctx, c, op, s, key, args...)
	if err != nil {
		b.dirty.Store(true)
	}
	return msg, err
}

// ensureApp makes sure the current lease exists and lists app before the
// first state of the lease in app is written, so a survivor can always
// find and reap it. Called under gate (read).
func (b *Broker) ensureApp(ctx context.Context, c *client, app string) error {
	b.sh.mu.Lock()
	lease, leased, ok := b.sh.lease, b.sh.leased, b.sh.apps[app]
	b.sh.mu.Unlock()
	if ok {
		return nil
	}
	if !leased {
		if _, err := b.beat(ctx, c, lease, "new"); err != nil {
			return err
		}
	}
	if _, err := b.call(ctx, c, "register", c.B().Sadd().Key(b.keys.nodeApps(lease)).Member(app).Build()); err != nil {
		return err
	}
	b.sh.mu.Lock()
	b.sh.leased = true
	b.sh.apps[app] = true
	b.sh.mu.Unlock()
	return nil
}
