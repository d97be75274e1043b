// Package policy is what a client may do: channel names, subscription
// signatures, channel_data, sign-in, with the exact pusher:error /
// subscription_error texts.
//
// It decides from the request, the app and the connection's identity
// alone; what needs the hub's state (a second identity on a channel, the
// channels a connection holds, a full presence channel, the cluster being
// unreachable) the hub decides, with the texts from here (errors.go), so
// every refusal a client can read is written in one place. It holds no
// state, writes no logs and counts nothing: a check reports which secret
// generation verified a signature, and the caller counts it.
package policy

import (
	"time"

	"github.com/heraldhq/herald/internal/apps"
	"github.com/heraldhq/herald/internal/protocol"
)

// Config holds the limits on what a client may send. Zero values mean the
// documented default.
type Config struct {
	MaxChannelNameLen int // default 200 (protocol.DefaultMaxChannelNameLen)
	MaxUserIDLen      int // default 128: presence user_id, sign-in id
	MaxUserInfoBytes  int // default 1024: user_info of a member or a signed-in user; an app's own limit wins
	MaxWatchlistSize  int // default 100: ids kept from a sign-in's watchlist
	// Now picks the secrets an app accepts (previous secrets expire);
	// default time.Now.
	Now func() time.Time
}

// Policy checks client requests. It is safe for concurrent use.
type Policy struct {
	cfg Config
}

// New builds a policy with cfg's limits.
func New(cfg Config) *Policy {
	if cfg.MaxChannelNameLen <= 0 {
		cfg.MaxChannelNameLen = protocol.DefaultMaxChannelNameLen
	}
	if cfg.MaxUserIDLen <= 0 {
		cfg.MaxUserIDLen = 128
	}
	if cfg.MaxUserInfoBytes <= 0 {
		cfg.MaxUserInfoBytes = 1024
	}
	if cfg.MaxWatchlistSize <= 0 {
		cfg.MaxWatchlistSize = 100
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Policy{cfg: cfg}
}

// maxUserInfo is app's user_info limit, or the server's.
func (p *Policy) maxUserInfo(app *apps.App) int {
	if app.MaxUserInfoBytes > 0 {
		return app.MaxUserInfoBytes
	}
	return p.cfg.MaxUserInfoBytes
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
