package redis

import (
	"context"
	"encoding/json"
	"sort"
	"sync"

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
	cctx, cancel := b.timeout(ctx)
	defer cancel()
	if !leased {
		err := heartbeatScript.Exec(cctx, c.Client, []string{b.keys.nodes()},
			[]string{lease, msString(b.cfg.LeaseTTL), "new"}).Error()
		if err != nil {
			return b.check(ctx, "heartbeat", err)
		}
	}
	if err := c.Do(cctx, c.B().Sadd().Key(b.keys.nodeApps(lease)).Member(app).Build()).Error(); err != nil {
		return b.check(ctx, "register", err)
	}
	b.sh.mu.Lock()
	b.sh.leased = true
	b.sh.apps[app] = true
	b.sh.mu.Unlock()
	return nil
}
