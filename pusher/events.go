package pusher

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Info attribute names for TriggerParams.Info, BatchEvent.Info,
// ChannelsParams.Info and ChannelParams.Info.
const (
	InfoUserCount         = "user_count"         // presence channels only
	InfoSubscriptionCount = "subscription_count" // any channel
	InfoCache             = "cache"              // Channel on cache channels only
)

// ChannelInfo holds the attributes asked for with Info; a nil field was not
// requested or does not apply to the channel.
type ChannelInfo struct {
	UserCount         *int `json:"user_count,omitempty"`
	SubscriptionCount *int `json:"subscription_count,omitempty"`
}

// TriggerParams is one event published to one or more channels.
type TriggerParams struct {
	// Channels: 1 to 100 names; a private-encrypted- channel must be alone.
	Channels []string
	// Event is the event name, 1 to 200 bytes, any characters.
	Event string
	// Data: string, []byte and json.RawMessage are sent as they are,
	// anything else is JSON-encoded. At most 10,240 bytes after encoding
	// (and after encryption on encrypted channels).
	Data any
	// SocketID, when set, excludes that connection from delivery.
	SocketID string
	// Info asks for attributes of each channel in the result
	// (InfoUserCount, InfoSubscriptionCount).
	Info []string
}

// TriggerResult maps every channel published to onto its requested
// attributes; it is empty (never nil) when Info was not given.
type TriggerResult struct {
	Channels map[string]ChannelInfo
}

// triggerBody keeps the key order of pusher-http-node, whose captured
// requests are the reference.
type triggerBody struct {
	Name     string   `json:"name"`
	Data     string   `json:"data"`
	Channels []string `json:"channels"`
	SocketID string   `json:"socket_id,omitempty"`
	Info     string   `json:"info,omitempty"`
}

// Trigger publishes an event. Input is validated before anything is sent;
// a payload for a private-encrypted- channel is encrypted with the
// channel's key.
func (c *Client) Trigger(ctx context.Context, p TriggerParams) (TriggerResult, error) {
	body, err := c.triggerBody(p)
	if err != nil {
		return TriggerResult{}, err
	}
	chans, err := c.doChannelMap(ctx, http.MethodPost, c.apiPath("/events"), nil, body)
	return TriggerResult{Channels: chans}, err
}

func (c *Client) triggerBody(p TriggerParams) ([]byte, error) {
	n := len(p.Channels)
	if n == 0 {
		return nil, invalid("Channels", "at least one channel is required")
	}
	if n > MaxChannelsPerEvent {
		return nil, invalid("Channels", strconv.Itoa(n)+" channels, more than "+strconv.Itoa(MaxChannelsPerEvent))
	}
	encrypted := false
	for i, ch := range p.Channels {
		if err := checkChannel("Channels["+strconv.Itoa(i)+"]", ch); err != nil {
			return nil, err
		}
		if isEncrypted(ch) {
			encrypted = true
			if n > 1 {
				return nil, invalid("Channels", "an encrypted channel ("+ch+") must be the only channel of a trigger")
			}
		}
	}
	if err := checkEvent("Event", p.Event); err != nil {
		return nil, err
	}
	if err := checkSocketID("SocketID", p.SocketID, true); err != nil {
		return nil, err
	}
	data, err := c.eventData("Data", p.Channels[0], encrypted, p.Data)
	if err != nil {
		return nil, err
	}
	return marshal(triggerBody{
		Name: p.Event, Data: data, Channels: p.Channels,
		SocketID: p.SocketID, Info: strings.Join(p.Info, ","),
	})
}

// eventData encodes (and on encrypted channels encrypts) a payload and
// checks the size of the string that will be sent.
func (c *Client) eventData(field, channel string, encrypted bool, v any) (string, error) {
	raw, err := encodeData(field, v)
	if err != nil {
		return "", err
	}
	data := string(raw)
	if encrypted {
		if data, err = c.encrypt(field, channel, raw); err != nil {
			return "", err
		}
	}
	if err := checkDataSize(field, data); err != nil {
		return "", err
	}
	return data, nil
}

// BatchEvent is one event of TriggerBatch, on exactly one channel.
type BatchEvent struct {
	Channel  string
	Event    string
	Data     any // as TriggerParams.Data
	SocketID string
	Info     []string
}

// BatchResult has one entry per event, in order: Batch[i] describes
// events[i]. Entries are zero when no info was requested.
type BatchResult struct {
	Batch []ChannelInfo
}

type batchItem struct {
	Channel  string `json:"channel"`
	Name     string `json:"name"`
	Data     string `json:"data"`
	SocketID string `json:"socket_id,omitempty"`
	Info     string `json:"info,omitempty"`
}

// TriggerBatch publishes 1 to 10 events in one request. Each event is
// validated (and encrypted on encrypted channels) like Trigger's.
func (c *Client) TriggerBatch(ctx context.Context, events []BatchEvent) (BatchResult, error) {
	body, err := c.batchBody(events)
	if err != nil {
		return BatchResult{}, err
	}
	var resp struct {
		Batch json.RawMessage `json:"batch"`
	}
	if err := c.do(ctx, http.MethodPost, c.apiPath("/batch_events"), nil, body, &resp); err != nil {
		return BatchResult{}, err
	}
	var list []ChannelInfo
	if !isEmptyJSON(resp.Batch) {
		if err := json.Unmarshal(resp.Batch, &list); err != nil {
			return BatchResult{}, wrapDecode("batch_events", err)
		}
	}
	for len(list) < len(events) {
		list = append(list, ChannelInfo{})
	}
	return BatchResult{Batch: list}, nil
}

func (c *Client) batchBody(events []BatchEvent) ([]byte, error) {
	if len(events) == 0 {
		return nil, invalid("Batch", "at least one event is required")
	}
	if len(events) > MaxBatchEvents {
		return nil, invalid("Batch", strconv.Itoa(len(events))+" events, more than "+strconv.Itoa(MaxBatchEvents))
	}
	items := make([]batchItem, len(events))
	for i, e := range events {
		f := "Batch[" + strconv.Itoa(i) + "]."
		if err := checkChannel(f+"Channel", e.Channel); err != nil {
			return nil, err
		}
		if err := checkEvent(f+"Event", e.Event); err != nil {
			return nil, err
		}
		if err := checkSocketID(f+"SocketID", e.SocketID, true); err != nil {
			return nil, err
		}
		encrypted := isEncrypted(e.Channel)
		data, err := c.eventData(f+"Data", e.Channel, encrypted, e.Data)
		if err != nil {
			return nil, err
		}
		items[i] = batchItem{Channel: e.Channel, Name: e.Event, Data: data, SocketID: e.SocketID, Info: strings.Join(e.Info, ",")}
	}
	return marshal(struct {
		Batch []batchItem `json:"batch"`
	}{items})
}

// SendToUserParams is an event for every connection signed in as UserID.
type SendToUserParams struct {
	UserID string // 1 to 200 bytes
	Event  string
	Data   any // as TriggerParams.Data
}

// SendToUser publishes to the user's #server-to-user-<id> channel, which
// reaches every connection signed in (pusher:signin) as that user.
func (c *Client) SendToUser(ctx context.Context, p SendToUserParams) error {
	if err := checkUserID("UserID", p.UserID); err != nil {
		return err
	}
	if err := checkEvent("Event", p.Event); err != nil {
		return err
	}
	data, err := c.eventData("Data", "", false, p.Data)
	if err != nil {
		return err
	}
	body, err := marshal(triggerBody{Name: p.Event, Data: data, Channels: []string{userChannelPrefix + p.UserID}})
	if err != nil {
		return err
	}
	var resp struct{}
	return c.do(ctx, http.MethodPost, c.apiPath("/events"), nil, body, &resp)
}

// TerminateUserConnections closes every connection signed in as userID
// (Herald closes them with code 4009, so pusher-js does not reconnect).
func (c *Client) TerminateUserConnections(ctx context.Context, userID string) error {
	if err := checkUserID("UserID", userID); err != nil {
		return err
	}
	var resp struct{}
	return c.do(ctx, http.MethodPost, c.apiPath("/users/"+escapeSegment(userID)+"/terminate_connections"), nil, []byte("{}"), &resp)
}

// doChannelMap sends a request answered with {"channels": {...}} and
// decodes that object (see decodeChannelMap); nil on a failed request.
func (c *Client) doChannelMap(ctx context.Context, method, escPath string, q url.Values, body []byte) (map[string]ChannelInfo, error) {
	var resp struct {
		Channels json.RawMessage `json:"channels"`
	}
	if err := c.do(ctx, method, escPath, q, body, &resp); err != nil {
		return nil, err
	}
	return decodeChannelMap(resp.Channels)
}

// decodeChannelMap decodes a "channels" object; absent, null, [] and {} all
// mean no channels, so the map is never nil.
func decodeChannelMap(raw json.RawMessage) (map[string]ChannelInfo, error) {
	m := map[string]ChannelInfo{}
	if isEmptyJSON(raw) {
		return m, nil
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return map[string]ChannelInfo{}, wrapDecode("channels", err)
	}
	return m, nil
}
