package console

import (
	"errors"
	"net/url"
	"strings"
)

// Filter selects what a viewer sees. The zero value shows everything.
type Filter struct {
	// Channel, when not empty, keeps the events of that channel only (or of
	// every channel starting with it, when Prefix): events without a
	// channel (connections, webhooks, REST authorizations) are then left out.
	Channel string
	Prefix  bool
	Types   Types // the zero set is every type
}

// maxFilterChannel bounds the channel of a filter (channel names are
// at most 200 bytes by default; a longer filter matches nothing useful).
const maxFilterChannel = 256

func (f *Filter) match(e *Event) bool {
	if !f.Types.Has(e.Type) {
		return false
	}
	switch {
	case f.Channel == "":
		return true
	case f.Prefix:
		return e.Channel != "" && strings.HasPrefix(e.Channel, f.Channel)
	default:
		return e.Channel == f.Channel
	}
}

// ParseFilter reads a filter from a request's query: channel=<name> for one
// channel, channel=<prefix>* for every channel starting with prefix, and
// types=<type>,<type>... (names as Type.String gives them).
func ParseFilter(q url.Values) (Filter, error) {
	var f Filter
	ch := q.Get("channel")
	if len(ch) > maxFilterChannel {
		return Filter{}, errors.New("channel filter is longer than 256 bytes")
	}
	if p, ok := strings.CutSuffix(ch, "*"); ok {
		f.Channel, f.Prefix = p, p != "" // "*" alone is every channel
	} else {
		f.Channel = ch
	}
	types, err := ParseTypes(q.Get("types"))
	if err != nil {
		return Filter{}, err
	}
	f.Types = types
	return f, nil
}
