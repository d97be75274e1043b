package httpapi

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/heraldhq/herald/internal/protocol"
)

func (a *API) channels(r *request) (any, *apiError) {
	q := r.query
	prefix := q.Get("filter_by_prefix")
	in := parseInfo(q.Get("info"))
	if in.userCount && !strings.HasPrefix(prefix, "presence-") {
		return nil, errorf(http.StatusBadRequest, "user_count may only be requested for presence channels - please supply filter_by_prefix beginning with presence-")
	}
	list := a.b.Channels(r.app.ID, prefix)
	out := make(map[string]map[string]int, len(list))
	for name, st := range list {
		if strings.HasPrefix(name, "#") {
			continue // internal channels are not listed
		}
		attrs := map[string]int{}
		if in.userCount {
			attrs["user_count"] = st.UserCount
		}
		if in.subscriptionCount {
			attrs["subscription_count"] = st.SubscriptionCount
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
	class := protocol.Classify(name)
	if in.userCount && class.Type != protocol.Presence {
		return nil, errorf(http.StatusBadRequest, "user_count may only be requested for presence channels")
	}
	st := a.b.Channel(r.app.ID, name)
	out := map[string]any{"occupied": st.Occupied}
	if in.userCount {
		out["user_count"] = st.UserCount
	}
	if in.subscriptionCount {
		out["subscription_count"] = st.SubscriptionCount
	}
	if in.cache && class.Cache {
		if e, ok := a.b.Cached(r.app.ID, name); ok {
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
	a.b.TerminateUser(r.app.ID, id)
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
	ids := a.b.PresenceUsers(r.app.ID, name)
	users := make([]user, len(ids))
	for i, id := range ids {
		users[i] = user{ID: id}
	}
	return map[string]any{"users": users}, nil
}
