package pusher

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// ChannelsParams filters and decorates the list of occupied channels.
type ChannelsParams struct {
	// Prefix keeps only channels whose name starts with it ("" = all).
	Prefix string
	// Info: InfoUserCount is only valid with a "presence-" Prefix (the
	// server answers 400 otherwise); Herald also serves
	// InfoSubscriptionCount.
	Info []string
}

// ChannelsResult maps each occupied channel onto its requested attributes;
// never nil.
type ChannelsResult struct {
	Channels map[string]ChannelInfo
}

// Channels lists the app's occupied channels.
func (c *Client) Channels(ctx context.Context, p ChannelsParams) (ChannelsResult, error) {
	q := url.Values{}
	if p.Prefix != "" {
		q.Set("filter_by_prefix", p.Prefix)
	}
	if len(p.Info) > 0 {
		q.Set("info", strings.Join(p.Info, ","))
	}
	chans, err := c.doChannelMap(ctx, http.MethodGet, c.apiPath("/channels"), q, nil)
	return ChannelsResult{Channels: chans}, err
}

// ChannelParams selects the attributes Channel reports.
type ChannelParams struct {
	// Info: InfoUserCount (presence channels only, else the server answers
	// 400), InfoSubscriptionCount, InfoCache (cache channels).
	Info []string
}

// ChannelState is the state of one channel. Pointer fields are nil when not
// requested (or not applicable).
type ChannelState struct {
	Occupied          bool
	UserCount         *int
	SubscriptionCount *int
	// Cache is the cached event of a cache channel when InfoCache was asked
	// for and an event is cached; nil otherwise.
	Cache *CachedEvent
}

// CachedEvent is the last event stored by a cache channel.
type CachedEvent struct {
	Event string // "" when the server does not report it (hosted Pusher)
	Data  string
	TTL   time.Duration // remaining lifetime, whole seconds
}

// Channel returns the state of one channel.
func (c *Client) Channel(ctx context.Context, name string, p ChannelParams) (ChannelState, error) {
	if err := checkChannel("Channel", name); err != nil {
		return ChannelState{}, err
	}
	q := url.Values{}
	if len(p.Info) > 0 {
		q.Set("info", strings.Join(p.Info, ","))
	}
	var resp struct {
		Occupied          bool `json:"occupied"`
		UserCount         *int `json:"user_count"`
		SubscriptionCount *int `json:"subscription_count"`
		Cache             *struct {
			Event string  `json:"event"`
			Data  string  `json:"data"`
			TTL   float64 `json:"ttl"`
		} `json:"cache"`
	}
	if err := c.do(ctx, http.MethodGet, c.apiPath("/channels/"+name), q, nil, &resp); err != nil {
		return ChannelState{}, err
	}
	st := ChannelState{Occupied: resp.Occupied, UserCount: resp.UserCount, SubscriptionCount: resp.SubscriptionCount}
	if resp.Cache != nil {
		st.Cache = &CachedEvent{Event: resp.Cache.Event, Data: resp.Cache.Data, TTL: time.Duration(resp.Cache.TTL * float64(time.Second))}
	}
	return st, nil
}

// User is a member of a presence channel.
type User struct {
	ID string `json:"id"`
}

// PresenceUsers lists the distinct user ids in a presence channel; never
// nil. A non-presence channel name is refused before sending.
func (c *Client) PresenceUsers(ctx context.Context, name string) ([]User, error) {
	if err := checkChannel("Channel", name); err != nil {
		return nil, err
	}
	if !isPresence(name) {
		return nil, invalid("Channel", "users can only be listed for presence- channels")
	}
	var resp struct {
		Users []User `json:"users"`
	}
	if err := c.do(ctx, http.MethodGet, c.apiPath("/channels/"+name+"/users"), nil, nil, &resp); err != nil {
		return nil, err
	}
	if resp.Users == nil {
		resp.Users = []User{}
	}
	return resp.Users, nil
}
