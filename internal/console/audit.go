package console

import (
	"log/slog"
	"unicode/utf8"

	"github.com/heraldhq/herald/internal/logthrottle"
)

// Reasons of a failed authorization: the reason field of the audit line
// and of auth_failed events (docs/audit-log.md).
const (
	// ReasonBadSignature: a private/presence subscription's signature, or a
	// REST request's, does not verify (REST: or its auth parameters are
	// missing or malformed: version, body_md5).
	ReasonBadSignature = "bad_signature"
	// ReasonExpiredTimestamp: a REST request's auth_timestamp is outside
	// the allowed window.
	ReasonExpiredTimestamp = "expired_timestamp"
	// ReasonUnknownKey: a WebSocket connection named an unknown app key,
	// or a REST request's auth_key is not the app's.
	ReasonUnknownKey = "unknown_key"
	// ReasonOriginRefused: the WebSocket Origin is not in the app's allow-list.
	ReasonOriginRefused = "origin_refused"
	// ReasonChannelRefused: a subscription refused as an authorization
	// error for another reason than its signature (a #server-to-user-
	// channel without the matching sign-in, a presence subscription without
	// or with invalid channel_data, or under another user than before).
	ReasonChannelRefused = "channel_refused"
	// ReasonSigninRefused: a pusher:signin refused (signature, user_data,
	// or already signed in as another user).
	ReasonSigninRefused = "signin_refused"
	// ReasonSigninTimeout: a connection of an app that requires sign-in
	// closed for not signing in in time.
	ReasonSigninTimeout = "signin_timeout"
	// ReasonRateLimited: a REST request refused by the app's rate limit (429).
	ReasonRateLimited = "rate_limited"
)

// AuthMessage is the msg of every audit line.
const AuthMessage = "auth failed"

// AuthFailure is one failed authorization decision. No field may hold a
// secret or a full signature.
type AuthFailure struct {
	AppID    string // "" when no app is known (an unknown WebSocket key)
	Key      string // the app key, or the key presented when it is unknown
	SocketID string // "" outside a connection (REST, refused connections)
	Remote   string // the peer's address
	Channel  string // the channel refused, for subscriptions...
	Endpoint string // ...or the REST endpoint, or "websocket" for a refused connection
	Reason   string // one of the Reason constants
	Detail   string // a short explanation
}

// Bounds of the audit line's client-supplied fields, in bytes.
const (
	maxAuditKey     = 64
	maxAuditChannel = 200
	maxAuditDetail  = 200
)

// AuditAuthFailure writes f's audit line (msg "auth failed", audit=true, at Warn)
// to log through t, within the budgets of f's connection (its socket id,
// or its address when it has none) and of f's app, so a flood of failures
// writes a few lines and a count in t's summary; then shows it to the
// app's console viewers (feed may be nil).
func AuditAuthFailure(log *slog.Logger, t *logthrottle.Throttle, feed *Feed, f AuthFailure) {
	key := f.SocketID
	if key == "" {
		key = logthrottle.AddrKey(f.Remote)
	}
	args := make([]any, 0, 18)
	args = append(args, "audit", true, "app_id", f.AppID, "app_key", clip(f.Key, maxAuditKey),
		"socket_id", f.SocketID, "remote", f.Remote)
	if f.Channel != "" {
		args = append(args, "channel", clip(f.Channel, maxAuditChannel))
	} else {
		args = append(args, "endpoint", f.Endpoint)
	}
	args = append(args, "reason", f.Reason)
	if f.Detail != "" {
		args = append(args, "detail", clip(f.Detail, maxAuditDetail))
	}
	t.Log(log, slog.LevelWarn, key, f.AppID, AuthMessage, args...)

	if f.AppID != "" && feed.Watching(f.AppID) {
		e := Event{Type: AuthFailed, SocketID: f.SocketID, Remote: f.Remote, Reason: f.Reason, Detail: f.Detail}
		if f.Channel != "" {
			e.Channel = f.Channel
		} else {
			e.Endpoint = f.Endpoint
		}
		feed.Emit(f.AppID, e)
	}
}

// clip is cut for a log line: the same character boundary, without the
// copy (the line does not outlive the call).
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "..."
}
