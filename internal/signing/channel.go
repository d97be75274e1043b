package signing

// ChannelStringToSign returns the bytes a channel authorization signs:
// "socket_id:channel", plus ":channel_data" for presence channels. A nil
// channelData means absent; a non-nil empty string is signed as a trailing
// ":" because the signer saw a (blank) channel_data field.
func ChannelStringToSign(socketID, channel string, channelData *string) string {
	if channelData == nil {
		return socketID + ":" + channel
	}
	return socketID + ":" + channel + ":" + *channelData
}

// AuthorizeChannel returns the "key:hex" auth value an app backend hands to
// the client for a private, encrypted or presence subscription.
func AuthorizeChannel(key, secret, socketID, channel string, channelData *string) string {
	return key + ":" + HMACHex(secret, []byte(ChannelStringToSign(socketID, channel, channelData)))
}

// VerifyChannel reports whether auth authorizes socketID on channel. The
// whole "key:hex" string is compared, so a valid signature presented with a
// different key prefix fails (Reverb's suffix-only check lets it pass).
// channelData must be the exact string received, never a re-serialisation.
func VerifyChannel(key, secret, socketID, channel string, channelData *string, auth string) bool {
	return equal(AuthorizeChannel(key, secret, socketID, channel, channelData), auth)
}

// userStringToSign is the message of a pusher:signin signature.
func userStringToSign(socketID, userData string) string {
	return socketID + "::user::" + userData
}

// AuthenticateUser returns the "key:hex" auth value for pusher:signin over
// the exact userData string the client will send back.
func AuthenticateUser(key, secret, socketID, userData string) string {
	return key + ":" + HMACHex(secret, []byte(userStringToSign(socketID, userData)))
}

// VerifyUser reports whether auth signs userData for socketID, comparing the
// whole "key:hex" string in constant time.
func VerifyUser(key, secret, socketID, userData, auth string) bool {
	return equal(AuthenticateUser(key, secret, socketID, userData), auth)
}
