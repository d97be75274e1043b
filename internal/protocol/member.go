package protocol

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
)

// Member is a presence member taken from channel_data:
// {"user_id": string | integer number, "user_info": any JSON (optional)}.
type Member struct {
	UserID   string          // numbers in decimal form ("10" for 10)
	UserInfo json.RawMessage // compact JSON; nil when absent or null
}

// objectString returns the members of s, which must hold a JSON object;
// what names s in the error.
func objectString(s, what string) (objectIter, error) {
	b := []byte(s)
	if !json.Valid(b) {
		return objectIter{}, invalid(what + " is not valid JSON")
	}
	it, ok := newObjectIter(b)
	if !ok {
		return objectIter{}, invalid(what + " must be a JSON object")
	}
	return it, nil
}

// ParseChannelData parses the channel_data of a presence subscription. The
// Node SDK does not coerce ids, so numeric user_id values arrive as JSON
// numbers; they become decimal strings because ids are object keys in the
// member hash. Non-integer numbers, booleans, null and "" are refused: no
// client could address such a member consistently.
func ParseChannelData(s string) (Member, error) {
	it, err := objectString(s, "channel_data")
	if err != nil {
		return Member{}, err
	}
	v := it.fields("user_id", "user_info")
	userID, userInfo := v[0], v[1]
	if userID == nil || isNull(userID) {
		return Member{}, invalid("channel_data must contain a user_id")
	}
	var m Member
	switch c := userID[0]; {
	case c == '"':
		m.UserID, _ = decodeString(userID)
		if m.UserID == "" {
			return Member{}, invalid("user_id must not be empty")
		}
	case c == '-' || ('0' <= c && c <= '9'):
		id, ok := integerID(userID)
		if !ok {
			return Member{}, invalid("user_id must be a string or an integer")
		}
		m.UserID = id
	default:
		return Member{}, invalid("user_id must be a string or an integer")
	}
	if userInfo != nil && !isNull(userInfo) {
		m.UserInfo = compact(userInfo)
	}
	return m, nil
}

// integerID renders a JSON number that denotes an integer in the decimal
// form JavaScript's String() gives it, so ids match what pusher-js computes
// client-side: 10, 10.0 and 1e1 (as PHP or Python may write 10) all become
// "10". Beyond 2^53 JavaScript cannot hold the id exactly, so such ids are
// refused rather than silently diverging from the client's view.
func integerID(raw []byte) (string, bool) {
	const maxSafe = 1 << 53
	if bytes.IndexAny(raw, ".eE") < 0 {
		n, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil || n > maxSafe || n < -maxSafe {
			return "", false
		}
		return strconv.FormatInt(n, 10), true
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || f != math.Trunc(f) || math.Abs(f) > maxSafe {
		return "", false
	}
	return strconv.FormatInt(int64(f), 10), true
}

// compact returns a compact copy of a valid JSON value.
func compact(raw []byte) json.RawMessage {
	var buf bytes.Buffer
	buf.Grow(len(raw))
	if err := json.Compact(&buf, raw); err != nil {
		return append(json.RawMessage(nil), raw...)
	}
	return buf.Bytes()
}

// UserData is the user_data of pusher:signin.
type UserData struct {
	ID        string
	UserInfo  json.RawMessage // compact JSON object; nil when absent or null
	Watchlist []string        // nil when absent or null
}

// ParseUserData parses the user_data string of pusher:signin: an object
// whose "id" is a non-empty string (pusher-js itself refuses any other id,
// so coercing numbers would only create a broken client), an optional
// "user_info" object and an optional "watchlist" array of strings. Limits
// (id length, watchlist size) are the caller's, since they are config.
func ParseUserData(s string) (UserData, error) {
	it, err := objectString(s, "user_data")
	if err != nil {
		return UserData{}, err
	}
	v := it.fields("id", "user_info", "watchlist")
	id, info, watchlist := v[0], v[1], v[2]
	var u UserData
	if id == nil || isNull(id) {
		return UserData{}, invalid("user_data must contain an id")
	}
	var ok bool
	if u.ID, ok = decodeString(id); !ok || u.ID == "" {
		return UserData{}, invalid("user_data id must be a non-empty string")
	}
	if info != nil && !isNull(info) {
		if info[0] != '{' {
			return UserData{}, invalid("user_data user_info must be a JSON object")
		}
		u.UserInfo = compact(info)
	}
	if watchlist != nil && !isNull(watchlist) {
		var items []json.RawMessage
		if watchlist[0] != '[' || json.Unmarshal(watchlist, &items) != nil {
			return UserData{}, invalid("user_data watchlist must be an array of strings")
		}
		u.Watchlist = make([]string, 0, len(items))
		for _, item := range items {
			id, ok := decodeString(item)
			if !ok {
				return UserData{}, invalid("user_data watchlist must be an array of strings")
			}
			u.Watchlist = append(u.Watchlist, id)
		}
	}
	return u, nil
}
