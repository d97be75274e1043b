package httpapi

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/heraldhq/herald/internal/protocol"
)

// channels answers GET /channels. Like GET /channels/{name} it gives
// subscription_count only to apps with enable_subscription_count (hosted
// Pusher answers it only with the feature on); otherwise the attribute is
// left out, not refused with a 400: hosted Pusher's answer there is not
// recorded, and a caller asking for it next to user_count still gets that.
func (a *API) channels(r *request) (any, *apiError) {
	q := r.query
	prefix := q.Get("filter_by_prefix")
	in := parseInfo(q.Get("info"))
	in.subscriptionCount = in.subscriptionCount && r.app.EnableSubscriptionCount
	if in.userCount && !strings.HasPrefix(prefix, "presence-") {
		return nil, errorf(http.StatusBadRequest, "user_count may only be requested for presence channels - please supply filter_by_prefix beginning with presence-")
	}
	list, err := a.b.Channels(r.Context(), r.app.ID, prefix)
	if err != nil {
		return nil, unavailable(err)
	}
	out := make(map[string]map[string]int, len(list))
	for name, st := range list {
		if strings.HasPrefix(name, "#") {
			continue // internal channels are not listed
		}
		attrs := map[string]int{}
		if in.userCount {
			attrs["user_count"] = st.Users
		}
		if in.subscriptionCount {
			attrs["subscription_count"] = st.Subscriptions
		}
		out[name] = attrs
	}
	return map[string]any{"channels": out}, nil
}

func (a *API) pathChannel(r *request) (string, *apiError) {
	name := r.PathValue("channel_name")
	if !protocol.ValidChannelName(name, a.cfg.MaxChannelNameLen) {
		return "", errorf(http.StatusBadRequest, "Invalid channel name "+strconv.Quote(truncate(name, 210)))
	}
	return name, nil
}

func (a *API) channel(r *request) (any, *apiError) {
	name, aerr := a.pathChannel(r)
	if aerr != nil {
		return nil, aerr
	}
	in := parseInfo(r.query.Get("info"))
	in.subscriptionCount = in.subscriptionCount && r.app.EnableSubscriptionCount
	class := protocol.Classify(name)
	if in.userCount && class.Type != protocol.Presence {
		return nil, errorf(http.StatusBadRequest, "user_count may only be requested for presence channels")
	}
	st, err := a.b.Channel(r.Context(), r.app.ID, name)
	if err != nil {
		return nil, unavailable(err)
	}
	out := map[string]any{"occupied": st.Subscriptions > 0}
	if in.userCount {
		out["user_count"] = st.Users
	}
	if in.subscriptionCount {
		out["subscription_count"] = st.Subscriptions
	}
	if in.cache && class.Cache {
		e, ok, err := a.b.Cached(r.Context(), r.app.ID, name)
		if err != nil {
			return nil, unavailable(err)
		}
		if ok {
			out["cache"] = map[string]any{"event": e.Event, "data": e.Data, "ttl": int(e.TTL.Seconds())}
		} else {
			out["cache"] = nil
		}
	}
	return out, nil
}

func (a *API) terminate(r *request) (any, *apiError) {
	id := r.PathValue("user_id")
	// The rule sign-in applies: any other id was never signed in.
	if !protocol.ValidChannelName(id, a.cfg.MaxUserIDLen) {
		return nil, errorf(http.StatusBadRequest, "Invalid user id "+strconv.Quote(truncate(id, 210)))
	}
	if err := a.b.TerminateUser(r.Context(), r.app.ID, id); err != nil {
		return nil, unavailable(err)
	}
	return struct{}{}, nil
}

type user struct {
	ID string `json:"id"`
}

func (a *API) users(r *request) (any, *apiError) {
	name, aerr := a.pathChannel(r)
	if aerr != nil {
		return nil, aerr
	}
	if protocol.Classify(name).Type != protocol.Presence {
		return nil, errorf(http.StatusBadRequest, "Users can only be listed for presence channels")
	}
	ids, err := a.b.PresenceUsers(r.Context(), r.app.ID, name)
	if err != nil {
		return nil, unavailable(err)
	}
	users := make([]user, len(ids))
	for i, id := range ids {
		users[i] = user{ID: id}
	}
	return map[string]any{"users": users}, nil
}
