package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/heraldhq/herald/internal/console"
	"github.com/heraldhq/herald/internal/protocol"
)

// eventBody is one event as the SDKs send it. PHP sends "channel" for a
// single channel, the others "channels"; both are accepted.
type eventBody struct {
	Name     *string         `json:"name"`
	Data     json.RawMessage `json:"data"`
	Channels []string        `json:"channels"`
	Channel  *string         `json:"channel"`
	SocketID *string         `json:"socket_id"`
	Info     string          `json:"info"`
}

// event is a validated event ready to publish.
type event struct {
	name     string
	data     string
	channels []string
	socketID string
	info     infoSet
}

type infoSet struct{ userCount, subscriptionCount, cache bool }

func parseInfo(s string) infoSet {
	var in infoSet
	for more := true; more; {
		var f string
		f, s, more = strings.Cut(s, ",")
		switch strings.TrimSpace(f) {
		case "user_count":
			in.userCount = true
		case "subscription_count":
			in.subscriptionCount = true
		case "cache":
			in.cache = true
		}
	}
	return in
}

func (in infoSet) any() bool { return in.userCount || in.subscriptionCount }

// validate checks one event; maxChannels is 100 for /events, 1 for a batch item.
func (a *API) validate(b *eventBody, maxChannels int, maxData int) (*event, *apiError) {
	if b.Name == nil || *b.Name == "" {
		return nil, errorf(http.StatusBadRequest, "Missing event name (name)")
	}
	if len(*b.Name) > a.cfg.MaxEventNameLen {
		return nil, errorf(http.StatusBadRequest, "Event name is longer than "+strconv.Itoa(a.cfg.MaxEventNameLen)+" characters")
	}
	if b.Data == nil {
		return nil, errorf(http.StatusBadRequest, "Missing event data (data)")
	}
	data, ok := dataString(b.Data)
	if !ok {
		return nil, errorf(http.StatusBadRequest, "Invalid event data")
	}
	channels := b.Channels
	if channels == nil && b.Channel != nil {
		channels = []string{*b.Channel}
	}
	if len(channels) == 0 {
		return nil, errorf(http.StatusBadRequest, "Missing channels: give channels (an array) or channel")
	}
	if len(channels) > maxChannels {
		return nil, errorf(http.StatusBadRequest, "Too many channels: at most "+strconv.Itoa(maxChannels)+" per event")
	}
	for _, ch := range channels {
		if !a.validPublishChannel(ch) {
			return nil, errorf(http.StatusBadRequest, "Invalid channel name "+strconv.Quote(truncate(ch, 210)))
		}
		if len(channels) > 1 && protocol.Classify(ch).Type == protocol.Encrypted {
			return nil, errorf(http.StatusBadRequest, "Cannot publish to several channels when one is an encrypted channel ("+ch+")")
		}
	}
	uniq := dedupe(channels)
	ev := &event{name: *b.Name, data: data, channels: uniq, info: parseInfo(b.Info)}
	if b.SocketID != nil {
		if !protocol.ValidSocketID(*b.SocketID) {
			return nil, errorf(http.StatusBadRequest, "Invalid socket_id "+strconv.Quote(truncate(*b.SocketID, 64)))
		}
		ev.socketID = *b.SocketID
	}
	if maxData > 0 && len(data) > maxData {
		return nil, errorf(http.StatusRequestEntityTooLarge, "Event data is larger than "+strconv.Itoa(maxData)+" bytes")
	}
	return ev, nil
}

// dedupe returns channels without repeats, the first of each kept in
// order: channels itself when nothing repeats (the common case, no copy).
func dedupe(channels []string) []string {
	var seen map[string]struct{}
	if len(channels) > 16 { // past a few, a set beats comparing with each
		seen = make(map[string]struct{}, len(channels))
	}
	// repeated reports whether ch is among kept, the channels kept so far.
	repeated := func(kept []string, ch string) bool {
		if seen == nil {
			return slices.Contains(kept, ch)
		}
		if _, dup := seen[ch]; dup {
			return true
		}
		seen[ch] = struct{}{}
		return false
	}
	for i, ch := range channels {
		if !repeated(channels[:i], ch) {
			continue
		}
		uniq := slices.Clone(channels[:i])
		for _, ch := range channels[i+1:] {
			if !repeated(uniq, ch) {
				uniq = append(uniq, ch)
			}
		}
		return uniq
	}
	return channels
}

func (a *API) validPublishChannel(ch string) bool {
	if id, ok := protocol.UserChannelID(ch); ok {
		// Only ids a connection could sign in as (sign-in applies the same rule).
		return protocol.ValidChannelName(id, a.cfg.MaxUserIDLen)
	}
	return protocol.ValidChannelName(ch, a.cfg.MaxChannelNameLen)
}

// dataString returns data as the string to forward: a JSON string as is,
// anything else in compact JSON form (hand-written clients send objects).
func dataString(raw json.RawMessage) (string, bool) {
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", false
		}
		return s, true
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return "", false
	}
	return buf.String(), true
}

func (a *API) publish(ctx context.Context, appID string, ev *event) *apiError {
	n := 0
	defer func() { a.m.APIEventsPublished.WithLabelValues(appID).Add(float64(n)) }()
	for _, ch := range ev.channels {
		if err := a.b.Publish(ctx, appID, ch, ev.name, ev.data, ev.socketID); err != nil {
			return unavailable(err)
		}
		n++
		if a.console.Watching(appID) {
			a.console.Emit(appID, console.Event{Type: console.APIMessage, Channel: ch, Event: ev.name,
				SocketID: ev.socketID, Bytes: len(ev.data), Data: ev.data})
		}
	}
	return nil
}

// channelAttrs are the attributes of one channel a trigger's info asked
// for; nil ones were not asked for (or do not apply) and are left out. A
// struct rather than a map: it encodes to the same JSON (keys in the same
// order) at a fraction of the cost.
type channelAttrs struct {
	SubscriptionCount *int `json:"subscription_count,omitempty"`
	UserCount         *int `json:"user_count,omitempty"`
}

// channelInfo returns the requested attributes for one channel.
func (a *API) channelInfo(ctx context.Context, appID, ch string, in infoSet) (channelAttrs, *apiError) {
	st, err := a.b.Channel(ctx, appID, ch)
	if err != nil {
		return channelAttrs{}, unavailable(err)
	}
	var out channelAttrs
	if in.subscriptionCount {
		out.SubscriptionCount = &st.Subscriptions
	}
	if in.userCount && protocol.Classify(ch).Type == protocol.Presence {
		out.UserCount = &st.Users
	}
	return out, nil
}

func decodeJSON(body []byte, v any) *apiError {
	if len(body) == 0 {
		return errorf(http.StatusBadRequest, "Missing JSON body")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return errorf(http.StatusBadRequest, "Invalid JSON body: "+truncate(err.Error(), 120))
	}
	return nil
}

func (a *API) events(r *request) (any, *apiError) {
	var b eventBody
	if aerr := decodeJSON(r.body, &b); aerr != nil {
		return nil, aerr
	}
	ev, aerr := a.validate(&b, orDefault(r.app.MaxChannelsPerTrigger, 100), r.app.MaxEventPayloadBytes)
	if aerr != nil {
		return nil, aerr
	}
	if aerr := a.publish(r.Context(), r.app.ID, ev); aerr != nil {
		return nil, aerr
	}
	if !ev.info.any() {
		return struct{}{}, nil
	}
	chans := make(map[string]channelAttrs, len(ev.channels))
	for _, ch := range ev.channels {
		info, aerr := a.channelInfo(r.Context(), r.app.ID, ch, ev.info)
		if aerr != nil {
			return nil, aerr
		}
		chans[ch] = info
	}
	return struct {
		Channels map[string]channelAttrs `json:"channels"`
	}{chans}, nil
}

func (a *API) batchEvents(r *request) (any, *apiError) {
	var b struct {
		Batch []eventBody `json:"batch"`
	}
	if aerr := decodeJSON(r.body, &b); aerr != nil {
		return nil, aerr
	}
	if len(b.Batch) == 0 {
		return nil, errorf(http.StatusBadRequest, "Missing batch: give an array of 1 to 10 events")
	}
	if max := orDefault(r.app.MaxBatchSize, 10); len(b.Batch) > max {
		return nil, errorf(http.StatusBadRequest, "Cannot batch-send more than "+strconv.Itoa(max)+" events at once")
	}
	evs := make([]*event, len(b.Batch))
	for i := range b.Batch {
		ev, aerr := a.validate(&b.Batch[i], 1, r.app.MaxEventPayloadBytes)
		if aerr != nil {
			aerr.msg = "batch[" + strconv.Itoa(i) + "]: " + aerr.msg
			return nil, aerr
		}
		evs[i] = ev
	}
	anyInfo := false
	for _, ev := range evs {
		if aerr := a.publish(r.Context(), r.app.ID, ev); aerr != nil {
			return nil, aerr
		}
		anyInfo = anyInfo || ev.info.any()
	}
	if !anyInfo {
		return struct{}{}, nil
	}
	out := make([]channelAttrs, len(evs)) // {} for an event without info
	for i, ev := range evs {
		if ev.info.any() {
			info, aerr := a.channelInfo(r.Context(), r.app.ID, ev.channels[0], ev.info)
			if aerr != nil {
				return nil, aerr
			}
			out[i] = info
		}
	}
	return struct {
		Batch []channelAttrs `json:"batch"`
	}{out}, nil
}

func orDefault(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}
