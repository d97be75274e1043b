package redis

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// minMajor is the oldest Redis the broker works with: sharded pub/sub
// (SSUBSCRIBE / SPUBLISH) came with 7.0.
const minMajor = 7

// CheckServer answers like Ping, and also refuses a Redis older than 7.0
// with an error that says so (sharded pub/sub would fail later, on the
// first subscription, with an unknown-command error).
func (b *Broker) CheckServer(ctx context.Context) error {
	if err := b.Ping(ctx); err != nil {
		return err
	}
	c, err := b.client(ctx)
	if err != nil {
		return err
	}
	msg, err := b.call(ctx, c, "info", c.B().Info().Section("server").Build())
	if err != nil {
		return err
	}
	info, err := msg.ToString()
	if err != nil {
		return fmt.Errorf("redis INFO server: %w", err)
	}
	return checkVersion(info)
}

// checkVersion reads redis_version from an INFO server reply. A reply
// without it (a proxy or a Redis-compatible server that does not say) is
// accepted: the commands themselves then decide.
func checkVersion(info string) error {
	for line := range strings.Lines(info) {
		v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:")
		if !ok {
			continue
		}
		major, _, _ := strings.Cut(v, ".")
		n, err := strconv.Atoi(major)
		if err != nil {
			return nil
		}
		if n < minMajor {
			return fmt.Errorf("Redis %s is too old: Herald needs Redis %d.0 or later (sharded pub/sub)", v, minMajor)
		}
		return nil
	}
	return nil
}
