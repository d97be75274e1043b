package pusher

import (
	"encoding/base64"
	"net/url"
	"strings"
)

// Member is the presence member a channel authorization vouches for.
type Member struct {
	UserID   string // 1 to 200 bytes; sent as a JSON string
	UserInfo any    // optional, JSON-encoded (≤ 1 KiB recommended)
}

// ChannelAuthParams is one subscription request from the browser, as read
// by ParseChannelAuthRequest.
type ChannelAuthParams struct {
	SocketID string
	Channel  string
	// Member is required on presence- channels unless UseSignedInUser is
	// set, and refused on other channels.
	Member *Member
	// UseSignedInUser authorizes a presence channel without channel_data:
	// the server then takes the member from the connection's pusher:signin
	// (see AuthenticateUser). The subscription fails if the connection is
	// not signed in. Ignored on other channels.
	UseSignedInUser bool
}

// ChannelAuth is the body to answer pusher-js's channel authorization
// request with (HTTP 200, application/json); json.Marshal gives exactly the
// fields pusher-js reads.
type ChannelAuth struct {
	Auth         string `json:"auth"`
	ChannelData  string `json:"channel_data,omitempty"`  // presence channels
	SharedSecret string `json:"shared_secret,omitempty"` // private-encrypted- channels
}

type channelData struct {
	UserID   string `json:"user_id"`
	UserInfo any    `json:"user_info,omitempty"`
}

// AuthorizeChannel signs a subscription to a private-, presence- or
// private-encrypted- channel for one socket. Encrypted channels also get
// the channel's shared_secret, which needs the master key.
func (c *Client) AuthorizeChannel(p ChannelAuthParams) (ChannelAuth, error) {
	if err := checkSocketID("SocketID", p.SocketID, false); err != nil {
		return ChannelAuth{}, err
	}
	if err := checkChannel("Channel", p.Channel); err != nil {
		return ChannelAuth{}, err
	}
	presence := isPresence(p.Channel)
	if !presence && !strings.HasPrefix(p.Channel, "private-") {
		return ChannelAuth{}, invalid("Channel", "public channel "+p.Channel+" needs no authorization")
	}
	var out ChannelAuth
	var cd *string
	switch {
	case presence && p.Member != nil:
		if err := checkUserID("Member.UserID", p.Member.UserID); err != nil {
			return ChannelAuth{}, err
		}
		b, err := marshal(channelData{UserID: p.Member.UserID, UserInfo: p.Member.UserInfo})
		if err != nil {
			return ChannelAuth{}, &ValidationError{Field: "Member.UserInfo", Reason: "cannot encode as JSON", Err: err}
		}
		out.ChannelData = string(b)
		cd = &out.ChannelData
	case presence && !p.UseSignedInUser:
		return ChannelAuth{}, invalid("Member", "required on presence channels (or set UseSignedInUser)")
	case !presence && p.Member != nil:
		return ChannelAuth{}, invalid("Member", "only presence channels carry a member")
	}
	if isEncrypted(p.Channel) {
		if c.masterKey == nil {
			return ChannelAuth{}, &ValidationError{Field: "Channel", Reason: "encrypted channel " + p.Channel + " needs Config.EncryptionMasterKeyBase64", Err: ErrNoMasterKey}
		}
		out.SharedSecret = base64.StdEncoding.EncodeToString(sharedSecret(p.Channel, c.masterKey))
	}
	out.Auth = channelAuth(c.key, c.secret, p.SocketID, p.Channel, cd)
	return out, nil
}

// UserData is what a signed-in user is known as.
type UserData struct {
	ID        string   // required, 1 to 200 bytes
	UserInfo  any      // optional; becomes presence member info
	Watchlist []string // optional user ids whose online status is reported
}

// UserAuthParams is one pusher.signin() request from the browser.
type UserAuthParams struct {
	SocketID string
	User     UserData
}

// UserAuth is the body to answer pusher-js's user authentication request
// with; UserData is the exact string that was signed.
type UserAuth struct {
	Auth     string `json:"auth"`
	UserData string `json:"user_data"`
}

type userDataJSON struct {
	ID        string   `json:"id"`
	UserInfo  any      `json:"user_info,omitempty"`
	Watchlist []string `json:"watchlist,omitempty"`
}

// AuthenticateUser signs a user sign-in for one socket.
func (c *Client) AuthenticateUser(p UserAuthParams) (UserAuth, error) {
	if err := checkSocketID("SocketID", p.SocketID, false); err != nil {
		return UserAuth{}, err
	}
	if err := checkUserID("User.ID", p.User.ID); err != nil {
		return UserAuth{}, err
	}
	b, err := marshal(userDataJSON{ID: p.User.ID, UserInfo: p.User.UserInfo, Watchlist: p.User.Watchlist})
	if err != nil {
		return UserAuth{}, &ValidationError{Field: "User.UserInfo", Reason: "cannot encode as JSON", Err: err}
	}
	ud := string(b)
	return UserAuth{Auth: userAuth(c.key, c.secret, p.SocketID, ud), UserData: ud}, nil
}

// ParseChannelAuthRequest reads the form body pusher-js posts to the
// channel authorization endpoint ("socket_id=…&channel_name=…", extra
// params ignored) and validates both values. Set Member on the result for
// presence channels, then call AuthorizeChannel.
func ParseChannelAuthRequest(body []byte) (ChannelAuthParams, error) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return ChannelAuthParams{}, &ValidationError{Field: "body", Reason: "not a form body", Err: err}
	}
	p := ChannelAuthParams{SocketID: form.Get("socket_id"), Channel: form.Get("channel_name")}
	if err := checkSocketID("socket_id", p.SocketID, false); err != nil {
		return ChannelAuthParams{}, err
	}
	if err := checkChannel("channel_name", p.Channel); err != nil {
		return ChannelAuthParams{}, err
	}
	return p, nil
}

// ParseUserAuthRequest reads the form body pusher-js posts to the user
// authentication endpoint ("socket_id=…") and returns the socket id.
func ParseUserAuthRequest(body []byte) (socketID string, err error) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return "", &ValidationError{Field: "body", Reason: "not a form body", Err: err}
	}
	socketID = form.Get("socket_id")
	if err := checkSocketID("socket_id", socketID, false); err != nil {
		return "", err
	}
	return socketID, nil
}
