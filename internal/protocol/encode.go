package protocol

import (
	"encoding/json"
	"strconv"
)

// Server -> client frames. Each returns a freshly allocated JSON object so
// the caller can hand the same bytes to many connections (encode once, fan
// out bytes). "data" is a JSON string everywhere except pusher:error and
// pusher:subscription_error, which carry objects as hosted Pusher does.

// frameStart begins {"event":<event> with room for extra bytes.
func frameStart(event string, extra int) []byte {
	b := make([]byte, 0, 12+quotedLen(event)+extra)
	b = append(b, `{"event":`...)
	return appendString(b, event)
}

func appendChannel(b []byte, channel string) []byte {
	if channel == "" {
		return b
	}
	b = append(b, `,"channel":`...)
	return appendString(b, channel)
}

// stringDataFrame builds {"event":e[,"channel":c],"data":"<inner>"}.
func stringDataFrame(event, channel string, inner []byte) []byte {
	return EncodeEvent(event, channel, string(inner))
}

// EncodeEvent encodes a channel event; data is forwarded byte for byte as a
// JSON string. The channel key is omitted when channel is "".
func EncodeEvent(event, channel, data string) []byte {
	b := frameStart(event, 24+quotedLen(channel)+quotedLen(data))
	b = appendChannel(b, channel)
	b = append(b, `,"data":`...)
	b = appendString(b, data)
	return append(b, '}')
}

// EncodeClientEvent encodes a relayed client event. data is omitted when
// !hasData (a whisper without payload); user_id, set only on presence
// channels from the server's own member record, is omitted when "".
func EncodeClientEvent(event, channel, data string, hasData bool, userID string) []byte {
	b := frameStart(event, 36+quotedLen(channel)+quotedLen(data)+quotedLen(userID))
	b = appendChannel(b, channel)
	if hasData {
		b = append(b, `,"data":`...)
		b = appendString(b, data)
	}
	if userID != "" {
		b = append(b, `,"user_id":`...)
		b = appendString(b, userID)
	}
	return append(b, '}')
}

// ConnectionEstablished is the first server frame. activityTimeout is in
// seconds and must be non-zero, or pusher-js never reaches "connected".
func ConnectionEstablished(socketID string, activityTimeout int) []byte {
	inner := make([]byte, 0, 48+len(socketID))
	inner = append(inner, `{"socket_id":`...)
	inner = appendString(inner, socketID)
	inner = append(inner, `,"activity_timeout":`...)
	inner = strconv.AppendInt(inner, int64(activityTimeout), 10)
	inner = append(inner, '}')
	return stringDataFrame(EventConnectionEstablished, "", inner)
}

// ErrorFrame encodes pusher:error with object data; code 0 is sent as null,
// the hosted-Pusher form for generic errors.
func ErrorFrame(code int, message string) []byte {
	b := frameStart(EventError, 40+quotedLen(message))
	b = append(b, `,"data":{"code":`...)
	if code == 0 {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendInt(b, int64(code), 10)
	}
	b = append(b, `,"message":`...)
	b = appendString(b, message)
	return append(b, '}', '}')
}

// Ping is the server's keep-alive probe.
func Ping() []byte { return []byte(`{"event":"pusher:ping","data":"{}"}`) }

// Pong answers a client's pusher:ping.
func Pong() []byte { return []byte(`{"event":"pusher:pong","data":"{}"}`) }

// SubscriptionSucceeded confirms a non-presence subscription. data is "{}"
// rather than absent because the Swift client ignores the event without it.
func SubscriptionSucceeded(channel string) []byte {
	return stringDataFrame(EventSubscriptionSucceeded, channel, []byte("{}"))
}

// appendRawOrNull appends a JSON value, or null when it is absent or not
// valid JSON, so a bad record can never make the frame unparsable.
func appendRawOrNull(b []byte, raw json.RawMessage) []byte {
	if len(raw) == 0 || !json.Valid(raw) {
		return append(b, "null"...)
	}
	return append(b, raw...)
}

// PresenceSubscriptionSucceeded confirms a presence subscription with the
// member list. ids must be distinct; every id gets a key in hash (null when
// it has no info) because laravel-echo builds its member list from hash.
func PresenceSubscriptionSucceeded(channel string, ids []string, hash map[string]json.RawMessage) []byte {
	size := 48
	for _, id := range ids {
		size += 2*quotedLen(id) + 6 + len(hash[id])
	}
	inner := make([]byte, 0, size)
	inner = append(inner, `{"presence":{"ids":[`...)
	for i, id := range ids {
		if i > 0 {
			inner = append(inner, ',')
		}
		inner = appendString(inner, id)
	}
	inner = append(inner, `],"hash":{`...)
	for i, id := range ids {
		if i > 0 {
			inner = append(inner, ',')
		}
		inner = appendString(inner, id)
		inner = append(inner, ':')
		inner = appendRawOrNull(inner, hash[id])
	}
	inner = append(inner, `},"count":`...)
	inner = strconv.AppendInt(inner, int64(len(ids)), 10)
	inner = append(inner, '}', '}')
	return stringDataFrame(EventSubscriptionSucceeded, channel, inner)
}

// MemberAdded tells the other subscribers that a new user joined.
// user_info is omitted when userInfo is nil (or not valid JSON).
func MemberAdded(channel, userID string, userInfo json.RawMessage) []byte {
	inner := make([]byte, 0, 32+quotedLen(userID)+len(userInfo))
	inner = append(inner, `{"user_id":`...)
	inner = appendString(inner, userID)
	if len(userInfo) > 0 && json.Valid(userInfo) {
		inner = append(inner, `,"user_info":`...)
		inner = append(inner, userInfo...)
	}
	inner = append(inner, '}')
	return stringDataFrame(EventMemberAdded, channel, inner)
}

// MemberRemoved tells the remaining subscribers a user's last connection left.
func MemberRemoved(channel, userID string) []byte {
	inner := make([]byte, 0, 16+quotedLen(userID))
	inner = append(inner, `{"user_id":`...)
	inner = appendString(inner, userID)
	inner = append(inner, '}')
	return stringDataFrame(EventMemberRemoved, channel, inner)
}

// SubscriptionError is the soketi-style refusal on the channel itself, which
// laravel-echo's .error() needs; data is an object {type, error, status}.
func SubscriptionError(channel, errType, message string, status int) []byte {
	b := frameStart(EventSubscriptionError, 48+quotedLen(channel)+quotedLen(errType)+quotedLen(message))
	b = appendChannel(b, channel)
	b = append(b, `,"data":{"type":`...)
	b = appendString(b, errType)
	b = append(b, `,"error":`...)
	b = appendString(b, message)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(status), 10)
	return append(b, '}', '}')
}

// CacheMiss tells a cache-channel subscriber there is no cached event; it
// has no data key.
func CacheMiss(channel string) []byte {
	b := frameStart(EventCacheMiss, 16+quotedLen(channel))
	b = appendChannel(b, channel)
	return append(b, '}')
}

// SigninSuccess confirms pusher:signin. user_data inside is the exact string
// the client sent, string-encoded like every other event's data.
func SigninSuccess(userData string) []byte {
	inner := make([]byte, 0, 16+quotedLen(userData))
	inner = append(inner, `{"user_data":`...)
	inner = appendString(inner, userData)
	inner = append(inner, '}')
	return stringDataFrame(EventSigninSuccess, "", inner)
}

// SubscriptionCount reports the number of connections on a non-presence
// channel.
func SubscriptionCount(channel string, n int) []byte {
	inner := make([]byte, 0, 32)
	inner = append(inner, `{"subscription_count":`...)
	inner = strconv.AppendInt(inner, int64(n), 10)
	inner = append(inner, '}')
	return stringDataFrame(EventSubscriptionCount, channel, inner)
}

// WatchlistEvents reports status changes of watched users (§11.3); an empty
// group is left out, and the frame has no channel key.
func WatchlistEvents(online, offline []string) []byte {
	inner := make([]byte, 0, 64)
	inner = append(inner, `{"events":[`...)
	first := true
	for _, g := range [...]struct {
		name string
		ids  []string
	}{{"online", online}, {"offline", offline}} {
		if len(g.ids) == 0 {
			continue
		}
		if !first {
			inner = append(inner, ',')
		}
		first = false
		inner = append(inner, `{"name":`...)
		inner = appendString(inner, g.name)
		inner = append(inner, `,"user_ids":[`...)
		for i, id := range g.ids {
			if i > 0 {
				inner = append(inner, ',')
			}
			inner = appendString(inner, id)
		}
		inner = append(inner, ']', '}')
	}
	inner = append(inner, ']', '}')
	return stringDataFrame(EventWatchlistEvents, "", inner)
}
