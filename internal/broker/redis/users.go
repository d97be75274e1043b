package redis

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"

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
	lease, added := b.sh.signIn(k, userID)
	if !added {
		return false, nil
	}
	if err := b.ensureApp(ctx, c, app); err != nil {
		b.sh.unsignIn(k)
		return false, err
	}
	msg, err := b.execShare(ctx, c, "signin", signInScript, b.keys.users(app),
		b.keys.app(app), lease, userID, watchMessage(online))
	if err != nil {
		b.sh.unsignIn(k)
		return false, err
	}
	return asInt(msg) == 1, nil
}

// SignOut undoes SignIn; an unknown socket is a no-op.
func (b *Broker) SignOut(ctx context.Context, app, userID, socketID string, offline []byte) (bool, error) {
	c, err := b.client(ctx)
	if err != nil {
		return false, err
	}
	b.gate.RLock()
	defer b.gate.RUnlock()
	lease, user, ok := b.sh.signOut(signKey{app, socketID})
	if !ok {
		return false, nil
	}
	msg, err := b.execShare(ctx, c, "signout", signOutScript, b.keys.users(app),
		b.keys.app(app), lease, user, watchMessage(offline))
	if err != nil {
		return false, err
	}
	return asInt(msg) == 1, nil
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
	msg, err := b.call(ctx, c, "online", c.B().Hmget().Key(b.keys.users(app)).Field(ids...).Build())
	if err != nil {
		return nil, err
	}
	arr, err := msg.ToArray()
	if err == nil && len(arr) != len(ids) {
		err = fmt.Errorf("online: %d replies for %d ids: %w", len(arr), len(ids), errReply)
	}
	if err != nil {
		return nil, b.check(ctx, "online", err)
	}
	for i := range out {
		out[i] = asInt(arr[i]) > 0
	}
	return out, nil
}

// UserConnections counts userID's signed-in connections in the cluster.
func (b *Broker) UserConnections(ctx context.Context, app, userID string) (int, error) {
	c, err := b.client(ctx)
	if err != nil {
		return 0, err
	}
	msg, err := b.call(ctx, c, "user_connections", c.B().Hget().Key(b.keys.users(app)).Field(userID).Build())
	return int(asInt(msg)), err
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
	msg, err := b.execShare(ctx, c, "add_connection", addConnScript, b.keys.conns(app),
		b.sh.currentLease(), strconv.Itoa(max(maxConns, 0)))
	if err != nil || asInt(msg) != 1 {
		return false, err
	}
	b.sh.addConn(app)
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
	lease, ok := b.sh.removeConn(app)
	if !ok {
		return nil
	}
	_, err = b.execShare(ctx, c, "remove_connection", removeConnScript, b.keys.conns(app), lease)
	return err
}

// Connections counts app's connections in the cluster.
func (b *Broker) Connections(ctx context.Context, app string) (int, error) {
	c, err := b.client(ctx)
	if err != nil {
		return 0, err
	}
	msg, err := b.call(ctx, c, "connections", c.B().Hvals().Key(b.keys.conns(app)).Build())
	if err != nil {
		return 0, err
	}
	vals, err := msg.ToArray()
	if err != nil {
		return 0, b.check(ctx, "connections", err)
	}
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
	msg, err := b.exec(ctx, c, "allow", allowScript, b.keys.bucket(key),
		strconv.FormatFloat(rate, 'g', -1, 64), strconv.FormatFloat(capacity, 'g', -1, 64))
	if err != nil {
		return 0, false, err
	}
	arr, err := msg.ToArray()
	if err == nil && len(arr) != 2 {
		err = fmt.Errorf("allow: %d replies, want 2: %w", len(arr), errReply)
	}
	if err != nil {
		return 0, false, b.check(ctx, "allow", err)
	}
	if asInt(arr[0]) == 1 {
		return 0, true, nil
	}
	return time.Duration(max(asInt(arr[1]), 1)) * time.Microsecond, false, nil
}
