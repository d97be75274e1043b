package policy

import (
	"github.com/heraldhq/herald/internal/apps"
	"github.com/heraldhq/herald/internal/signing"
)

// NoSecret is the secret index of a request that no secret verified, or
// that needed no signature.
const NoSecret = -1

// channelSecret returns the index in app.Secrets of the secret that made
// auth for socketID on channel (0: the primary), or NoSecret. The primary
// is tried first: during a rotation most clients already use it.
func (p *Policy) channelSecret(app *apps.App, socketID, channel string, channelData *string, auth string) int {
	for i, secret := range app.Secrets(p.cfg.Now()) {
		if signing.VerifyChannel(app.Key, secret, socketID, channel, channelData, auth) {
			return i
		}
	}
	return NoSecret
}

// userSecret is channelSecret for a pusher:signin over userData.
func (p *Policy) userSecret(app *apps.App, socketID, userData, auth string) int {
	for i, secret := range app.Secrets(p.cfg.Now()) {
		if signing.VerifyUser(app.Key, secret, socketID, userData, auth) {
			return i
		}
	}
	return NoSecret
}
