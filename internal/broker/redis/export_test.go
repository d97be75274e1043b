package redis

import "context"

// keysMatching lists keys (KEYS: tests only).
func (b *Broker) keysMatching(ctx context.Context, pattern string) ([]string, error) {
	c, err := b.client(ctx)
	if err != nil {
		return nil, err
	}
	return c.Do(ctx, c.B().Keys().Pattern(pattern).Build()).AsStrSlice()
}

func (b *Broker) pttl(ctx context.Context, key string) (int64, error) {
	c, err := b.client(ctx)
	if err != nil {
		return 0, err
	}
	return c.Do(ctx, c.B().Pttl().Key(key).Build()).AsInt64()
}

// crash stops the node as kill -9 would: Run returns without cleanup,
// connections close, the lease is left to expire.
func (b *Broker) crash() { b.Close() }
