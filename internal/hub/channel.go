package hub

import (
	"hash/maphash"
	"sync"

	"github.com/heraldhq/herald/internal/apps"
)

// chanKey names a channel within an app; apps never share channels.
type chanKey struct {
	app  string
	name string
}

type shard struct {
	mu            sync.RWMutex
	channels      map[chanKey]*channel
	pendingCounts map[chanKey]struct{} // throttled subscription counts still to send
}

// channel is this node's side of a channel: its local subscribers. The
// cluster-wide state (members, counts) lives in the broker.
type channel struct {
	app  *apps.App
	subs map[*Client]struct{}

	// pending holds connections whose join is in flight at the broker:
	// what the channel delivers meanwhile is kept for them and sent after
	// their subscription_succeeded (member events only when newer than
	// their member snapshot).
	pending map[*Client]*joinBuffer
	// joinVer is, for connections that joined recently, the member version
	// of their snapshot: older member events still on their way are not
	// theirs. An entry goes with the first newer member event.
	joinVer map[*Client]uint64

	countSentAt int64 // last subscription_count broadcast, unix nanos
}

// maxJoinBuffer bounds what a connection may miss while its join is at the
// broker; past it the connection is closed with 4100 (reconnect).
const maxJoinBuffer = 4096

type joinBuffer struct {
	frames   [][]byte
	versions []uint64
	over     bool
}

func (b *joinBuffer) add(frame []byte, version uint64) {
	if len(b.frames) >= maxJoinBuffer {
		b.over = true
		return
	}
	b.frames = append(b.frames, frame)
	b.versions = append(b.versions, version)
}

func (ch *channel) empty() bool { return len(ch.subs) == 0 && len(ch.pending) == 0 }

func (h *Hub) shardFor(k chanKey) *shard {
	var hs maphash.Hash
	hs.SetSeed(h.seed)
	hs.WriteString(k.app)
	hs.WriteByte(0)
	hs.WriteString(k.name)
	return &h.shards[hs.Sum64()%numShards]
}
