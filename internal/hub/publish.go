package hub

import (
	"sync"

	"github.com/heraldhq/herald/internal/protocol"
)

var clientSlicePool = sync.Pool{New: func() any { s := make([]*Client, 0, 64); return &s }}

// Publish delivers an API-triggered event to every subscriber of channel in
// app except the connection whose socket id is except. The frame is encoded
// once; every subscriber gets the same bytes.
func (h *Hub) Publish(appID, channel, event, data, except string) {
	h.publishFrame(appID, channel, protocol.EncodeEvent(event, channel, data), except, nil)
}

func (h *Hub) publishFrame(appID, channel string, frame []byte, exceptID string, exceptClient *Client) int {
	bp := clientSlicePool.Get().(*[]*Client)
	list := h.subscribers(chanKey{appID, channel}, (*bp)[:0])
	n := 0
	for _, c := range list {
		if c == exceptClient || (exceptID != "" && c.socketID == exceptID) {
			continue
		}
		c.Send(frame)
		n++
	}
	clear(list)
	*bp = list[:0]
	clientSlicePool.Put(bp)
	return n
}
