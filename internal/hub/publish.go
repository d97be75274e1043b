package hub

import (
	"sync"

	"github.com/heraldhq/herald/internal/protocol"
)

var clientSlicePool = sync.Pool{New: func() any { s := make([]*Client, 0, 64); return &s }}

// Publish delivers an API-triggered event to every subscriber of channel in
// app except the connection whose socket id is except. The frame is encoded
// once; every subscriber gets the same bytes. #server-to-user-<id> goes to
// every connection signed in as <id>; a cache channel keeps the event for
// later subscribers.
func (h *Hub) Publish(appID, channel, event, data, except string) {
	frame := protocol.EncodeEvent(event, channel, data)
	bp := clientSlicePool.Get().(*[]*Client)
	list := (*bp)[:0]
	k := chanKey{appID, channel}
	if id, ok := protocol.UserChannelID(channel); ok {
		list = h.userConns(appID, id, list)
	} else if protocol.Classify(channel).Cache {
		list = h.storeAndCopy(k, event, data, list)
	} else {
		list = h.subscribers(k, list)
	}
	h.sendAll(appID, list, frame, except, nil)
	clear(list)
	*bp = list[:0]
	clientSlicePool.Put(bp)
}

// storeAndCopy caches the event and copies the subscribers under one lock,
// so a concurrent subscriber gets the event exactly once: from the cache or
// from this publish.
func (h *Hub) storeAndCopy(k chanKey, event, data string, buf []*Client) []*Client {
	s := h.shardFor(k)
	s.mu.Lock()
	if s.cache == nil {
		s.cache = make(map[chanKey]*cachedEvent)
	}
	s.cache[k] = &cachedEvent{event: event, data: data, expires: h.now().Add(h.cfg.CacheTTL).UnixNano()}
	if ch := s.channels[k]; ch != nil {
		for c := range ch.subs {
			buf = append(buf, c)
		}
	}
	s.mu.Unlock()
	return buf
}

// directFanout is the largest fan-out written on the publishing goroutine
// (one syscall per subscriber, in parallel with other publishers); larger
// ones are queued for the transport's writers, which spread them over the
// cores and coalesce what piles up, so the publisher returns at once.
const directFanout = 64

func (h *Hub) sendAll(appID string, list []*Client, frame []byte, exceptID string, exceptClient *Client) int {
	n := 0
	queue := len(list) > directFanout
	for _, c := range list {
		if c == exceptClient || (exceptID != "" && c.socketID == exceptID) {
			continue
		}
		if c.deliver(frame, queue) {
			n++
		}
	}
	h.m.MessagesSent.WithLabelValues(appID).Add(float64(n))
	return n
}

func (h *Hub) publishFrame(appID, channel string, frame []byte, exceptID string, exceptClient *Client) int {
	bp := clientSlicePool.Get().(*[]*Client)
	list := h.subscribers(chanKey{appID, channel}, (*bp)[:0])
	n := h.sendAll(appID, list, frame, exceptID, exceptClient)
	clear(list)
	*bp = list[:0]
	clientSlicePool.Put(bp)
	return n
}
