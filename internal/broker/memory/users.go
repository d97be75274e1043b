package memory

import (
	"context"
	"slices"
	"sync"

	"github.com/heraldhq/herald/internal/broker"
)

type userShard struct {
	mu    sync.Mutex
	users map[chanKey][]signIn // (app, user id) -> signed-in connections; never empty
	_     [64]byte
}

type signIn struct {
	socket string
	node   *Broker
}

func watchTopic(app, user string) broker.Topic {
	return broker.Topic{App: app, Kind: broker.WatchTopic, Name: user}
}

// SignIn records socketID as signed in as userID and publishes online on
// the user's WatchTopic when it is the user's first connection.
func (b *Broker) SignIn(_ context.Context, app, userID, socketID string, online []byte) (bool, error) {
	if err := b.check(); err != nil {
		return false, err
	}
	k := chanKey{app, userID}
	sh := b.st.userShard(userID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	conns := sh.users[k]
	if slices.ContainsFunc(conns, func(s signIn) bool { return s.socket == socketID }) {
		return false, nil
	}
	sh.users[k] = append(conns, signIn{socket: socketID, node: b})
	if len(conns) > 0 {
		return false, nil
	}
	b.st.publishFrame(watchTopic(app, userID), online, "", 0)
	return true, nil
}

// SignOut undoes SignIn and publishes offline when it was the user's last
// connection.
func (b *Broker) SignOut(_ context.Context, app, userID, socketID string, offline []byte) (bool, error) {
	if err := b.check(); err != nil {
		return false, err
	}
	k := chanKey{app, userID}
	sh := b.st.userShard(userID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	conns := sh.users[k]
	i := slices.IndexFunc(conns, func(s signIn) bool { return s.socket == socketID })
	if i < 0 {
		return false, nil
	}
	if len(conns) > 1 {
		sh.users[k] = slices.Delete(conns, i, i+1)
		return false, nil
	}
	delete(sh.users, k)
	b.st.publishFrame(watchTopic(app, userID), offline, "", 0)
	return true, nil
}

// Online says for each id whether the user has a signed-in connection.
func (b *Broker) Online(_ context.Context, app string, ids []string) ([]bool, error) {
	if err := b.check(); err != nil {
		return nil, err
	}
	out := make([]bool, len(ids))
	for i, id := range ids {
		sh := b.st.userShard(id)
		sh.mu.Lock()
		out[i] = len(sh.users[chanKey{app, id}]) > 0
		sh.mu.Unlock()
	}
	return out, nil
}

// UserConnections counts userID's signed-in connections.
func (b *Broker) UserConnections(_ context.Context, app, userID string) (int, error) {
	if err := b.check(); err != nil {
		return 0, err
	}
	sh := b.st.userShard(userID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return len(sh.users[chanKey{app, userID}]), nil
}
