package protocol

import "strings"

// ChannelType is the kind of a channel, decided by its name prefix.
type ChannelType int

const (
	Public ChannelType = iota
	Private
	Presence
	Encrypted   // private-encrypted-: authorized like private, payload opaque to the server
	UserChannel // #server-to-user-<id>: only for connections signed in as <id>
	Reserved    // any other "#" name: never subscribable
)

func (t ChannelType) String() string {
	switch t {
	case Public:
		return "public"
	case Private:
		return "private"
	case Presence:
		return "presence"
	case Encrypted:
		return "encrypted"
	case UserChannel:
		return "user"
	case Reserved:
		return "reserved"
	}
	return "unknown"
}

// RequiresAuth reports whether subscribing needs a channel signature.
func (t ChannelType) RequiresAuth() bool {
	return t == Private || t == Presence || t == Encrypted
}

// ChannelInfo is what a channel name says about the channel.
type ChannelInfo struct {
	Type  ChannelType
	Cache bool // cache channel: last event replayed to new subscribers
}

// UserChannelPrefix starts the per-user channel names (§11.2).
const UserChannelPrefix = "#server-to-user-"

// channelPrefixes are tested in order: longest first, each anchored at the
// start and ending in "-", so "foo-private-x", "privateer" and "cached-data"
// stay public (soketi's and Reverb's looser tests get these wrong).
var channelPrefixes = [...]struct {
	prefix string
	info   ChannelInfo
}{
	{"private-encrypted-cache-", ChannelInfo{Encrypted, true}},
	{"private-encrypted-", ChannelInfo{Encrypted, false}},
	{"private-cache-", ChannelInfo{Private, true}},
	{"private-", ChannelInfo{Private, false}},
	{"presence-cache-", ChannelInfo{Presence, true}},
	{"presence-", ChannelInfo{Presence, false}},
	{UserChannelPrefix, ChannelInfo{UserChannel, false}},
	{"#", ChannelInfo{Reserved, false}},
	{"cache-", ChannelInfo{Public, true}},
}

// Classify returns the type of a channel from its name (§7.2). It does not
// validate the name; see ValidChannelName.
func Classify(name string) ChannelInfo {
	for _, p := range channelPrefixes {
		if strings.HasPrefix(name, p.prefix) {
			return p.info
		}
	}
	return ChannelInfo{Type: Public}
}

// DefaultMaxChannelNameLen is the name limit the official SDKs enforce
// (docs say 164; allowing 200 never rejects what an SDK accepts).
const DefaultMaxChannelNameLen = 200

// channelNameChars is the set [-a-zA-Z0-9_=@,.;] as a lookup table.
var channelNameChars = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "-_=@,.;" {
		t[c] = true
	}
	return t
}()

// ValidChannelName reports whether name is a channel name a client may use
// or an API call may publish to: non-empty, at most maxLen bytes (maxLen <=
// 0 means DefaultMaxChannelNameLen), characters [-a-zA-Z0-9_=@,.;] only. "#"
// names are therefore invalid here; user channels are checked with
// UserChannelID.
func ValidChannelName(name string, maxLen int) bool {
	if maxLen <= 0 {
		maxLen = DefaultMaxChannelNameLen
	}
	if name == "" || len(name) > maxLen {
		return false
	}
	for i := 0; i < len(name); i++ {
		if !channelNameChars[name[i]] {
			return false
		}
	}
	return true
}

// UserChannelID returns <id> from "#server-to-user-<id>" when id is non-empty.
func UserChannelID(name string) (userID string, ok bool) {
	id, found := strings.CutPrefix(name, UserChannelPrefix)
	if !found || id == "" {
		return "", false
	}
	return id, true
}

// ValidSocketID reports whether s matches ^\d+\.\d+$ (ASCII digits), the
// only form every server SDK accepts before signing or publishing.
func ValidSocketID(s string) bool {
	a, b, found := strings.Cut(s, ".")
	return found && allDigits(a) && allDigits(b)
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
