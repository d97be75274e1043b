package policy

import (
	"github.com/heraldhq/herald/internal/apps"
	"github.com/heraldhq/herald/internal/protocol"
)

// SignIn is a pusher:signin the policy allows.
type SignIn struct {
	User *User
	// Warning, when not nil, goes to the client after signin_success: the
	// watchlist had more ids than are watched (4302).
	Warning *protocol.Error
	// Secret is as in Subscription: set even when a later check refuses.
	Secret int
}

// Signin checks a pusher:signin sent by connection socketID of app: the
// signature over user_data, against every secret app accepts now, then
// user_data itself (id, user_info size, watchlist, cut to the limit).
// Refusals are *protocol.Error 4009, closing the connection when the app
// requires sign-in.
func (p *Policy) Signin(app *apps.App, socketID string, d protocol.SigninData) (SignIn, error) {
	s := SignIn{Secret: p.userSecret(app, socketID, d.UserData, d.Auth)}
	if s.Secret == NoSecret {
		return s, signinRefused(app, "Invalid signature: expected HMAC SHA256 hex digest of %s", truncate(socketID+"::user::"+d.UserData, 300))
	}
	ud, err := protocol.ParseUserData(d.UserData)
	if err != nil {
		return s, signinRefused(app, "Invalid user_data: %s", protocol.MessageOf(err))
	}
	if !protocol.ValidChannelName(ud.ID, p.cfg.MaxUserIDLen) {
		return s, signinRefused(app, "Invalid user id %q: at most %d characters from A-Z a-z 0-9 _ - = @ , . ;", truncate(ud.ID, 140), p.cfg.MaxUserIDLen)
	}
	if len(ud.UserInfo) > p.maxUserInfo(app) {
		return s, signinRefused(app, "user_info is larger than %d bytes", p.maxUserInfo(app))
	}
	watch := dedupe(ud.Watchlist)
	if n := len(watch) - p.cfg.MaxWatchlistSize; n > 0 {
		watch = watch[:p.cfg.MaxWatchlistSize]
		s.Warning = watchlistCut(watch, n)
	}
	s.User = &User{ID: ud.ID, Info: ud.UserInfo, Watchlist: watch}
	return s, nil
}

// dedupe drops repeated and empty ids, keeping the first occurrence's order.
func dedupe(ids []string) []string {
	if len(ids) == 0 {
		return ids
	}
	seen := make(map[string]struct{}, len(ids))
	out := ids[:0:0]
	for _, id := range ids {
		if _, ok := seen[id]; !ok && id != "" {
			seen[id] = struct{}{}
			out = append(out, id)
		}
	}
	return out
}
