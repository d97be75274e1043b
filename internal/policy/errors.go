package policy

import (
	"errors"
	"fmt"
	"strings"

	"github.com/heraldhq/herald/internal/apps"
	"github.com/heraldhq/herald/internal/protocol"
)

// SubscriptionError is a refused subscription. The edge reports it as a
// pusher:error (code null, hosted Pusher's form) and as a
// pusher:subscription_error on the channel (what laravel-echo's .error()
// listens for). The connection stays open.
type SubscriptionError struct {
	Channel string
	Type    string // AuthError, InvalidChannel, LimitReached, ServiceUnavailable
	Status  int    // HTTP-like status for the subscription_error payload
	Message string

	cause error // ErrSignature for a signature that did not verify
}

func (e *SubscriptionError) Error() string { return e.Message }

// Unwrap lets callers tell a bad signature (ErrSignature) from the rest.
func (e *SubscriptionError) Unwrap() error { return e.cause }

// ErrSignature is what a subscription refused for its signature wraps
// (errors.Is), so the caller can count failed authorizations apart.
var ErrSignature = errors.New("channel signature does not verify")

func subErr(channel, typ string, status int, format string, args ...any) *SubscriptionError {
	return &SubscriptionError{Channel: channel, Type: typ, Status: status, Message: fmt.Sprintf(format, args...)}
}

// The refusals below are decided by the hub, from its state; their texts
// live here with the others.

// AlreadySubscribedAs refuses a presence subscription under another
// identity than the one the connection holds the channel as: it would
// orphan the old member.
func AlreadySubscribedAs(channel, userID string) *SubscriptionError {
	return subErr(channel, "AuthError", 400, "Already subscribed to %s as user %q", channel, userID)
}

// TooManyChannels refuses a subscription past the channels a connection
// may hold.
func TooManyChannels(channel string, max int) *SubscriptionError {
	return subErr(channel, "LimitReached", 400, "A connection may hold at most %d channels", max)
}

// PresenceFull refuses a new member of a presence channel at its limit.
func PresenceFull(channel string, max int) *SubscriptionError {
	return subErr(channel, "LimitReached", 4100, "Presence channel %s is full (%d members)", channel, max)
}

// Unavailable refuses a subscription when the cluster's shared state
// cannot be reached; the connection stays, the client may try again.
func Unavailable(channel string) *SubscriptionError {
	return subErr(channel, "ServiceUnavailable", 503, "Subscription to %s failed: the server cannot reach its cluster state, try again", truncate(channel, 200))
}

// signinRefused is a refused pusher:signin: pusher:error 4009, and a close
// with 4009 when the app requires sign-in.
func signinRefused(app *apps.App, format string, args ...any) *protocol.Error {
	return &protocol.Error{Code: protocol.CodeUnauthorized, Message: fmt.Sprintf(format, args...), Close: app.RequireSignin}
}

// AlreadySignedIn refuses a sign-in as another user than the one the
// connection is signed in as.
func AlreadySignedIn(app *apps.App, userID string) *protocol.Error {
	return signinRefused(app, "Connection is already signed in as user %q", truncate(userID, 140))
}

// SigninUnavailable refuses a sign-in when the cluster's shared state
// cannot be reached; the connection stays.
func SigninUnavailable() *protocol.Error {
	return &protocol.Error{Code: protocol.CodeReconnect, Message: "Sign-in failed: the server cannot reach its cluster state, try again"}
}

// watchlistCut is the pusher:error (4302) sent after signin_success when
// the watchlist had more ids than are watched.
func watchlistCut(kept []string, dropped int) *protocol.Error {
	return &protocol.Error{Code: protocol.CodeWatchlistLimit, Message: fmt.Sprintf(
		"Watchlist limit exceeded: only the first %d ids are watched (%d dropped): %s",
		len(kept), dropped, truncate(strings.Join(kept, ","), 2000))}
}
