package redis

import (
	"context"
	"math"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/heraldhq/herald/internal/broker"
)

// SignIn records a signed-in connection; signing in a socket twice counts
// it once.
func (b *Broker) SignIn(ctx context.Context, app, userID, socketID string, online []byte) (bool, error) {
	c, err := b.client(ctx)
	if err != nil {
		return false, err
	}
	b.gate.RLock()
	defer b.gate.RUnlock()

	k := signKey{app, socketID}
	b.sh.mu.Lock()
	_, dup := b.sh.signed[k]
	if !dup {
		b.sh.signed[k] = userID
	}
	lease := b.sh.lease
	b.sh.mu.Unlock()
	if dup {
		return false, nil
	}
	undo := func() {
		b.sh.mu.Lock()
		delete(b.sh.signed, k)
		b.sh.mu.Unlock()
	}
	if err := b.ensureApp(ctx, c, app); err != nil {
		undo()
		return false, err
	}
	cctx, cancel := b.timeout(ctx)
	defer cancel()
	first, err := signInScript.Exec(cctx, c.Client, []string{b.keys.users(app)},
		[]string{b.keys.app(app), lease, userID, watchMessage(online)}).AsInt64()
	if err != nil {
		undo()
		b.dirty.Store(true)
		return false, b.check(ctx, "signin", err)
	}
	b.markUp()
	return first == 1, nil
}

// SignOut undoes SignIn; an unknown socket is a no-op.
func (b *Broker) SignOut(ctx context.Context, app, userID, socketID string, offline []byte) (bool, error) {
	c, err := b.client(ctx)
	if err != nil {
		return false, err
	}
	b.gate.RLock()
	defer b.gate.RUnlock()

	k := signKey{app, socketID}
	b.sh.mu.Lock()
	user, ok := b.sh.signed[k]
	delete(b.sh.signed, k)
	lease := b.sh.lease
	b.sh.mu.Unlock()
	if !ok {
		return false, nil
	}
	cctx, cancel := b.timeout(ctx)
	defer cancel()
	last, err := signOutScript.Exec(cctx, c.Client, []string{b.keys.users(app)},
		[]string{b.keys.app(app), lease, user, watchMessage(offline)}).AsInt64()
	if err != nil {
		b.dirty.Store(true)
		return false, b.check(ctx, "signout", err)
	}
	b.markUp()
	return last == 1, nil
}

// watchMessage is the payload of an online/offline frame ("" for none).
func watchMessage(frame []byte) string {
	if len(frame) == 0 {
		return ""
	}
	return string(encodeMessage(broker.Message{Kind: broker.Frame, Frame: frame}))
}

// Online says for each id whether the user is signed in anywhere.
func (b *Broker) Online(ctx context.Context, app string, ids []string) ([]bool, error) {
	out := make([]bool, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	c, err := b.client(ctx)
	if err != nil {
		return nil, err
	}
	cctx, cancel := b.timeout(ctx)
	defer cancel()
	arr, err := c.Do(cctx, c.B().Hmget().Key(b.keys.users(app)).Field(ids...).Build()).ToArray()
	if err != nil {
		return nil, b.check(ctx, "online", err)
	}
	b.markUp()
	for i := range out {
		if i < len(arr) {
			out[i] = asInt(arr[i]) > 0
		}
	}
	return out, nil
}

// UserConnections counts userID's signed-in connections in the cluster.
func (b *Broker) UserConnections(ctx context.Context, app, userID string) (int, error) {
	c, err := b.client(ctx)
	if err != nil {
		return 0, err
	}
	cctx, cancel := b.timeout(ctx)
	defer cancel()
	n, err := c.Do(cctx, c.B().Hget().Key(b.keys.users(app)).Field(userID).Build()).AsInt64()
	if err != nil && !rueidis.IsRedisNil(err) {
		return 0, b.check(ctx, "user_connections", err)
	}
	b.markUp()
	return int(n), nil
}

// AddConnection counts a connection of app unless the cluster holds max.
func (b *Broker) AddConnection(ctx context.Context, app string, maxConns int) (bool, error) {
	c, err := b.client(ctx)
	if err != nil {
		return false, err
	}
	b.gate.RLock()
	defer b.gate.RUnlock()
	if err := b.ensureApp(ctx, c, app); err != nil {
		return false, err
	}
	b.sh.mu.Lock()
	lease := b.sh.lease
	b.sh.mu.Unlock()
	cctx, cancel := b.timeout(ctx)
	defer cancel()
	ok, err := addConnScript.Exec(cctx, c.Client, []string{b.keys.conns(app)},
		[]string{lease, strconv.Itoa(max(maxConns, 0))}).AsInt64()
	if err != nil {
		b.dirty.Store(true)
		return false, b.check(ctx, "add_connection", err)
	}
	b.markUp()
	if ok != 1 {
		return false, nil
	}
	b.sh.mu.Lock()
	b.sh.conns[app]++
	b.sh.mu.Unlock()
	return true, nil
}

// RemoveConnection uncounts a connection counted by AddConnection; none
// counted on this node is a no-op.
func (b *Broker) RemoveConnection(ctx context.Context, app string) error {
	c, err := b.client(ctx)
	if err != nil {
		return err
	}
	b.gate.RLock()
	defer b.gate.RUnlock()
	b.sh.mu.Lock()
	if b.sh.conns[app] <= 0 {
		b.sh.mu.Unlock()
		return nil
	}
	if b.sh.conns[app]--; b.sh.conns[app] == 0 {
		delete(b.sh.conns, app)
	}
	lease := b.sh.lease
	b.sh.mu.Unlock()
	cctx, cancel := b.timeout(ctx)
	defer cancel()
	err = removeConnScript.Exec(cctx, c.Client, []string{b.keys.conns(app)}, []string{lease}).Error()
	if err != nil {
		b.dirty.Store(true)
		return b.check(ctx, "remove_connection", err)
	}
	b.markUp()
	return nil
}

// Connections counts app's connections in the cluster.
func (b *Broker) Connections(ctx context.Context, app string) (int, error) {
	c, err := b.client(ctx)
	if err != nil {
		return 0, err
	}
	cctx, cancel := b.timeout(ctx)
	defer cancel()
	vals, err := c.Do(cctx, c.B().Hvals().Key(b.keys.conns(app)).Build()).ToArray()
	if err != nil {
		return 0, b.check(ctx, "connections", err)
	}
	b.markUp()
	n := 0
	for i := range vals {
		n += int(asInt(vals[i]))
	}
	return n, nil
}

// Allow takes a token from the cluster-wide bucket key (Redis clock):
// rate tokens a second, up to burst (burst <= 0: max(1, rate)); a bucket
// starts full. rate <= 0 (or not a number) means no limit.
func (b *Broker) Allow(ctx context.Context, key string, rate float64, burst int) (time.Duration, bool, error) {
	if !(rate > 0) || math.IsInf(rate, 1) {
		return 0, true, nil
	}
	capacity := float64(burst)
	if burst <= 0 {
		capacity = max(1, rate)
	}
	c, err := b.client(ctx)
	if err != nil {
		return 0, false, err
	}
	cctx, cancel := b.timeout(ctx)
	defer cancel()
	arr, err := allowScript.Exec(cctx, c.Client, []string{b.keys.bucket(key)}, []string{
		strconv.FormatFloat(rate, 'g', -1, 64), strconv.FormatFloat(capacity, 'g', -1, 64),
	}).ToArray()
	if err == nil && len(arr) != 2 {
		err = errReply
	}
	if err != nil {
		return 0, false, b.check(ctx, "allow", err)
	}
	b.markUp()
	if asInt(arr[0]) == 1 {
		return 0, true, nil
	}
	return time.Duration(max(asInt(arr[1]), 1)) * time.Microsecond, false, nil
}
