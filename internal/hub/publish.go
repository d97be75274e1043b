package hub

import (
	"context"
	"errors"
	"sync"

	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/protocol"
)

var clientSlicePool = sync.Pool{New: func() any { s := make([]*Client, 0, 64); return &s }}

// Publish delivers an API-triggered event to every subscriber of channel in
// app, on every node, except the connection whose socket id is except. The
// frame is encoded once; every subscriber gets the same bytes.
// #server-to-user-<id> goes to every connection signed in as <id>; a cache
// channel keeps the event for later subscribers.
func (h *Hub) Publish(ctx context.Context, appID, channel, event, data, except string) error {
	m := broker.Message{Frame: protocol.EncodeEvent(event, channel, data), Except: except}
	var err error
	if id, ok := protocol.UserChannelID(channel); ok {
		m.Topic = broker.Topic{App: appID, Kind: broker.UserTopic, Name: id}
		err = h.b.Publish(ctx, m)
	} else {
		m.Topic = broker.Topic{App: appID, Kind: broker.ChannelTopic, Name: channel}
		if protocol.Classify(channel).Cache {
			err = h.b.PublishCached(ctx, m, event, data, h.cfg.CacheTTL)
		} else {
			err = h.b.Publish(ctx, m)
		}
	}
	h.deliverLocallyOn(err, m)
	return err
}

// deliverLocallyOn delivers m to this node's own connections when the
// broker could not take it (the shared state is unreachable): they get it,
// the other nodes' do not, and the caller still gets the error.
func (h *Hub) deliverLocallyOn(err error, m broker.Message) {
	if err != nil && errors.Is(err, broker.ErrUnavailable) {
		h.Deliver(m)
	}
}

// Deliver is the broker's way in: a message on a topic this node listens
// to, from any node (this one included), in topic order.
func (h *Hub) Deliver(m broker.Message) {
	switch m.Topic.Kind {
	case broker.ChannelTopic:
		h.deliverChannel(m)
	case broker.UserTopic:
		h.deliverUser(m)
	case broker.WatchTopic:
		h.deliverWatch(m)
	}
}

func (h *Hub) deliverChannel(m broker.Message) {
	k := chanKey{m.Topic.App, m.Topic.Name}
	s := h.shardFor(k)
	bp := getClients()
	list := (*bp)[:0]
	s.mu.RLock()
	ch := s.channels[k]
	if ch != nil && (len(ch.pending) > 0 || (m.Version > 0 && len(ch.joinVer) > 0)) {
		// Joins in flight, or joiners with a member snapshot: the rare
		// path, under the write lock.
		s.mu.RUnlock()
		s.mu.Lock()
		list = h.collectLocked(s.channels[k], m, list)
		s.mu.Unlock()
	} else {
		if ch != nil {
			for c := range ch.subs {
				list = append(list, c)
			}
		}
		s.mu.RUnlock()
	}
	h.sendAll(m.Topic.App, list, m.Frame, m.Except)
	putClients(bp, list)
}

// getClients and putClients lend a slice for copying a subscriber list
// under a lock: deliveries allocate none.
func getClients() *[]*Client { return clientSlicePool.Get().(*[]*Client) }

func putClients(bp *[]*Client, list []*Client) {
	clear(list)
	*bp = list[:0]
	clientSlicePool.Put(bp)
}

// collectLocked copies the subscribers that get m, and keeps m for the
// connections whose join is in flight; the caller holds the shard's write
// lock.
func (h *Hub) collectLocked(ch *channel, m broker.Message, list []*Client) []*Client {
	if ch == nil {
		return list
	}
	for c, buf := range ch.pending {
		if m.Except == "" || c.socketID != m.Except {
			buf.add(m.Frame, m.Version)
		}
	}
	for c := range ch.subs {
		if m.Version > 0 {
			if v, ok := ch.joinVer[c]; ok {
				if m.Version <= v {
					continue // already in its snapshot
				}
				delete(ch.joinVer, c)
			}
		}
		list = append(list, c)
	}
	return list
}

// directFanout is the largest fan-out written on the delivering goroutine
// (one syscall per subscriber, in parallel with other publishers); larger
// ones are queued for the transport's writers, which spread them over the
// cores and coalesce what piles up, so the deliverer returns at once.
const directFanout = 64

func (h *Hub) sendAll(appID string, list []*Client, frame []byte, exceptID string) int {
	n := 0
	queue := len(list) > directFanout
	for _, c := range list {
		if exceptID != "" && c.socketID == exceptID {
			continue
		}
		if c.deliver(frame, queue) {
			n++
		}
	}
	h.m.MessagesSent.WithLabelValues(appID).Add(float64(n))
	return n
}
